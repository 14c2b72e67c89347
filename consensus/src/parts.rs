//! Streaming a batch as proposal parts, and reassembling streams, within fixed bounds.
//!
//! A stream is `Init(header, proposer, round)`, then `Data(transactions)` chunks of at most
//! [`MAX_PART_BYTES`], then `Fin(signature)`, each in a `StreamMessage` with consecutive sequence
//! numbers, and a closing `StreamContent::Fin`. Parts may arrive in any order; the assembler holds
//! at most [`MAX_STREAMS`] open streams (the oldest is dropped first), refuses streams larger
//! than a batch can be (in bytes and in transactions), and keeps the memory of all open streams
//! together within [`STREAM_BUDGETS`] batches (dropping the oldest other streams first).

use crate::context::{PartData, PartFin, PartInit, ProposalPart, ValidatorAddress};
use crate::mala::app::streaming::{StreamContent, StreamId, StreamMessage};
use crate::mc::Round;
use bytes::Bytes;
use ordo_types::{Batch, Limits};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Largest Data part, in bytes of transaction encodings.
pub const MAX_PART_BYTES: usize = 256 * 1024;
/// Most streams assembled at once.
pub const MAX_STREAMS: usize = 64;
/// Most streams assembled at once from one publisher (its oldest is dropped first).
pub const MAX_STREAMS_PER_PEER: usize = 4;
/// Bytes counted for a part whatever its content, so that empty parts still cost memory.
const PART_OVERHEAD: usize = 256;
/// All open streams together may hold this many largest batches in memory.
pub const STREAM_BUDGETS: usize = 4;

/// The stream id of a proposal: `height u64 ‖ round u32 ‖ proposer`.
pub fn stream_id(height: u64, round: Round, proposer: &ValidatorAddress) -> StreamId {
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&round.as_u32().unwrap_or(0).to_be_bytes());
    b.extend_from_slice(&proposer.0.0);
    StreamId::new(Bytes::from(b))
}

/// The parts of `batch` proposed by `proposer` at `round`, ready to publish in order.
pub fn split(
    batch: &Batch,
    round: Round,
    valid_round: Round,
    proposer: ValidatorAddress,
    fin: PartFin,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut parts = vec![ProposalPart::Init(PartInit {
        height: batch.header.height.into(),
        round,
        proposer,
        header: batch.header,
        valid_round,
    })];
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for tx in &batch.txs {
        if bytes + tx.encoded_len() > MAX_PART_BYTES && !chunk.is_empty() {
            parts.push(ProposalPart::Data(PartData {
                txs: std::mem::take(&mut chunk),
            }));
            bytes = 0;
        }
        bytes += tx.encoded_len();
        chunk.push(tx.clone());
    }
    if !chunk.is_empty() {
        parts.push(ProposalPart::Data(PartData { txs: chunk }));
    }
    parts.push(ProposalPart::Fin(fin));
    let id = stream_id(batch.header.height.0, round, &proposer);
    let mut out: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    out.push(StreamMessage::new(id, out.len() as u64, StreamContent::Fin));
    out
}

/// A fully received proposal stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    pub init: PartInit,
    pub batch: Batch,
    pub fin: PartFin,
}

/// Why a stream was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the stream exceeds the size of any batch")]
    TooLarge,
    #[error("the stream's parts are not Init, Data*, Fin")]
    Malformed,
}

#[derive(Debug, Default)]
struct Stream {
    parts: BTreeMap<u64, ProposalPart>,
    end: Option<u64>,
    /// Encoded bytes of the transactions (what a batch's byte limit counts).
    bytes: usize,
    txs: usize,
}

impl Stream {
    /// Memory held: encodings plus each decoded transaction's own footprint.
    fn memory(&self) -> usize {
        self.bytes + self.txs * std::mem::size_of::<ordo_types::BatchTx>()
    }
}

/// Reassembles proposal streams keyed by publisher and stream id.
#[derive(Debug)]
pub struct Assembler<K> {
    limits: Limits,
    streams: HashMap<(K, StreamId), Stream>,
    order: VecDeque<(K, StreamId)>,
    /// Sum of [`Stream::memory`] over open streams.
    memory: usize,
}

/// (bytes, transactions) a part adds to its stream.
fn part_size(p: &ProposalPart) -> (usize, usize) {
    match p {
        ProposalPart::Data(d) => (
            PART_OVERHEAD + d.txs.iter().map(|t| t.encoded_len()).sum::<usize>(),
            d.txs.len(),
        ),
        _ => (PART_OVERHEAD, 0),
    }
}

