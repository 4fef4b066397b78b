//! Faults: for each kind, the command that injects it on a node and the one that undoes it.
