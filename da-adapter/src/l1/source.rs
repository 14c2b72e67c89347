//! The L1 source: follows the final L1 head and reads the inbox's entries into rocksdb and an
//! in-memory view.
//!
//! - **Final only.** It reads blocks at or below the L1 finalized head (or `latest − k`, for dev
//!   chains without finality), so a reorg above that point never reaches it. A reorg below it
//!   (the L1 rewrote a block already read, or an endpoint serves another chain) halts the source
//!   with a loud error instead of silently diverging: decided batches cannot be undone.
//! - **Bounded.** Each `eth_getLogs` covers at most `max_range` blocks; each request has a
//!   timeout; the in-memory view keeps only entries not yet ordered and recent block hashes.
//! - **Available.** Several RPC endpoints: on an error it moves to the next one and backs off
//!   (doubling from the poll interval up to 10 s); an unreachable L1 stops only forced inclusion.
//! - **Bounded in the way.** Validators read the view through a lock held for a copy; nothing
//!   they call waits on the network except [`L1Reader::wait_for`] and [`L1Reader::fetch_hash`].
//!   The node calls those while judging a proposal whose `l1_ref` it has not read yet: on the
//!   consensus path, once, within `[l1] wait_ms` (ADR 12).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::Address;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, Log};
use ordo_types::{ForcedTx, Hash, L1Ref, Limits};
use tokio::sync::watch;
use tracing::{info, warn};

use super::cache::{L1Cache, RangeRead};
pub use super::chain::{Finality, L1Error};
use super::inbox::{EnqueuedEvent, enqueued_topic, forced_from_event, max_payload};
use super::range::{self, Cap, Held, InboxLog};

/// Ranges at most this long get every block hash fetched (the source is caught up); longer
/// ones (catching up) only the last block's.
const HASH_EVERY_BLOCK_UP_TO: u64 = 32;
/// Block hashes kept in memory.
const MAX_HASHES: usize = 8_192;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How to reach and read the L1.
#[derive(Debug, Clone)]
pub struct L1Config {
    /// JSON-RPC endpoints, tried in order, with failover.
    pub rpc: Vec<String>,
    /// The `OrdoInbox` contract.
    pub inbox: Address,
    /// Its deployment block: where reading starts.
    pub start_block: u64,
    /// The L1 chain id, checked against every endpoint when set.
    pub l1_chain_id: Option<u64>,
    pub finality: Finality,
    /// Pause between polls once caught up.
    pub poll: Duration,
    /// Most blocks per `eth_getLogs`.
    pub max_range: u64,
    /// Timeout of one RPC request.
    pub request_timeout: Duration,
    /// Most unordered entries held in memory before reading ahead pauses ([`range`]).
    pub cap: Cap,
    /// Blocks after its own before an entry can be due in an honest proposal: the chain's
    /// `inclusion_delay` plus the proposers' `ref_margin`. At the cap the source still reads
    /// this far past the oldest entry it holds, so that entry can become due.
    pub due_after: u64,
}

/// What a validator judges a batch against: the inbox read up to `read_to`, from a cursor on.
#[derive(Debug, Clone, Default)]
pub struct L1View {
    /// The last block read, with its hash; `None` before the first read.
    pub read_to: Option<L1Ref>,
    /// Entries from the requested cursor on, in queue order.
    pub entries: Vec<ForcedTx>,
}

/// Counters and state for `/status`.
#[derive(Debug, Clone, Default)]
pub struct L1Status {
    pub read_to: Option<L1Ref>,
    /// Index the next inbox entry will have.
    pub next_index: u64,
    /// Entries read and not yet ordered, and their payload bytes.
    pub pending_entries: usize,
    pub pending_bytes: u64,
    /// Reading ahead is paused: the pending entries are at the cap (`[l1] max_pending_*`).
    pub paused: bool,
    pub endpoint: Option<String>,
    pub last_error: Option<String>,
    /// Set when the source stopped for good (a reorg below finality).
    pub halted: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    read_to: Option<L1Ref>,
    /// Queue index of `entries[0]`.
    first_kept: u64,
    entries: VecDeque<ForcedTx>,
    /// What `entries` holds, counted for the cap.
    held: Held,
    hashes: BTreeMap<u64, Hash>,
    /// The arguments of the last [`L1Reader::prune`].
    pruned: Option<(u64, u64)>,
    status: L1Status,
}

