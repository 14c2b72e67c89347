//! What the L1 source has read, in rocksdb (`<home>/data/l1`), so a restart resumes where it
//! stopped instead of re-reading the L1 from the inbox's deployment.
//!
//! Keys (big-endian numbers, so that keys sort as numbers):
//! - `p` → progress: `read_to` (u64) ‖ its block hash (32 bytes);
//! - `e` ‖ queue index → the entry's canonical encoding ([`ForcedTx::encode`]);
//! - `h` ‖ block number → block hash (32 bytes), for the blocks whose hash the source learnt.
//!
//! One range of reads is one atomic write: entries, hashes and progress move together.

use std::path::Path;

use ordo_types::{ForcedTx, Hash, L1Ref, Limits};
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use super::chain::L1Error;

const PROGRESS: &[u8] = b"p";
const ENTRY: u8 = b'e';
const HASH: u8 = b'h';

fn key(tag: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = tag;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

/// A 40-byte record: a block number and its hash.
fn number_and_hash(v: &[u8]) -> Option<(u64, Hash)> {
    let (n, h) = v.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*n), Hash(<[u8; 32]>::try_from(h).ok()?)))
}

/// The L1 cache.
#[derive(Debug)]
pub struct L1Cache {
    db: DB,
}

/// What one read of a range adds.
#[derive(Debug, Default)]
pub struct RangeRead {
    pub entries: Vec<ForcedTx>,
    pub hashes: Vec<(u64, Hash)>,
    /// The last block of the range, with its hash.
    pub read_to: L1Ref,
}

/// Everything the cache holds, loaded at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub read_to: Option<L1Ref>,
    pub entries: Vec<ForcedTx>,
    pub hashes: Vec<(u64, Hash)>,
}

impl L1Cache {
    pub fn open(path: &Path) -> Result<L1Cache, L1Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, path).map_err(|e| L1Error::Storage(e.to_string()))?;
        Ok(L1Cache { db })
    }

    /// Loads the progress, every kept entry and the newest `max_hashes` block hashes.
    pub fn load(&self, limits: &Limits, max_hashes: usize) -> Result<Loaded, L1Error> {
        let st = |e: rocksdb::Error| L1Error::Storage(e.to_string());
        let read_to = match self.db.get(PROGRESS).map_err(st)? {
            Some(v) if let Some((n, h)) = number_and_hash(&v) => Some(L1Ref { number: n, hash: h }),
            Some(v) => {
                return Err(L1Error::Storage(format!(
                    "L1 progress record has {} bytes, not 40",
                    v.len()
                )));
            }
            None => None,
        };
        let mut entries = Vec::new();
        for kv in self
            .db
            .iterator(IteratorMode::From(&[ENTRY], Direction::Forward))
        {
            let (k, v) = kv.map_err(st)?;
            if k.first() != Some(&ENTRY) {
                break;
            }
            let e = ForcedTx::decode(&v, limits)
                .map_err(|e| L1Error::Storage(format!("stored inbox entry: {e}")))?;
            entries.push(e);
        }
        let mut hashes = Vec::new();
        for kv in self
            .db
            .iterator(IteratorMode::From(&key(HASH, u64::MAX), Direction::Reverse))
        {
            let (k, v) = kv.map_err(st)?;
            if k.first() != Some(&HASH) || hashes.len() >= max_hashes {
                break;
            }
            let n = k.get(1..).and_then(|n| <[u8; 8]>::try_from(n).ok());
            if let (Some(n), Ok(h)) = (n, <[u8; 32]>::try_from(&v[..])) {
                hashes.push((u64::from_be_bytes(n), Hash(h)));
            }
        }
        hashes.reverse();
        Ok(Loaded {
            read_to,
            entries,
            hashes,
        })
    }

    /// Stores one range read, atomically and synced.
    pub fn append(&self, r: &RangeRead) -> Result<(), L1Error> {
        let mut b = WriteBatch::default();
        for e in &r.entries {
            b.put(key(ENTRY, e.queue_index), e.encode());
        }
        for (n, h) in &r.hashes {
            b.put(key(HASH, *n), h.0);
        }
        b.put(key(HASH, r.read_to.number), r.read_to.hash.0);
        let mut p = Vec::with_capacity(40);
        p.extend_from_slice(&r.read_to.number.to_be_bytes());
        p.extend_from_slice(&r.read_to.hash.0);
        b.put(PROGRESS, p);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(b, &wo)
            .map_err(|e| L1Error::Storage(e.to_string()))
    }

    /// Stores one more block hash learnt on demand.
    pub fn put_hash(&self, number: u64, hash: Hash) -> Result<(), L1Error> {
        self.db
            .put(key(HASH, number), hash.0)
            .map_err(|e| L1Error::Storage(e.to_string()))
    }

    /// Forgets entries below queue index `next` (they are ordered) and block hashes below
    /// `below_block` (no batch can refer to them any more).
    pub fn prune(&self, next: u64, below_block: u64) -> Result<(), L1Error> {
        let mut b = WriteBatch::default();
        b.delete_range(key(ENTRY, 0), key(ENTRY, next));
        b.delete_range(key(HASH, 0), key(HASH, below_block));
        self.db
            .write(b)
            .map_err(|e| L1Error::Storage(e.to_string()))
    }
}
