//! Data availability in a validator (docs/DA.md, ADR 18): certified batches posted to the DA
//! backend after finality, off the consensus path, and each height's *available* (firm) status
//! confirmed.
//!
//! - `local`: the node writes its own committed batches as frames under `<home>/data/da/`; a
//!   height is available once its frame is synced.
//! - `ethereum-blobs`: heights are cut into ranges of `range_heights` (genesis); range `k` is
//!   posted by validator `k mod n` as its heights are certified (a transaction whenever the
//!   batches since the last one fill a whole blob, the rest once the range is complete), and
//!   by validator `k + j mod n` once `j` takeover timeouts have passed since this node saw the
//!   range certified without seeing all of it on the L1, from its first missing height. A
//!   watcher on every node scans the L1 for frames sent to the batch inbox, checks each entry
//!   against this node's own batch at that height, and moves the available head over every
//!   height found in a block at or below the configured finality.
//!
//! Nothing here is awaited by consensus: a dead L1 only stops the available head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ordo_da_adapter::da::L1Hash as B256;
use ordo_da_adapter::da::{
    BlobConfig, BlobProofs, Confirmation, DaBackend, DaError, EthereumBlobs, LocalDa, Locator,
    Receipt,
};
use ordo_da_adapter::l1::Finality;
use ordo_types::da::{Certified, Frame, Gather, Gathered, assemble, decode_entries, next_tx, pack};
use ordo_types::{Address, Height};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::app::Shared;
use crate::config::DaSection;
use crate::epochs::Epochs;
use crate::genesis::DaGenesis;
use crate::store::Store;
use ordo_client::deliver::Backoff;

/// What `/status` shows of DA.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DaStatus {
    pub backend: String,
    /// Every height up to this one is available (firm).
    pub available_height: u64,
    /// Heights found on the DA layer, final or not, past the available head.
    pub seen_ahead: u64,
    /// The L1 block the watcher has scanned to (blob backend).
    pub scanned_l1_block: u64,
    /// Frames this node posted; of those, frames posted when taking over another validator's
    /// range.
    pub frames_posted: u64,
    pub takeover_frames: u64,
    /// Frames found on the L1 that brought no height not already found (from any poster).
    pub duplicate_frames: u64,
    pub last_error: Option<String>,
}

/// Where a run of heights is on the DA layer: one record per frame (or split batch) that made
/// them available, kept in the store's `da` column under its first height, so the API can give
/// each available height its receipt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeightsReceipt {
    pub first: u64,
    pub last: u64,
    /// ethereum-blobs: the L1 block, its hash and the blob transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_block: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_block_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    /// local: the frame file, relative to the DA directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A height's commitment level as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Level {
    /// Ordered and final in ordo (or not known to be available: no DA backend).
    Certified,
    /// Available on the DA layer, with where, if recorded.
    Available(Option<HeightsReceipt>),
}

/// Records `r` (a failure is logged: the receipt only informs the API, the available head is
/// kept elsewhere).
fn put_receipt(store: &Store, r: &HeightsReceipt) {
    let bytes = serde_json::to_vec(r).unwrap_or_default();
    if let Err(e) = store.put_da_receipt(r.first, &bytes) {
        warn!(error = %e, first = r.first, "da.receipt");
    }
}

/// The commitment level of certified height `h`: available once the DA head has passed it.
pub fn level(shared: &Shared, h: u64) -> Level {
    let Some(view) = &shared.da else {
        return Level::Certified;
    };
    let available = view.lock().map_or(0, |s| s.available_height);
    if h > available {
        return Level::Certified;
    }
    let receipt = shared
        .store
        .da_receipt_at(h)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<HeightsReceipt>(&b).ok())
        .filter(|r| r.first <= h && h <= r.last);
    Level::Available(receipt)
}

/// The DA head this node reports (0 without a DA backend).
pub fn available_height(shared: &Shared) -> u64 {
    shared
        .da
        .as_ref()
        .map_or(0, |v| v.lock().map_or(0, |s| s.available_height))
}

/// The DA status, shared with the RPC.
pub type DaView = Arc<Mutex<DaStatus>>;

/// The DA tasks of a validator, or none when the config has no `[da]`.
pub struct Da {
    pub view: DaView,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Da {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Da").finish_non_exhaustive()
    }
}

