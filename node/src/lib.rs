//! `ordo-node`: the validator node behind the `ordo` command. It owns everything that touches the
//! operating system: key files, configuration, storage, networking and the APIs.
//!
//! - [`home`]: the home directory layout, `ordo init` and `ordo testnet init`.
//! - [`config`], [`genesis`]: `config.toml` and `genesis.json`.
//! - [`keyfile`]: secret key files, owner-only and fsynced.
//! - [`store`]: rocksdb storage of decided batches, certificates, the tx index, proposals and
//!   the signing state; [`signguard`]: the durable double-sign guard.
//! - [`app`]: the answers to malachite's `AppMsg`s, one module per role, and the
//!   committed-batch feed every consumer of decided batches subscribes to.
//! - [`decisions`]: `data/decisions.log`, a lagging subscriber of the feed.
//! - [`doubles`]: Byzantine test doubles, only in a build with the `chaos` feature.
//! - [`ingress`]: admission, gossip hand-off and ordered acknowledgements, for every way in.
//! - [`seam`]: the consensus network the engine is given (with the chaos feature, the fault
//!   layer and the equivocating double in front of libp2p).
//! - [`node`]: starting and stopping all of it; [`grpc`]: the rollup API; [`rpc`]: the HTTP API
//!   (same port); [`http`]: a small HTTP client.
//! - [`wal`]: the consensus WAL checked before the engine starts; a torn or damaged one is kept
//!   aside.
//! - [`da`]: DA posting by rotation with takeover, and each height's available status.
//! - [`l1`]: `ordo l1 deploy` (the inbox, DA posting, the stake table) and `ordo l1 enqueue`
//!   (the L1 reader is in `ordo-da-adapter`).
//! - [`epochs`]: every epoch's validator set, derived from the L1 stake table as each cut-off
//!   height is decided (static mode: the genesis set).
//! - [`validator`]: `ordo validator`: this validator's entry in the L1 stake table.

pub mod app;
pub mod config;
pub mod da;
pub mod decisions;
pub mod doubles;
pub mod epochs;
pub mod follow;
pub mod genesis;
pub mod grpc;
pub mod home;
pub mod http;
pub mod ingress;
pub mod keyfile;
pub mod l1;
pub mod node;
pub mod rollups;
pub mod rpc;
pub mod seam;
pub mod signguard;
pub mod store;
pub mod validator;
pub mod wal;
