//! A namespace's history from the L1 alone (feature `l1`): no ordo node involved.
//!
//! Validators post every certified batch to the batch inbox as frames in blob transactions
//! (docs/DA.md). [`namespace_from_l1`] scans the L1 from the genesis `da.start_block` to its
//! final head, reads each blob transaction's blobs back (checked against the versioned hashes
//! the L1 recorded), decodes the frames (checksum, structure, every body against its header) and
//! then, for every height asked, verifies the first copy found that passes exactly as a streamed
//! slice is verified ([`SliceVerifier`]): the certificate against the epoch's validator set, the
//! namespace proof (built here from the whole batch) against the header, and the parent-hash
//! chain. Anyone may send to the inbox, so a frame that fails any check is passed over and
//! reported in [`FromL1::rejected`]; another copy of the same heights (a takeover, a
//! duplicate) may still serve.
//!
//! **Epochs.** With the genesis `stake` section ([`L1Da::stake`]), each epoch's set is derived
//! here from the stake table's events on the same L1, by the rule every validator follows
//! (`ordo_types::epoch`), and taken only if the certified chain vouches for it: the headers of
//! epoch `e`, certified by `e`'s set, name the hash of `e + 1`'s. Heights asked past epoch 1
//! are reached by a walk from the genesis set over one header per epoch (the last, whose
//! `l1_ref` is also the cut-off of the set two epochs on), so no ordo node is needed at any
//! epoch.

use std::collections::BTreeMap;

pub use ordo_da_adapter::da::L1Hash;
use ordo_da_adapter::da::{BlobConfig, EthereumBlobs, L1Address};
pub use ordo_da_adapter::l1::Finality;
use ordo_types::da::{Certified, Frame, Gather, Gathered, assemble, decode_entries};
use ordo_types::epoch::{self, EpochParams};
use ordo_types::{BatchHeader, ChainId, Epoch, Height, Limits, Namespace, ValidatorSet};
use thiserror::Error;

use crate::verify::{SliceVerifier, VerifiedSlice, VerifyError, vouched_next_set};

/// Where a chain's frames are on the L1 (the genesis `da` section and an L1 endpoint).
#[derive(Clone, Debug)]
pub struct L1Da {
    /// The L1's JSON-RPC endpoint (without `beacon`, it must serve the blobs of included
    /// transactions: anvil's `anvil_getBlobsByTransactionHash` in development).
    pub rpc: String,
    /// The genesis `da.batch_inbox`.
    pub batch_inbox: String,
    /// The genesis `da.start_block`: no frame of the chain is older.
    pub start_block: u64,
    /// Which L1 blocks count: only frames in final blocks are read.
    pub finality: Finality,
    /// A beacon node's REST API to read blobs from (a real network); `None`: `rpc` serves them
    /// (anvil). Either way every blob is checked against its transaction's versioned hash.
    pub beacon: Option<String>,
    /// The genesis `stake` section: the sets of epochs past 1 are derived from this table.
    /// `None`: a static chain, whose genesis set signs every height.
    pub stake: Option<L1Stake>,
}

/// Where a chain's stake table is, and its epoch rules (the genesis `stake` section).
#[derive(Clone, Debug)]
pub struct L1Stake {
    /// The table's address.
    pub table: String,
    /// The L1 block the table was deployed in: no event is older.
    pub table_block: u64,
    /// Heights per epoch.
    pub epoch_length: u64,
    /// Most validators in one epoch's set.
    pub max_validators: u32,
}

/// A frame found on the L1 and not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub l1_block: u64,
    pub tx_hash: L1Hash,
    pub reason: String,
}

/// What [`namespace_from_l1`] rebuilt.
#[derive(Clone, Debug)]
pub struct FromL1 {
    /// One verified slice per height asked, in height order.
    pub slices: Vec<VerifiedSlice>,
    /// Frames passed over (undecodable, of another chain, failing verification).
    pub rejected: Vec<Rejected>,
    /// The L1 blocks scanned.
    pub l1_blocks: (u64, u64),
}

/// Why a history could not be rebuilt.
#[derive(Debug, Error)]
pub enum L1HistoryError {
    #[error("L1 DA config: {0}")]
    Config(String),
    #[error("L1: {0}")]
    L1(String),
    #[error(
        "height {height} is in no valid frame in L1 blocks {}..={} ({} frames rejected)",
        .l1_blocks.0, .l1_blocks.1, .rejected.len()
    )]
    Missing {
        height: Height,
        l1_blocks: (u64, u64),
        rejected: Vec<Rejected>,
    },
    #[error("height {height}: {error}")]
    Verify { height: Height, error: VerifyError },
}