impl Da {
    pub fn into_tasks(self) -> Vec<JoinHandle<()>> {
        self.tasks
    }
}

fn set(view: &DaView, f: impl FnOnce(&mut DaStatus)) {
    if let Ok(mut s) = view.lock() {
        f(&mut s);
    }
}

/// The posting key of `[da]`: from `key_file` (mode 0600) or the environment variable
/// `key_env`, never from the config itself.
fn key_of(section: &DaSection, home_dir: &Path) -> Result<String, String> {
    if let Some(var) = &section.key_env {
        return std::env::var(var).map_err(|_| format!("da.key_env: {var} is not set"));
    }
    let Some(file) = &section.key_file else {
        return Err("da: ethereum-blobs needs key_file or key_env to post".into());
    };
    let path = home_dir.join(file);
    let bytes = crate::keyfile::read_secret(&path).map_err(|e| format!("da.key_file: {e}"))?;
    String::from_utf8(bytes.to_vec())
        .map(|k| k.trim().to_string())
        .map_err(|_| format!("da.key_file {}: not a hex key", path.display()))
}

/// A `[da]` section checked and its backend opened, before anything else of the node starts
/// (a bad option fails the start naming it, with nothing left running).
pub enum Prepared {
    Local(LocalDa),
    Blobs(Arc<EthereumBlobs>, Params),
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Prepared::Local(..) => "Prepared::Local",
            Prepared::Blobs(..) => "Prepared::Blobs",
        })
    }
}

/// Checks `[da]` against the genesis and opens its backend for the validator of address `me`.
pub fn prepare(
    section: &DaSection,
    genesis: &crate::genesis::Genesis,
    home: &crate::home::Home,
    me: Address,
) -> Result<Prepared, String> {
    let limits = genesis.limits;
    match section.backend.as_str() {
        "local" => {
            let backend = LocalDa::open(&home.da_dir(), limits).map_err(|e| format!("da: {e}"))?;
            Ok(Prepared::Local(backend))
        }
        "ethereum-blobs" => {
            let g = genesis.da.as_ref().ok_or("da: backend ethereum-blobs needs a `da` section in the genesis (batch_inbox, start_block, range_heights)")?;
            let cfg = blob_config(section, g, limits)?;
            let key = key_of(section, &home.0)?;
            let backend =
                Arc::new(EthereumBlobs::new(cfg, Some(&key)).map_err(|e| format!("da: {e}"))?);
            let params = Params::of(section, g, me, home.da_dir())?;
            std::fs::create_dir_all(home.da_dir())
                .map_err(|e| format!("da: {}: {e}", home.da_dir().display()))?;
            Ok(Prepared::Blobs(backend, params))
        }
        other => Err(format!(
            "da.backend: unknown backend {other:?} (use \"local\" or \"ethereum-blobs\")"
        )),
    }
}

/// Starts the DA tasks; `view` is the status `/status` shows.
pub fn start(prepared: Prepared, shared: &Arc<Shared>, view: DaView) -> Da {
    let tasks = match prepared {
        Prepared::Local(backend) => {
            set(&view, |s| s.backend = backend.describe());
            vec![tokio::spawn(local_loop(
                backend,
                shared.clone(),
                view.clone(),
            ))]
        }
        Prepared::Blobs(backend, params) => {
            set(&view, |s| s.backend = backend.describe());
            EthereumBlobs::warm_up();
            let state = Arc::new(Mutex::new(Landed::default()));
            let watcher = tokio::spawn(watch_loop(
                backend.clone(),
                shared.clone(),
                state.clone(),
                view.clone(),
                params.clone(),
            ));
            let poster = tokio::spawn(post_loop(
                backend,
                shared.clone(),
                state,
                view.clone(),
                params,
            ));
            vec![watcher, poster]
        }
    };
    Da { view, tasks }
}

