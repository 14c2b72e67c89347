//! The batch header and its fixed-width hashing layout.
//!
//! The header hash is `sha256("ordo.header.v1" ‖ layout)`, where the layout is the
//! [`HEADER_LEN`]-byte, big-endian concatenation below (also in docs/ENCODING.md, so a contract or
//! another language can recompute it). Protobuf only carries headers; it is never hashed.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version (= 2) |
//! | 1 | 8 | chain_id |
//! | 9 | 8 | height |
//! | 17 | 32 | parent_hash |
//! | 49 | 8 | timestamp_ms |
//! | 57 | 8 | epoch |
//! | 65 | 32 | validator_set_hash |
//! | 97 | 8 | l1_ref.number |
//! | 105 | 32 | l1_ref.hash |
//! | 137 | 8 | forced_cursor.first |
//! | 145 | 8 | forced_cursor.next |
//! | 153 | 32 | namespaces_root |
//! | 185 | 4 | tx_count |
//! | 189 | 8 | body_bytes |
//! | 197 | 20 | proposer |
//! | 217 | 32 | next_validator_set_hash |
//!
//! Version 2 appended `next_validator_set_hash` (the hash of the next epoch's set, so a header
//! certified by one epoch's set vouches for the next one's); version 1 headers (217 bytes, no
//! such field) are refused.

use crate::codec::{DecodeError, Reader};
use crate::hash::{HEADER_DOMAIN, Hash, sha256};
use crate::ids::{Address, ChainId, Epoch, Height};
use serde::{Deserialize, Serialize};

/// Layout version written in byte 0.
pub const HEADER_VERSION: u8 = 2;
/// Length of the fixed-width layout.
pub const HEADER_LEN: usize = 249;

/// A block of the L1 chain that a batch refers to for forced inclusion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct L1Ref {
    pub number: u64,
    pub hash: Hash,
}

/// The forced-queue entries a batch includes: queue indices `[first, next)`. `next` is where the
/// following batch's forced entries must start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForcedCursor {
    pub first: u64,
    pub next: u64,
}

impl ForcedCursor {
    /// Number of forced entries covered, or `None` if `next < first`.
    pub fn len(&self) -> Option<u64> {
        self.next.checked_sub(self.first)
    }

    /// True when no forced entry is covered.
    pub fn is_empty(&self) -> bool {
        self.first == self.next
    }
}

/// The header of a batch. Its hash is the consensus value id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchHeader {
    pub chain_id: ChainId,
    pub height: Height,
    pub parent_hash: Hash,
    /// Milliseconds since the Unix epoch, as proposed.
    pub timestamp_ms: u64,
    pub epoch: Epoch,
    pub validator_set_hash: Hash,
    pub l1_ref: L1Ref,
    pub forced_cursor: ForcedCursor,
    pub namespaces_root: Hash,
    pub tx_count: u32,
    pub body_bytes: u64,
    pub proposer: Address,
    /// The hash of the validator set of the epoch after this header's: the same as
    /// `validator_set_hash` on a chain without a stake table.
    pub next_validator_set_hash: Hash,
}

impl BatchHeader {
    /// The fixed-width layout.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut v = Vec::with_capacity(HEADER_LEN);
        v.push(HEADER_VERSION);
        v.extend_from_slice(&self.chain_id.0.to_be_bytes());
        v.extend_from_slice(&self.height.0.to_be_bytes());
        v.extend_from_slice(&self.parent_hash.0);
        v.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        v.extend_from_slice(&self.epoch.0.to_be_bytes());
        v.extend_from_slice(&self.validator_set_hash.0);
        v.extend_from_slice(&self.l1_ref.number.to_be_bytes());
        v.extend_from_slice(&self.l1_ref.hash.0);
        v.extend_from_slice(&self.forced_cursor.first.to_be_bytes());
        v.extend_from_slice(&self.forced_cursor.next.to_be_bytes());
        v.extend_from_slice(&self.namespaces_root.0);
        v.extend_from_slice(&self.tx_count.to_be_bytes());
        v.extend_from_slice(&self.body_bytes.to_be_bytes());
        v.extend_from_slice(&self.proposer.0);
        v.extend_from_slice(&self.next_validator_set_hash.0);
        v.try_into()
            .expect("the header layout is exactly HEADER_LEN bytes")
    }

    /// Decodes the fixed-width layout; any other length or version is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<BatchHeader, DecodeError> {
        if bytes.len() != HEADER_LEN {
            return Err(DecodeError::BadLength {
                field: "batch header",
                expected: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("header version")?;
        if version != HEADER_VERSION {
            return Err(DecodeError::UnknownTag {
                field: "header version",
                tag: version.into(),
            });
        }
        let header = BatchHeader {
            chain_id: ChainId(r.u64("chain_id")?),
            height: Height(r.u64("height")?),
            parent_hash: Hash(r.array("parent_hash")?),
            timestamp_ms: r.u64("timestamp_ms")?,
            epoch: Epoch(r.u64("epoch")?),
            validator_set_hash: Hash(r.array("validator_set_hash")?),
            l1_ref: L1Ref {
                number: r.u64("l1_ref.number")?,
                hash: Hash(r.array("l1_ref.hash")?),
            },
            forced_cursor: ForcedCursor {
                first: r.u64("forced_cursor.first")?,
                next: r.u64("forced_cursor.next")?,
            },
            namespaces_root: Hash(r.array("namespaces_root")?),
            tx_count: r.u32("tx_count")?,
            body_bytes: r.u64("body_bytes")?,
            proposer: Address(r.array("proposer")?),
            next_validator_set_hash: Hash(r.array("next_validator_set_hash")?),
        };
        r.finish("batch header")?;
        Ok(header)
    }

    /// The header hash: `sha256("ordo.header.v1" ‖ to_bytes())`.
    pub fn hash(&self) -> Hash {
        sha256(&[HEADER_DOMAIN, &self.to_bytes()])
    }
}