/// L1 blocks read per request batch (and between progress checks).
const SCAN_CHUNK: u64 = 64;

/// L1 blocks of stake table events read per request.
const STAKE_CHUNK: u64 = 5_000;

/// Rebuilds and verifies `namespace`'s slices for heights `from..=to` from the L1 alone.
/// `chain_id` and `set` (the genesis set) are the pinned trust anchor (as for
/// [`crate::Client::stream_namespace`]); `limits` are the chain's decoding limits (the genesis
/// `limits`). The scan stops as soon as every height asked has a verified copy.
pub async fn namespace_from_l1(
    da: &L1Da,
    chain_id: ChainId,
    set: &ValidatorSet,
    limits: Limits,
    namespace: Namespace,
    from: Height,
    to: Height,
) -> Result<FromL1, L1HistoryError> {
    let from = Height(from.0.max(1));
    if to < from {
        return Err(L1HistoryError::Config(format!(
            "no heights in {}..={}",
            from.0, to.0
        )));
    }
    let batch_inbox: L1Address = da
        .batch_inbox
        .parse()
        .map_err(|e| L1HistoryError::Config(format!("batch_inbox {:?}: {e}", da.batch_inbox)))?;
    let sets = Sets::new(da, set.clone())?;
    let reader = EthereumBlobs::new(
        BlobConfig {
            beacon: da.beacon.clone(),
            ..BlobConfig::reader(&da.rpc, batch_inbox, da.finality, limits)
        },
        None,
    )
    .map_err(|e| L1HistoryError::Config(e.to_string()))?;
    let head = reader
        .final_head()
        .await
        .map_err(|e| L1HistoryError::L1(e.to_string()))?;
    let mut found = Found::new(chain_id, limits, from, to, sets);
    let mut check = Check::new(namespace, from);
    let mut block = da.start_block;
    while block <= head && !check.done(to) {
        let end = head.min(block + SCAN_CHUNK - 1);
        let (posted, skipped) = reader
            .scan_all(block, end)
            .await
            .map_err(|e| L1HistoryError::L1(e.to_string()))?;
        found.rejected.extend(skipped.into_iter().map(|s| Rejected {
            l1_block: s.l1_block,
            tx_hash: s.tx_hash,
            reason: s.reason,
        }));
        for p in posted {
            found.frame(p.l1_block, p.tx_hash, &p.sender, p.frame);
        }
        block = end + 1;
        check.advance(&mut found).await?;
        // Every kept copy of the height failed while others were passed over: read them.
        if let Some(again) = found.rescan_from(check.next(&found)) {
            block = again;
        }
    }
    let l1_blocks = (da.start_block, block.saturating_sub(1));
    if !check.done(to) {
        return Err(L1HistoryError::Missing {
            height: check.next(&found),
            l1_blocks,
            rejected: found.rejected,
        });
    }
    Ok(FromL1 {
        slices: check.slices,
        rejected: found.rejected,
        l1_blocks,
    })
}

/// Every epoch's set: the genesis set for epochs 0 and 1, and (with a stake table) the sets of
/// later epochs derived from its events up to each cut-off, as the validators derive them.
struct Sets {
    genesis: ValidatorSet,
    stake: Option<(L1Stake, L1Address, String)>,
    /// The events read so far, and the last L1 block read.
    events: Vec<epoch::Event>,
    read_to: Option<u64>,
    derived: BTreeMap<u64, ValidatorSet>,
    /// The `l1_ref` block of each verified last height of an epoch (the cut-offs).
    cutoffs: BTreeMap<u64, u64>,
}

impl Sets {
    fn new(da: &L1Da, genesis: ValidatorSet) -> Result<Sets, L1HistoryError> {
        let stake = match &da.stake {
            None => None,
            Some(s) => {
                if s.epoch_length == 0 {
                    return Err(L1HistoryError::Config("stake.epoch_length is 0".into()));
                }
                let table = s.table.parse().map_err(|e| {
                    L1HistoryError::Config(format!("stake.table {:?}: {e}", s.table))
                })?;
                Some((s.clone(), table, da.rpc.clone()))
            }
        };
        Ok(Sets {
            genesis,
            stake,
            events: Vec::new(),
            read_to: None,
            derived: BTreeMap::new(),
            cutoffs: BTreeMap::new(),
        })
    }