fn blob_config(
    s: &DaSection,
    g: &DaGenesis,
    limits: ordo_types::Limits,
) -> Result<BlobConfig, String> {
    let batch_inbox = g
        .batch_inbox
        .parse()
        .map_err(|e| format!("genesis da.batch_inbox {:?}: {e}", g.batch_inbox))?;
    if s.rpc.is_empty() {
        return Err("da.rpc: ethereum-blobs needs the L1's JSON-RPC URL".into());
    }
    let finality: Finality = s
        .finality
        .parse()
        .map_err(|e| format!("da.finality: {e}"))?;
    let proofs = match s.proofs.as_str() {
        "eip4844" => BlobProofs::Eip4844,
        "eip7594" => BlobProofs::Eip7594,
        other => {
            return Err(format!(
                "da.proofs: {other:?} (use \"eip4844\" or \"eip7594\")"
            ));
        }
    };
    if s.max_blobs_per_tx == 0 || s.max_blobs_per_tx > 21 {
        return Err(format!(
            "da.max_blobs_per_tx: {} (1 to 21)",
            s.max_blobs_per_tx
        ));
    }
    let beacon = match s.beacon_url.trim() {
        "" => None,
        url => {
            ordo_da_adapter::da::beacon::Beacon::new(url)
                .map_err(|e| format!("da.beacon_url: {e}"))?;
            Some(url.to_string())
        }
    };
    Ok(BlobConfig {
        rpc: s.rpc.clone(),
        batch_inbox,
        finality,
        max_blobs_per_tx: s.max_blobs_per_tx,
        max_fee_per_gas: u128::from(s.max_fee_per_gas_gwei) * 1_000_000_000,
        max_fee_per_blob_gas: u128::from(s.max_fee_per_blob_gas_gwei) * 1_000_000_000,
        proofs,
        limits,
        // The watcher reads blobs and transactions from the same endpoint and compares every
        // entry with this node's own batch: recomputing each blob's KZG commitment on every
        // node would only spend CPU that consensus needs (docs/BENCHMARKS.md).
        verify_blobs: false,
        beacon,
    })
}

/// The certified batch at `h` from the store.
fn certified(store: &Store, h: u64) -> Result<Option<Certified>, String> {
    Ok(store
        .decided(Height(h))
        .map_err(|e| format!("the store: {e}"))?
        .map(|d| Certified {
            batch: d.batch,
            certificate: d.certificate,
        }))
}

// ---- local ---------------------------------------------------------------------------------

/// Frames of this node's committed batches, written as they are certified: a frame is cut
/// when it is full or when its first height has waited `LOCAL_DELAY`. A height the store
/// cannot give yet is asked again, never passed over.
async fn local_loop(backend: LocalDa, shared: Arc<Shared>, view: DaView) {
    const LOCAL_DELAY: Duration = Duration::from_millis(200);
    let first = backend.head() + 1;
    set(&view, |s| s.available_height = first - 1);
    let cap = backend.frame_capacity();
    let chain = shared.genesis.genesis.chain_id;
    let mut pending: Vec<Certified> = Vec::new();
    let mut bytes = 0usize;
    let mut pause = Backoff::default().first;
    let mut sub = loop {
        match shared.feed.subscribe(Height(first)) {
            Ok(s) => break s,
            Err(e) => {
                set(&view, |s| s.last_error = Some(format!("feed: {e}")));
                pause = crate::rollups::wait(pause).await;
            }
        }
    };
    let mut cut_at = tokio::time::Instant::now() + LOCAL_DELAY;
    loop {
        if pending.is_empty() {
            cut_at = tokio::time::Instant::now() + LOCAL_DELAY;
        }
        let full = match tokio::time::timeout_at(cut_at, sub.next()).await {
            Ok(Ok(Some(c))) => {
                let cb = stored(&shared.store, c.height.0, &view).await;
                bytes += cb.encoded_len();
                pending.push(cb);
                bytes >= cap
            }
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                set(&view, |s| s.last_error = Some(format!("feed: {e}")));
                tokio::time::sleep(Backoff::default().first).await;
                false
            }
            // The first pending height has waited long enough: write out what is there.
            Err(_) => true,
        };
        if !full || pending.is_empty() {
            continue;
        }
        for frame in pack(chain, &pending, cap) {
            let mut pause = Backoff::default().first;
            let receipt = loop {
                match backend.submit(&frame).await {
                    Ok(r) => break r,
                    Err(e) => {
                        set(&view, |s| s.last_error = Some(e.to_string()));
                        pause = crate::rollups::wait(pause).await;
                    }
                }
            };
            if let Locator::Local { file } = &receipt.locator {
                put_receipt(
                    &shared.store,
                    &HeightsReceipt {
                        first: frame.first.0,
                        last: frame.last.0,
                        file: Some(file.clone()),
                        ..HeightsReceipt::default()
                    },
                );
            }
            set(&view, |s| {
                s.frames_posted += 1;
                s.available_height = frame.last.0;
            });
        }
        pending.clear();
        bytes = 0;
    }
}

