//! Following the stake table (docs/VALIDATORS.md, ADR 20): the validator set of every epoch.
//!
//! In static mode (no genesis `stake`) every height is in epoch 0 and has the genesis set.
//! Otherwise epochs 0 and 1 have the genesis set, and the [`deriver`] derives the set of epoch
//! e ≥ 2 (`ordo_consensus::epoch::derive`) as soon as height (e−1)·E, the cut-off, is decided:
//! it reads the table's events up to that header's `l1_ref` and stores the set, durably, before
//! anyone needs it (epoch e starts E heights later). A node restarted or syncing finds the sets
//! it derived in the store; one it has not derived yet makes [`Epochs::wait_set`] wait for the
//! deriver, which needs the L1: an L1 unreachable for longer than an epoch stalls the chain at
//! the boundary (the set cannot be known without it).

use crate::store::Store;
use ordo_consensus::ConsValidatorSet;
use ordo_consensus::epoch::{self, EpochParams};
use ordo_da_adapter::l1::stake;
use ordo_types::{Epoch, Height};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Every epoch's validator set: the genesis set, and the sets derived so far.
#[derive(Debug)]
pub struct Epochs {
    params: Option<EpochParams>,
    genesis: Arc<ConsValidatorSet>,
    derived: RwLock<BTreeMap<u64, Arc<ConsValidatorSet>>>,
    /// Each derived set's members' registered network addresses (comma-separated
    /// multiaddresses: consensus first, then gossip).
    members: RwLock<BTreeMap<u64, Arc<Vec<String>>>>,
    /// The highest epoch whose set is known.
    known: watch::Sender<u64>,
}

impl Epochs {
    /// Static mode: the genesis set, forever.
    pub fn fixed(genesis: ConsValidatorSet) -> Epochs {
        Epochs {
            params: None,
            genesis: Arc::new(genesis),
            derived: RwLock::new(BTreeMap::new()),
            members: RwLock::new(BTreeMap::new()),
            known: watch::Sender::new(u64::MAX),
        }
    }

    /// Following a stake table, with the sets already derived and stored.
    pub fn following(
        params: EpochParams,
        genesis: ConsValidatorSet,
        store: &Store,
    ) -> Result<Epochs, String> {
        let mut derived = BTreeMap::new();
        let mut members = BTreeMap::new();
        for (e, set) in store.epoch_sets().map_err(|e| e.to_string())? {
            let set = ConsValidatorSet::new(set).map_err(|err| format!("epoch {e}: {err}"))?;
            derived.insert(e, Arc::new(set));
            let m = store.epoch_members(e).map_err(|err| err.to_string())?;
            members.insert(e, Arc::new(m));
        }
        // Sets are derived in order; the highest known is the end of the run from epoch 2.
        let mut known = 1;
        while derived.contains_key(&(known + 1)) {
            known += 1;
        }
        Ok(Epochs {
            params: Some(params),
            genesis: Arc::new(genesis),
            derived: RwLock::new(derived),
            members: RwLock::new(members),
            known: watch::Sender::new(known),
        })
    }

    /// The epoch parameters, or `None` in static mode.
    pub fn params(&self) -> Option<EpochParams> {
        self.params
    }

    /// The epoch of `height`.
    pub fn epoch_of(&self, height: u64) -> Epoch {
        Epoch(self.params.map_or(0, |p| p.epoch_of(height)))
    }

    /// The highest epoch whose set is known (`u64::MAX` in static mode).
    pub fn known(&self) -> u64 {
        *self.known.borrow()
    }

    /// The set of `epoch`, if known.
    pub fn set_of(&self, epoch: Epoch) -> Option<Arc<ConsValidatorSet>> {
        if self.params.is_none() || epoch.0 < 2 {
            return Some(self.genesis.clone());
        }
        self.derived
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&epoch.0)
            .cloned()
    }

    /// The registered network addresses of `epoch`'s members (none for the genesis set).
    pub fn members_of(&self, epoch: u64) -> Arc<Vec<String>> {
        self.members
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&epoch)
            .cloned()
            .unwrap_or_default()
    }

    /// Follows [`Epochs::known`].
    pub fn watch_known(&self) -> watch::Receiver<u64> {
        self.known.subscribe()
    }

    /// The set of `epoch`, waiting for the deriver if it is not known yet.
    pub async fn wait_set(&self, epoch: Epoch) -> Arc<ConsValidatorSet> {
        let mut rx = self.known.subscribe();
        loop {
            if let Some(set) = self.set_of(epoch) {
                return set;
            }
            info!(
                epoch = epoch.0,
                known = self.known(),
                "epoch.waiting_for_set"
            );
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: unreachable, but never spin.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Records the derived set of `epoch` (the next one after [`Epochs::known`]), stored first.
    fn record(
        &self,
        store: &Store,
        epoch: u64,
        set: ConsValidatorSet,
        members: Vec<String>,
    ) -> Result<(), String> {
        store
            .put_epoch_set(epoch, &set.set, &members)
            .map_err(|e| e.to_string())?;
        self.derived
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(epoch, Arc::new(set));
        self.members
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(epoch, Arc::new(members));
        self.known.send_replace(epoch);
        Ok(())
    }
}

/// Where the deriver reads the table.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// L1 JSON-RPC endpoints, tried in order.
    pub rpc: Vec<String>,
    pub table: stake::L1Address,
    pub table_block: u64,
    /// Most blocks per `eth_getLogs`.
    pub max_range: u64,
    /// Pause after a failed read.
    pub retry: Duration,
}