impl<K: Clone + Eq + std::hash::Hash> Assembler<K> {
    pub fn new(limits: Limits) -> Self {
        Assembler {
            limits,
            streams: HashMap::new(),
            order: VecDeque::new(),
            memory: 0,
        }
    }

    /// Number of open streams.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Adds one message; returns the proposal once its stream is complete.
    pub fn push(
        &mut self,
        from: K,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<Assembled>, StreamError> {
        let key = (from.clone(), msg.stream_id.clone());
        if !self.streams.contains_key(&key) {
            let own: Vec<_> = self
                .order
                .iter()
                .filter(|(k, _)| *k == from)
                .cloned()
                .collect();
            if own.len() >= MAX_STREAMS_PER_PEER
                && let Some(old) = own.first()
            {
                self.remove(old);
            }
            if self.streams.len() >= MAX_STREAMS
                && let Some(old) = self.order.front().cloned()
            {
                self.remove(&old);
            }
            self.order.push_back(key.clone());
        }
        let max_bytes = self.limits.max_batch_bytes as usize + MAX_STREAMS * 1024;
        // Init, Fin and the closing message, plus Data parts of at least half the part size,
        // with room for a proposer that packs them less tightly.
        let max_parts = (2 * self.limits.max_batch_bytes / MAX_PART_BYTES as u64).saturating_add(8);
        if msg.sequence > max_parts {
            self.remove(&key);
            return Err(StreamError::TooLarge);
        }
        if let StreamContent::Data(ProposalPart::Data(d)) = &msg.content
            && d.txs.is_empty()
        {
            self.remove(&key);
            return Err(StreamError::Malformed);
        }
        let stream = self.streams.entry(key.clone()).or_default();
        let before = stream.memory();
        match msg.content {
            StreamContent::Fin => stream.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                let (bytes, txs) = part_size(&part);
                stream.bytes += bytes;
                stream.txs += txs;
                // A part sent twice under one sequence number replaces the first; its size
                // stays counted, which only brings the limit closer.
                stream.parts.insert(msg.sequence, part);
            }
        }
        let (bytes, txs, after) = (stream.bytes, stream.txs, stream.memory());
        self.memory += after - before;
        if bytes > max_bytes || txs > self.limits.max_batch_txs as usize {
            self.remove(&key);
            return Err(StreamError::TooLarge);
        }
        // Over the budget of all streams: the oldest other streams go first.
        let budget = STREAM_BUDGETS * self.largest_stream_memory();
        while self.memory > budget {
            let Some(old) = self.order.iter().find(|k| **k != key).cloned() else {
                break;
            };
            self.remove(&old);
        }
        let Some(stream) = self.streams.get(&key) else {
            return Ok(None);
        };
        let complete = stream.end.is_some_and(|end| {
            stream.parts.len() as u64 == end
                && stream.parts.keys().next_back() == end.checked_sub(1).as_ref()
        });
        if !complete {
            return Ok(None);
        }
        let stream = self.remove(&key).unwrap_or_default();
        assemble(stream.parts.into_values().collect()).map(Some)
    }

    fn remove(&mut self, key: &(K, StreamId)) -> Option<Stream> {
        self.order.retain(|k| k != key);
        let s = self.streams.remove(key)?;
        self.memory = self.memory.saturating_sub(s.memory());
        Some(s)
    }

    /// Memory of the largest stream the limits allow.
    fn largest_stream_memory(&self) -> usize {
        self.limits.max_batch_bytes as usize
            + MAX_STREAMS * 1024
            + self.limits.max_batch_txs as usize * std::mem::size_of::<ordo_types::BatchTx>()
    }
}