/// The certified batch at `h`, asked again (with the error in status) until the store gives it.
async fn stored(store: &Store, h: u64, view: &DaView) -> Certified {
    let mut pause = Backoff::default().first;
    loop {
        match certified(store, h) {
            Ok(Some(c)) => return c,
            Ok(None) => set(view, |s| {
                s.last_error = Some(format!("height {h} is not in the store"));
            }),
            Err(e) => set(view, |s| s.last_error = Some(e)),
        }
        pause = crate::rollups::wait(pause).await;
    }
}

// ---- ethereum blobs -------------------------------------------------------------------------

/// The rotation and timing every posting decision uses.
#[derive(Clone, Debug)]
pub struct Params {
    range: u64,
    /// This validator's address: its place in each epoch's set decides its turns.
    me: Address,
    takeover: Duration,
    poll: Duration,
    bump_after: Duration,
    start_block: u64,
    state_file: PathBuf,
}

impl Params {
    fn of(s: &DaSection, g: &DaGenesis, me: Address, dir: PathBuf) -> Result<Params, String> {
        if g.range_heights == 0 {
            return Err("genesis da.range_heights must be at least 1".into());
        }
        Ok(Params {
            range: g.range_heights,
            me,
            takeover: Duration::from_millis(s.takeover_after_ms),
            poll: Duration::from_millis(s.poll_ms.max(50)),
            bump_after: Duration::from_millis(s.bump_after_ms),
            start_block: g.start_block,
            state_file: dir.join("watch.json"),
        })
    }

    /// How many takeover timeouts pass before this node posts range `k`: 0 for the range's
    /// poster. The rotation runs over the set of the epoch of the range's first height: member
    /// `k mod n` posts first, then the next members in order, one takeover timeout apart. A
    /// node outside that set comes after all of them (turn `n`), so a range is still posted when
    /// every member is down. `None` while that epoch's set is not known.
    pub fn turn(&self, epochs: &Epochs, k: u64) -> Option<u64> {
        let first = k.checked_mul(self.range)?.checked_add(1)?;
        let set = epochs.set_of(epochs.epoch_of(first))?;
        let n = set.set.len() as u64;
        if n == 0 {
            return None;
        }
        Some(match set.set.index_of(&self.me) {
            Some(i) => (u64::from(i.0) + n - k % n) % n,
            None => n,
        })
    }
}

/// What the watcher found on the L1: per height, the L1 block (number and hash) of its first
/// frame.
#[derive(Debug, Default)]
struct Landed {
    available: u64,
    blocks: BTreeMap<u64, (u64, B256)>,
    /// Per height in `blocks`: the transaction and the heights of its frame.
    frames: BTreeMap<u64, (B256, u64, u64)>,
}

/// What survives a restart of the watcher.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WatchState {
    available_height: u64,
    /// The L1 block to scan from: the oldest block holding a frame not yet final, or the next
    /// block after the last scanned.
    rescan_from: u64,
}

fn load_state(path: &Path) -> WatchState {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, s: &WatchState) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(s).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

/// Most L1 blocks scanned per round, so one round stays short.
const SCAN_BLOCKS: u64 = 32;

async fn watch_loop(
    backend: Arc<EthereumBlobs>,
    shared: Arc<Shared>,
    landed: Arc<Mutex<Landed>>,
    view: DaView,
    p: Params,
) {
    let saved = load_state(&p.state_file);
    let mut next_block = saved.rescan_from.max(p.start_block);
    if let Ok(mut l) = landed.lock() {
        l.available = saved.available_height;
    }
    set(&view, |s| s.available_height = saved.available_height);
    let mut parts = Gather::new(MAX_PART_GROUPS);
    let mut duplicates = 0;
    loop {
        let round = watch_round(
            &backend,
            &shared,
            &landed,
            &mut parts,
            &mut next_block,
            &mut duplicates,
        )
        .await;
        match round {
            Ok((available, ahead, rescan_from)) => {
                set(&view, |s| {
                    s.duplicate_frames = duplicates;
                    s.available_height = available;
                    s.seen_ahead = ahead;
                    s.scanned_l1_block = next_block.saturating_sub(1);
                    s.last_error = None;
                });
                let st = WatchState {
                    available_height: available,
                    rescan_from,
                };
                if let Err(e) = save_state(&p.state_file, &st) {
                    warn!(error = %e, "da.state");
                }
            }
            Err(e) => {
                warn!(error = %e, "da.watch");
                set(&view, |s| s.last_error = Some(e.to_string()));
            }
        }
        tokio::time::sleep(p.poll).await;
    }
}