/// The table's events read so far.
#[derive(Debug, Default)]
struct Read {
    /// The last block read; `None` before the first read.
    to: Option<u64>,
    events: Vec<epoch::Event>,
}

/// Derives every epoch's set as its cut-off height is decided, forever. `heights` follows the
/// highest decided height.
pub async fn deriver(
    epochs: Arc<Epochs>,
    store: Arc<Store>,
    source: TableSource,
    mut heights: watch::Receiver<u64>,
) {
    let Some(params) = epochs.params() else {
        return;
    };
    let mut read = Read::default();
    loop {
        let next = epochs.known().saturating_add(1);
        let Some(cutoff) = params.cutoff_height(next) else {
            return;
        };
        // Wait for the cut-off height to be decided.
        while *heights.borrow_and_update() < cutoff {
            if heights.changed().await.is_err() {
                return;
            }
        }
        let l1_to = loop {
            match store.decided(Height(cutoff)) {
                Ok(Some(d)) => break d.batch.header.l1_ref.number,
                Ok(None) => warn!(cutoff, "epoch.cutoff_missing"),
                Err(e) => warn!(cutoff, error = %e, "epoch.cutoff_unreadable"),
            }
            tokio::time::sleep(source.retry).await;
        };
        while read.to.is_none_or(|t| t < l1_to) {
            if let Err(e) = read_more(&source, &mut read, l1_to).await {
                warn!(epoch = next, l1_to, error = %e, "epoch.read_failed");
                tokio::time::sleep(source.retry).await;
            }
        }
        let d = epoch::derive(&read.events, l1_to, params.max_validators);
        let mut members: Vec<String> = d.members.iter().map(|m| m.p2p_addresses.clone()).collect();
        for (operator, why) in &d.ignored {
            warn!(epoch = next, operator = %hex::encode(operator), reason = %why, "epoch.registration_ignored");
        }
        let set = match d.set.map(ConsValidatorSet::new) {
            Some(Ok(set)) => set,
            Some(Err(e)) => {
                // `derive` checks every key, so this is a bug; the previous set is the safe
                // outcome every node reaches alike.
                warn!(epoch = next, error = %e, "epoch.derived_set_refused");
                members = epochs.members_of(next - 1).to_vec();
                previous(&epochs, next)
            }
            None => {
                info!(epoch = next, "epoch.no_registration_keeps_the_set");
                members = epochs.members_of(next - 1).to_vec();
                previous(&epochs, next)
            }
        };
        info!(
            epoch = next,
            cutoff,
            l1_to,
            validators = set.set.len(),
            hash = %set.set.hash(),
            "epoch.derived"
        );
        if let Err(e) = epochs.record(&store, next, set, members) {
            warn!(epoch = next, error = %e, "epoch.store_failed");
            tokio::time::sleep(source.retry).await;
        }
    }
}

fn previous(epochs: &Epochs, epoch: u64) -> ConsValidatorSet {
    epochs
        .set_of(Epoch(epoch.saturating_sub(1)))
        .map_or_else(|| (*epochs.genesis).clone(), |s| (*s).clone())
}

