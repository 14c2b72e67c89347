//! Transactions: ordinary ones submitted by rollups and forced ones read from the L1 inbox.
//!
//! Canonical encodings (big-endian, documented in docs/ENCODING.md):
//! - ordinary: `0x01 ‖ namespace u64 ‖ len u32 ‖ payload`
//! - forced:   `0x02 ‖ queue_index u64 ‖ l1_block u64 ‖ namespace u64 ‖ sender [20] ‖ len u32 ‖ payload`
//!
//! The leading kind byte means an ordinary and a forced transaction never share an encoding, an
//! id or a Merkle leaf.

use crate::codec::{DecodeError, Reader, check_len};
use crate::hash::{Hash, TX_ID_DOMAIN, sha256};
use crate::ids::Namespace;
use crate::limits::Limits;
use bytes::Bytes;
use std::fmt;

/// Kind byte of an ordinary transaction's encoding.
pub const KIND_ORDINARY: u8 = 0x01;
/// Kind byte of a forced transaction's encoding.
pub const KIND_FORCED: u8 = 0x02;
/// Encoded length of an ordinary transaction, less its payload.
pub const ORDINARY_OVERHEAD: usize = 1 + 8 + 4;
/// Encoded length of a forced transaction, less its payload.
pub const FORCED_OVERHEAD: usize = 1 + 8 + 8 + 8 + 20 + 4;

/// A transaction id: `sha256("ordo.tx.v1" ‖ canonical encoding)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub Hash);

impl TxId {
    /// The id of a transaction (of either kind) given its canonical encoding, for callers that
    /// hold the encoding already and need not encode again.
    pub fn of_encoding(encoding: &[u8]) -> TxId {
        TxId(sha256(&[TX_ID_DOMAIN, encoding]))
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", hex::encode(self.0.0))
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An ordinary rollup transaction. The payload is opaque to ordo: the rollup checks its own
/// signatures when it executes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Transaction {
    pub namespace: Namespace,
    pub payload: Bytes,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("namespace", &self.namespace)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Transaction {
    pub fn new(namespace: Namespace, payload: impl Into<Bytes>) -> Self {
        Transaction {
            namespace,
            payload: payload.into(),
        }
    }

    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        ORDINARY_OVERHEAD + self.payload.len()
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        assert!(
            self.payload.len() <= u32::MAX as usize,
            "payload length fits the u32 length field"
        );
        out.push(KIND_ORDINARY);
        out.extend_from_slice(&self.namespace.0.to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes exactly one canonical encoding, refusing payloads over `limits.max_tx_payload`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Transaction, DecodeError> {
        check_len(
            bytes.len(),
            ORDINARY_OVERHEAD as u64 + u64::from(limits.max_tx_payload),
        )?;
        let mut r = Reader::new(bytes);
        let kind = r.u8("transaction kind")?;
        if kind != KIND_ORDINARY {
            return Err(DecodeError::UnknownTag {
                field: "transaction kind",
                tag: kind.into(),
            });
        }
        let namespace = Namespace(r.u64("namespace")?);
        let payload = read_payload(&mut r, limits)?;
        r.finish("transaction")?;
        Ok(Transaction { namespace, payload })
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        TxId::of_encoding(&self.encode())
    }
}

/// An entry of the L1 `OrdoInbox` queue. Its sender is authenticated by L1, so the rollup may
/// treat it as a deposit or a message from that account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ForcedTx {
    pub queue_index: u64,
    pub l1_block: u64,
    pub namespace: Namespace,
    pub sender: [u8; 20],
    pub payload: Bytes,
}

impl fmt::Debug for ForcedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForcedTx")
            .field("queue_index", &self.queue_index)
            .field("l1_block", &self.l1_block)
            .field("namespace", &self.namespace)
            .field("sender", &hex::encode(self.sender))
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl ForcedTx {
    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        FORCED_OVERHEAD + self.payload.len()
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        assert!(
            self.payload.len() <= u32::MAX as usize,
            "payload length fits the u32 length field"
        );
        out.push(KIND_FORCED);
        out.extend_from_slice(&self.queue_index.to_be_bytes());
        out.extend_from_slice(&self.l1_block.to_be_bytes());
        out.extend_from_slice(&self.namespace.0.to_be_bytes());
        out.extend_from_slice(&self.sender);
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes exactly one canonical encoding, refusing payloads over `limits.max_tx_payload`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<ForcedTx, DecodeError> {
        check_len(
            bytes.len(),
            FORCED_OVERHEAD as u64 + u64::from(limits.max_tx_payload),
        )?;
        let mut r = Reader::new(bytes);
        let kind = r.u8("transaction kind")?;
        if kind != KIND_FORCED {
            return Err(DecodeError::UnknownTag {
                field: "transaction kind",
                tag: kind.into(),
            });
        }
        let queue_index = r.u64("queue index")?;
        let l1_block = r.u64("l1 block")?;
        let namespace = Namespace(r.u64("namespace")?);
        let sender = r.array::<20>("sender")?;
        let payload = read_payload(&mut r, limits)?;
        r.finish("forced transaction")?;
        Ok(ForcedTx {
            queue_index,
            l1_block,
            namespace,
            sender,
            payload,
        })
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        TxId::of_encoding(&self.encode())
    }
}

fn read_payload(r: &mut Reader<'_>, limits: &Limits) -> Result<Bytes, DecodeError> {
    let len = r.u32("payload length")?;
    if len > limits.max_tx_payload {
        return Err(DecodeError::CountOverLimit {
            field: "payload length",
            count: len.into(),
            max: limits.max_tx_payload.into(),
        });
    }
    Ok(Bytes::copy_from_slice(r.take(len as usize, "payload")?))
}

/// One item of a batch body: an ordinary or a forced transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BatchTx {
    Ordinary(Transaction),
    Forced(ForcedTx),
}

impl BatchTx {
    /// The namespace the item belongs to.
    pub fn namespace(&self) -> Namespace {
        match self {
            BatchTx::Ordinary(t) => t.namespace,
            BatchTx::Forced(f) => f.namespace,
        }
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        match self {
            BatchTx::Ordinary(t) => &t.payload,
            BatchTx::Forced(f) => &f.payload,
        }
    }

    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            BatchTx::Ordinary(t) => t.encoded_len(),
            BatchTx::Forced(f) => f.encoded_len(),
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            BatchTx::Ordinary(t) => t.encode(),
            BatchTx::Forced(f) => f.encode(),
        }
    }

    /// Decodes either kind, by its leading kind byte.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<BatchTx, DecodeError> {
        match bytes.first() {
            Some(&KIND_ORDINARY) => Transaction::decode(bytes, limits).map(BatchTx::Ordinary),
            Some(&KIND_FORCED) => ForcedTx::decode(bytes, limits).map(BatchTx::Forced),
            Some(&k) => Err(DecodeError::UnknownTag {
                field: "transaction kind",
                tag: k.into(),
            }),
            None => Err(DecodeError::Truncated {
                context: "transaction kind",
                needed: 1,
            }),
        }
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        TxId::of_encoding(&self.encode())
    }

    /// True for a forced transaction.
    pub fn is_forced(&self) -> bool {
        matches!(self, BatchTx::Forced(_))
    }

    /// The forced transaction, if this is one.
    pub fn as_forced(&self) -> Option<&ForcedTx> {
        match self {
            BatchTx::Forced(f) => Some(f),
            BatchTx::Ordinary(_) => None,
        }
    }
}