/// Most split batches whose parts are being gathered at once; parts for further heights wait
/// for a rescan. Anyone can send to the batch inbox, so this is bounded.
const MAX_PART_GROUPS: usize = 64;

/// Split batches being gathered, per posting account.
type Parts = Gather<ordo_da_adapter::da::L1Address, ()>;

/// One scan of new L1 blocks; returns the available head, heights seen past it and where a
/// restart should scan from.
async fn watch_round(
    backend: &EthereumBlobs,
    shared: &Shared,
    landed: &Mutex<Landed>,
    parts: &mut Parts,
    next_block: &mut u64,
    duplicates: &mut u64,
) -> Result<(u64, u64, u64), DaError> {
    let head = backend.latest_block().await?;
    let to = head.min(*next_block + SCAN_BLOCKS - 1);
    let g = &shared.genesis.genesis;
    if *next_block <= to {
        for posted in backend.scan(*next_block, to).await? {
            let available = landed.lock().map_or(0, |l| l.available);
            if posted.frame.chain_id != g.chain_id {
                continue;
            }
            parts.forget_through(available);
            let whole = match parts.add(&posted.sender, posted.frame, ()) {
                Gathered::Whole(frames, ()) => frames,
                Gathered::Waiting => continue,
                Gathered::TooMany => {
                    warn!("da.too_many_split_batches");
                    continue;
                }
            };
            let at = (posted.l1_block, posted.l1_hash);
            if !record(shared, landed, &whole, at, posted.tx_hash, &g.limits) {
                *duplicates += 1;
            }
        }
        *next_block = to + 1;
    }
    let (available, ahead, rescan_from, receipts) = promote(backend, landed, next_block).await?;
    for r in receipts {
        put_receipt(&shared.store, &r);
    }
    Ok((available, ahead, rescan_from))
}

/// Moves the available head over every next height whose frame is in a final block that still
/// has the hash it was scanned with; a block a reorg replaced loses its heights and is scanned
/// again.
async fn promote(
    backend: &EthereumBlobs,
    landed: &Mutex<Landed>,
    next_block: &mut u64,
) -> Result<(u64, u64, u64, Vec<HeightsReceipt>), DaError> {
    let final_head = backend.final_head().await?;
    let poisoned = || DaError::Fatal("DA state poisoned".into());
    // The final blocks the next heights need, in height order (the lock is not held across the
    // RPC calls).
    let needed: Vec<(u64, B256)> = {
        let l = landed.lock().map_err(|_| poisoned())?;
        let mut blocks = Vec::new();
        for (_, (b, hash)) in l.blocks.range(l.available + 1..) {
            if *b > final_head {
                break;
            }
            if !blocks.contains(&(*b, *hash)) {
                blocks.push((*b, *hash));
            }
        }
        blocks
    };
    let mut replaced = None;
    for (b, hash) in needed {
        if backend.block_hash(b).await? != Some(hash) {
            replaced = Some(b);
            break;
        }
    }
    let mut l = landed.lock().map_err(|_| poisoned())?;
    if let Some(b) = replaced {
        warn!(l1_block = b, "da.l1_reorg");
        l.blocks.retain(|_, (at, _)| *at != b);
        *next_block = (*next_block).min(b);
    }
    let mut receipts: Vec<HeightsReceipt> = Vec::new();
    while let Some((b, hash)) = l.blocks.get(&(l.available + 1)).copied() {
        if b > final_head || replaced.is_some_and(|r| b >= r) {
            break;
        }
        l.available += 1;
        let h = l.available;
        let Some((tx, first, last)) = l.frames.get(&h).copied() else {
            continue;
        };
        let r = HeightsReceipt {
            first,
            last,
            l1_block: Some(b),
            l1_block_hash: Some(format!("{hash:#x}")),
            tx_hash: Some(format!("{tx:#x}")),
            file: None,
        };
        if receipts.last() != Some(&r) {
            receipts.push(r);
        }
    }
    let available = l.available;
    l.blocks.retain(|h, _| *h > available);
    l.frames.retain(|h, _| *h > available);
    let rescan_from = l
        .blocks
        .values()
        .map(|(b, _)| *b)
        .min()
        .unwrap_or(*next_block)
        .min(*next_block);
    Ok((available, l.blocks.len() as u64, rescan_from, receipts))
}

