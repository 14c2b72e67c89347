//! Integration tests of `ordo-types`: golden vectors, proofs, certificates and decoders.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod batches;
mod certificates;
mod common;
mod decoders;
mod frames;
mod keys;
mod proofs;
mod vectors;