impl State {
    fn next_index(&self) -> u64 {
        self.first_kept + self.entries.len() as u64
    }

    /// Takes in a range read from block `from` on.
    fn add(&mut self, mut read: RangeRead, from: u64) {
        // Entries a prune made during the read already passed (the chain ordered them before
        // this source read them) are not kept.
        let next = self.next_index();
        read.entries.retain(|e| e.queue_index >= next);
        if self.entries.is_empty() {
            self.first_kept = read.entries.first().map_or(next, |e| e.queue_index);
        }
        for (n, h) in &read.hashes {
            self.remember_hash(*n, *h);
        }
        let count = read.entries.len();
        self.held = self.held.plus(&Held::of(&read.entries));
        self.entries.extend(read.entries);
        self.read_to = Some(read.read_to);
        if count > 0 {
            info!(
                from,
                to = read.read_to.number,
                entries = count,
                next_index = self.next_index(),
                "l1.inbox_read"
            );
        }
    }

    fn remember_hash(&mut self, number: u64, hash: Hash) {
        self.hashes.insert(number, hash);
        while self.hashes.len() > MAX_HASHES {
            self.hashes.pop_first();
        }
    }
}

#[derive(Debug)]
struct Inner {
    cfg: L1Config,
    providers: Vec<RootProvider>,
    cache: L1Cache,
    state: RwLock<State>,
    read: watch::Sender<u64>,
}

/// The validators' handle on the L1 source. Cheap to clone.
#[derive(Debug, Clone)]
pub struct L1Reader {
    inner: Arc<Inner>,
}

impl L1Reader {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|_| panic!("the L1 source's state lock was poisoned by a panic"))
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(|_| panic!("the L1 source's state lock was poisoned by a panic"))
    }

    /// The last final block read: what an honest proposer names as `l1_ref`.
    pub fn head(&self) -> Option<L1Ref> {
        self.state().read_to
    }

    /// The entries from queue index `cursor` on that were queued at or before L1 block
    /// `queued_by` (at most `max_entries`), and how far the inbox has been read. Only those
    /// can be due, so a long queue of entries not due yet costs nothing here. If entries below
    /// the cursor's position were pruned, the view starts at the first kept one, which the
    /// forced rule reports as a gap.
    pub fn view(&self, cursor: u64, queued_by: u64, max_entries: usize) -> L1View {
        let s = self.state();
        let skip = (cursor.saturating_sub(s.first_kept) as usize).min(s.entries.len());
        L1View {
            read_to: s.read_to,
            entries: s
                .entries
                .range(skip..)
                .take_while(|e| e.l1_block <= queued_by)
                .take(max_entries)
                .cloned()
                .collect(),
        }
    }

    /// The hash of final block `number`, if this source knows it.
    pub fn hash_at(&self, number: u64) -> Option<Hash> {
        let s = self.state();
        match s.read_to {
            Some(r) if r.number == number => Some(r.hash),
            _ => s.hashes.get(&number).copied(),
        }
    }

    /// Waits until the inbox is read up to block `number`; false on timeout.
    pub async fn wait_for(&self, number: u64, timeout: Duration) -> bool {
        let mut rx = self.inner.read.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= number))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The hash of final block `number`: known, or asked of the L1 (only for blocks at or
    /// below what has been read, so never of a block that could still change).
    pub async fn fetch_hash(&self, number: u64) -> Result<Option<Hash>, L1Error> {
        if let Some(h) = self.hash_at(number) {
            return Ok(Some(h));
        }
        if self.head().is_none_or(|r| r.number < number) {
            return Ok(None);
        }
        let mut last = None;
        for p in &self.inner.providers {
            match block_ref(
                p,
                BlockNumberOrTag::Number(number),
                self.inner.cfg.request_timeout,
            )
            .await
            {
                Ok(r) => {
                    self.state_mut().remember_hash(number, r.hash);
                    self.inner.cache.put_hash(number, r.hash)?;
                    return Ok(Some(r.hash));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| L1Error::Config("no L1 endpoint".into())))
    }

    /// Forgets entries below `next` (ordered, with their batch decided) and block hashes below
    /// `l1_number` (the decided batch's `l1_ref`: no later batch may name an older block).
    pub fn prune(&self, next: u64, l1_number: u64) {
        {
            let mut s = self.state_mut();
            // Called after every decision: most leave both unchanged, and then there is
            // nothing to forget (and no range deletion to write).
            if s.pruned == Some((next, l1_number)) {
                return;
            }
            s.pruned = Some((next, l1_number));
            while s.first_kept < next && !s.entries.is_empty() {
                if let Some(e) = s.entries.pop_front() {
                    s.held = s.held.minus(&e);
                }
                s.first_kept += 1;
            }
            if s.entries.is_empty() && s.first_kept < next {
                s.first_kept = next;
            }
            let keep = s.hashes.split_off(&l1_number);
            s.hashes = keep;
        }
        if let Err(e) = self.inner.cache.prune(next, l1_number) {
            warn!(error = %e, "l1.prune_failed");
        }
    }

    /// The source's status: the reading position is derived here; `State::status` keeps
    /// only the endpoint, the last error and the halt.
    pub fn status(&self) -> L1Status {
        let s = self.state();
        L1Status {
            read_to: s.read_to,
            next_index: s.next_index(),
            pending_entries: s.entries.len(),
            pending_bytes: s.held.bytes,
            ..s.status.clone()
        }
    }
}

async fn timed<T, E: fmt::Display>(
    timeout: Duration,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, L1Error> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r.map_err(L1Error::rpc),
        Err(_) => Err(L1Error::Rpc(format!("no answer within {timeout:?}"))),
    }
}

