//! Integration tests of the `ordo` node: key files, in-process multi-validator networks and real
//! `ordo` processes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod api;
mod cluster;
mod consensus;
mod forced;
mod keys;
mod processes;
