//! The L1 side of forced inclusion (DESIGN.md, "Forced inclusion"; ADR 12).
//!
//! - [`inbox`]: the `OrdoInbox` contract: bindings, its committed bytecode, deploy and enqueue.
//! - [`cache`]: the rocksdb store of what has been read: entries, block hashes, progress.
//! - [`range`]: the pure rules of a read: what to read next, the reorg check, a range's logs
//!   checked against the queue, the limits and the in-memory cap.
//! - [`source`]: the follower: reads the inbox from final L1 blocks in bounded ranges, with
//!   failover across RPC endpoints, and serves validators an in-memory view that never waits on
//!   the network.

pub mod cache;
pub mod dev;
pub mod inbox;
pub mod range;
pub mod source;

pub use inbox::{Deployed, Enqueued, deploy_inbox, enqueue};
pub use range::Cap;
pub use source::{Finality, L1Config, L1Error, L1Reader, L1View, spawn_source};
