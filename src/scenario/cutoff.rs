//! Faults that would cut pgchaos off from a node: refused before anything runs.
//!
//! pgchaos undoes every fault over SSH. A block of the node's SSH port (inbound by
//! destination port, or outbound by source port: sshd's replies) leaves it only the dead
//! man's switch, and the run blind; no scenario needs that (`isolate` keeps SSH on
//! purpose).

use super::{BlockStep, Direction, PortSide};

/// Whether `b` would drop or reject the SSH connection pgchaos uses to a node whose sshd
/// listens on `ssh_port`.
pub(crate) fn cuts_ssh(b: &BlockStep, ssh_port: u16) -> bool {
    b.port == ssh_port
        && matches!(
            (b.direction, b.port_is),
            (Direction::Inbound, PortSide::Destination) | (Direction::Outbound, PortSide::Source)
        )
}

/// The message for a refused block.
pub(crate) fn message(port: u16, whose: &str) -> String {
    format!(
        "this block would cut pgchaos off: port {port} is the SSH port of {whose}, the connection every undo goes through"
    )
}
