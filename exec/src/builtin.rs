//! `builtin:kv`: an in-process key-value ledger, the localnet's demo rollup.
//!
//! - A transaction `key=value` sets `key` (split at the first `=`); one without `=` sets itself
//!   as key and value, as the ABCI kvstore does. Forced entries count the same.
//! - The state root after height h is `sha256("ordo-kv-root" ‖ root(h-1) ‖ h ‖ n ‖ (len ‖ tx)*)`
//!   over the height's n transactions (big-endian `u64` h and n, `u32` lengths), zero before
//!   height 1: it commits to the whole executed history, hence to the state, at a cost that
//!   grows with the height's transactions rather than with the state. Two nodes that report
//!   the same root at a height executed the same transactions in the same order.
//! - Durability: every height is appended to a log, written out at the first height 200 ms
//!   after the last write and synced in the background;
//!   past 64 MiB (or four times the snapshot's size) the log is folded into a snapshot (on a
//!   thread of its own, off the delivery path: aside, fsync,
//!   rename). After a crash [`KvLedger::resume`] answers the last height that reached the
//!   disk and the loop replays the heights after it, which is exactly-once by the executor
//!   contract.

use async_trait::async_trait;
use ordo_client::deliver::{ExecError, Executed, Executor, Slice};
use ordo_types::Height;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tracing::warn;

const MAGIC: &[u8; 8] = b"ORDOKV1\0";

/// The ledger's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerState {
    pub height: u64,
    pub root: [u8; 32],
    /// Transactions executed, in all.
    pub txs: u64,
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl LedgerState {
    /// Applies one height's transactions.
    fn apply(&mut self, height: u64, txs: &[&[u8]]) {
        let mut h = Sha256::new();
        h.update(b"ordo-kv-root");
        h.update(self.root);
        h.update(height.to_be_bytes());
        h.update((txs.len() as u64).to_be_bytes());
        for tx in txs {
            h.update((tx.len() as u32).to_be_bytes());
            h.update(tx);
            let (k, v) = match tx.iter().position(|b| *b == b'=') {
                Some(i) => (
                    tx.get(..i).unwrap_or_default(),
                    tx.get(i + 1..).unwrap_or_default(),
                ),
                None => (*tx, *tx),
            };
            self.entries.insert(k.to_vec(), v.to_vec());
        }
        self.root = h.finalize().into();
        self.height = height;
        self.txs += txs.len() as u64;
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.txs.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_be_bytes());
        for (k, v) in &self.entries {
            for b in [k, v] {
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
        let sum: [u8; 32] = Sha256::digest(&out).into();
        out.extend_from_slice(&sum);
        out
    }

    fn decode(bytes: &[u8]) -> Option<LedgerState> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut r = body.strip_prefix(MAGIC)?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (a, b) = r.split_at_checked(n)?;
            r = b;
            Some(a)
        };
        let u64_at = |b: &[u8]| b.try_into().ok().map(u64::from_be_bytes);
        let height = u64_at(take(8)?)?;
        let root = take(32)?.try_into().ok()?;
        let txs = u64_at(take(8)?)?;
        let n = u64_at(take(8)?)?;
        let mut entries = BTreeMap::new();
        for _ in 0..n {
            let mut part = || -> Option<Vec<u8>> {
                let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                take(len).map(<[u8]>::to_vec)
            };
            let k = part()?;
            let v = part()?;
            entries.insert(k, v);
        }
        r.is_empty().then_some(LedgerState {
            height,
            root,
            txs,
            entries,
        })
    }
}

/// A read handle on a ledger's state (for the HTTP query routes).
#[derive(Clone, Debug, Default)]
pub struct LedgerHandle(Arc<RwLock<LedgerState>>);