/// Reads the table's events past `read.to` up to `l1_to`, one range of at most `max_range`
/// blocks, from the first endpoint that answers and has the blocks.
async fn read_more(source: &TableSource, read: &mut Read, l1_to: u64) -> Result<(), String> {
    let from = read.to.map_or(source.table_block, |t| t + 1);
    let to = l1_to.min(from.saturating_add(source.max_range.max(1) - 1));
    let mut errors = Vec::new();
    for rpc in &source.rpc {
        // An endpoint behind `to` would answer the range with the logs it has: refuse it.
        match ordo_da_adapter::l1::dev::block_number(rpc).await {
            Ok(head) if head >= to => {}
            Ok(head) => {
                errors.push(format!("{rpc}: at block {head}, behind {to}"));
                continue;
            }
            Err(e) => {
                errors.push(format!("{rpc}: {e}"));
                continue;
            }
        }
        match stake::events(rpc, source.table, from, to).await {
            Ok(events) => {
                read.events.extend(stake::epoch_events(&events));
                read.to = Some(to);
                return Ok(());
            }
            Err(e) => errors.push(format!("{rpc}: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// The `/p2p/<peer id>` of a multiaddress, as text.
pub fn peer_of(addr: &str) -> Option<&str> {
    addr.rsplit_once("/p2p/").map(|(_, id)| id)
}

/// Where the admission task admits peers.
#[derive(Debug)]
pub struct Admission {
    /// The consensus network (with `persistent_peers_only`, only persistent peers connect).
    pub network:
        malachitebft_app_channel::app::engine::network::NetworkRef<ordo_consensus::OrdoContext>,
    pub gossip: Option<ordo_p2p::gossip::GossipHandle>,
    /// This node's peer id, and the peer ids of the configured peers (admitted for good).
    pub me: String,
    pub configured: std::collections::HashSet<String>,
}

/// Keeps the peers admitted beyond the configured ones to the registered members of the
/// current and the next epoch, on the consensus network and on gossip, as heights are decided
/// and sets derived: a new validator is admitted one epoch before it signs (time to sync), and
/// a departed one is dropped when its last epoch ends.
pub async fn admission(epochs: Arc<Epochs>, mut heights: watch::Receiver<u64>, a: Admission) {
    let mut known = epochs.watch_known();
    let mut consensus: BTreeMap<String, String> = BTreeMap::new();
    let mut gossip: Vec<String> = Vec::new();
    // What is admitted depends on the epoch and the sets known alone: recomputed when either
    // moves, not at every height.
    let mut last = None;
    loop {
        let epoch = epochs
            .epoch_of(heights.borrow_and_update().saturating_add(1))
            .0;
        let now = (epoch, *known.borrow_and_update());
        if last != Some(now) {
            last = Some(now);
            let (want_c, want_g) = wanted(&epochs, epoch, &a);
            for (id, addr) in &consensus {
                if !want_c.contains_key(id) {
                    update(&a.network, addr, false, epoch).await;
                }
            }
            for (id, addr) in &want_c {
                if !consensus.contains_key(id) {
                    update(&a.network, addr, true, epoch).await;
                }
            }
            consensus = want_c;
            if want_g != gossip {
                let parsed = want_g
                    .iter()
                    .filter_map(|g| ordo_p2p::parse_peer(g).ok())
                    .collect();
                if let Some(handle) = &a.gossip {
                    handle.admit(parsed).await;
                }
                gossip = want_g;
            }
        }
        tokio::select! {
            r = heights.changed() => if r.is_err() { return },
            r = known.changed() => if r.is_err() { return },
        }
    }
}

/// The consensus addresses (by peer id) and gossip addresses of the registered members of
/// `epoch` and the next, leaving out this node and the configured peers.
fn wanted(epochs: &Epochs, epoch: u64, a: &Admission) -> (BTreeMap<String, String>, Vec<String>) {
    let mut consensus = BTreeMap::new();
    let mut gossip: Vec<String> = Vec::new();
    for e in [epoch, epoch.saturating_add(1)] {
        for m in epochs.members_of(e).iter() {
            let mut addrs = m.split(',').map(str::trim);
            let Some(c) = addrs.next() else { continue };
            let Some(id) = peer_of(c) else { continue };
            if id == a.me || a.configured.contains(id) {
                continue;
            }
            consensus.insert(id.to_string(), c.to_string());
            if let Some(g) = addrs.next()
                && !gossip.iter().any(|x| x == g)
            {
                gossip.push(g.to_string());
            }
        }
    }
    (consensus, gossip)
}

async fn update(
    net: &malachitebft_app_channel::app::engine::network::NetworkRef<ordo_consensus::OrdoContext>,
    addr: &str,
    add: bool,
    epoch: u64,
) {
    let result = match ordo_p2p::parse_peer(addr) {
        Ok(m) => ordo_p2p::seam::set_persistent_peer(net, m, add).await,
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) if add => info!(epoch, %addr, "epoch.peer_admitted"),
        Ok(()) => info!(epoch, %addr, "epoch.peer_dropped"),
        Err(e) => warn!(epoch, %addr, add, error = %e, "epoch.peer_update_failed"),
    }
}
