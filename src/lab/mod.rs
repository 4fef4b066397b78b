//! The local lab: a real Patroni cluster on this machine, one network and PID namespace per node.
