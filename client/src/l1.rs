//! A namespace's history from the L1 alone (feature `l1`): no ordo node involved.
//!
//! Validators post every certified batch to the batch inbox as frames in blob transactions
//! (docs/DA.md). [`namespace_from_l1`] scans the L1 from the genesis `da.start_block` to its
//! final head, reads each blob transaction's blobs back (checked against the versioned hashes
//! the L1 recorded), decodes the frames (checksum, structure, every body against its header) and
//! then, for every height asked, verifies the first copy found exactly as a streamed slice is
//! verified ([`SliceVerifier`]): the certificate against the pinned validator set, the
//! namespace proof (built here from the whole batch) against the header, and the parent-hash
//! chain. Anyone may send to the inbox, so a frame that fails any check is passed over and
//! reported in [`FromL1::rejected`]; another copy of the same heights (a takeover, a
//! duplicate) may still serve.

use std::collections::BTreeMap;

pub use ordo_da_adapter::da::L1Hash;
use ordo_da_adapter::da::{BlobConfig, EthereumBlobs, L1Address};
pub use ordo_da_adapter::l1::Finality;
use ordo_types::da::{Certified, Frame, Gather, Gathered, assemble, decode_entries};
use ordo_types::{ChainId, Height, Limits, Namespace, ValidatorSet};
use thiserror::Error;

use crate::verify::{SliceVerifier, VerifiedSlice, VerifyError};

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

/// Rebuilds and verifies `namespace`'s slices for heights `from..=to` from the L1 alone.
/// `chain_id` and `set` are the pinned trust anchor (as for [`crate::Client::stream_namespace`]);
/// `limits` are the chain's decoding limits (the genesis `limits`). The scan stops as soon as
/// every height asked has a verified copy.
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
    let mut found = Found::new(chain_id, set, limits, from, to);
    let mut block = da.start_block;
    while block <= head && !found.complete() {
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
    }
    let l1_blocks = (da.start_block, block.saturating_sub(1));
    found.verify(namespace, l1_blocks)
}

/// The copies gathered so far: per height the first whose certificate verifies.
struct Found<'a> {
    chain_id: ChainId,
    set: &'a ValidatorSet,
    limits: Limits,
    from: Height,
    to: Height,
    chosen: BTreeMap<u64, Certified>,
    /// Parts of split batches, per poster, with where the first part was found.
    parts: Gather<L1Address, (u64, L1Hash)>,
    rejected: Vec<Rejected>,
}

/// Most split batches gathered at once: anyone can send parts to the inbox.
const MAX_PART_GROUPS: usize = 64;

impl<'a> Found<'a> {
    fn new(
        chain_id: ChainId,
        set: &'a ValidatorSet,
        limits: Limits,
        from: Height,
        to: Height,
    ) -> Found<'a> {
        Found {
            chain_id,
            set,
            limits,
            from,
            to,
            chosen: BTreeMap::new(),
            parts: Gather::new(MAX_PART_GROUPS),
            rejected: Vec::new(),
        }
    }

    fn complete(&self) -> bool {
        self.chosen.len() as u64 == self.to.0 - self.from.0 + 1
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
        if frame.last < self.from || frame.first > self.to {
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

    /// Decodes a whole range and keeps, for each height asked that has no copy yet, the entry
    /// if its certificate verifies.
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
            if h < self.from || h > self.to || self.chosen.contains_key(&h.0) {
                continue;
            }
            let checked = c
                .certificate
                .verify_for(self.set, self.chain_id, h, &c.batch.hash());
            match checked {
                Ok(()) => {
                    self.chosen.insert(h.0, c);
                }
                Err(e) => self.reject(l1_block, tx, format!("height {}: certificate: {e}", h.0)),
            }
        }
    }

    /// Every height asked, in order, through the slice verifier.
    fn verify(
        mut self,
        namespace: Namespace,
        l1_blocks: (u64, u64),
    ) -> Result<FromL1, L1HistoryError> {
        let mut verifier = SliceVerifier::new(
            self.chain_id,
            self.set.clone(),
            namespace,
            self.from,
            self.limits,
        );
        let mut slices = Vec::new();
        for h in self.from.0..=self.to.0 {
            let Some(c) = self.chosen.remove(&h) else {
                return Err(L1HistoryError::Missing {
                    height: Height(h),
                    l1_blocks,
                    rejected: self.rejected,
                });
            };
            let proof = c.batch.namespace_tree().proof(namespace);
            let txs = c.batch.slice(namespace);
            let mut slice = verifier
                .verify_parts(c.batch.header, c.certificate, proof, txs)
                .map_err(|error| L1HistoryError::Verify {
                    height: Height(h),
                    error,
                })?;
            slice.commitment = crate::deliver::Commitment::Available;
            slices.push(slice);
        }
        Ok(FromL1 {
            slices,
            rejected: self.rejected,
            l1_blocks,
        })
    }
}
