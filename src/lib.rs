//! pgchaos: prove that a Patroni-managed PostgreSQL cluster survives failure.
//!
//! Data flows one way: scenario and inventory files ([`scenario`], [`inventory`]) are
//! bound into a [`plan`]; the [`runner`] carries it out with [`fault`]s over the
//! [`transport`] while [`observe`]rs record a timeline; [`check`]s turn the timeline into
//! verdicts; [`report`]ers render the [`results`]. The [`lab`] builds a local cluster to
//! run against; the engine never knows whether it talks to the lab.
#![warn(missing_docs)]

pub mod app;
pub mod bench;
pub mod check;
pub mod cli;
pub mod diag;
pub mod duration;
pub mod exit;
pub mod fault;
pub mod inventory;
pub mod lab;
pub mod observe;
pub mod patroni;
pub mod pg;
pub mod plan;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod secret;
pub mod transport;
pub mod workload;