fn assemble(parts: Vec<ProposalPart>) -> Result<Assembled, StreamError> {
    let mut it = parts.into_iter();
    let Some(ProposalPart::Init(init)) = it.next() else {
        return Err(StreamError::Malformed);
    };
    let mut txs = Vec::new();
    let mut fin = None;
    for p in it {
        match (p, &fin) {
            (ProposalPart::Data(d), None) => txs.extend(d.txs),
            (ProposalPart::Fin(f), None) => fin = Some(f),
            _ => return Err(StreamError::Malformed),
        }
    }
    let fin = fin.ok_or(StreamError::Malformed)?;
    Ok(Assembled {
        batch: Batch {
            header: init.header,
            txs,
        },
        init,
        fin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ConsHeight;
    use malachitebft_signing_ed25519::PrivateKey;
    use ordo_types::tx::{BatchTx, Transaction};
    use ordo_types::{
        Address, BatchHeader, ChainId, Epoch, ForcedCursor, Hash, Height, L1Ref, Namespace,
    };

    fn batch(height: u64, txs: usize, size: usize) -> Batch {
        let header = BatchHeader {
            chain_id: ChainId(1),
            height: Height(height),
            parent_hash: Hash::ZERO,
            timestamp_ms: 0,
            epoch: Epoch(0),
            validator_set_hash: Hash::ZERO,
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: Address([1; 20]),
            next_validator_set_hash: Hash::ZERO,
        };
        let body = (0..txs)
            .map(|i| {
                let mut p = vec![0u8; size];
                p[..8].copy_from_slice(&(i as u64).to_be_bytes());
                BatchTx::Ordinary(Transaction::new(Namespace(1), p))
            })
            .collect();
        Batch::seal(header, body, 0, &Limits::default()).unwrap()
    }

    fn stream(b: &Batch, round: u32) -> Vec<StreamMessage<ProposalPart>> {
        let fin = PartFin {
            signature: PrivateKey::from([7; 32]).sign(b"x"),
        };
        split(
            b,
            Round::new(round),
            Round::Nil,
            ValidatorAddress(Address([1; 20])),
            fin,
        )
    }

    #[test]
    fn a_stream_reassembles_in_any_order() {
        let b = batch(3, 3000, 200);
        let mut msgs = stream(&b, 0);
        assert!(msgs.len() > 4, "a large batch spans several parts");
        msgs.reverse();
        let mut a = Assembler::new(Limits::default());
        let mut out = None;
        for m in msgs {
            out = a.push(1u8, m).unwrap().or(out);
        }
        let got = out.unwrap();
        assert_eq!(got.batch, b);
        assert_eq!(got.init.height, ConsHeight(3));
        assert_eq!(a.open_streams(), 0);
    }

    #[test]
    fn one_publisher_cannot_hold_more_than_its_share() {
        let mut a = Assembler::new(Limits::default());
        // An honest stream from publisher 1, left incomplete.
        let honest = stream(&batch(3, 10, 10), 0);
        a.push(1u8, honest[0].clone()).unwrap();
        // Publisher 2 opens many streams; only its last few stay open.
        for r in 0..50 {
            a.push(2u8, stream(&batch(3, 1, 10), r)[0].clone()).unwrap();
        }
        assert_eq!(a.open_streams(), 1 + MAX_STREAMS_PER_PEER);
        // The honest stream completes.
        let mut out = None;
        for m in honest.into_iter().skip(1) {
            out = a.push(1u8, m).unwrap().or(out);
        }
        assert!(out.is_some());
    }

    #[test]
    fn oversized_or_empty_streams_are_refused() {
        let mut a = Assembler::<u8>::new(Limits::default());
        let id = stream_id(1, Round::new(0), &ValidatorAddress(Address([1; 20])));
        let far = StreamMessage::new(id.clone(), 1_000_000, StreamContent::Fin);
        assert_eq!(a.push(1, far), Err(StreamError::TooLarge));
        let empty = StreamMessage::new(
            id,
            1,
            StreamContent::Data(ProposalPart::Data(PartData { txs: vec![] })),
        );
        assert_eq!(a.push(1, empty), Err(StreamError::Malformed));
        assert_eq!(a.open_streams(), 0);
    }

    #[test]
    fn a_stream_of_more_transactions_than_a_batch_may_hold_is_refused() {
        let limits = Limits {
            max_batch_txs: 100,
            ..Limits::default()
        };
        let mut a = Assembler::new(limits);
        let msgs = stream(&batch(3, 101, 8), 0);
        let mut refused = false;
        for m in msgs {
            if a.push(1u8, m) == Err(StreamError::TooLarge) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert_eq!(a.open_streams(), 0);
    }

    #[test]
    fn open_streams_together_stay_within_the_memory_budget() {
        // Batches of up to 64 KiB: the budget is a few such batches, whoever publishes them.
        let limits = Limits {
            max_batch_bytes: 64 * 1024,
            max_batch_txs: 1_000,
            ..Limits::default()
        };
        let mut a = Assembler::new(limits);
        let largest = a.largest_stream_memory();
        // Sixteen publishers each send all but the last part of a 60 KiB batch: together more
        // than the budget.
        for p in 0..16u8 {
            let msgs = stream(&batch(3, 240, 250), 0);
            let n = msgs.len();
            for m in msgs.into_iter().take(n - 1) {
                a.push(p, m).unwrap();
            }
            assert!(
                a.memory <= STREAM_BUDGETS * largest,
                "{} > budget",
                a.memory
            );
        }
        assert!(a.open_streams() < 16, "the oldest streams were dropped");
        let kept: usize = a.streams.values().map(Stream::memory).sum();
        assert_eq!(kept, a.memory, "the running total matches the streams");
    }
}
