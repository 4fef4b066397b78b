//! pgchaos: prove that a Patroni-managed PostgreSQL cluster survives failure.
//!
//! Data flows one way: scenario and inventory files ([`scenario`], [`inventory`]) are
//! bound into a [`plan`]; the [`runner`] carries it out with [`fault`]s over the
//! [`transport`] while [`observe`]rs record a timeline; [`check`]s turn the timeline into
//! verdicts; [`report`]ers render the [`results`]. The [`lab`] builds a local cluster to
//! run against; the engine never knows whether it talks to the lab.
//!
//! The public surface is what the binary (`main.rs`) and the integration tests in
//! `tests/` use, and nothing more: the modules below marked `pub` are namespaces for those
//! items only (everything else in them is `pub(crate)`), the others are private. With
//! `unreachable_pub` and `dead_code` denied in Cargo.toml, rustc reports every item no
//! one uses.
#![warn(missing_docs)]

pub mod app;
mod base64;
mod bench;
mod check;
pub mod cli;
pub mod diag;
mod duration;
mod etcd;
mod exit;
pub mod fault;
mod haproxy;
mod http_words;
pub mod inventory;
pub mod lab;
mod lsn;
pub mod observe;
pub mod patroni;
pub mod pg;
mod plan;
mod procs;
mod provenance;
mod report;
pub mod results;
mod runner;
pub mod scenario;
mod secret;
mod session;
mod text;
pub mod transport;
pub mod workload;

#[cfg(test)]
mod architecture_tests;
