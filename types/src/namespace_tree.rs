//! The namespaces tree: one leaf `(namespace, tx_root, count)` per namespace present in a batch,
//! sorted by namespace, under an RFC 6962 Merkle tree ([`crate::merkle`]).
//!
//! - `tx_root` is the Merkle root over `leaf_hash(canonical encoding)` of the namespace's
//!   transactions in body order, and `count` their number. A rollup holding its slice recomputes
//!   both: the slice is then complete (nothing dropped, added or reordered).
//! - The header's `namespaces_root` is `sha256(0x02 ‖ leaf_count u32 ‖ merkle root)`, binding the
//!   number of leaves so that "first" and "last" leaf positions can be proven.
//! - Leaves are strictly ascending by namespace; every validator recomputes the root from the
//!   body before voting, so a certified root always has one leaf per namespace. An absent
//!   namespace is proven by two adjacent leaves around it (or one at either end, or an empty tree).

use crate::hash::{Hash, sha256};
use crate::ids::Namespace;
use crate::merkle;
use crate::tx::BatchTx;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Prefix of the outer namespaces root.
pub const NS_ROOT_PREFIX: u8 = 0x02;
/// Length of an encoded leaf.
pub const LEAF_LEN: usize = 8 + 32 + 4;

/// One namespace's entry in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamespaceLeaf {
    pub namespace: Namespace,
    pub tx_root: Hash,
    pub count: u32,
}

impl NamespaceLeaf {
    /// `namespace u64 ‖ tx_root ‖ count u32`, big-endian.
    pub fn encode(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        let (ns, rest) = out.split_at_mut(8);
        let (root, count) = rest.split_at_mut(32);
        ns.copy_from_slice(&self.namespace.0.to_be_bytes());
        root.copy_from_slice(&self.tx_root.0);
        count.copy_from_slice(&self.count.to_be_bytes());
        out
    }

    /// The Merkle leaf hash of this leaf.
    pub fn hash(&self) -> Hash {
        merkle::leaf_hash(&self.encode())
    }

    /// The leaf a namespace's transactions (in body order) produce.
    pub fn for_slice<'a>(
        namespace: Namespace,
        txs: impl IntoIterator<Item = &'a BatchTx>,
    ) -> NamespaceLeaf {
        let hashes: Vec<Hash> = txs.into_iter().map(tx_leaf_hash).collect();
        NamespaceLeaf {
            namespace,
            tx_root: merkle::root(&hashes),
            count: u32::try_from(hashes.len()).expect("a batch holds fewer than 2^32 transactions"),
        }
    }
}

/// The Merkle leaf hash of a transaction in its namespace's tx tree.
pub fn tx_leaf_hash(tx: &BatchTx) -> Hash {
    merkle::leaf_hash(&tx.encode())
}

/// The namespaces root over already-built leaf hashes.
fn outer_root(leaf_count: u32, inner: &Hash) -> Hash {
    sha256(&[&[NS_ROOT_PREFIX], &leaf_count.to_be_bytes(), &inner.0])
}

/// The tree of one batch, kept to answer proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceTree {
    leaves: Vec<NamespaceLeaf>,
    hashes: Vec<Hash>,
    tx_hashes: Vec<Vec<Hash>>,
}

impl NamespaceTree {
    /// Builds the tree of a body. Items of one namespace keep their body order; namespaces are
    /// sorted ascending whatever the body order (validity of the order is checked elsewhere).
    pub fn build(body: &[BatchTx]) -> NamespaceTree {
        let mut groups: std::collections::BTreeMap<Namespace, Vec<Hash>> = Default::default();
        for tx in body {
            groups
                .entry(tx.namespace())
                .or_default()
                .push(tx_leaf_hash(tx));
        }
        let mut leaves = Vec::with_capacity(groups.len());
        let mut tx_hashes = Vec::with_capacity(groups.len());
        for (namespace, hashes) in groups {
            leaves.push(NamespaceLeaf {
                namespace,
                tx_root: merkle::root(&hashes),
                count: u32::try_from(hashes.len())
                    .expect("a batch holds fewer than 2^32 transactions"),
            });
            tx_hashes.push(hashes);
        }
        let hashes = leaves.iter().map(NamespaceLeaf::hash).collect();
        NamespaceTree {
            leaves,
            hashes,
            tx_hashes,
        }
    }

