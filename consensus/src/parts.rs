//! Streaming a batch as proposal parts, and reassembling streams, within fixed bounds.
//!
//! A stream is `Init(header, proposer, round)`, then `Data(transactions)` chunks of at most
//! [`MAX_PART_BYTES`], then `Fin(signature)`, each in a `StreamMessage` with consecutive sequence
//! numbers, and a closing `StreamContent::Fin`. Parts may arrive in any order; the assembler holds
//! at most [`MAX_STREAMS`] open streams (the oldest is dropped first) and refuses streams larger
//! than a batch can be.

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
    bytes: usize,
}

/// Reassembles proposal streams keyed by publisher and stream id.
#[derive(Debug)]
pub struct Assembler<K> {
    limits: Limits,
    streams: HashMap<(K, StreamId), Stream>,
    order: VecDeque<(K, StreamId)>,
}

fn part_size(p: &ProposalPart) -> usize {
    PART_OVERHEAD
        + match p {
            ProposalPart::Data(d) => d.txs.iter().map(|t| t.encoded_len()).sum(),
            _ => 0,
        }
}

impl<K: Clone + Eq + std::hash::Hash> Assembler<K> {
    pub fn new(limits: Limits) -> Self {
        Assembler {
            limits,
            streams: HashMap::new(),
            order: VecDeque::new(),
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
                && let Some(old) = self.order.pop_front()
            {
                self.streams.remove(&old);
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
        match msg.content {
            StreamContent::Fin => stream.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                stream.bytes += part_size(&part);
                stream.parts.insert(msg.sequence, part);
            }
        }
        if stream.bytes > max_bytes {
            self.remove(&key);
            return Err(StreamError::TooLarge);
        }
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
        self.streams.remove(key)
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
}