/// Marks the heights of a whole range as landed in `block`, each entry checked against this
/// node's own batch at its height (a frame for a batch this node does not have yet is not
/// counted). Says whether the frame brought any height not seen before: a frame that did not
/// is a duplicate (or a refused one).
fn record(
    shared: &Shared,
    landed: &Mutex<Landed>,
    frames: &[Frame],
    block: (u64, B256),
    tx: B256,
    limits: &ordo_types::Limits,
) -> bool {
    let Some(head) = frames.first() else {
        return false;
    };
    let entries = match assemble(frames)
        .and_then(|data| decode_entries(head.chain_id, head.first, head.last, &data, limits))
    {
        Ok(e) => e,
        Err(e) => {
            warn!(first = head.first.0, error = %e, "da.frame_refused");
            return false;
        }
    };
    let Ok(mut l) = landed.lock() else {
        return false;
    };
    let mut new = false;
    for c in entries {
        let h = c.height().0;
        if h <= l.available || l.blocks.contains_key(&h) {
            continue;
        }
        match shared.store.decided(Height(h)) {
            Ok(Some(d)) if d.batch.hash() == c.batch.hash() => {
                l.blocks.insert(h, block);
                l.frames.insert(h, (tx, head.first.0, head.last.0));
                new = true;
            }
            Ok(Some(_)) => warn!(height = h, "da.frame_conflicts_with_our_batch"),
            Ok(None) | Err(_) => new = true,
        }
    }
    new
}

/// One blob transaction this node sent for a range, kept until the range is on the L1.
struct Sent {
    frames: Vec<Frame>,
    receipts: Vec<Receipt>,
    bump: u32,
    at: Instant,
}

/// A range this node is posting: how far it has packed the range and what it sent.
struct Stream {
    /// The next height to pack.
    next: u64,
    /// Parts of a split batch not sent yet: they open the next transaction.
    carry: Vec<Frame>,
    sent: Vec<Sent>,
}

async fn post_loop(
    backend: Arc<EthereumBlobs>,
    shared: Arc<Shared>,
    landed: Arc<Mutex<Landed>>,
    view: DaView,
    p: Params,
) {
    // When this node first saw each range complete (certified), for the takeover clock.
    let mut complete_at: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut streams: BTreeMap<u64, Stream> = BTreeMap::new();
    loop {
        tokio::time::sleep(p.poll).await;
        let certified_height = *shared.heights.borrow();
        let (available, seen): (u64, BTreeSet<u64>) = match landed.lock() {
            Ok(l) => (l.available, l.blocks.keys().copied().collect()),
            Err(_) => return,
        };
        let on_l1 = |h: u64| h <= available || seen.contains(&h);
        let first_range = available / p.range;
        let done = |k: u64| ((k * p.range + 1)..=((k + 1) * p.range)).all(on_l1);
        complete_at.retain(|k, _| *k >= first_range);
        streams.retain(|k, _| *k >= first_range && !done(*k));
        let mut k = first_range;
        while k * p.range < certified_height {
            let complete = (k + 1) * p.range <= certified_height;
            // A range of an epoch whose set is not known yet is not this node's to post, even
            // with a takeover timeout of 0.
            let known = p.turn(&shared.epochs, k);
            let turn = known.unwrap_or(u64::MAX);
            // The range's poster streams it as it is certified; the others wait until it is
            // complete and their takeover time has come.
            let go = turn == 0
                || known.is_some() && complete && {
                    let since = *complete_at.entry(k).or_insert_with(Instant::now);
                    Instant::now() >= since + p.takeover * u32::try_from(turn).unwrap_or(u32::MAX)
                };
            if !done(k) {
                let first_missing = ((k * p.range + 1)..=((k + 1) * p.range))
                    .find(|h| !on_l1(*h))
                    .unwrap_or(k * p.range + 1);
                let at = Range {
                    k,
                    turn,
                    go,
                    first_missing,
                    certified_height,
                };
                if let Err(e) = post_range(&backend, &shared, &view, &p, at, &mut streams).await {
                    warn!(range = k, error = %e, "da.post");
                    set(&view, |s| s.last_error = Some(e.to_string()));
                }
            }
            k += 1;
        }
    }
}

