//! rocksdb storage of a node: decided batches with their certificates, the engine's commit
//! certificates (for sync), a transaction index and proposals not yet decided.
//!
//! Column families (keys big-endian):
//! - `batches`: height → round u32 ‖ the BLS certificate's fixed encoding; the batch itself
//!   stays where it was stored as a proposal, under `undecided` (height ‖ round ‖ certificate's
//!   batch hash), so its bytes are written once
//! - `commits`: height → `ordo.v1.consensus.ExtendedCommitCertificate` (individual signatures
//!   and vote extensions, which value sync serves)
//! - `txs`: tx id → height u64 ‖ index u32
//! - `undecided`: height ‖ round ‖ batch hash → `ordo.v1.Batch`: every proposal stored, and
//!   the body of every decided height
//!
//! A decided height is written in one atomic, fsynced batch (which also drops that height's
//! other proposals) before the engine is told it is stored.

use ordo_consensus::codec::{self as ccodec, pb as cpb};
use ordo_consensus::{OrdoContext, mc};
use ordo_types::wire::decode_message;
use ordo_types::{Batch, Certificate, Hash, Height, Limits, TxId};
use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use std::path::Path;
use thiserror::Error;

const CF_BATCHES: &str = "batches";
const CF_COMMITS: &str = "commits";
const CF_TXS: &str = "txs";
const CF_UNDECIDED: &str = "undecided";
/// DA receipts (`crate::da::HeightsReceipt`, JSON) by the first height they cover.
const CF_DA: &str = "da";
/// Derived validator sets (`ordo.v1.ValidatorSet`) by epoch (`crate::epochs`).
const CF_EPOCHS: &str = "epochs";
/// The registered network addresses of each derived set's members (JSON), by epoch.
const CF_EPOCH_MEMBERS: &str = "epoch_members";

/// A storage failure. Corrupt data is an error, never a panic.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt {what} at {key}: {reason}")]
    Corrupt {
        what: &'static str,
        key: String,
        reason: String,
    },
}

/// A decided batch as stored and served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub batch: Batch,
    pub certificate: Certificate,
}

impl Decided {
    /// `ordo.v1.CertifiedBatch`, as the APIs serve it.
    pub fn to_proto(&self) -> ordo_types::wire::pb::CertifiedBatch {
        ordo_types::wire::pb::CertifiedBatch {
            batch: Some(self.batch.to_proto()),
            certificate: Some((&self.certificate).into()),
        }
    }
}

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: DB,
    limits: Limits,
}

fn sync_write() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

fn undecided_key(h: u64, r: u32, hash: &Hash) -> Vec<u8> {
    let mut k = Vec::with_capacity(44);
    k.extend_from_slice(&h.to_be_bytes());
    k.extend_from_slice(&r.to_be_bytes());
    k.extend_from_slice(&hash.0);
    k
}

/// The round in an `undecided` key.
fn round_of(key: &[u8]) -> Result<u32, StoreError> {
    key.get(8..12)
        .and_then(|r| r.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| corrupt("undecided key", hex::encode(key), "too short"))
}

