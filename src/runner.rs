//! The runner: one scenario at a time, steps, waits, holds, the undo stack, steady state.