async fn block_ref(
    p: &RootProvider,
    tag: BlockNumberOrTag,
    timeout: Duration,
) -> Result<L1Ref, L1Error> {
    let b = timed(timeout, async { p.get_block_by_number(tag).await })
        .await?
        .ok_or_else(|| L1Error::Rpc(format!("the L1 has no block {tag}")))?;
    Ok(L1Ref {
        number: b.header.number,
        hash: Hash(b.header.hash.0),
    })
}

/// The inbox's logs of blocks `from..=to`, decoded, in block and log order.
async fn fetch_logs(
    p: &RootProvider,
    inbox: Address,
    (from, to): (u64, u64),
    timeout: Duration,
) -> Result<Vec<InboxLog>, L1Error> {
    let filter = Filter::new()
        .address(inbox)
        .event_signature(enqueued_topic())
        .from_block(from)
        .to_block(to);
    let mut logs: Vec<Log> = timed(timeout, async { p.get_logs(&filter).await }).await?;
    logs.sort_by_key(|l| (l.block_number, l.log_index));
    logs.iter()
        .map(|log| {
            let decoded = log
                .log_decode::<EnqueuedEvent>()
                .map_err(|e| L1Error::Rpc(format!("undecodable inbox event: {e}")))?;
            Ok(InboxLog {
                block_number: log.block_number,
                block_hash: log.block_hash.map(|h| Hash(h.0)),
                removed: log.removed,
                entry: forced_from_event(&decoded.inner.data),
            })
        })
        .collect()
}