    fn params(&self) -> Option<EpochParams> {
        self.stake.as_ref().map(|(s, ..)| EpochParams {
            epoch_length: s.epoch_length,
            max_validators: s.max_validators,
        })
    }

    /// The heights below `from` whose headers walk the chain of sets to `from`'s epoch: the
    /// last height of every earlier epoch (none for a static chain).
    fn walk_heights(&self, from: Height) -> Vec<u64> {
        let Some(p) = self.params() else {
            return Vec::new();
        };
        (0..p.epoch_of(from.0)).map(|e| p.last_height(e)).collect()
    }

    /// The set of `epoch` if it is known without reading the L1: the genesis set (a static
    /// chain, or epochs 0 and 1), or one derived already.
    fn known(&self, epoch: u64) -> Option<&ValidatorSet> {
        if self.stake.is_none() || epoch < 2 {
            return Some(&self.genesis);
        }
        self.derived.get(&epoch)
    }

    /// Notes a verified header: the last height of an epoch is a cut-off.
    fn verified(&mut self, header: &BatchHeader) {
        if let Some(p) = self.params()
            && header.height.0 == p.last_height(p.epoch_of(header.height.0))
        {
            self.cutoffs.insert(header.height.0, header.l1_ref.number);
        }
    }

    /// The set of `epoch`, derived from the events up to its cut-off (which must be verified).
    async fn of(&mut self, epoch: u64) -> Result<ValidatorSet, L1HistoryError> {
        let Some(p) = self.params() else {
            return Ok(self.genesis.clone());
        };
        let mut e = epoch;
        // Epochs derived with no qualifying registration keep the set before: find the last
        // one known, then derive upwards.
        while e >= 2 && !self.derived.contains_key(&e) {
            e -= 1;
        }
        let mut set = self
            .derived
            .get(&e)
            .cloned()
            .unwrap_or(self.genesis.clone());
        for next in (e + 1).max(2)..=epoch {
            let cut_height = p.last_height(next - 2);
            let l1_to = *self.cutoffs.get(&cut_height).ok_or_else(|| {
                L1HistoryError::Config(format!(
                    "epoch {next}: its cut-off height {cut_height} is not verified yet"
                ))
            })?;
            self.read_events(l1_to).await?;
            let d = epoch::derive(&self.events, l1_to, p.max_validators);
            set = d.set.unwrap_or(set);
            self.derived.insert(next, set.clone());
        }
        Ok(set)
    }

    async fn read_events(&mut self, l1_to: u64) -> Result<(), L1HistoryError> {
        let Some((s, table, rpc)) = &self.stake else {
            return Ok(());
        };
        // No event is older than the table.
        while self.read_to.unwrap_or(s.table_block.saturating_sub(1)) < l1_to {
            let from = self.read_to.map_or(s.table_block, |t| t + 1);
            let to = l1_to.min(from + STAKE_CHUNK - 1);
            let events = ordo_da_adapter::l1::stake::events(rpc, *table, from, to)
                .await
                .map_err(|e| L1HistoryError::L1(format!("stake table events: {e}")))?;
            self.events
                .extend(ordo_da_adapter::l1::stake::epoch_events(&events));
            self.read_to = Some(to);
        }
        Ok(())
    }
}

/// Most copies of one height kept for checking: anyone can send frames to the inbox.
const MAX_COPIES: usize = 4;

/// A copy of a height found on the L1, and where.
struct Candidate {
    c: Certified,
    l1_block: u64,
    tx: L1Hash,
}

/// The copies gathered so far of the heights the rebuild needs, not checked yet.
struct Found {
    chain_id: ChainId,
    limits: Limits,
    from: Height,
    to: Height,
    walk: Vec<u64>,
    /// Per height, the copies found and where (L1 block, transaction).
    copies: BTreeMap<u64, Vec<Candidate>>,
    /// Heights below this one are checked (heights are checked in increasing order, the walk's
    /// first): their copies are no longer kept.
    floor: u64,
    /// Copies that failed their checks, per height, so a rescan does not keep them again.
    refused: BTreeMap<u64, Vec<Certified>>,
    /// Per height whose copies were full, the first L1 block a copy was passed over in: if
    /// every kept copy fails, the scan goes back there.
    overflow: BTreeMap<u64, u64>,
    /// Parts of split batches, per poster, with where the first part was found.
    parts: Gather<L1Address, (u64, L1Hash)>,
    rejected: Vec<Rejected>,
    sets: Sets,
}

