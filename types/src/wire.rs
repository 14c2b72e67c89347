//! Protobuf wire types (compiled from `proto/` at build time) and their size-limited conversions
//! to and from the domain types. Decoding checks the input length first, then every count,
//! length and required field, so malformed input yields a [`DecodeError`], never a panic.

use crate::batch::Batch;
use crate::bls::{BlsPublicKey, BlsSignature, Certificate, ProofOfPossession, SignerBitmap};
use crate::bls::{Validator, ValidatorSet};
use crate::codec::{DecodeError, check_len};
use crate::hash::Hash;
use crate::header::{BatchHeader, ForcedCursor, L1Ref};
use crate::ids::{Address, ChainId, Epoch, Height, Namespace, Round};
use crate::limits::Limits;
use crate::merkle::MAX_PATH_LEN;
use crate::namespace_tree::{LeafAt, NamespaceLeaf, NamespaceProof, ProofKind};
use crate::tx::{BatchTx, ForcedTx, Transaction};
use prost::Message;

/// The generated protobuf messages of package `ordo.v1`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    rust_2018_idioms
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/ordo.v1.rs"));
}

/// Decodes a protobuf message of at most `limits.max_message_bytes`.
pub fn decode_message<M: Message + Default>(
    bytes: &[u8],
    limits: &Limits,
) -> Result<M, DecodeError> {
    check_len(bytes.len(), limits.max_message_bytes)?;
    M::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

fn hash(field: &'static str, b: &[u8]) -> Result<Hash, DecodeError> {
    Hash::from_slice(b).ok_or(DecodeError::BadLength {
        field,
        expected: Hash::LEN,
        got: b.len(),
    })
}

fn address(field: &'static str, b: &[u8]) -> Result<Address, DecodeError> {
    Address::from_slice(b).ok_or(DecodeError::BadLength {
        field,
        expected: Address::LEN,
        got: b.len(),
    })
}

fn required<T>(field: &'static str, v: Option<T>) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::Missing { field })
}

fn invalid(field: &'static str) -> impl FnOnce(crate::bls::BlsError) -> DecodeError {
    move |e| DecodeError::Invalid {
        field,
        reason: e.to_string(),
    }
}

fn payload(b: bytes::Bytes, limits: &Limits) -> Result<bytes::Bytes, DecodeError> {
    if b.len() > limits.max_tx_payload as usize {
        return Err(DecodeError::CountOverLimit {
            field: "payload length",
            count: b.len() as u64,
            max: limits.max_tx_payload.into(),
        });
    }
    Ok(b)
}

impl From<&Transaction> for pb::Transaction {
    fn from(t: &Transaction) -> Self {
        pb::Transaction {
            namespace: t.namespace.0,
            payload: t.payload.clone(),
        }
    }
}

impl Transaction {
    /// Converts from protobuf, enforcing `limits.max_tx_payload`.
    pub fn from_proto(p: pb::Transaction, limits: &Limits) -> Result<Transaction, DecodeError> {
        Ok(Transaction {
            namespace: Namespace(p.namespace),
            payload: payload(p.payload, limits)?,
        })
    }
}

impl From<&BatchTx> for pb::BatchTx {
    fn from(t: &BatchTx) -> Self {
        let kind = match t {
            BatchTx::Ordinary(t) => pb::batch_tx::Kind::Ordinary(t.into()),
            BatchTx::Forced(f) => pb::batch_tx::Kind::Forced(pb::ForcedTransaction {
                queue_index: f.queue_index,
                l1_block: f.l1_block,
                namespace: f.namespace.0,
                sender: bytes::Bytes::copy_from_slice(&f.sender),
                payload: f.payload.clone(),
            }),
        };
        pb::BatchTx { kind: Some(kind) }
    }
}

impl BatchTx {
    /// Converts from protobuf, enforcing `limits.max_tx_payload`.
    pub fn from_proto(p: pb::BatchTx, limits: &Limits) -> Result<BatchTx, DecodeError> {
        match required("batch tx kind", p.kind)? {
            pb::batch_tx::Kind::Ordinary(t) => {
                Transaction::from_proto(t, limits).map(BatchTx::Ordinary)
            }
            pb::batch_tx::Kind::Forced(f) => Ok(BatchTx::Forced(ForcedTx {
                queue_index: f.queue_index,
                l1_block: f.l1_block,
                namespace: Namespace(f.namespace),
                sender: address("forced sender", &f.sender)?.0,
                payload: payload(f.payload, limits)?,
            })),
        }
    }
}

impl From<&BatchHeader> for pb::BatchHeader {
    fn from(h: &BatchHeader) -> Self {
        let b = |x: &[u8]| bytes::Bytes::copy_from_slice(x);
        pb::BatchHeader {
            chain_id: h.chain_id.0,
            height: h.height.0,
            parent_hash: b(&h.parent_hash.0),
            timestamp_ms: h.timestamp_ms,
            epoch: h.epoch.0,
            validator_set_hash: b(&h.validator_set_hash.0),
            l1_ref: Some(pb::L1Ref {
                number: h.l1_ref.number,
                hash: b(&h.l1_ref.hash.0),
            }),
            forced_cursor: Some(pb::ForcedCursor {
                first: h.forced_cursor.first,
                next: h.forced_cursor.next,
            }),
            namespaces_root: b(&h.namespaces_root.0),
            tx_count: h.tx_count,
            body_bytes: h.body_bytes,
            proposer: b(&h.proposer.0),
            next_validator_set_hash: b(&h.next_validator_set_hash.0),
        }
    }
}

impl TryFrom<pb::BatchHeader> for BatchHeader {
    type Error = DecodeError;

    fn try_from(p: pb::BatchHeader) -> Result<Self, DecodeError> {
        let l1 = required("l1_ref", p.l1_ref)?;
        let cursor = required("forced_cursor", p.forced_cursor)?;
        Ok(BatchHeader {
            chain_id: ChainId(p.chain_id),
            height: Height(p.height),
            parent_hash: hash("parent_hash", &p.parent_hash)?,
            timestamp_ms: p.timestamp_ms,
            epoch: Epoch(p.epoch),
            validator_set_hash: hash("validator_set_hash", &p.validator_set_hash)?,
            l1_ref: L1Ref {
                number: l1.number,
                hash: hash("l1_ref.hash", &l1.hash)?,
            },
            forced_cursor: ForcedCursor {
                first: cursor.first,
                next: cursor.next,
            },
            namespaces_root: hash("namespaces_root", &p.namespaces_root)?,
            tx_count: p.tx_count,
            body_bytes: p.body_bytes,
            proposer: address("proposer", &p.proposer)?,
            next_validator_set_hash: hash("next_validator_set_hash", &p.next_validator_set_hash)?,
        })
    }
}

impl Batch {
    /// The protobuf form.
    pub fn to_proto(&self) -> pb::Batch {
        pb::Batch {
            header: Some((&self.header).into()),
            txs: self.txs.iter().map(Into::into).collect(),
        }
    }

    /// Converts from protobuf, enforcing the batch and payload limits. The body is not checked
    /// against the header here; see [`Batch::check_body`].
    pub fn from_proto(p: pb::Batch, limits: &Limits) -> Result<Batch, DecodeError> {
        if p.txs.len() > limits.max_batch_txs as usize {
            return Err(DecodeError::CountOverLimit {
                field: "batch transactions",
                count: p.txs.len() as u64,
                max: limits.max_batch_txs.into(),
            });
        }
        let header = required("header", p.header)?.try_into()?;
        let txs = p
            .txs
            .into_iter()
            .map(|t| BatchTx::from_proto(t, limits))
            .collect::<Result<_, _>>()?;
        Ok(Batch { header, txs })
    }

    /// Protobuf bytes.
    pub fn encode_proto(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes protobuf bytes from outside.
    pub fn decode_proto(bytes: &[u8], limits: &Limits) -> Result<Batch, DecodeError> {
        Batch::from_proto(decode_message(bytes, limits)?, limits)
    }
}

impl From<&Certificate> for pb::Certificate {
    fn from(c: &Certificate) -> Self {
        pb::Certificate {
            height: c.height.0,
            round: c.round.0,
            batch_hash: bytes::Bytes::copy_from_slice(&c.batch_hash.0),
            signers: bytes::Bytes::copy_from_slice(&c.signers.0),
            signature: bytes::Bytes::copy_from_slice(&c.signature.to_bytes()),
        }
    }
}

impl Certificate {
    /// Converts from protobuf; the bitmap may cover at most `limits.max_validators`.
    pub fn from_proto(p: pb::Certificate, limits: &Limits) -> Result<Certificate, DecodeError> {
        let max_bitmap = (limits.max_validators as usize).div_ceil(8);
        if p.signers.len() > max_bitmap {
            return Err(DecodeError::CountOverLimit {
                field: "bitmap length",
                count: p.signers.len() as u64,
                max: max_bitmap as u64,
            });
        }
        Ok(Certificate {
            height: Height(p.height),
            round: Round(p.round),
            batch_hash: hash("batch_hash", &p.batch_hash)?,
            signers: SignerBitmap(p.signers.to_vec()),
            signature: BlsSignature::from_bytes(&p.signature).map_err(invalid("signature"))?,
        })
    }
}

fn leaf_to_proto(l: &NamespaceLeaf) -> pb::NamespaceLeaf {
    pb::NamespaceLeaf {
        namespace: l.namespace.0,
        tx_root: bytes::Bytes::copy_from_slice(&l.tx_root.0),
        count: l.count,
    }
}

fn leaf_at_to_proto(a: &LeafAt) -> pb::LeafAt {
    pb::LeafAt {
        index: a.index,
        leaf: Some(leaf_to_proto(&a.leaf)),
        path: a
            .path
            .iter()
            .map(|h| bytes::Bytes::copy_from_slice(&h.0))
            .collect(),
    }
}

fn leaf_at_from_proto(p: pb::LeafAt) -> Result<LeafAt, DecodeError> {
    if p.path.len() > MAX_PATH_LEN {
        return Err(DecodeError::CountOverLimit {
            field: "audit path",
            count: p.path.len() as u64,
            max: MAX_PATH_LEN as u64,
        });
    }
    let leaf = required("leaf", p.leaf)?;
    Ok(LeafAt {
        index: p.index,
        leaf: NamespaceLeaf {
            namespace: Namespace(leaf.namespace),
            tx_root: hash("tx_root", &leaf.tx_root)?,
            count: leaf.count,
        },
        path: p
            .path
            .iter()
            .map(|h| hash("audit path node", h))
            .collect::<Result<_, _>>()?,
    })
}

impl From<&NamespaceProof> for pb::NamespaceProof {
    fn from(p: &NamespaceProof) -> Self {
        let kind = match &p.kind {
            ProofKind::Present(at) => pb::namespace_proof::Kind::Present(leaf_at_to_proto(at)),
            ProofKind::Absent { left, right } => pb::namespace_proof::Kind::Absent(pb::Absent {
                left: left.as_ref().map(leaf_at_to_proto),
                right: right.as_ref().map(leaf_at_to_proto),
            }),
        };
        pb::NamespaceProof {
            namespace: p.namespace.0,
            leaf_count: p.leaf_count,
            kind: Some(kind),
        }
    }
}

impl TryFrom<pb::NamespaceProof> for NamespaceProof {
    type Error = DecodeError;

    fn try_from(p: pb::NamespaceProof) -> Result<Self, DecodeError> {
        let kind = match required("proof kind", p.kind)? {
            pb::namespace_proof::Kind::Present(at) => ProofKind::Present(leaf_at_from_proto(at)?),
            pb::namespace_proof::Kind::Absent(a) => ProofKind::Absent {
                left: a.left.map(leaf_at_from_proto).transpose()?,
                right: a.right.map(leaf_at_from_proto).transpose()?,
            },
        };
        Ok(NamespaceProof {
            namespace: Namespace(p.namespace),
            leaf_count: p.leaf_count,
            kind,
        })
    }
}

impl From<&ValidatorSet> for pb::ValidatorSet {
    fn from(s: &ValidatorSet) -> Self {
        pb::ValidatorSet {
            validators: s
                .validators()
                .iter()
                .map(|v| pb::Validator {
                    address: bytes::Bytes::copy_from_slice(&v.address.0),
                    voting_power: v.voting_power,
                    bls_public_key: bytes::Bytes::copy_from_slice(&v.bls_key.to_bytes()),
                    bls_proof_of_possession: bytes::Bytes::copy_from_slice(&v.bls_pop.to_bytes()),
                    consensus_key: bytes::Bytes::copy_from_slice(&v.consensus_key.0),
                })
                .collect(),
        }
    }
}

impl ValidatorSet {
    /// Converts from protobuf, validating every key and proof of possession.
    pub fn from_proto(p: pb::ValidatorSet, limits: &Limits) -> Result<ValidatorSet, DecodeError> {
        if p.validators.len() > limits.max_validators as usize {
            return Err(DecodeError::CountOverLimit {
                field: "validators",
                count: p.validators.len() as u64,
                max: limits.max_validators.into(),
            });
        }
        let validators = p
            .validators
            .into_iter()
            .map(|v| {
                Ok(Validator {
                    address: address("validator address", &v.address)?,
                    voting_power: v.voting_power,
                    consensus_key: crate::bls::ConsensusKey(
                        v.consensus_key.as_ref().try_into().map_err(|_| {
                            DecodeError::BadLength {
                                field: "consensus_key",
                                expected: 32,
                                got: v.consensus_key.len(),
                            }
                        })?,
                    ),
                    bls_key: BlsPublicKey::from_bytes(&v.bls_public_key)
                        .map_err(invalid("bls_public_key"))?,
                    bls_pop: ProofOfPossession::from_bytes(&v.bls_proof_of_possession)
                        .map_err(invalid("bls_proof_of_possession"))?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        ValidatorSet::new(validators, limits.max_validators).map_err(|e| DecodeError::Invalid {
            field: "validator set",
            reason: e.to_string(),
        })
    }
}