/// Where a range stands for [`post_range`].
struct Range {
    k: u64,
    /// This node's turn for the range (0: its poster).
    turn: u64,
    /// Whether this node posts it now (its turn has come).
    go: bool,
    /// The first height of the range not seen on the L1 yet: a takeover starts there.
    first_missing: u64,
    certified_height: u64,
}

/// Sends range `r.k` on when it is this node's turn: the batches certified since the last
/// transaction, cut on whole blobs until the range is complete, then the rest. Replaces a
/// transaction stuck for `bump_after` with doubled fees, and re-posts a dropped one.
async fn post_range(
    backend: &EthereumBlobs,
    shared: &Shared,
    view: &DaView,
    p: &Params,
    r: Range,
    streams: &mut BTreeMap<u64, Stream>,
) -> Result<(), DaError> {
    let k = r.k;
    if let Some(st) = streams.get_mut(&k) {
        resend_stuck(backend, p, k, st).await?;
    }
    if !r.go {
        return Ok(());
    }
    let last = (k + 1) * p.range;
    let st = streams.entry(k).or_insert_with(|| Stream {
        next: r.first_missing,
        carry: Vec::new(),
        sent: Vec::new(),
    });
    let end = last.min(r.certified_height);
    let mut batches = Vec::new();
    for h in st.next..=end {
        match certified(&shared.store, h) {
            Ok(Some(c)) => batches.push(c),
            Ok(None) => break,
            Err(e) => return Err(DaError::Retry(e)),
        }
    }
    let flush = st.next + batches.len() as u64 > last;
    let chain = shared.genesis.genesis.chain_id;
    let mut taken_all = 0;
    loop {
        let mut carry = st.carry.clone();
        let rest = batches.get(taken_all..).unwrap_or_default();
        let Some((frames, taken)) = next_tx(chain, &mut carry, rest, backend.max_blobs(), flush)
        else {
            break;
        };
        let sending = Instant::now();
        let receipts = backend.submit_with(&frames, None, 0).await?;
        let send_ms = sending.elapsed().as_millis() as u64;
        st.carry = carry;
        st.next += taken as u64;
        taken_all += taken;
        let n = frames.len() as u64;
        set(view, |s| {
            s.frames_posted += n;
            if r.turn > 0 {
                s.takeover_frames += n;
            }
        });
        let (first, to) = frames
            .first()
            .zip(frames.last())
            .map_or((0, 0), |(a, b)| (a.first.0, b.last.0));
        let packed = st.next > last && st.carry.is_empty();
        info!(
            range = k,
            first,
            last = to,
            frames = n,
            turn = r.turn,
            range_done = packed,
            send_ms,
            "da.posted"
        );
        st.sent.push(Sent {
            frames,
            receipts,
            bump: 0,
            at: Instant::now(),
        });
    }
    Ok(())
}