/// Most split batches gathered at once: anyone can send parts to the inbox.
const MAX_PART_GROUPS: usize = 64;

impl Found {
    fn new(chain_id: ChainId, limits: Limits, from: Height, to: Height, sets: Sets) -> Found {
        Found {
            chain_id,
            limits,
            from,
            to,
            walk: sets.walk_heights(from),
            copies: BTreeMap::new(),
            floor: 0,
            refused: BTreeMap::new(),
            overflow: BTreeMap::new(),
            parts: Gather::new(MAX_PART_GROUPS),
            rejected: Vec::new(),
            sets,
        }
    }

    fn wanted(&self, h: Height) -> bool {
        h.0 >= self.floor
            && ((self.from..=self.to).contains(&h) || self.walk.binary_search(&h.0).is_ok())
    }

    /// Height `h` is checked: nothing more of it is kept.
    fn checked(&mut self, h: u64) {
        self.floor = self.floor.max(h + 1);
        self.refused.remove(&h);
        self.overflow.remove(&h);
    }

    /// A copy of `h` that failed its checks.
    fn refuse(&mut self, h: u64, c: Certified, l1_block: u64, tx_hash: L1Hash, reason: String) {
        self.refused.entry(h).or_default().push(c);
        self.reject(l1_block, tx_hash, format!("height {h}: {reason}"));
    }

    /// Where to scan again from when every kept copy of `h` failed and others were passed
    /// over.
    fn rescan_from(&mut self, h: Height) -> Option<u64> {
        if self.copies.contains_key(&h.0) {
            return None;
        }
        self.overflow.remove(&h.0)
    }

    fn reject(&mut self, l1_block: u64, tx_hash: L1Hash, reason: String) {
        self.rejected.push(Rejected {
            l1_block,
            tx_hash,
            reason,
        });
    }

    /// Takes one frame found at `l1_block` in transaction `tx` from `sender`.
    fn frame(&mut self, l1_block: u64, tx: L1Hash, sender: &L1Address, frame: Frame) {
        if frame.chain_id != self.chain_id {
            let reason = format!("a frame of chain {}", frame.chain_id.0);
            return self.reject(l1_block, tx, reason);
        }
        let lowest = self.walk.first().map_or(self.from, |h| Height(*h));
        if frame.last < lowest || frame.first > self.to {
            return;
        }
        let (first, last) = (frame.first, frame.last);
        match self.parts.add(sender, frame, (l1_block, tx)) {
            Gathered::Whole(group, (b, t)) => self.data(b, t, first, last, &group),
            Gathered::Waiting => {}
            Gathered::TooMany => {
                let reason = "too many split batches at once".to_string();
                self.reject(l1_block, tx, reason);
            }
        }
    }

    /// Decodes a whole range and keeps a copy of each height it needs: a copy whose epoch's set
    /// is known already is kept only if its certificate verifies; others (a few per height) are
    /// checked in height order, once their epoch's set is known.
    fn data(&mut self, l1_block: u64, tx: L1Hash, first: Height, last: Height, group: &[Frame]) {
        let entries = assemble(group)
            .and_then(|d| decode_entries(self.chain_id, first, last, &d, &self.limits));
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                return self.reject(l1_block, tx, format!("frame {}..={}: {e}", first.0, last.0));
            }
        };
        for c in entries {
            let h = c.batch.header.height;
            if !self.wanted(h) || self.refused.get(&h.0).is_some_and(|r| r.contains(&c)) {
                continue;
            }
            if let Some(set) = self.sets.known(c.batch.header.epoch.0)
                && let Err(e) = c
                    .certificate
                    .verify_for(set, self.chain_id, h, &c.batch.hash())
            {
                self.refuse(h.0, c, l1_block, tx, format!("certificate: {e}"));
                continue;
            }
            let copies = self.copies.entry(h.0).or_default();
            if copies.iter().any(|k| k.c == c) {
                continue;
            }
            if copies.len() < MAX_COPIES {
                copies.push(Candidate { c, l1_block, tx });
            } else {
                self.overflow.entry(h.0).or_insert(l1_block);
                let reason = format!("height {}: {MAX_COPIES} copies kept already", h.0);
                self.reject(l1_block, tx, reason);
            }
        }
    }
}

