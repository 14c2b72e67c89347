//! `builtin:kv`: an in-process key-value ledger, the localnet's demo rollup.
//!
//! - A transaction `key=value` sets `key` (split at the first `=`); one without `=` sets itself
//!   as key and value, as the ABCI kvstore does. Forced entries count the same.
//! - The state root after height h is `sha256("ordo-kv-root" ‖ root(h-1) ‖ h ‖ n ‖ (len ‖ tx)*)`
//!   over the height's n transactions (big-endian `u64` h and n, `u32` lengths), zero before
//!   height 1: it commits to the whole executed history, hence to the state, at a cost that
//!   grows with the height's transactions rather than with the state. Two nodes that report
//!   the same root at a height executed the same transactions in the same order.
//! - Durability: the state is written to a snapshot file (aside, fsync, rename) at most once a
//!   second; after a crash [`KvLedger::resume`] answers the snapshot's height and the loop
//!   replays the heights after it, which is exactly-once by the executor contract.

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
/// Longest time between snapshots while heights are executed.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

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

/// The builtin ledger as an executor.
#[derive(Debug)]
pub struct KvLedger {
    path: PathBuf,
    state: LedgerHandle,
    loaded: bool,
    /// Height of the last snapshot written, and when.
    snapshot: (u64, Instant),
}

impl KvLedger {
    /// A ledger whose snapshot lives at `path` (read on the first [`Executor::resume`]).
    pub fn new(path: PathBuf) -> KvLedger {
        KvLedger {
            path,
            state: LedgerHandle::default(),
            loaded: false,
            snapshot: (0, Instant::now()),
        }
    }

    pub fn handle(&self) -> LedgerHandle {
        self.state.clone()
    }

    fn load(&mut self) -> Result<(), ExecError> {
        let state = match std::fs::read(&self.path) {
            Ok(b) => LedgerState::decode(&b).unwrap_or_else(|| {
                warn!(path = %self.path.display(), "builtin.snapshot_damaged; replaying from height 1");
                LedgerState::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::default(),
            Err(e) => {
                return Err(ExecError::Retry(format!("{}: {e}", self.path.display())));
            }
        };
        self.snapshot = (state.height, Instant::now());
        *self.state.write() = state;
        self.loaded = true;
        Ok(())
    }

    /// Writes the snapshot (aside, fsync, rename, fsync the directory).
    pub fn save(&mut self) -> Result<(), ExecError> {
        let (bytes, height) = {
            let s = self.state.read();
            (s.encode(), s.height)
        };
        let io = |e: std::io::Error| ExecError::Retry(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let aside = self.path.with_extension("writing");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&aside).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&aside, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        self.snapshot = (height, Instant::now());
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
        let root = {
            let mut s = self.state.write();
            if slice.height.0 != s.height + 1 {
                return Err(ExecError::Retry(format!(
                    "height {} offered after {}",
                    slice.height.0, s.height
                )));
            }
            let txs: Vec<&[u8]> = slice.txs.iter().map(|t| t.payload().as_ref()).collect();
            s.apply(slice.height.0, &txs);
            s.root
        };
        if self.snapshot.1.elapsed() >= SNAPSHOT_EVERY {
            self.save()?;
        }
        Ok(Executed {
            state_root: root.to_vec(),
        })
    }
}

impl Drop for KvLedger {
    fn drop(&mut self) {
        if self.loaded && self.state.read().height > self.snapshot.0 {
            let _ = self.save();
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