impl LedgerHandle {
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.read().entries.get(key).cloned()
    }

    /// `(height, root, keys, transactions)`.
    pub fn summary(&self) -> (u64, [u8; 32], usize, u64) {
        let s = self.read();
        (s.height, s.root, s.entries.len(), s.txs)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LedgerState> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LedgerState> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Largest log before it is folded into a new snapshot, or four times the snapshot's size if
/// that is larger: rewriting the state then costs at most a quarter of what the log writes.
const COMPACT_AT: u64 = 64 * 1024 * 1024;
/// Longest time an executed height waits in the log's buffer before it is written out and
/// synced.
const SYNC_EVERY: Duration = Duration::from_millis(200);

/// One height in the log: `len ‖ height ‖ n ‖ (len ‖ tx)* ‖ sha256` (big-endian `u32` lengths
/// and n, `u64` height; the checksum over what follows the first `len`).
fn record(height: u64, txs: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + txs.iter().map(|t| 4 + t.len()).sum::<usize>());
    body.extend_from_slice(&height.to_be_bytes());
    body.extend_from_slice(&(txs.len() as u32).to_be_bytes());
    for tx in txs {
        body.extend_from_slice(&(tx.len() as u32).to_be_bytes());
        body.extend_from_slice(tx);
    }
    let mut out = Vec::with_capacity(4 + body.len() + 32);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&Sha256::digest(&body));
    out
}

/// A height read back from the log: its number and transactions.
type Record<'a> = (u64, Vec<&'a [u8]>);

/// The whole records at the start of `bytes`, each with the offset it ends at.
fn records(bytes: &[u8]) -> Vec<(Record<'_>, usize)> {
    let (mut out, mut at) = (Vec::new(), 0usize);
    while let Some((height, txs, len)) = one_record(bytes.get(at..).unwrap_or_default()) {
        at += len;
        out.push(((height, txs), at));
    }
    out
}

fn one_record(b: &[u8]) -> Option<(u64, Vec<&[u8]>, usize)> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let body = b.get(4..4 + len)?;
    if Sha256::digest(body).as_slice() != b.get(4 + len..4 + len + 32)? {
        return None;
    }
    let height = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    let n = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?) as usize;
    let (mut txs, mut at) = (Vec::with_capacity(n.min(len)), 12usize);
    for _ in 0..n {
        let l = u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        txs.push(body.get(at + 4..at + 4 + l)?);
        at += 4 + l;
    }
    (at == body.len()).then_some((height, txs, 4 + len + 32))
}

/// The builtin ledger as an executor. Durability: every height executed is appended to
/// `<snapshot>.log` (written out and synced within [`SYNC_EVERY`]); once the log outgrows
/// [`COMPACT_AT`] (or four times the snapshot) it is folded into a new snapshot. Opening replays the log
/// after the snapshot and cuts a torn record, so [`Executor::resume`] answers the last height
/// that reached the disk.
#[derive(Debug)]
pub struct KvLedger {
    path: PathBuf,
    state: LedgerHandle,
    loaded: bool,
    log: Option<std::io::BufWriter<std::fs::File>>,
    log_bytes: u64,
    snapshot_bytes: u64,
    synced: Instant,
    background: ordo_client::deliver::BackgroundSync,
    compact_at: u64,
    /// A snapshot being written on its own thread, off the delivery path.
    folding: Option<Fold>,
    /// When a failed fold may be tried again.
    fold_retry_at: Option<Instant>,
}

/// A fold under way: the snapshot of the state at `log_at` bytes of the log is being written
/// (aside, fsync, rename, fsync the directory) by a thread that reports its size.
#[derive(Debug)]
struct Fold {
    log_at: u64,
    done: std::sync::mpsc::Receiver<Result<u64, String>>,
}