/// Starts the L1 source: loads the cache at `cache_path`, prunes below the decided cursor
/// `decided_next`, and spawns the follower on the current tokio runtime.
pub fn spawn_source(
    cfg: L1Config,
    limits: Limits,
    cache_path: &Path,
    decided_next: u64,
) -> Result<(L1Reader, tokio::task::JoinHandle<()>), L1Error> {
    if cfg.rpc.is_empty() {
        return Err(L1Error::Config("no L1 RPC endpoint given".into()));
    }
    if cfg.max_range == 0 {
        return Err(L1Error::Config("max_range must be at least 1".into()));
    }
    if cfg.cap.entries == 0 || cfg.cap.bytes == 0 {
        return Err(L1Error::Config(
            "the cap on pending entries must be at least 1 entry and 1 byte".into(),
        ));
    }
    let providers = cfg
        .rpc
        .iter()
        .map(|u| super::inbox::read_provider(u))
        .collect::<Result<Vec<_>, _>>()?;
    let cache = L1Cache::open(cache_path)?;
    let loaded = cache.load(&limits, MAX_HASHES)?;
    let mut state = State {
        read_to: loaded.read_to,
        first_kept: loaded.entries.first().map_or(0, |e| e.queue_index),
        held: Held::of(&loaded.entries),
        entries: loaded.entries.into(),
        ..State::default()
    };
    if loaded.read_to.is_some() && state.entries.is_empty() {
        // Everything read was ordered and pruned: the next entry continues at the cursor.
        state.first_kept = decided_next;
    }
    for (n, h) in loaded.hashes {
        state.remember_hash(n, h);
    }
    info!(
        read_to = ?state.read_to.map(|r| r.number),
        entries = state.entries.len(),
        first = state.first_kept,
        "l1.cache_loaded"
    );
    let (read, _) = watch::channel(state.read_to.map_or(0, |r| r.number));
    let reader = L1Reader {
        inner: Arc::new(Inner {
            cfg,
            providers,
            cache,
            state: RwLock::new(state),
            read,
        }),
    };
    reader.prune(decided_next, 0);
    let follower = Follower {
        reader: reader.clone(),
        endpoint: 0,
        checked: vec![false; reader.inner.providers.len()],
        limits,
    };
    Ok((reader, tokio::spawn(follower.run())))
}

struct Follower {
    reader: L1Reader,
    endpoint: usize,
    /// Per endpoint: chain id and inbox checked.
    checked: Vec<bool>,
    limits: Limits,
}

