//! Verifying a namespace stream, item by item, trusting nothing but the pinned chain id and
//! validator set.
//!
//! An item is accepted only if, in this order:
//! 1. it decodes within the chain's limits;
//! 2. its header is of the pinned chain and validator set, at the next expected height;
//! 3. its header's `parent_hash` is the hash of the previous accepted header (once there is one);
//! 4. its certificate is for that header's hash and height and carries more than two thirds of
//!    the set's voting power in one valid aggregate BLS signature;
//! 5. its proof is of the requested namespace and shows, against the header's namespaces root,
//!    that the transactions sent are all of the namespace's transactions in the batch, in order
//!    (or, for an empty slice, that the namespace is absent).
//!
//! Only then does the verifier advance. A rejected item leaves it where it was, so the same
//! height can be asked of another node.

use crate::api::{CommitmentLevel, DaReceipt, NamespaceSlice};
use crate::deliver::Commitment;
use ordo_types::{
    BatchHeader, BatchTx, Certificate, CertificateError, ChainId, DecodeError, Hash, Height,
    Limits, Namespace, NamespaceProof, ProofError, ValidatorSet,
};
use thiserror::Error;

/// Why a stream item was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("undecodable item: {0}")]
    Decode(#[from] DecodeError),
    #[error("item lacks its {0}")]
    Missing(&'static str),
    #[error("header is of chain {found}, not {expected}")]
    WrongChain { expected: ChainId, found: ChainId },
    #[error("header names validator set {found}, not the pinned {expected}")]
    WrongValidatorSet { expected: Hash, found: Hash },
    #[error("expected height {expected}, got {found}")]
    UnexpectedHeight { expected: Height, found: Height },
    #[error("parent hash {found} is not the previous batch's hash {expected}")]
    BrokenParentLink { expected: Hash, found: Hash },
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
    #[error("proof is for namespace {found}, not {expected}")]
    WrongNamespace {
        expected: Namespace,
        found: Namespace,
    },
    #[error("namespace proof: {0}")]
    Proof(#[from] ProofError),
}

/// A slice that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSlice {
    pub height: Height,
    /// The header hash (the batch's id, what the certificate signs).
    pub hash: Hash,
    pub header: BatchHeader,
    /// The namespace's transactions at this height, in batch order.
    pub txs: Vec<BatchTx>,
    pub certificate: Certificate,
    /// The commitment level the item came with: what the sending node says (a certified
    /// slice is final in ordo whatever it says); [`Commitment::Available`] for slices read
    /// from the DA layer itself.
    pub commitment: Commitment,
    /// Where the sending node says the height's data is on the DA layer, if available.
    pub receipt: Option<DaReceipt>,
}

/// Checks stream items in height order for one namespace.
#[derive(Clone, Debug)]
pub struct SliceVerifier {
    chain_id: ChainId,
    set: ValidatorSet,
    namespace: Namespace,
    limits: Limits,
    next: Height,
    parent: Option<Hash>,
}

impl SliceVerifier {
    /// A verifier expecting `from` next. If `from` is 1 the first parent is the genesis (zero)
    /// hash; otherwise the first item's parent is taken on its certificate alone, unless
    /// [`SliceVerifier::with_parent`] pins it.
    pub fn new(
        chain_id: ChainId,
        set: ValidatorSet,
        namespace: Namespace,
        from: Height,
        limits: Limits,
    ) -> SliceVerifier {
        let from = Height(from.0.max(1));
        SliceVerifier {
            chain_id,
            set,
            namespace,
            limits,
            next: from,
            parent: (from.0 == 1).then_some(Hash::ZERO),
        }
    }

    /// Pins the hash the next item's header must name as its parent.
    pub fn with_parent(mut self, parent: Hash) -> SliceVerifier {
        self.parent = Some(parent);
        self
    }

    /// The height the next item must have.
    pub fn next_height(&self) -> Height {
        self.next
    }

    /// The hash of the last accepted header, if any.
    pub fn parent(&self) -> Option<Hash> {
        self.parent
    }

    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// Checks `item`; on success the verifier moves to the next height.
    pub fn verify(&mut self, item: NamespaceSlice) -> Result<VerifiedSlice, VerifyError> {
        let (commitment, receipt) = match item.commitment {
            Some(c) if c.level == CommitmentLevel::Available as i32 => {
                (Commitment::Available, c.receipt)
            }
            _ => (Commitment::Certified, None),
        };
        let header: BatchHeader = item
            .header
            .ok_or(VerifyError::Missing("header"))?
            .try_into()?;
        let certificate = Certificate::from_proto(
            item.certificate
                .ok_or(VerifyError::Missing("certificate"))?,
            &self.limits,
        )?;
        let proof: NamespaceProof = item
            .proof
            .ok_or(VerifyError::Missing("proof"))?
            .try_into()?;
        if item.txs.len() > self.limits.max_batch_txs as usize {
            return Err(DecodeError::CountOverLimit {
                field: "txs",
                count: item.txs.len() as u64,
                max: u64::from(self.limits.max_batch_txs),
            }
            .into());
        }
        let txs = item
            .txs
            .into_iter()
            .map(|t| BatchTx::from_proto(t, &self.limits))
            .collect::<Result<Vec<_>, _>>()?;
        let mut v = self.verify_parts(header, certificate, proof, txs)?;
        v.commitment = commitment;
        v.receipt = receipt;
        Ok(v)
    }

    /// Checks an item already decoded (from a DA frame, say) as [`SliceVerifier::verify`] does
    /// from its second step on; on success the verifier moves to the next height.
    pub fn verify_parts(
        &mut self,
        header: BatchHeader,
        certificate: Certificate,
        proof: NamespaceProof,
        txs: Vec<BatchTx>,
    ) -> Result<VerifiedSlice, VerifyError> {
        if header.chain_id != self.chain_id {
            return Err(VerifyError::WrongChain {
                expected: self.chain_id,
                found: header.chain_id,
            });
        }
        if header.validator_set_hash != self.set.hash() {
            return Err(VerifyError::WrongValidatorSet {
                expected: self.set.hash(),
                found: header.validator_set_hash,
            });
        }
        if header.height != self.next {
            return Err(VerifyError::UnexpectedHeight {
                expected: self.next,
                found: header.height,
            });
        }
        if let Some(parent) = self.parent
            && header.parent_hash != parent
        {
            return Err(VerifyError::BrokenParentLink {
                expected: parent,
                found: header.parent_hash,
            });
        }
        let hash = header.hash();
        certificate.verify_for(&self.set, self.chain_id, header.height, &hash)?;
        if proof.namespace != self.namespace {
            return Err(VerifyError::WrongNamespace {
                expected: self.namespace,
                found: proof.namespace,
            });
        }
        proof.verify_slice(&header.namespaces_root, &txs)?;

        self.next = Height(header.height.0 + 1);
        self.parent = Some(hash);
        Ok(VerifiedSlice {
            height: header.height,
            hash,
            header,
            txs,
            certificate,
            commitment: Commitment::Certified,
            receipt: None,
        })
    }
}