/// How long after a failed fold the next one is tried.
const FOLD_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Writes `bytes` as the snapshot at `path`: aside, fsync, rename, fsync the directory.
fn write_snapshot(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let aside = path.with_extension("writing");
    let mut f = std::fs::File::create(&aside)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&aside, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl KvLedger {
    /// A ledger whose snapshot lives at `path` and log beside it (read on the first
    /// [`Executor::resume`]).
    pub fn new(path: PathBuf) -> KvLedger {
        KvLedger::with_compaction(path, COMPACT_AT)
    }

    /// The same, folding the log into a snapshot past `compact_at` bytes.
    pub fn with_compaction(path: PathBuf, compact_at: u64) -> KvLedger {
        KvLedger {
            path,
            state: LedgerHandle::default(),
            loaded: false,
            log: None,
            log_bytes: 0,
            snapshot_bytes: 0,
            synced: Instant::now(),
            background: ordo_client::deliver::BackgroundSync::default(),
            compact_at,
            folding: None,
            fold_retry_at: None,
        }
    }

    pub fn handle(&self) -> LedgerHandle {
        self.state.clone()
    }

    fn log_path(&self) -> PathBuf {
        self.path.with_extension("log")
    }

    fn io(&self) -> impl Fn(std::io::Error) -> ExecError + use<> {
        let path = self.path.display().to_string();
        move |e| ExecError::Retry(format!("{path}: {e}"))
    }

    fn load(&mut self) -> Result<(), ExecError> {
        let io = |p: &std::path::Path, e: std::io::Error| {
            ExecError::Retry(format!("{}: {e}", p.display()))
        };
        let mut state = match std::fs::read(&self.path) {
            Ok(b) => {
                self.snapshot_bytes = b.len() as u64;
                LedgerState::decode(&b).unwrap_or_else(|| {
                    warn!(path = %self.path.display(), "builtin.snapshot_damaged; replaying from height 1");
                    LedgerState::default()
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::default(),
            Err(e) => return Err(io(&self.path, e)),
        };
        let log_path = self.log_path();
        let bytes = match std::fs::read(&log_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&log_path, e)),
        };
        // The log is kept up to the last whole record that follows the state; a torn record,
        // or one after a gap, ends it.
        let mut valid = 0usize;
        for ((height, txs), end) in records(&bytes) {
            if height > state.height + 1 {
                warn!(path = %log_path.display(), height, after = state.height, "builtin.log_gap");
                break;
            }
            if height == state.height + 1 {
                state.apply(height, &txs);
            }
            valid = end;
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io(&log_path, e))?;
        if (valid as u64) < bytes.len() as u64 {
            f.set_len(valid as u64).map_err(|e| io(&log_path, e))?;
        }
        self.log = Some(std::io::BufWriter::with_capacity(1 << 20, f));
        self.log_bytes = valid as u64;
        *self.state.write() = state;
        self.loaded = true;
        Ok(())
    }

    /// Writes the log out to the file (what a killed process keeps) and syncs it to disk in the
    /// background.
    pub fn sync(&mut self) -> Result<(), ExecError> {
        use std::io::Write;
        let path = self.log_path();
        if let Some(log) = self.log.as_mut() {
            let io = |e: std::io::Error| ExecError::Retry(format!("{}: {e}", path.display()));
            log.flush().map_err(io)?;
            self.background.sync(log.get_ref()).map_err(io)?;
        }
        self.synced = Instant::now();
        Ok(())
    }

    /// Writes the snapshot (aside, fsync, rename, fsync the directory), then empties the log.
    /// Waits for a fold under way first.
    pub fn save(&mut self) -> Result<(), ExecError> {
        self.finish_fold(true)?;
        let bytes = self.state.read().encode();
        let io = self.io();
        // Out with what the old log still buffers, before the file is emptied under it; on
        // any failure below the old log stays in use.
        self.flush_log()?;
        write_snapshot(&self.path, &bytes).map_err(&io)?;
        // The snapshot is durable: records up to its height are skipped on replay, so a
        // crash from here on loses nothing.
        self.rotate_log(None)?;
        self.snapshot_bytes = bytes.len() as u64;
        Ok(())
    }

    fn flush_log(&mut self) -> Result<(), ExecError> {
        use std::io::Write;
        let io = self.io();
        if let Some(log) = self.log.as_mut() {
            log.flush().map_err(&io)?;
        }
        Ok(())
    }

    /// Starts folding the log into a snapshot of the state as it is now: the state is encoded
    /// here, and written to disk on a thread of its own while delivery goes on appending to
    /// the log.
    fn start_fold(&mut self) -> Result<(), ExecError> {
        self.flush_log()?;
        let bytes = self.state.read().encode();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("ledger-fold".into())
            .spawn(move || {
                let r = write_snapshot(&path, &bytes)
                    .map(|()| bytes.len() as u64)
                    .map_err(|e| format!("{}: {e}", path.display()));
                let _ = tx.send(r);
            })
            .map_err(self.io())?;
        self.folding = Some(Fold {
            log_at: self.log_bytes,
            done: rx,
        });
        Ok(())
    }

    /// Once a fold's snapshot is durable, starts a new log with only the records appended
    /// since (`wait`: waits for it). A failed fold leaves the old log in use, whole.
    fn finish_fold(&mut self, wait: bool) -> Result<(), ExecError> {
        use std::sync::mpsc::TryRecvError;
        let Some(fold) = self.folding.as_ref() else {
            return Ok(());
        };
        let result = if wait {
            fold.done
                .recv()
                .map_err(|_| "the fold thread ended".to_string())
        } else {
            match fold.done.try_recv() {
                Ok(r) => Ok(r),
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => Err("the fold thread ended".to_string()),
            }
        };
        let log_at = fold.log_at;
        self.folding = None;
        match result.and_then(|r| r) {
            Ok(len) => {
                // Records up to the snapshot's height are skipped on replay: a crash before
                // the new log is in place loses nothing.
                self.rotate_log(Some(log_at))?;
                self.snapshot_bytes = len;
                Ok(())
            }
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "builtin.fold_failed; the log stays whole");
                self.fold_retry_at = Some(Instant::now() + FOLD_RETRY);
                Ok(())
            }
        }
    }

    /// Replaces the log with its records after byte `from` (none with `None`): written aside,
    /// synced, renamed over the log, the directory synced, then opened for appending.
    fn rotate_log(&mut self, from: Option<u64>) -> Result<(), ExecError> {
        self.flush_log()?;
        let io = self.io();
        let log_path = self.log_path();
        let tail = match from {
            None => Vec::new(),
            Some(at) => {
                // Only the tail is read: the records appended while the snapshot was written.
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(&log_path).map_err(&io)?;
                f.seek(SeekFrom::Start(at)).map_err(&io)?;
                let mut tail = Vec::new();
                f.read_to_end(&mut tail).map_err(&io)?;
                tail
            }
        };
        let next = log_path.with_extension("log-next");
        std::fs::write(&next, &tail).map_err(&io)?;
        std::fs::File::open(&next)
            .and_then(|f| f.sync_all())
            .map_err(&io)?;
        std::fs::rename(&next, &log_path).map_err(&io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(&io)?;
        }
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(&io)?;
        self.log = Some(std::io::BufWriter::with_capacity(1 << 20, f));
        self.log_bytes = tail.len() as u64;
        Ok(())
    }
}