/// The checks in height order: the walk over earlier epochs, then the heights asked.
struct Check {
    namespace: Namespace,
    from: Height,
    /// During the walk: the next epoch to walk through and its set.
    walk: (u64, Option<ValidatorSet>),
    verifier: Option<SliceVerifier>,
    slices: Vec<VerifiedSlice>,
}

impl Check {
    fn new(namespace: Namespace, from: Height) -> Check {
        Check {
            namespace,
            from,
            walk: (0, None),
            verifier: None,
            slices: Vec::new(),
        }
    }

    /// The height to check next: of the walk, then of the heights asked.
    fn next(&self, f: &Found) -> Height {
        match &self.verifier {
            Some(v) => v.next_height(),
            None => f
                .walk
                .get(self.walk.0 as usize)
                .map_or(self.from, |h| Height(*h)),
        }
    }

    fn done(&self, to: Height) -> bool {
        self.verifier.as_ref().is_some_and(|v| v.next_height() > to)
    }

    /// Checks every height it can, in order, with the copies found so far; a copy that fails
    /// is rejected and dropped (another may come later).
    async fn advance(&mut self, f: &mut Found) -> Result<(), L1HistoryError> {
        while self.verifier.is_none() {
            let e = self.walk.0;
            let set = match self.walk.1.take() {
                Some(s) => s,
                None => f.sets.of(e).await?,
            };
            let Some(&h) = f.walk.get(e as usize) else {
                let v = SliceVerifier::new(f.chain_id, set, self.namespace, self.from, f.limits);
                self.verifier = Some(v);
                break;
            };
            let Some(header) = walk_step(f, h, e, &set) else {
                self.walk.1 = Some(set);
                return Ok(());
            };
            // The next epoch's set, derived from the L1, must be the one this header vouches for.
            let next = f.sets.of(e + 1).await?;
            if next.hash() != header.next_validator_set_hash {
                return Err(L1HistoryError::Verify {
                    height: header.height,
                    error: VerifyError::NotTheNextSet {
                        expected: header.next_validator_set_hash,
                        found: next.hash(),
                    },
                });
            }
            self.walk = (e + 1, Some(next));
        }
        let Some(v) = self.verifier.as_mut() else {
            return Ok(());
        };
        while let Some(copies) = f.copies.remove(&v.next_height().0) {
            let h = v.next_height();
            let mut accepted = false;
            for Candidate { c, l1_block, tx } in copies {
                if let Some((epoch, _)) = v.set_needed_for(&c.batch.header) {
                    let set = f.sets.of(epoch.0).await?;
                    if let Err(error) = v.enter_epoch(set) {
                        return Err(L1HistoryError::Verify { height: h, error });
                    }
                }
                let proof = c.batch.namespace_tree().proof(self.namespace);
                let txs = c.batch.slice(self.namespace);
                match v.verify_parts(c.batch.header, c.certificate.clone(), proof, txs) {
                    Ok(mut slice) => {
                        f.sets.verified(&slice.header);
                        f.checked(h.0);
                        slice.commitment = crate::deliver::Commitment::Available;
                        self.slices.push(slice);
                        accepted = true;
                        break;
                    }
                    Err(e) => f.refuse(h.0, c, l1_block, tx, e.to_string()),
                }
            }
            if !accepted {
                break;
            }
        }
        Ok(())
    }
}

/// Checks the copies of `h`, the last height of walk epoch `e`, against `e`'s set; returns the
/// first that passes (its cut-off noted), rejecting the others.
fn walk_step(f: &mut Found, h: u64, e: u64, set: &ValidatorSet) -> Option<BatchHeader> {
    let copies = f.copies.remove(&h)?;
    for Candidate { c, l1_block, tx } in copies {
        let header = c.batch.header;
        let checked = vouched_next_set(f.chain_id, Epoch(e), set, &header, &c.certificate);
        match checked {
            Ok(_) => {
                f.sets.verified(&header);
                f.checked(h);
                return Some(header);
            }
            Err(reason) => f.refuse(h, c, l1_block, tx, reason.to_string()),
        }
    }
    None
}