impl Follower {
    async fn run(mut self) {
        let cfg = self.reader.inner.cfg.clone();
        let mut backoff = cfg.poll;
        loop {
            match self.step().await {
                Ok(more) => {
                    backoff = cfg.poll;
                    self.reader.state_mut().status.last_error = None;
                    if !more {
                        tokio::time::sleep(cfg.poll).await;
                    }
                }
                Err(e @ L1Error::Reorg { .. }) | Err(e @ L1Error::Config(_)) => {
                    let msg = e.to_string();
                    tracing::error!(error = %msg, "l1.halted: forced inclusion stops here");
                    self.reader.state_mut().status.halted = Some(msg);
                    return;
                }
                Err(e) => {
                    let url = self.url();
                    warn!(endpoint = %url, error = %e, retry_in = ?backoff, "l1.read_failed");
                    self.reader.state_mut().status.last_error = Some(format!("{url}: {e}"));
                    self.endpoint = (self.endpoint + 1) % cfg.rpc.len();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One poll: reads at most one range. True when more final blocks wait to be read.
    async fn step(&mut self) -> Result<bool, L1Error> {
        let inner = self.reader.inner.clone();
        let cfg = &inner.cfg;
        let Some(p) = inner.providers.get(self.endpoint) else {
            return Err(L1Error::Config("no L1 endpoint".into()));
        };
        let t = cfg.request_timeout;
        if !self.checked.get(self.endpoint).copied().unwrap_or(false) {
            self.check_endpoint(p).await?;
            if let Some(c) = self.checked.get_mut(self.endpoint) {
                *c = true;
            }
            self.reader.state_mut().status.endpoint = Some(self.url());
        }
        let target = match cfg.finality {
            Finality::Finalized => block_ref(p, BlockNumberOrTag::Finalized, t).await?,
            Finality::Depth(k) => {
                let latest = timed(t, async { p.get_block_number().await }).await?;
                block_ref(p, BlockNumberOrTag::Number(latest.saturating_sub(k)), t).await?
            }
        };
        let (at, next) = {
            let s = self.reader.state();
            let at = range::Position {
                read_to: s.read_to,
                held: s.held,
                oldest: s.entries.front().map(|e| e.l1_block),
            };
            (at, s.next_index())
        };
        let plan = range::plan(
            at,
            target,
            cfg.start_block,
            cfg.max_range,
            cfg.cap,
            cfg.due_after,
        );
        if let Some(r) = plan.verify {
            // What was read must still be the L1's history.
            let now = if r.number == target.number {
                target
            } else {
                block_ref(p, BlockNumberOrTag::Number(r.number), t).await?
            };
            range::same_history(r, now)?;
        }
        let Some((from, to)) = plan.read else {
            self.note_paused(!plan.capped && at.read_to.is_some_and(|r| r.number < target.number));
            return Ok(false);
        };
        let logs = fetch_logs(p, cfg.inbox, (from, to), t).await?;
        let cap = plan.capped.then_some(cfg.cap);
        let checked = range::check_range(&logs, (from, to), next, &self.limits, at.held, cap)?;
        // Paused: the cap cut the range, or (at the cap) reading stops at the due horizon.
        let paused = match checked.read_to {
            Some(end) if plan.capped => end < to,
            Some(end) => end < target.number,
            None => true,
        };
        self.note_paused(paused);
        let Some(end) = checked.read_to else {
            return Ok(false);
        };
        let mut read = RangeRead {
            entries: checked.entries,
            hashes: checked.hashes,
            read_to: if end == target.number {
                target
            } else {
                block_ref(p, BlockNumberOrTag::Number(end), t).await?
            },
        };
        if end - from < HASH_EVERY_BLOCK_UP_TO {
            for n in from..end {
                let r = block_ref(p, BlockNumberOrTag::Number(n), t).await?;
                read.hashes.push((r.number, r.hash));
            }
        }
        inner.cache.append(&read)?;
        self.reader.state_mut().add(read, from);
        inner.read.send_replace(end);
        Ok(end < target.number)
    }

    /// Records whether reading ahead is held back by the cap, logging each change once.
    fn note_paused(&self, paused: bool) {
        let mut s = self.reader.state_mut();
        if s.status.paused == paused {
            return;
        }
        s.status.paused = paused;
        let cap = self.reader.inner.cfg.cap;
        if paused {
            warn!(
                held = s.held.entries,
                held_bytes = s.held.bytes,
                cap = cap.entries,
                cap_bytes = cap.bytes,
                "l1.read_ahead_paused: the unordered entries in memory are at the cap; the L1 keeps the rest"
            );
        } else {
            info!(held = s.held.entries, "l1.read_ahead_resumed");
        }
    }

    fn url(&self) -> String {
        let rpc = &self.reader.inner.cfg.rpc;
        rpc.get(self.endpoint).cloned().unwrap_or_default()
    }

    async fn check_endpoint(&self, p: &RootProvider) -> Result<(), L1Error> {
        let cfg = &self.reader.inner.cfg;
        let t = cfg.request_timeout;
        if let Some(want) = cfg.l1_chain_id {
            let got = timed(t, async { p.get_chain_id().await }).await?;
            if got != want {
                return Err(L1Error::Config(format!(
                    "endpoint {} serves L1 chain {got}, the genesis names {want}",
                    self.url()
                )));
            }
        }
        let bound = timed(t, async {
            Ok::<_, L1Error>(max_payload(p, cfg.inbox).await)
        })
        .await??;
        if bound > self.limits.max_tx_payload {
            return Err(L1Error::Config(format!(
                "the inbox accepts payloads of {bound} bytes, this chain's limit is {}",
                self.limits.max_tx_payload
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finality_parses() {
        assert_eq!("finalized".parse(), Ok(Finality::Finalized));
        assert_eq!("latest".parse(), Ok(Finality::Depth(0)));
        assert_eq!("latest-3".parse(), Ok(Finality::Depth(3)));
        assert!("latest-x".parse::<Finality>().is_err());
        assert!("safe".parse::<Finality>().is_err());
        assert_eq!(Finality::Depth(2).to_string(), "latest-2");
    }
}
