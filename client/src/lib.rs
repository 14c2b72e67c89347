//! `ordo-client`: the rollup's library.
//!
//! - [`Client::submit`]: submit a transaction to any of several nodes, with retries, waiting for
//!   the acknowledgement level asked for ([`Ack::Accepted`] or [`Ack::Ordered`]).
//! - [`Client::stream_namespace`]: a namespace's slice of every batch, from a height on, each
//!   item **verified** by [`SliceVerifier`] (the certificate against the pinned validator set, the
//!   namespace proof against the header, the parent-hash chain) before it is yielded. A node that
//!   sends anything else is dropped for the next one; no single node is trusted.
//! - [`deliver`]: the delivery loop that hands a rollup's executor its slice of every height,
//!   in order, exactly once across crashes, and the [`deliver::Executor`] contract.
//! - [`exec_api`]: the execution API a rollup serves for the `grpc://` executor.
//! - `l1` (feature `l1`): a namespace's history rebuilt from the L1's blobs alone and verified,
//!   with no ordo node involved.
//! - [`api`]: the generated gRPC messages and stubs of `proto/ordo/api/v1/sequencer.proto`.
//!
//! The client needs no rocksdb and no libp2p: only `ordo-types` and tonic (and, with `l1`,
//! alloy and KZG through `ordo-da-adapter` without its `store` feature).

pub mod api {
    //! The rollup API's messages, client and server stubs.
    #![allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::indexing_slicing
    )]
    include!(concat!(env!("OUT_DIR"), "/ordo.api.v1.rs"));
}
pub mod exec_api {
    //! The execution API's messages, client and server stubs
    //! (`proto/ordo/exec/v1/executor.proto`): a rollup serves it, ordo calls it.
    #![allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::indexing_slicing
    )]
    include!(concat!(env!("OUT_DIR"), "/ordo.exec.v1.rs"));
}
mod client;
pub mod deliver;
#[cfg(feature = "l1")]
pub mod l1;
mod verify;

pub use client::{Ack, Client, ClientError, StreamEvent, Submitted, TrustAnchor};
pub use verify::{SliceVerifier, VerifiedSlice, VerifyError};