#[async_trait]
impl Executor for KvLedger {
    fn describe(&self) -> String {
        "builtin:kv".into()
    }

    async fn resume(&mut self) -> Result<Height, ExecError> {
        if !self.loaded {
            self.load()?;
        }
        Ok(Height(self.state.read().height))
    }

    async fn execute(&mut self, slice: &Slice) -> Result<Executed, ExecError> {
        use std::io::Write;
        if !self.loaded {
            self.load()?;
        }
        let txs: Vec<&[u8]> = slice.txs.iter().map(|t| t.payload().as_ref()).collect();
        let at = self.state.read().height;
        if slice.height.0 != at + 1 {
            return Err(ExecError::Retry(format!(
                "height {} offered after {at}",
                slice.height.0
            )));
        }
        // Logged first, applied second: a height that could not be logged is not executed.
        let rec = record(slice.height.0, &txs);
        let path = self.log_path();
        let log = self
            .log
            .as_mut()
            .ok_or_else(|| ExecError::Retry(format!("{}: the log is not open", path.display())))?;
        log.write_all(&rec)
            .map_err(|e| ExecError::Retry(format!("{}: {e}", path.display())))?;
        self.log_bytes += rec.len() as u64;
        let root = {
            let mut s = self.state.write();
            s.apply(slice.height.0, &txs);
            s.root
        };
        self.finish_fold(false)?;
        let may_fold =
            self.folding.is_none() && self.fold_retry_at.is_none_or(|at| Instant::now() >= at);
        if may_fold && self.log_bytes >= self.compact_at.max(4 * self.snapshot_bytes) {
            self.start_fold()?;
        } else if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(Executed {
            state_root: root.to_vec(),
        })
    }
}

