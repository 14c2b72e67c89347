//! Verifying a namespace stream, item by item, trusting nothing but the pinned chain id and
//! validator set, and the set changes that set vouches for.
//!
//! An item is accepted only if, in this order:
//! 1. it decodes within the chain's limits;
//! 2. its header is of the pinned chain and of the current validator set, at the next expected
//!    height, in the current epoch or the one after it (never an earlier one);
//! 3. its header's `parent_hash` is the hash of the previous accepted header (once there is one);
//! 4. its certificate is for that header's hash and height and carries more than two thirds of
//!    the set's voting power in one valid aggregate BLS signature;
//! 5. its proof is of the requested namespace and shows, against the header's namespaces root,
//!    that the transactions sent are all of the namespace's transactions in the batch, in order
//!    (or, for an empty slice, that the namespace is absent).
//!
//! Only then does the verifier advance. A rejected item leaves it where it was, so the same
//! height can be asked of another node.
//!
//! **Epochs.** Every accepted header names the hash of the next epoch's set
//! (`next_validator_set_hash`), certified by the current set. When a header of the next epoch
//! names that hash, [`SliceVerifier::set_needed`] says which set to fetch (from any node: it is
//! checked against the hash), [`SliceVerifier::enter_epoch`] takes it, and the item verifies
//! against it. A header of the next epoch naming any other set, or certified by the old set, is
//! rejected.