/// Replaces each transaction of `st` still out of a block after `bump_after` with doubled fees
/// (same nonce), and sends again one that was dropped.
async fn resend_stuck(
    backend: &EthereumBlobs,
    p: &Params,
    k: u64,
    st: &mut Stream,
) -> Result<(), DaError> {
    for s in &mut st.sent {
        if s.at.elapsed() < p.bump_after {
            continue;
        }
        let Some(receipt) = s.receipts.first() else {
            continue;
        };
        match backend.confirm(receipt).await? {
            Confirmation::Pending => {
                let nonce = match &receipt.locator {
                    Locator::EthereumBlobs { nonce, .. } => Some(*nonce),
                    Locator::Local { .. } => None,
                };
                s.bump += 1;
                info!(range = k, bump = s.bump, "da.fee_bump");
                s.receipts = backend.submit_with(&s.frames, nonce, s.bump).await?;
            }
            Confirmation::Dropped => s.receipts = backend.submit_with(&s.frames, None, 0).await?,
            Confirmation::Included { .. } | Confirmation::Available { .. } => {}
        }
        s.at = Instant::now();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ordo_consensus::ConsValidatorSet;
    use ordo_consensus::epoch::EpochParams;
    use ordo_types::bls::BlsSecretKey;
    use ordo_types::{ConsensusKey, Validator, ValidatorSet};

    fn set_of(members: &[u8]) -> ValidatorSet {
        let vs = members
            .iter()
            .map(|&i| {
                let key = BlsSecretKey::from_seed(&[i; 32]);
                Validator {
                    address: Address([i; 20]),
                    voting_power: 1,
                    consensus_key: ConsensusKey(
                        *malachitebft_signing_ed25519::PrivateKey::from([i; 32])
                            .public_key()
                            .as_bytes(),
                    ),
                    bls_key: key.public_key(),
                    bls_pop: key.proof_of_possession(),
                }
            })
            .collect();
        ValidatorSet::new(vs, 16).expect("set")
    }

    fn params(me: u8) -> Params {
        Params {
            range: 4,
            me: Address([me; 20]),
            takeover: Duration::from_secs(1),
            poll: Duration::from_millis(50),
            bump_after: Duration::from_secs(1),
            start_block: 0,
            state_file: PathBuf::from("unused"),
        }
    }

    /// Epochs of 8 heights (two ranges of 4 each): genesis {1,2,3,4} for epochs 0 and 1,
    /// {2,3,4,5,6} from epoch 2 on (1 left, 5 and 6 joined).
    fn epochs(dir: &Path) -> Epochs {
        let store = Store::open(dir, ordo_types::Limits::default()).expect("store");
        store
            .put_epoch_set(2, &set_of(&[2, 3, 4, 5, 6]), &[])
            .expect("put");
        let genesis = ConsValidatorSet::new(set_of(&[1, 2, 3, 4])).expect("genesis");
        let p = EpochParams {
            epoch_length: 8,
            max_validators: 16,
        };
        Epochs::following(p, genesis, &store).expect("epochs")
    }

    #[test]
    fn the_rotation_runs_over_the_set_of_each_ranges_epoch() {
        let dir = tempfile::tempdir().expect("dir");
        let epochs = epochs(dir.path());
        // Ranges 0..=3 (heights 1..=16) are in epochs 0 and 1: the genesis set posts them, in
        // turn, one member first per range.
        for k in 0..4u64 {
            let first: Vec<u8> = (1..=6u8)
                .filter(|&m| params(m).turn(&epochs, k) == Some(0))
                .collect();
            assert_eq!(first, vec![[1, 2, 3, 4][(k % 4) as usize]], "range {k}");
            // The departed-to-be and the newcomers are outside that set: after every member.
            assert_eq!(params(5).turn(&epochs, k), Some(4));
            assert_eq!(params(6).turn(&epochs, k), Some(4));
        }
        // Ranges 4 and 5 (heights 17..=24) are in epoch 2: the new set of five posts them, the
        // newcomers included, and the validator that left waits behind all of them.
        for k in 4..6u64 {
            let turns: Vec<u64> = [2u8, 3, 4, 5, 6]
                .iter()
                .map(|&m| params(m).turn(&epochs, k).expect("known"))
                .collect();
            let mut sorted = turns.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                vec![0, 1, 2, 3, 4],
                "range {k}: one poster per turn"
            );
            assert_eq!(turns.iter().position(|&t| t == 0), Some((k % 5) as usize));
            assert_eq!(params(1).turn(&epochs, k), Some(5));
        }
        // Epoch 3's set is not derived yet: nobody's turn is known.
        assert_eq!(params(2).turn(&epochs, 6), None);
    }

    #[test]
    fn a_static_chain_rotates_over_the_genesis_set_forever() {
        let genesis = ConsValidatorSet::new(set_of(&[1, 2, 3, 4])).expect("genesis");
        let epochs = Epochs::fixed(genesis);
        for k in [0u64, 1, 2, 3, 1_000_001] {
            assert_eq!(
                params([1, 2, 3, 4][(k % 4) as usize]).turn(&epochs, k),
                Some(0)
            );
        }
        assert_eq!(params(9).turn(&epochs, 7), Some(4));
    }
}