impl Drop for KvLedger {
    fn drop(&mut self) {
        use std::io::Write;
        // A fold under way is finished: its snapshot written, the log cut after it.
        let _ = self.finish_fold(true);
        if let Some(log) = self.log.as_mut()
            && log.flush().is_ok()
        {
            let _ = log.get_ref().sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(heights: &[&[&[u8]]]) -> LedgerState {
        let mut s = LedgerState::default();
        for (i, txs) in heights.iter().enumerate() {
            s.apply(i as u64 + 1, txs);
        }
        s
    }

    #[test]
    fn transactions_set_keys_and_the_root_commits_to_order() {
        let s = applied(&[&[b"a=1", b"b=2"], &[], &[b"a=3", b"plain", b"=empty"]]);
        assert_eq!(s.height, 3);
        assert_eq!(s.txs, 5);
        let get = |k: &[u8]| s.entries.get(k).map(Vec::as_slice);
        assert_eq!(get(b"a"), Some(&b"3"[..]));
        assert_eq!(get(b"b"), Some(&b"2"[..]));
        assert_eq!(get(b"plain"), Some(&b"plain"[..]));
        assert_eq!(get(b""), Some(&b"empty"[..]));
        // The same transactions in another order, or split across heights otherwise: another
        // root, though the final state may be the same.
        let swapped = applied(&[&[b"b=2", b"a=1"], &[], &[b"a=3", b"plain", b"=empty"]]);
        let moved = applied(&[&[b"a=1"], &[b"b=2"], &[b"a=3", b"plain", b"=empty"]]);
        assert_ne!(s.root, swapped.root);
        assert_ne!(s.root, moved.root);
        assert_eq!(
            s.root,
            applied(&[&[b"a=1", b"b=2"], &[], &[b"a=3", b"plain", b"=empty"]]).root
        );
    }

    fn slice(h: u64, txs: &[&str]) -> Slice {
        use ordo_types::tx::{BatchTx, Transaction};
        let header = ordo_types::BatchHeader {
            chain_id: ordo_types::ChainId(1),
            height: Height(h),
            parent_hash: ordo_types::Hash::ZERO,
            timestamp_ms: 0,
            epoch: ordo_types::Epoch(0),
            validator_set_hash: ordo_types::Hash::ZERO,
            l1_ref: ordo_types::L1Ref::default(),
            forced_cursor: ordo_types::ForcedCursor::default(),
            namespaces_root: ordo_types::Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: ordo_types::Address([0; 20]),
            next_validator_set_hash: ordo_types::Hash::ZERO,
        };
        let sk = ordo_types::BlsSecretKey::from_seed(&[1; 32]);
        Slice {
            height: Height(h),
            hash: ordo_types::Hash([h as u8; 32]),
            header,
            certificate: ordo_types::Certificate {
                height: Height(h),
                round: ordo_types::Round(0),
                batch_hash: ordo_types::Hash::ZERO,
                signers: ordo_types::bls::SignerBitmap::new(1),
                signature: sk.sign(b"x"),
            },
            txs: txs
                .iter()
                .map(|t| {
                    BatchTx::Ordinary(Transaction::new(
                        ordo_types::Namespace(7),
                        t.as_bytes().to_vec(),
                    ))
                })
                .collect(),
            commitment: ordo_client::deliver::Commitment::Certified,
            certified_ms: None,
        }
    }

    async fn run(ledger: &mut KvLedger, heights: std::ops::RangeInclusive<u64>) -> [u8; 32] {
        let mut root = [0; 32];
        for h in heights {
            let x = ledger
                .execute(&slice(h, &[&format!("k{}=v{h}", h % 4)]))
                .await
                .expect("execute");
            root = x.state_root.try_into().expect("32 bytes");
        }
        root
    }

    #[tokio::test]
    async fn the_log_brings_back_every_height_written_and_cuts_a_torn_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.snapshot");
        let mut a = KvLedger::new(path.clone());
        assert_eq!(a.resume().await.expect("resume"), Height(0));
        let root = run(&mut a, 1..=20).await;
        a.sync().expect("sync");
        // A crash: nothing but what was synced survives.
        std::mem::forget(a);
        let log = path.with_extension("log");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("log");
        std::io::Write::write_all(&mut f, &record(21, &[b"torn"])[..9]).expect("write");
        drop(f);
        let mut b = KvLedger::new(path.clone());
        assert_eq!(b.resume().await.expect("resume"), Height(20));
        assert_eq!(b.handle().summary().1, root);
        assert_eq!(b.handle().get(b"k3"), Some(b"v19".to_vec()));
        // The torn record is gone: the next height follows the last whole one.
        run(&mut b, 21..=22).await;
        drop(b);
        let mut c = KvLedger::new(path);
        assert_eq!(c.resume().await.expect("resume"), Height(22));
    }

    #[tokio::test]
    async fn a_gap_in_the_log_ends_it_there_and_keeps_what_came_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.snapshot");
        let mut a = KvLedger::new(path.clone());
        a.resume().await.expect("resume");
        run(&mut a, 1..=3).await;
        drop(a);
        let log = path.with_extension("log");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("log");
        std::io::Write::write_all(&mut f, &record(5, &[b"k=late"])).expect("write");
        drop(f);
        let mut b = KvLedger::new(path.clone());
        assert_eq!(b.resume().await.expect("resume"), Height(3));
        run(&mut b, 4..=4).await;
        drop(b);
        let mut c = KvLedger::new(path);
        assert_eq!(c.resume().await.expect("resume"), Height(4));
        assert_eq!(c.handle().get(b"k"), None);
    }

