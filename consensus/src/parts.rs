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
    match p {
        ProposalPart::Data(d) => d.txs.iter().map(|t| t.encoded_len()).sum(),
        _ => 256,
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
        let key = (from, msg.stream_id.clone());
        if !self.streams.contains_key(&key) {
            if self.streams.len() >= MAX_STREAMS
                && let Some(old) = self.order.pop_front()
            {
                self.streams.remove(&old);
            }
            self.order.push_back(key.clone());
        }
        let max_bytes = self.limits.max_batch_bytes as usize + MAX_STREAMS * 1024;
        let max_parts = (self.limits.max_batch_txs as u64).saturating_add(3);
        let stream = self.streams.entry(key.clone()).or_default();
        if msg.sequence > max_parts {
            self.remove(&key);
            return Err(StreamError::TooLarge);
        }
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
