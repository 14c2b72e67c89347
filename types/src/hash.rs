//! SHA-256 and the domain tags that keep one kind of hashed object from ever colliding with another.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Domain tag of a transaction id: `id = sha256(TX_ID_DOMAIN ‖ canonical encoding)`.
pub const TX_ID_DOMAIN: &[u8] = b"ordo.tx.v1";
/// Domain tag of a batch header hash: `hash = sha256(HEADER_DOMAIN ‖ fixed-width layout)`.
pub const HEADER_DOMAIN: &[u8] = b"ordo.header.v1";
/// Domain tag of a validator-set hash.
pub const VALIDATOR_SET_DOMAIN: &[u8] = b"ordo.valset.v1";
/// Domain tag of a certificate hash (used in decision logs, not for security).
pub const CERTIFICATE_DOMAIN: &[u8] = b"ordo.cert.v1";

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Length in bytes.
    pub const LEN: usize = 32;
    /// The all-zero hash: the parent of height 1.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Reads a hash from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        bytes.try_into().ok().map(Hash)
    }

    /// Parses 64 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let raw = hex::decode(s.trim_start_matches("0x")).ok()?;
        Hash::from_slice(&raw)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", hex::encode(self.0))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("a hash is 64 hex digits"))
    }
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}