    #[tokio::test]
    async fn past_its_bound_the_log_is_folded_into_a_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.snapshot");
        let mut a = KvLedger::with_compaction(path.clone(), 2_000);
        a.resume().await.expect("resume");
        let root = run(&mut a, 1..=100).await;
        drop(a);
        assert!(path.exists(), "no snapshot written");
        // Folds ran on their own thread while heights went on: the log keeps only the records
        // after the last snapshot's height.
        let log = std::fs::read(path.with_extension("log")).expect("log");
        let first = records(&log).first().map(|((h, _), _)| *h);
        assert!(
            first.is_none_or(|h| h > 1),
            "the log was not cut: it starts at height {first:?}"
        );
        assert!(log.len() < 40_000, "{} bytes", log.len());
        let mut b = KvLedger::new(path);
        assert_eq!(b.resume().await.expect("resume"), Height(100));
        assert_eq!(b.handle().summary().1, root);
    }

    #[test]
    fn a_snapshot_round_trips_and_a_damaged_one_is_refused() {
        let s = applied(&[&[b"k=v", b"x=\x00\xff"], &[b"k=w"]]);
        let bytes = s.encode();
        assert_eq!(LedgerState::decode(&bytes), Some(s));
        for cut in [0, 1, 8, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(
                LedgerState::decode(bytes.get(..cut).unwrap_or_default()),
                None
            );
        }
        let mut flipped = bytes.clone();
        if let Some(b) = flipped.get_mut(20) {
            *b ^= 1;
        }
        assert_eq!(LedgerState::decode(&flipped), None);
    }
}
