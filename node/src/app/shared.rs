//! What the app loop shares with the APIs and gossip: storage, the pool, the node's progress
//! ([`Status`]), the waiters for ordered acknowledgements and the committed-batch feed.

use crate::genesis::LoadedGenesis;
use crate::store::Store;
use ordo_types::{Address, ChainId, Hash, Height, Round};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The latest batch this node stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Latest {
    pub height: Height,
    pub hash: Hash,
    pub timestamp_ms: u64,
    pub tx_count: u32,
}

/// The node's progress, as the APIs report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub moniker: String,
    pub address: Address,
    pub chain_id: ChainId,
    /// Validators in the set of the next height's epoch.
    pub validators: usize,
    /// The round consensus is in at the height after `latest`.
    pub round: Round,
    /// None before the first stored batch.
    pub latest: Option<Latest>,
    /// Transactions in this node's pool (read live).
    pub pool_size: usize,
    /// Proposals this node refused for their L1 reference or forced entries.
    pub forced_refusals: u64,
    /// Transactions in the batches this process stored since it started (a rate's numerator).
    pub txs_since_start: u64,
}

impl Status {
    /// The latest stored height (0 before the first).
    pub fn height(&self) -> Height {
        self.latest.map_or(Height(0), |l| l.height)
    }

    /// The JSON object of `GET /status`: flat, with an empty `latest_hash` before the first
    /// batch.
    pub fn to_json(&self) -> serde_json::Value {
        let l = self.latest;
        serde_json::json!({
            "moniker": self.moniker,
            "address": self.address.to_string(),
            "chain_id": self.chain_id.0,
            "height": self.height().0,
            "round": self.round.0,
            "latest_hash": l.map(|l| l.hash.to_string()).unwrap_or_default(),
            "latest_timestamp_ms": l.map_or(0, |l| l.timestamp_ms),
            "latest_tx_count": l.map_or(0, |l| l.tx_count),
            "pool_size": self.pool_size,
            "validators": self.validators,
            "forced_refusals": self.forced_refusals,
            "txs_since_start": self.txs_since_start,
        })
    }
}

/// The parts of [`Status`] the app loop updates, each behind its own cell so readers never
/// wait for the loop.
#[derive(Debug)]
pub struct Progress {
    fixed: (String, Address, ChainId, usize),
    latest: Mutex<Option<Latest>>,
    round: AtomicU64,
    forced_refusals: AtomicU64,
    txs_since_start: AtomicU64,
}

impl Progress {
    pub fn new(
        moniker: String,
        address: Address,
        chain_id: ChainId,
        validators: usize,
        latest: Option<Latest>,
    ) -> Progress {
        Progress {
            fixed: (moniker, address, chain_id, validators),
            latest: Mutex::new(latest),
            round: AtomicU64::new(0),
            forced_refusals: AtomicU64::new(0),
            txs_since_start: AtomicU64::new(0),
        }
    }

    pub fn set_round(&self, round: Round) {
        self.round.store(u64::from(round.0), Ordering::Relaxed);
    }

    pub fn forced_refused(&self) {
        self.forced_refusals.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stored(&self, latest: Latest) {
        *lock(&self.latest) = Some(latest);
        self.txs_since_start
            .fetch_add(u64::from(latest.tx_count), Ordering::Relaxed);
    }

    /// A snapshot, with `pool_size` as given.
    pub fn snapshot(&self, pool_size: usize) -> Status {
        let (moniker, address, chain_id, validators) = &self.fixed;
        Status {
            moniker: moniker.clone(),
            address: *address,
            chain_id: *chain_id,
            validators: *validators,
            round: Round(self.round.load(Ordering::Relaxed) as u32),
            latest: *lock(&self.latest),
            pool_size,
            forced_refusals: self.forced_refusals.load(Ordering::Relaxed),
            txs_since_start: self.txs_since_start.load(Ordering::Relaxed),
        }
    }
}

/// A lock whose holder panicked is a bug in this process: fail loudly rather than go on with
/// state that may be half updated.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
        .unwrap_or_else(|_| panic!("a lock of the node was poisoned by a panic in another thread"))
}

