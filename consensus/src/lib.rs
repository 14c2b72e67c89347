//! `ordo-consensus`: ordo's side of the malachite (Tendermint) engine.
//!
//! - [`context`]: the malachite `Context` of ordo and its types: heights, batch values identified
//!   by their header hash, proposals streamed in parts, votes carrying a BLS attestation as their
//!   vote extension, weighted validator sets with a round-robin proposer schedule.
//! - [`signing`]: domain-separated sign-bytes and the ed25519 signer/verifier, with a
//!   [`guard::SignGuard`] consulted before every signature leaves the process.
//! - [`guard`]: the pure double-sign rule.
//! - [`parts`]: splitting a batch into proposal parts and reassembling them, bounded.
//! - [`validity`]: proposal validity as a pure function.
//! - [`proposer`]: the proposer's `l1_ref` choice and the proposer a header must name (fresh
//!   proposal or re-proposal), as pure functions.
//! - [`forced`]: the forced-inclusion rule as a pure function (checked by [`validity`]).
//! - [`epoch`]: epochs and each epoch's validator set derived from the stake table's events
//!   (it lives in `ordo-types`, so a rollup's client derives sets without the engine).
//! - [`codec`]: protobuf codecs for everything the engine sends or logs.
//!
//! No I/O happens here: persistence, clocks and networking come from `ordo-node`.

pub mod codec;
pub mod context;
pub use ordo_types::epoch;
pub mod forced;
pub mod guard;
pub mod parts;
pub mod proposer;
pub mod signing;
pub mod validity;

pub use context::{
    BatchId, BatchValue, ConsHeight, ConsValidator, ConsValidatorSet, OrdoContext, PartData,
    PartFin, PartInit, Proposal, ProposalPart, ValidatorAddress, Vote,
};

/// The malachite crates, re-exported so dependants use the same versions.
pub use malachitebft_app_channel as mala;
/// Malachite's core types.
pub use malachitebft_app_channel::app::types::core as mc;
