//! A batch: a header and a body whose shape the header commits to.
//!
//! Body order (DESIGN.md, data model): forced transactions first, in queue order with consecutive
//! queue indices; then ordinary transactions grouped by namespace in ascending order, keeping the
//! order inside each namespace. [`Batch::check_body`] is the pure check of that order and of every
//! header field derived from the body; the consensus rules (height, parent, time, forced-inclusion
//! deadlines) build on it.

use crate::hash::Hash;
use crate::header::{BatchHeader, ForcedCursor};
use crate::ids::Namespace;
use crate::limits::Limits;
use crate::namespace_tree::NamespaceTree;
use crate::tx::BatchTx;
use thiserror::Error;

/// Why a batch body does not match its header or the body rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("{count} transactions exceed the batch limit of {max}")]
    TooManyTxs { count: usize, max: u32 },
    #[error("a body of {bytes} bytes exceeds the batch limit of {max}")]
    TooManyBytes { bytes: u64, max: u64 },
    #[error("a payload of {len} bytes exceeds the limit of {max}")]
    PayloadTooLarge { len: usize, max: u32 },
    #[error("forced transaction at position {position} follows an ordinary one")]
    ForcedAfterOrdinary { position: usize },
    #[error("forced queue index {found} where {expected} was due")]
    ForcedOutOfOrder { expected: u64, found: u64 },
    #[error("ordinary transactions of namespace {namespace} follow namespace {previous}")]
    NamespacesOutOfOrder {
        previous: Namespace,
        namespace: Namespace,
    },
    #[error("header {field} is {header}, the body gives {body}")]
    HeaderMismatch {
        field: &'static str,
        header: String,
        body: String,
    },
}

/// The header fields a body determines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodySummary {
    pub tx_count: u32,
    pub body_bytes: u64,
    pub namespaces_root: Hash,
    /// `[first, next)` queue indices of the forced entries, if there are any.
    pub forced: Option<(u64, u64)>,
}

/// Checks the body order and limits, and computes the fields the header must carry.
pub fn summarize(txs: &[BatchTx], limits: &Limits) -> Result<BodySummary, BatchError> {
    let tx_count = u32::try_from(txs.len())
        .ok()
        .filter(|c| *c <= limits.max_batch_txs)
        .ok_or(BatchError::TooManyTxs {
            count: txs.len(),
            max: limits.max_batch_txs,
        })?;
    let mut body_bytes = 0u64;
    let mut forced: Option<(u64, u64)> = None;
    let mut last_ordinary: Option<Namespace> = None;
    for (position, tx) in txs.iter().enumerate() {
        if tx.payload().len() > limits.max_tx_payload as usize {
            return Err(BatchError::PayloadTooLarge {
                len: tx.payload().len(),
                max: limits.max_tx_payload,
            });
        }
        body_bytes += tx.encoded_len() as u64;
        match tx {
            BatchTx::Forced(f) => {
                if last_ordinary.is_some() {
                    return Err(BatchError::ForcedAfterOrdinary { position });
                }
                let first = match forced {
                    None => f.queue_index,
                    Some((first, next)) if f.queue_index == next => first,
                    Some((_, next)) => {
                        return Err(BatchError::ForcedOutOfOrder {
                            expected: next,
                            found: f.queue_index,
                        });
                    }
                };
                let next = f
                    .queue_index
                    .checked_add(1)
                    .ok_or(BatchError::ForcedOutOfOrder {
                        expected: f.queue_index,
                        found: u64::MAX,
                    })?;
                forced = Some((first, next));
            }
            BatchTx::Ordinary(t) => {
                if let Some(previous) = last_ordinary.filter(|p| *p > t.namespace) {
                    return Err(BatchError::NamespacesOutOfOrder {
                        previous,
                        namespace: t.namespace,
                    });
                }
                last_ordinary = Some(t.namespace);
            }
        }
    }
    if body_bytes > limits.max_batch_bytes {
        return Err(BatchError::TooManyBytes {
            bytes: body_bytes,
            max: limits.max_batch_bytes,
        });
    }
    Ok(BodySummary {
        tx_count,
        body_bytes,
        namespaces_root: NamespaceTree::build(txs).root(),
        forced,
    })
}

/// A header and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub header: BatchHeader,
    pub txs: Vec<BatchTx>,
}

impl Batch {
    /// Builds a batch from a header template and a body, filling in the fields the body
    /// determines. `forced_next` is the cursor to carry when the body has no forced entries (the
    /// parent's `next`).
    pub fn seal(
        mut header: BatchHeader,
        txs: Vec<BatchTx>,
        forced_next: u64,
        limits: &Limits,
    ) -> Result<Batch, BatchError> {
        let s = summarize(&txs, limits)?;
        header.tx_count = s.tx_count;
        header.body_bytes = s.body_bytes;
        header.namespaces_root = s.namespaces_root;
        header.forced_cursor = match s.forced {
            Some((first, next)) => ForcedCursor { first, next },
            None => ForcedCursor {
                first: forced_next,
                next: forced_next,
            },
        };
        Ok(Batch { header, txs })
    }

    /// The batch hash: its header's hash.
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Checks the body order and limits, and that every header field derived from the body
    /// matches it.
    pub fn check_body(&self, limits: &Limits) -> Result<(), BatchError> {
        let s = summarize(&self.txs, limits)?;
        let h = &self.header;
        mismatch("tx_count", h.tx_count, s.tx_count)?;
        mismatch("body_bytes", h.body_bytes, s.body_bytes)?;
        mismatch("namespaces_root", h.namespaces_root, s.namespaces_root)?;
        match s.forced {
            Some((first, next)) => {
                mismatch("forced_cursor.first", h.forced_cursor.first, first)?;
                mismatch("forced_cursor.next", h.forced_cursor.next, next)?;
            }
            None => mismatch(
                "forced_cursor.first",
                h.forced_cursor.first,
                h.forced_cursor.next,
            )?,
        }
        Ok(())
    }

    /// The tree over this batch's namespaces, to answer proofs.
    pub fn namespace_tree(&self) -> NamespaceTree {
        NamespaceTree::build(&self.txs)
    }

    /// The transactions of one namespace, in body order.
    pub fn slice(&self, namespace: Namespace) -> Vec<BatchTx> {
        self.txs
            .iter()
            .filter(|t| t.namespace() == namespace)
            .cloned()
            .collect()
    }
}

fn mismatch<T: PartialEq + std::fmt::Debug>(
    field: &'static str,
    header: T,
    body: T,
) -> Result<(), BatchError> {
    if header == body {
        Ok(())
    } else {
        Err(BatchError::HeaderMismatch {
            field,
            header: format!("{header:?}"),
            body: format!("{body:?}"),
        })
    }
}
