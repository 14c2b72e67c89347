//! Integration tests of the `ordo` node: key files, in-process multi-validator networks and real
//! `ordo` processes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod api;
#[cfg(feature = "chaos")]
mod chaos;
mod cluster;
mod consensus;
mod da;
mod epochs;
mod execution;
mod follow;
mod forced;
mod keys;
mod processes;
mod stake;
