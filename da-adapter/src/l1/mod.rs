//! The L1 side of forced inclusion (DESIGN.md, "Forced inclusion"; ADR 12).
//!
//! - [`inbox`]: the `OrdoInbox` contract: bindings, its committed bytecode, deploy and enqueue.
//! - [`stake`]: the `OrdoStakeTable` contract: bindings, its committed bytecode, deploy and the
//!   calls of operators and the owner.
//! - [`chain`]: what every reader shares: its errors and which blocks count as final.
//! - [`dev`]: anvil for tests and local testnets, and funded development accounts.
//!
//! With the `store` feature (the default; what a validator runs):
//! - `cache`: the rocksdb store of what has been read: entries, block hashes, progress.
//! - `range`: the pure rules of a read: what to read next, the reorg check, a range's logs
//!   checked against the queue, the limits and the in-memory cap.
//! - `source`: the follower: reads the inbox from final L1 blocks in bounded ranges, with
//!   failover across RPC endpoints, and serves validators an in-memory view that never waits on
//!   the network.

#[cfg(feature = "store")]
pub mod cache;
pub mod chain;
pub mod dev;
pub mod inbox;
#[cfg(feature = "store")]
pub mod range;
#[cfg(feature = "store")]
pub mod source;
pub mod stake;

pub use chain::{Finality, L1Error};
pub use inbox::{Deployed, Enqueued, deploy_inbox, enqueue};
#[cfg(feature = "store")]
pub use range::Cap;
#[cfg(feature = "store")]
pub use source::{L1Config, L1Reader, L1View, spawn_source};
