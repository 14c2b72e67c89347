//! Data availability: where certified batches go so a rollup can rebuild its history without
//! ordo's validators (DESIGN.md, "Ordered batches out"; docs/DA.md).
//!
//! The [`DaBackend`] contract, in the order a poster uses it:
//! - [`DaBackend::submit`] posts one frame (`ordo_types::da`), [`DaBackend::submit_many`]
//!   several together (for blobs: one transaction), and answers a [`Receipt`] once the
//!   backend has accepted it (for blobs: the transaction is in the L1's pool). Nothing is
//!   *available* yet.
//! - [`DaBackend::confirm`] says where a receipt stands: pending, included (in a block not yet
//!   final), available (included at or below the configured finality: the firm commitment), or
//!   dropped (it will never land; post again).
//! - [`DaBackend::fetch`] reads a receipt's frame back from the DA layer alone, checked against
//!   what the layer commits to (for blobs: the versioned hashes in the L1 transaction).
//!
//! Errors are [`DaError::Retry`] (the layer is unreachable, a fee is above its cap, a
//! transaction is not found yet: back off and call again) or [`DaError::Fatal`] (the
//! configuration or the data is wrong: a person must look). No call blocks consensus: posting
//! runs after finality, off the decision path.
//!
//! - [`local`]: frames in a directory of the node's home; available once written and synced.
//! - [`blobs`]: EIP-4844 blob transactions on an Ethereum L1 (EIP-7594 cell proofs when the
//!   L1 asks for them), read back through anvil's blob RPC or a beacon node's blob sidecars
//!   ([`beacon`]).

pub mod beacon;
pub mod blobs;
pub mod local;

use async_trait::async_trait;
use ordo_types::Height;
use ordo_types::da::Frame;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use alloy::primitives::{Address as L1Address, B256 as L1Hash};
pub use blobs::{BlobConfig, BlobProofs, EthereumBlobs, Posted, Skipped};
pub use local::LocalDa;

/// Why a DA call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DaError {
    /// Transient: back off and call again.
    #[error("{0} (will retry)")]
    Retry(String),
    /// Permanent: the configuration or the data is wrong.
    #[error("{0}")]
    Fatal(String),
}

/// Where one posted frame is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub first: Height,
    pub last: Height,
    pub part: u16,
    pub parts: u16,
    pub locator: Locator,
}

/// The backend-specific half of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum Locator {
    /// A frame file under the local backend's directory.
    Local { file: String },
    /// A blob transaction.
    EthereumBlobs {
        tx_hash: String,
        sender: String,
        nonce: u64,
        versioned_hashes: Vec<String>,
    },
}

/// Where a receipt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Confirmation {
    /// Accepted, in no block yet.
    Pending,
    /// In block `l1_block`, which is not final yet.
    Included { l1_block: u64 },
    /// In block `l1_block`, at or below the configured finality: the firm commitment.
    Available { l1_block: u64 },
    /// Will never land (replaced, or its nonce was used by another transaction).
    Dropped,
}

/// A data-availability layer.
#[async_trait]
pub trait DaBackend: Send + Sync + std::fmt::Debug {
    /// For logs and status, e.g. `ethereum-blobs(http://127.0.0.1:8545)`.
    fn describe(&self) -> String;

    /// The most data bytes one frame may hold on this backend.
    fn frame_capacity(&self) -> usize;

    /// Posts one frame.
    async fn submit(&self, frame: &Frame) -> Result<Receipt, DaError>;

    /// Posts frames together where the backend can (for blobs: back to back in one
    /// transaction), one receipt per frame; by default one at a time.
    async fn submit_many(&self, frames: &[Frame]) -> Result<Vec<Receipt>, DaError> {
        let mut out = Vec::with_capacity(frames.len());
        for f in frames {
            out.push(self.submit(f).await?);
        }
        Ok(out)
    }

    /// Where a posted frame stands.
    async fn confirm(&self, receipt: &Receipt) -> Result<Confirmation, DaError>;

    /// The frame a receipt points at, read back from the DA layer and checked against it.
    async fn fetch(&self, receipt: &Receipt) -> Result<Frame, DaError>;
}

impl Receipt {
    fn of(frame: &Frame, locator: Locator) -> Receipt {
        Receipt {
            first: frame.first,
            last: frame.last,
            part: frame.part,
            parts: frame.parts,
            locator,
        }
    }
}
