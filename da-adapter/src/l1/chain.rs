//! What every L1 reader shares: its errors and which blocks count as final. Kept apart from
//! the rocksdb-backed source so a reader without a store (`ordo-client` reading blobs) can use
//! them.

use std::fmt;
use std::str::FromStr;

use ordo_types::Hash;
use thiserror::Error;

/// Errors of the L1 side.
#[derive(Debug, Clone, Error)]
pub enum L1Error {
    #[error("L1 configuration: {0}")]
    Config(String),
    #[error("L1 RPC: {0}")]
    Rpc(String),
    #[error("L1 cache: {0}")]
    Storage(String),
    #[error("L1 block {number} was read with hash {stored} and the L1 now has {found}")]
    Reorg {
        number: u64,
        stored: Hash,
        found: Hash,
    },
    #[error("inbox entry {found} where {expected} was next: the L1 endpoint skipped an entry")]
    Gap { expected: u64, found: u64 },
}

impl L1Error {
    pub(crate) fn rpc(e: impl fmt::Display) -> L1Error {
        L1Error::Rpc(e.to_string())
    }
}

/// Which L1 blocks count as final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// The L1's `finalized` block tag.
    Finalized,
    /// `latest − k`: for development chains (anvil) whose `finalized` lags far behind.
    Depth(u64),
}

impl FromStr for Finality {
    type Err = String;
    fn from_str(s: &str) -> Result<Finality, String> {
        match s {
            "finalized" => Ok(Finality::Finalized),
            "latest" => Ok(Finality::Depth(0)),
            _ => s
                .strip_prefix("latest-")
                .and_then(|k| k.parse().ok())
                .map(Finality::Depth)
                .ok_or_else(|| format!("finality {s:?}: use \"finalized\" or \"latest-K\"")),
        }
    }
}

impl fmt::Display for Finality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finality::Finalized => f.write_str("finalized"),
            Finality::Depth(k) => write!(f, "latest-{k}"),
        }
    }
}