fn corrupt(what: &'static str, key: impl ToString, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(256);
        // The transaction index takes one insert per ordered transaction and answers a lookup
        // per submitted and per gossiped one, mostly misses, and is never scanned: a hashed
        // memtable (no skiplist to keep sorted on every insert), bloom filters and a hash index
        // on disk. Non-skiplist memtables need single-threaded memtable writes.
        opts.set_allow_concurrent_memtable_write(false);
        let mut txs = Options::default();
        txs.optimize_for_point_lookup(64);
        txs.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(8));
        txs.set_memtable_factory(rocksdb::MemtableFactory::HashLinkList {
            bucket_count: 1 << 20,
        });
        let cfs = [
            CF_BATCHES,
            CF_COMMITS,
            CF_UNDECIDED,
            CF_DA,
            CF_EPOCHS,
            CF_EPOCH_MEMBERS,
        ]
        .into_iter()
        .map(|n| ColumnFamilyDescriptor::new(n, Options::default()))
        .chain([ColumnFamilyDescriptor::new(CF_TXS, txs)]);
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Store { db, limits })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created on open")
    }

    /// Stores a decided height atomically and durably: the batch and its certificate, the
    /// engine's commit certificate, the transaction index; and drops that height's other
    /// proposals (the only ones stored: proposals are stored for the current height alone),
    /// so the `undecided` column holds, past the current height, only decided bodies.
    /// `ids` are the ids of `decided.batch.txs`, in order (the caller computes them once).
    pub fn put_decided(
        &self,
        decided: &Decided,
        ids: &[TxId],
        commit: &mc::ExtendedCommitCertificate<OrdoContext>,
    ) -> Result<(), StoreError> {
        assert_eq!(ids.len(), decided.batch.txs.len(), "one id per transaction");
        let h = decided.batch.header.height.0;
        let hash = decided.batch.hash();
        let keys = self.undecided_keys(&h.to_be_bytes())?;
        let mut wb = WriteBatch::default();
        // The body: the stored proposal with this hash stays (the first, if it was stored in
        // several rounds); otherwise it is written now.
        let body_round = match keys.iter().find(|k| k.ends_with(&hash.0)) {
            Some(k) => round_of(k)?,
            None => {
                let r = decided.certificate.round.0;
                wb.put_cf(
                    self.cf(CF_UNDECIDED),
                    undecided_key(h, r, &hash),
                    decided.batch.encode_proto(),
                );
                r
            }
        };
        let keep = undecided_key(h, body_round, &hash);
        let mut record = body_round.to_be_bytes().to_vec();
        record.extend_from_slice(&decided.certificate.encode());
        wb.put_cf(self.cf(CF_BATCHES), h.to_be_bytes(), record);
        wb.put_cf(
            self.cf(CF_COMMITS),
            h.to_be_bytes(),
            ccodec::extended_cert_pb(commit).encode_to_vec(),
        );
        let txs = self.cf(CF_TXS);
        let mut pos = [0u8; 12];
        pos[..8].copy_from_slice(&h.to_be_bytes());
        for (i, id) in ids.iter().enumerate() {
            pos[8..].copy_from_slice(&(i as u32).to_be_bytes());
            wb.put_cf(txs, id.0.0, pos);
        }
        // Point deletes of this height's other proposals: range tombstones would pile up and
        // slow every later scan until compaction.
        for key in keys.iter().filter(|k| k.as_ref() != keep.as_slice()) {
            wb.delete_cf(self.cf(CF_UNDECIDED), key);
        }
        self.db.write_opt(wb, &sync_write())?;
        Ok(())
    }

    /// The decided record at `height`: the certificate and the key of the stored body.
    fn record(&self, height: Height) -> Result<Option<(Certificate, Vec<u8>)>, StoreError> {
        let Some(record) = self
            .db
            .get_cf(self.cf(CF_BATCHES), height.0.to_be_bytes())?
        else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| corrupt("decided record", height, e);
        let (round, cert) = record
            .split_first_chunk::<4>()
            .ok_or_else(|| bad(&"shorter than a round"))?;
        let certificate = Certificate::decode(cert, &self.limits).map_err(|e| bad(&e))?;
        let key = undecided_key(
            height.0,
            u32::from_be_bytes(*round),
            &certificate.batch_hash,
        );
        Ok(Some((certificate, key)))
    }

    /// The certificate of `height`, without reading its batch.
    pub fn certificate(&self, height: Height) -> Result<Option<Certificate>, StoreError> {
        Ok(self.record(height)?.map(|(c, _)| c))
    }

    /// The decided batch of `height` as stored (`ordo.v1.Batch`), undecoded: what value sync
    /// serves.
    pub fn decided_batch_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((_, key)) = self.record(height)? else {
            return Ok(None);
        };
        let body = self.db.get_cf(self.cf(CF_UNDECIDED), &key)?;
        body.map(Some)
            .ok_or_else(|| corrupt("decided record", height, "its batch is missing"))
    }

    /// The decided batch at `height`.
    pub fn decided(&self, height: Height) -> Result<Option<Decided>, StoreError> {
        let Some((certificate, key)) = self.record(height)? else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| corrupt("decided record", height, e);
        let body = self
            .db
            .get_cf(self.cf(CF_UNDECIDED), &key)?
            .ok_or_else(|| bad(&"its batch is missing"))?;
        let batch = Batch::decode_proto(&body, &self.limits).map_err(|e| bad(&e))?;
        if batch.hash() != certificate.batch_hash {
            return Err(bad(&"the stored batch does not match the certificate"));
        }
        Ok(Some(Decided { batch, certificate }))
    }

    /// The engine's commit certificate at `height`.
    pub fn commit(
        &self,
        height: Height,
    ) -> Result<Option<mc::ExtendedCommitCertificate<OrdoContext>>, StoreError> {
        let Some(bytes) = self
            .db
            .get_cf(self.cf(CF_COMMITS), height.0.to_be_bytes())?
        else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| corrupt("commit", height, e);
        let p: cpb::ExtendedCommitCertificate =
            decode_message(&bytes, &self.limits).map_err(|e| bad(&e))?;
        ccodec::extended_cert_from(p, &self.limits)
            .map(Some)
            .map_err(|e| bad(&e))
    }

    fn edge_height(&self, mode: IteratorMode<'_>) -> Result<Option<Height>, StoreError> {
        match self.db.iterator_cf(self.cf(CF_BATCHES), mode).next() {
            None => Ok(None),
            Some(item) => {
                let (k, _) = item?;
                let raw: [u8; 8] = k
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("batch key", hex::encode(&k), "not 8 bytes"))?;
                Ok(Some(Height(u64::from_be_bytes(raw))))
            }
        }
    }

    /// The highest decided height.
    pub fn latest_height(&self) -> Result<Option<Height>, StoreError> {
        self.edge_height(IteratorMode::End)
    }

    /// The lowest decided height held.
    pub fn earliest_height(&self) -> Result<Option<Height>, StoreError> {
        self.edge_height(IteratorMode::Start)
    }

    /// Where a transaction was ordered: (height, index).
    pub fn tx_position(&self, id: &TxId) -> Result<Option<(Height, u32)>, StoreError> {
        let Some(v) = self.db.get_cf(self.cf(CF_TXS), id.0.0)? else {
            return Ok(None);
        };
        let raw: [u8; 12] = v
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("tx index", id, "not 12 bytes"))?;
        let (h, i) = raw.split_at(8);
        let h = u64::from_be_bytes(h.try_into().unwrap_or_default());
        let i = u32::from_be_bytes(i.try_into().unwrap_or_default());
        Ok(Some((Height(h), i)))
    }

    /// Records a DA receipt for the heights from `first` on (not synced: it is information the
    /// DA watcher can find again).
    pub fn put_da_receipt(&self, first: u64, receipt: &[u8]) -> Result<(), StoreError> {
        Ok(self
            .db
            .put_cf(self.cf(CF_DA), first.to_be_bytes(), receipt)?)
    }

    /// The DA receipt with the greatest first height at or below `height`.
    pub fn da_receipt_at(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_DA));
        it.seek_for_prev(height.to_be_bytes());
        it.status()?;
        Ok(it.value().map(<[u8]>::to_vec))
    }

    /// Stores the validator set derived for `epoch` and its members' registered network
    /// addresses, in one durable write: a node never derives an epoch twice, and serves it
    /// without the L1.
    pub fn put_epoch_set(
        &self,
        epoch: u64,
        set: &ordo_types::ValidatorSet,
        members: &[String],
    ) -> Result<(), StoreError> {
        let bytes = ordo_types::wire::pb::ValidatorSet::from(set).encode_to_vec();
        let members =
            serde_json::to_vec(members).map_err(|e| corrupt("epoch members", epoch, e))?;
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_EPOCHS), epoch.to_be_bytes(), bytes);
        wb.put_cf(self.cf(CF_EPOCH_MEMBERS), epoch.to_be_bytes(), members);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        Ok(self.db.write_opt(wb, &opts)?)
    }

    /// The registered network addresses of `epoch`'s members (empty if none were stored).
    pub fn epoch_members(&self, epoch: u64) -> Result<Vec<String>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_EPOCH_MEMBERS), epoch.to_be_bytes())?
        {
            Some(v) => serde_json::from_slice(&v).map_err(|e| corrupt("epoch members", epoch, e)),
            None => Ok(Vec::new()),
        }
    }

    /// Every stored epoch set, by epoch.
    pub fn epoch_sets(&self) -> Result<Vec<(u64, ordo_types::ValidatorSet)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_EPOCHS), IteratorMode::Start) {
            let (k, v) = item?;
            let key = <[u8; 8]>::try_from(k.as_ref())
                .map_err(|_| corrupt("epoch set", hex::encode(&k), "key is not 8 bytes"))?;
            let epoch = u64::from_be_bytes(key);
            let set = ordo_types::wire::pb::ValidatorSet::decode(v.as_ref())
                .map_err(|e| corrupt("epoch set", epoch, e))
                .and_then(|p| {
                    ordo_types::ValidatorSet::from_proto(p, &self.limits)
                        .map_err(|e| corrupt("epoch set", epoch, e))
                })?;
            out.push((epoch, set));
        }
        Ok(out)
    }

    /// Stores a proposal received or built at (height, round), durably. Callers store only
    /// bodies that match their header (`Batch::check_body`), so a decided hash always finds the
    /// one body its certificate stands for.
    pub fn put_undecided(&self, round: u32, batch: &Batch) -> Result<(), StoreError> {
        let key = undecided_key(batch.header.height.0, round, &batch.hash());
        self.db.put_cf_opt(
            self.cf(CF_UNDECIDED),
            key,
            batch.encode_proto(),
            &sync_write(),
        )?;
        Ok(())
    }

    /// How many proposals are stored at (height, round), and whether one of them is `hash`.
    pub fn undecided_count(
        &self,
        height: u64,
        round: u32,
        hash: &Hash,
    ) -> Result<(usize, bool), StoreError> {
        let mut prefix = height.to_be_bytes().to_vec();
        prefix.extend_from_slice(&round.to_be_bytes());
        let keys = self.undecided_keys(&prefix)?;
        Ok((keys.len(), keys.iter().any(|k| k.ends_with(&hash.0))))
    }

    /// Every proposal stored at (height, round).
    pub fn undecided_at(&self, height: u64, round: u32) -> Result<Vec<Batch>, StoreError> {
        let mut prefix = height.to_be_bytes().to_vec();
        prefix.extend_from_slice(&round.to_be_bytes());
        self.scan_undecided(&prefix)
    }

    /// The proposal at `height` with `hash`, in any round.
    pub fn undecided_by_hash(&self, height: u64, hash: &Hash) -> Result<Option<Batch>, StoreError> {
        // Keys end with the batch hash: only the matching proposal is decoded.
        let Some(key) = self
            .undecided_keys(&height.to_be_bytes())?
            .into_iter()
            .find(|k| k.ends_with(&hash.0))
        else {
            return Ok(None);
        };
        let Some(v) = self.db.get_cf(self.cf(CF_UNDECIDED), &key)? else {
            return Ok(None);
        };
        Batch::decode_proto(&v, &self.limits)
            .map(Some)
            .map_err(|e| corrupt("undecided", hex::encode(&key), e))
    }

    /// Keys of the proposals under `prefix`, read without copying their (large) values.
    fn undecided_keys(&self, prefix: &[u8]) -> Result<Vec<Box<[u8]>>, StoreError> {
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(CF_UNDECIDED));
        it.seek(prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(prefix) {
                break;
            }
            out.push(k.into());
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    fn scan_undecided(&self, prefix: &[u8]) -> Result<Vec<Batch>, StoreError> {
        let mut out = Vec::new();
        let it = self.db.iterator_cf(
            self.cf(CF_UNDECIDED),
            IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        for item in it {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            let b = Batch::decode_proto(&v, &self.limits)
                .map_err(|e| corrupt("undecided", hex::encode(&k), e))?;
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ordo_types::bls::SignerBitmap;
    use ordo_types::tx::{BatchTx, Transaction};
    use ordo_types::{
        Address, BatchHeader, BlsSecretKey, ChainId, Epoch, ForcedCursor, L1Ref, Namespace, Round,
    };

    /// A batch of height `h` with `n` transactions, each a distinct payload.
    pub(crate) fn batch(h: u64, n: usize, parent: Hash) -> Batch {
        let header = BatchHeader {
            chain_id: ChainId(7),
            height: Height(h),
            parent_hash: parent,
            timestamp_ms: 1_000 + h,
            epoch: Epoch(0),
            validator_set_hash: Hash([1; 32]),
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: Address([2; 20]),
            next_validator_set_hash: Hash([1; 32]),
        };
        let txs = (0..n)
            .map(|i| {
                let payload = format!("h{h}-t{i}").into_bytes();
                BatchTx::Ordinary(Transaction::new(Namespace(1 + i as u64 % 3), payload))
            })
            .collect();
        Batch::seal(header, txs, 0, &Limits::default()).expect("a valid batch")
    }

    /// A certificate shape the store accepts (its signature is not checked on read).
    pub(crate) fn certificate(b: &Batch, round: u32) -> Certificate {
        let sk = BlsSecretKey::from_seed(&[9; 32]);
        Certificate {
            height: b.header.height,
            round: Round(round),
            batch_hash: b.hash(),
            signers: SignerBitmap::new(4),
            signature: sk.sign(b"any message"),
        }
    }

    pub(crate) fn commit(b: &Batch, round: u32) -> mc::ExtendedCommitCertificate<OrdoContext> {
        mc::ExtendedCommitCertificate {
            height: ordo_consensus::ConsHeight(b.header.height.0),
            round: mc::Round::new(round),
            value_id: ordo_consensus::BatchId(b.hash()),
            commit_signatures: Vec::new(),
        }
    }

    /// Stores heights 1..=n (two transactions each) as decided, and returns them.
    pub(crate) fn chain(store: &Store, n: u64) -> Vec<Decided> {
        let mut parent = Hash::ZERO;
        (1..=n)
            .map(|h| {
                let b = batch(h, 2, parent);
                parent = b.hash();
                let d = Decided {
                    certificate: certificate(&b, 0),
                    batch: b,
                };
                let ids: Vec<TxId> = d.batch.txs.iter().map(BatchTx::id).collect();
                store
                    .put_decided(&d, &ids, &commit(&d.batch, 0))
                    .expect("stored");
                d
            })
            .collect()
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), Limits::default()).expect("open");
        (dir, store)
    }

    #[test]
    fn a_decided_height_is_written_whole_and_drops_its_other_proposals() {
        let (_dir, store) = open();
        let decided = batch(1, 3, Hash::ZERO);
        let other = batch(1, 1, Hash::ZERO);
        let next = batch(2, 1, decided.hash());
        store.put_undecided(0, &other).expect("put");
        store.put_undecided(1, &decided).expect("put");
        store.put_undecided(0, &next).expect("put");
        let d = Decided {
            certificate: certificate(&decided, 1),
            batch: decided.clone(),
        };
        let ids: Vec<TxId> = decided.txs.iter().map(BatchTx::id).collect();
        store
            .put_decided(&d, &ids, &commit(&decided, 1))
            .expect("decided");

        assert_eq!(store.decided(Height(1)).expect("read"), Some(d.clone()));
        assert_eq!(
            store.certificate(Height(1)).expect("read"),
            Some(d.certificate)
        );
        assert_eq!(
            store.commit(Height(1)).expect("read").map(|c| c.value_id),
            Some(ordo_consensus::BatchId(decided.hash()))
        );
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                store.tx_position(id).expect("read"),
                Some((Height(1), i as u32))
            );
        }
        // The body is kept where the proposal was stored (round 1); the other proposal of
        // height 1 is gone; height 2's proposal is untouched.
        assert_eq!(
            store.undecided_at(1, 1).expect("scan"),
            vec![decided.clone()]
        );
        assert_eq!(store.undecided_at(1, 0).expect("scan"), Vec::<Batch>::new());
        assert_eq!(store.undecided_at(2, 0).expect("scan"), vec![next]);
        assert_eq!(
            store.decided_batch_bytes(Height(1)).expect("read"),
            Some(decided.encode_proto())
        );
        assert_eq!(store.latest_height().expect("read"), Some(Height(1)));
        assert_eq!(store.earliest_height().expect("read"), Some(Height(1)));
    }

    #[test]
    fn proposals_of_a_round_are_counted_by_hash() {
        let (_dir, store) = open();
        let a = batch(4, 1, Hash::ZERO);
        let b = batch(4, 2, Hash::ZERO);
        assert_eq!(
            store.undecided_count(4, 0, &a.hash()).expect("count"),
            (0, false)
        );
        store.put_undecided(0, &a).expect("put");
        store.put_undecided(0, &a).expect("put again");
        store.put_undecided(1, &b).expect("put");
        assert_eq!(
            store.undecided_count(4, 0, &a.hash()).expect("count"),
            (1, true)
        );
        assert_eq!(
            store.undecided_count(4, 0, &b.hash()).expect("count"),
            (1, false)
        );
        store.put_undecided(0, &b).expect("put");
        assert_eq!(
            store.undecided_count(4, 0, &b.hash()).expect("count"),
            (2, true)
        );
        assert_eq!(
            store.undecided_count(4, 1, &a.hash()).expect("count"),
            (1, false)
        );
        assert_eq!(
            store.undecided_count(5, 0, &a.hash()).expect("count"),
            (0, false)
        );
    }

    #[test]
    fn a_decided_height_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stored = {
            let store = Store::open(dir.path(), Limits::default()).expect("open");
            chain(&store, 3)
        };
        let store = Store::open(dir.path(), Limits::default()).expect("reopen");
        assert_eq!(store.latest_height().expect("read"), Some(Height(3)));
        for d in stored {
            assert_eq!(store.decided(d.batch.header.height).expect("read"), Some(d));
        }
    }

    #[test]
    fn a_corrupt_record_is_refused_not_served() {
        let (_dir, store) = open();
        let stored = chain(&store, 2);
        let cases: [(&str, &[u8]); 3] = [
            ("empty record", b""),
            ("shorter than a round", b"\x00\x00"),
            ("a round then garbage", b"\x00\x00\x00\x00garbage"),
        ];
        for (case, bytes) in cases {
            store
                .db
                .put_cf(store.cf(CF_BATCHES), 1u64.to_be_bytes(), bytes)
                .expect("put");
            let err = store.decided(Height(1)).expect_err(case);
            assert!(
                matches!(
                    err,
                    StoreError::Corrupt {
                        what: "decided record",
                        ..
                    }
                ),
                "{case}: {err}"
            );
            assert!(store.certificate(Height(1)).is_err(), "{case}");
        }
        // A body that does not match its certificate.
        let mut record = 0u32.to_be_bytes().to_vec();
        record.extend_from_slice(&stored[1].certificate.encode());
        store
            .db
            .put_cf(store.cf(CF_BATCHES), 1u64.to_be_bytes(), record)
            .expect("put");
        let err = store.decided(Height(1)).expect_err("mismatch");
        assert!(
            err.to_string().contains("batch is missing")
                || err.to_string().contains("does not match"),
            "{err}"
        );
        // A corrupt index entry.
        let id = stored[1].batch.txs[0].id();
        store
            .db
            .put_cf(store.cf(CF_TXS), id.0.0, b"short")
            .expect("put");
        assert!(matches!(
            store.tx_position(&id),
            Err(StoreError::Corrupt {
                what: "tx index",
                ..
            })
        ));
        // Height 2 is intact.
        assert_eq!(
            store.decided(Height(2)).expect("read"),
            Some(stored[1].clone())
        );
    }
}
