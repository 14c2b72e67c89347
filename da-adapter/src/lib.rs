//! `ordo-da-adapter`: the outside chains behind traits: data-availability backends, execution
//! backends and the L1 readers (inbox, stake table); see docs/ARCHITECTURE.md.
//!
//! - [`da`]: data availability: the `DaBackend` contract and its `local` and `ethereum-blobs`
//!   backends, which post certified batches as frames and read them back.
//! - [`l1`]: the forced-inclusion inbox on L1: its contract bindings, the follower that reads
//!   its entries from finalized blocks into rocksdb, and the deploy and enqueue operations.

pub mod da;
pub mod l1;
