//! Integration tests of the `ordo` binary and the node's file handling.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod keys;