    /// The leaves, ascending by namespace.
    pub fn leaves(&self) -> &[NamespaceLeaf] {
        &self.leaves
    }

    fn leaf_count(&self) -> u32 {
        u32::try_from(self.leaves.len()).expect("fewer than 2^32 namespaces in a batch")
    }

    /// The header's `namespaces_root`.
    pub fn root(&self) -> Hash {
        outer_root(self.leaf_count(), &merkle::root(&self.hashes))
    }

    fn leaf_at(&self, index: usize) -> Option<LeafAt> {
        Some(LeafAt {
            index: u32::try_from(index).ok()?,
            leaf: *self.leaves.get(index)?,
            path: merkle::audit_path(&self.hashes, index)?,
        })
    }

    /// The proof of what this tree holds for `namespace`.
    pub fn proof(&self, namespace: Namespace) -> NamespaceProof {
        let kind = match self
            .leaves
            .binary_search_by_key(&namespace, |l| l.namespace)
        {
            Ok(i) => ProofKind::Present(self.leaf_at(i).expect("a found index is in range")),
            Err(i) => ProofKind::Absent {
                left: i.checked_sub(1).and_then(|j| self.leaf_at(j)),
                right: self.leaf_at(i),
            },
        };
        NamespaceProof {
            namespace,
            leaf_count: self.leaf_count(),
            kind,
        }
    }

    /// The proof that the `index`-th transaction of `namespace` is in this tree.
    pub fn tx_proof(&self, namespace: Namespace, index: u32) -> Option<TxProof> {
        let i = self
            .leaves
            .binary_search_by_key(&namespace, |l| l.namespace)
            .ok()?;
        let path = merkle::audit_path(self.tx_hashes.get(i)?, index as usize)?;
        Some(TxProof {
            namespace: self.proof(namespace),
            index,
            path,
        })
    }
}

/// A leaf at a position of the tree, with its audit path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafAt {
    pub index: u32,
    pub leaf: NamespaceLeaf,
    pub path: Vec<Hash>,
}

impl LeafAt {
    fn root(&self, leaf_count: u32) -> Option<Hash> {
        let inner = merkle::root_from_path(
            &self.leaf.hash(),
            self.index.into(),
            leaf_count.into(),
            &self.path,
        )?;
        Some(outer_root(leaf_count, &inner))
    }
}

/// What the tree holds for a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofKind {
    /// The namespace's leaf.
    Present(LeafAt),
    /// Its neighbours: the greatest leaf below and the least above, where they exist.
    Absent {
        left: Option<LeafAt>,
        right: Option<LeafAt>,
    },
}

/// A proof of inclusion (with completeness) or of absence of one namespace in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceProof {
    pub namespace: Namespace,
    pub leaf_count: u32,
    pub kind: ProofKind,
}

/// Why a namespace or transaction proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    #[error("the proof does not lead to the namespaces root")]
    RootMismatch,
    #[error("the proven leaf is for namespace {found}, not {expected}")]
    WrongNamespace {
        expected: Namespace,
        found: Namespace,
    },
    #[error("the neighbours do not enclose the namespace")]
    NeighboursDoNotEnclose,
    #[error("the neighbours are not adjacent leaves")]
    NeighboursNotAdjacent,
    #[error("an absence proof needs a neighbour at the edge of the tree or a non-empty tree")]
    MissingNeighbour,
    #[error("the slice has {got} transactions, the leaf commits to {expected}")]
    CountMismatch { expected: u32, got: usize },
    #[error("the slice's transactions do not hash to the leaf's tx root")]
    TxRootMismatch,
    #[error("a transaction of namespace {found} is in the slice of {expected}")]
    ForeignTransaction {
        expected: Namespace,
        found: Namespace,
    },
    #[error("the transaction is not at the proven position")]
    TxNotIncluded,
}

