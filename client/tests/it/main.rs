//! `ordo-client` tests: the stream verifier against real certificates and proofs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod verify;