/// State shared by the app loop, the APIs and gossip.
#[derive(Debug)]
pub struct Shared {
    pub store: Arc<Store>,
    pub pool: Mutex<ordo_mempool::Mempool>,
    pub progress: Progress,
    pub genesis: Arc<LoadedGenesis>,
    /// The L1 source, on a chain with an inbox.
    pub l1: Option<ordo_da_adapter::l1::L1Reader>,
    /// Where admitted transactions go to reach the other validators (none without `[gossip]`).
    pub gossip: Option<ordo_p2p::gossip::GossipHandle>,
    /// Clients waiting for their transactions to be ordered.
    pub waiters: crate::ingress::Waiters,
    /// The latest stored height; namespace streams wait on it.
    pub heights: tokio::sync::watch::Sender<u64>,
    /// Subscriptions to the committed-batch feed.
    pub feed: super::feed::FeedHandle,
    /// Set once consensus has started: `/health` answers 200 from then on.
    pub ready: AtomicBool,
    /// The fault layer's settings, in a build with the `chaos` feature.
    pub net_faults: Option<ordo_p2p::faults::FaultKnob>,
    /// The rollups this node executes itself (`[[rollup]]`).
    pub rollups: Vec<crate::rollups::RollupView>,
    /// DA posting and confirmation (`[da]`).
    pub da: Option<crate::da::DaView>,
    /// Every epoch's validator set (the genesis set alone in static mode).
    pub epochs: Arc<crate::epochs::Epochs>,
}

impl Shared {
    /// The set of `epoch`, or of the epoch of the next height; an error naming what is known
    /// when that epoch's set is not derived yet.
    pub fn epoch_set(
        &self,
        epoch: Option<u64>,
    ) -> Result<(ordo_types::Epoch, Arc<ordo_consensus::ConsValidatorSet>), String> {
        let next = self.heights.borrow().saturating_add(1);
        let epoch = epoch.map_or_else(|| self.epochs.epoch_of(next), ordo_types::Epoch);
        self.epochs
            .set_of(epoch)
            .map(|s| (epoch, s))
            .ok_or_else(|| {
                format!(
                    "epoch {} has no set yet: sets are known up to epoch {}",
                    epoch.0,
                    self.epochs.known()
                )
            })
    }

    /// The node's progress with the pool's current size.
    /// `validators` is the size of the next height's epoch's set.
    pub fn status_now(&self) -> Status {
        let pool_size = lock(&self.pool).len();
        let mut status = self.progress.snapshot(pool_size);
        if let Ok((_, set)) = self.epoch_set(None) {
            status.validators = set.set.len();
        }
        status
    }
}

impl Shared {
    /// Subscribes the in-memory consumers of decided batches to `feed`, inline (see
    /// [`super::feed`]): ordered acknowledgements and the streams' height watch first, then the
    /// pool (before the next proposal is built), then status.
    pub fn inline_subscribers(self: &Arc<Self>, feed: &mut super::Feed) {
        let s = self.clone();
        feed.inline(
            "acknowledgements",
            Box::new(move |c| {
                s.waiters.notify(c.height, c.ids());
                s.heights.send_replace(c.height.0);
            }),
        );
        let s = self.clone();
        feed.inline(
            "pool",
            Box::new(move |c| lock(&s.pool).commit(c.txs.iter().map(|t| (t.namespace, t.id)))),
        );
        let s = self.clone();
        feed.inline(
            "status",
            Box::new(move |c| {
                s.progress.stored(Latest {
                    height: c.height,
                    hash: c.hash,
                    timestamp_ms: c.header.timestamp_ms,
                    tx_count: c.header.tx_count,
                });
            }),
        );
    }
}