impl NamespaceProof {
    /// Checks the proof against a header's `namespaces_root`. Returns the namespace's leaf, or
    /// `None` if the proof shows the namespace has no transactions in this batch.
    pub fn verify(&self, root: &Hash) -> Result<Option<NamespaceLeaf>, ProofError> {
        let n = self.namespace;
        let check = |at: &LeafAt| match at.root(self.leaf_count) {
            Some(r) if r == *root => Ok(()),
            _ => Err(ProofError::RootMismatch),
        };
        match &self.kind {
            ProofKind::Present(at) => {
                if at.leaf.namespace != n {
                    return Err(ProofError::WrongNamespace {
                        expected: n,
                        found: at.leaf.namespace,
                    });
                }
                check(at)?;
                Ok(Some(at.leaf))
            }
            ProofKind::Absent { left, right } => {
                match (left, right) {
                    (None, None) => {
                        if self.leaf_count != 0 || outer_root(0, &merkle::root(&[])) != *root {
                            return Err(ProofError::MissingNeighbour);
                        }
                    }
                    (Some(l), Some(r)) => {
                        if l.index.checked_add(1) != Some(r.index) {
                            return Err(ProofError::NeighboursNotAdjacent);
                        }
                        if !(l.leaf.namespace < n && n < r.leaf.namespace) {
                            return Err(ProofError::NeighboursDoNotEnclose);
                        }
                        check(l)?;
                        check(r)?;
                    }
                    (None, Some(r)) => {
                        if r.index != 0 {
                            return Err(ProofError::MissingNeighbour);
                        }
                        if n >= r.leaf.namespace {
                            return Err(ProofError::NeighboursDoNotEnclose);
                        }
                        check(r)?;
                    }
                    (Some(l), None) => {
                        if l.index.checked_add(1) != Some(self.leaf_count) {
                            return Err(ProofError::MissingNeighbour);
                        }
                        if l.leaf.namespace >= n {
                            return Err(ProofError::NeighboursDoNotEnclose);
                        }
                        check(l)?;
                    }
                }
                Ok(None)
            }
        }
    }

    /// Checks that `txs` is the complete slice of this proof's namespace, in order, in the batch
    /// whose header carries `root`.
    pub fn verify_slice(&self, root: &Hash, txs: &[BatchTx]) -> Result<(), ProofError> {
        if let Some(tx) = txs.iter().find(|t| t.namespace() != self.namespace) {
            return Err(ProofError::ForeignTransaction {
                expected: self.namespace,
                found: tx.namespace(),
            });
        }
        let expected = match self.verify(root)? {
            Some(leaf) => leaf,
            None if txs.is_empty() => return Ok(()),
            None => {
                return Err(ProofError::CountMismatch {
                    expected: 0,
                    got: txs.len(),
                });
            }
        };
        if expected.count as usize != txs.len() {
            return Err(ProofError::CountMismatch {
                expected: expected.count,
                got: txs.len(),
            });
        }
        if NamespaceLeaf::for_slice(self.namespace, txs).tx_root != expected.tx_root {
            return Err(ProofError::TxRootMismatch);
        }
        Ok(())
    }
}

/// Proves one transaction's position in a batch: its namespace's leaf, then its place in that
/// namespace's tx tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxProof {
    pub namespace: NamespaceProof,
    pub index: u32,
    pub path: Vec<Hash>,
}

impl TxProof {
    /// Checks that `tx` is the `index`-th transaction of its namespace in the batch with `root`.
    pub fn verify(&self, root: &Hash, tx: &BatchTx) -> Result<(), ProofError> {
        if tx.namespace() != self.namespace.namespace {
            return Err(ProofError::ForeignTransaction {
                expected: self.namespace.namespace,
                found: tx.namespace(),
            });
        }
        let leaf = self
            .namespace
            .verify(root)?
            .ok_or(ProofError::TxNotIncluded)?;
        let ok = merkle::verify_inclusion(
            &tx_leaf_hash(tx),
            self.index.into(),
            leaf.count.into(),
            &self.path,
            &leaf.tx_root,
        );
        if ok {
            Ok(())
        } else {
            Err(ProofError::TxNotIncluded)
        }
    }
}