use crate::api::{CommitmentLevel, DaReceipt, NamespaceSlice};
use crate::deliver::Commitment;
use ordo_types::{
    BatchHeader, BatchTx, Certificate, CertificateError, ChainId, DecodeError, Epoch, Hash, Height,
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
    #[error("header of epoch {found} follows one of epoch {current}")]
    UnexpectedEpoch { current: Epoch, found: Epoch },
    #[error("validator set {found} is not the next set {expected} the last header vouched for")]
    NotTheNextSet { expected: Hash, found: Hash },
    #[error("the header is of epoch {epoch}: its set {hash} must be entered first")]
    SetNotEntered { epoch: Epoch, hash: Hash },
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

/// Checks a certified header of `epoch` against that epoch's `set` (chain, epoch, set hash and
/// certificate) and returns the hash of the next epoch's set it vouches for: one link of the
/// chain of set changes, for a reader that starts past its anchor's epoch.
pub fn vouched_next_set(
    chain_id: ChainId,
    epoch: Epoch,
    set: &ValidatorSet,
    header: &BatchHeader,
    certificate: &Certificate,
) -> Result<Hash, VerifyError> {
    if header.chain_id != chain_id {
        return Err(VerifyError::WrongChain {
            expected: chain_id,
            found: header.chain_id,
        });
    }
    if header.epoch != epoch {
        return Err(VerifyError::UnexpectedEpoch {
            current: epoch,
            found: header.epoch,
        });
    }
    if header.validator_set_hash != set.hash() {
        return Err(VerifyError::WrongValidatorSet {
            expected: set.hash(),
            found: header.validator_set_hash,
        });
    }
    certificate.verify_for(set, chain_id, header.height, &header.hash())?;
    Ok(header.next_validator_set_hash)
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
    /// The epoch of the last accepted header and the next set's hash it named.
    epoch: Option<(Epoch, Hash)>,
    /// Set by [`SliceVerifier::enter_epoch`]: the set is the next epoch's, taken before its
    /// first header.
    entered: bool,
    /// The set before [`SliceVerifier::enter_epoch`], until an item verifies against the new
    /// one: a rejected item (a forged first header of the next epoch, say) puts it back.
    before_entry: Option<ValidatorSet>,
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
            epoch: None,
            entered: false,
            before_entry: None,
        }
    }

    /// The set the verifier checks certificates against.
    pub fn set(&self) -> &ValidatorSet {
        &self.set
    }

    /// The chain's decoding limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// When `item` is the first of the next epoch and names the set the last accepted header
    /// vouched for, that set's (epoch, hash): fetch it and give it to
    /// [`SliceVerifier::enter_epoch`] before verifying the item.
    pub fn set_needed(&self, item: &NamespaceSlice) -> Option<(Epoch, Hash)> {
        let header = item.header.as_ref()?;
        self.needed(
            Epoch(header.epoch),
            Hash::from_slice(&header.validator_set_hash)?,
        )
    }

    /// [`SliceVerifier::set_needed`] for a header already decoded (from a DA frame, say).
    pub fn set_needed_for(&self, header: &BatchHeader) -> Option<(Epoch, Hash)> {
        self.needed(header.epoch, header.validator_set_hash)
    }

    fn needed(&self, header_epoch: Epoch, named: Hash) -> Option<(Epoch, Hash)> {
        let (epoch, next) = self.epoch?;
        (!self.entered
            && Some(header_epoch.0) == epoch.0.checked_add(1)
            && named == next
            && named != self.set.hash())
        .then_some((header_epoch, next))
    }

    /// Takes the next epoch's set, which must be the one the last accepted header vouched for.
    pub fn enter_epoch(&mut self, set: ValidatorSet) -> Result<(), VerifyError> {
        let expected = self
            .epoch
            .map(|(_, next)| next)
            .ok_or(VerifyError::Missing("a header vouching for the next set"))?;
        if set.hash() != expected {
            return Err(VerifyError::NotTheNextSet {
                expected,
                found: set.hash(),
            });
        }
        let before = std::mem::replace(&mut self.set, set);
        if !self.entered {
            self.before_entry = Some(before);
        }
        self.entered = true;
        Ok(())
    }

    /// Undoes an [`SliceVerifier::enter_epoch`] whose item was rejected, so the verifier is
    /// where it was before that item.
    fn reject<T>(&mut self, r: Result<T, VerifyError>) -> Result<T, VerifyError> {
        match &r {
            Ok(_) => self.before_entry = None,
            Err(_) => {
                if let Some(set) = self.before_entry.take() {
                    self.set = set;
                    self.entered = false;
                }
            }
        }
        r
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

    /// Checks `item`; on success the verifier moves to the next height. A rejected item leaves
    /// it as it was before the item, an epoch entered for it included.
    pub fn verify(&mut self, item: NamespaceSlice) -> Result<VerifiedSlice, VerifyError> {
        let r = self.decode_and_verify(item);
        self.reject(r)
    }

    fn decode_and_verify(&mut self, item: NamespaceSlice) -> Result<VerifiedSlice, VerifyError> {
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
        let mut v = self.check_parts(header, certificate, proof, txs)?;
        v.commitment = commitment;
        v.receipt = receipt;
        Ok(v)
    }

    /// Checks an item already decoded (from a DA frame, say) as [`SliceVerifier::verify`] does
    /// from its second step on; on success the verifier moves to the next height, and a
    /// rejected item leaves it as it was.
    pub fn verify_parts(
        &mut self,
        header: BatchHeader,
        certificate: Certificate,
        proof: NamespaceProof,
        txs: Vec<BatchTx>,
    ) -> Result<VerifiedSlice, VerifyError> {
        let r = self.check_parts(header, certificate, proof, txs);
        self.reject(r)
    }

    fn check_parts(
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
        self.check_epoch(&header)?;
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
        self.epoch = Some((header.epoch, header.next_validator_set_hash));
        self.entered = false;
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

    /// The header's epoch is the current one or the next; in the next, its set is the one the
    /// last header vouched for (entered, or unchanged).
    fn check_epoch(&self, header: &BatchHeader) -> Result<(), VerifyError> {
        let Some((epoch, next)) = self.epoch else {
            return Ok(());
        };
        let same = header.epoch == epoch && !self.entered;
        let following = header.epoch.0 == epoch.0.saturating_add(1);
        if !same && !following {
            return Err(VerifyError::UnexpectedEpoch {
                current: epoch,
                found: header.epoch,
            });
        }
        if following && header.validator_set_hash != next {
            return Err(VerifyError::WrongValidatorSet {
                expected: next,
                found: header.validator_set_hash,
            });
        }
        if following && !self.entered && next != self.set.hash() {
            return Err(VerifyError::SetNotEntered {
                epoch: header.epoch,
                hash: next,
            });
        }
        Ok(())
    }
}
