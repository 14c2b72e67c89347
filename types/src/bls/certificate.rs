//! The certificate of an ordered batch: which validators attested to it and one aggregate BLS
//! signature. Every signer signs the same message, [`attestation_message`], so verification sums
//! the signers' public keys (point additions, linear in n) and runs one pairing check (constant).
//!
//! Fixed encoding: `height u64 ‖ round u32 ‖ batch_hash [32] ‖ bitmap_len u16 ‖ bitmap ‖
//! signature [96]`, big-endian; bit i of the bitmap (least significant bit first in each byte) is
//! validator index i, and bits past the set's size must be zero.

use super::keys::{BlsError, BlsSignature, SIG_DST, SIGNATURE_LEN};
use super::validator_set::ValidatorSet;
use crate::codec::{DecodeError, Reader, check_len};
use crate::hash::{CERTIFICATE_DOMAIN, Hash, sha256};
use crate::ids::{ChainId, Height, Round, ValidatorIndex};
use crate::limits::Limits;
use blst::BLST_ERROR;
use blst::min_pk::{AggregatePublicKey, AggregateSignature, PublicKey};
use thiserror::Error;

/// Domain tag at the front of every attestation message, so an attestation can never verify as
/// any other kind of ordo signature.
pub const ATTESTATION_DOMAIN: &[u8] = b"ordo.attest.v1";
/// Length of an attestation message.
pub const ATTESTATION_LEN: usize = ATTESTATION_DOMAIN.len() + 8 + 8 + 4 + 32;

/// `"ordo.attest.v1" ‖ chain_id u64 ‖ height u64 ‖ round u32 ‖ batch_hash [32]`, big-endian.
pub fn attestation_message(
    chain_id: ChainId,
    height: Height,
    round: Round,
    batch_hash: &Hash,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(ATTESTATION_LEN);
    m.extend_from_slice(ATTESTATION_DOMAIN);
    m.extend_from_slice(&chain_id.0.to_be_bytes());
    m.extend_from_slice(&height.0.to_be_bytes());
    m.extend_from_slice(&round.0.to_be_bytes());
    m.extend_from_slice(&batch_hash.0);
    m
}

/// Why a certificate was refused or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    #[error("signers hold {signed} of {total} voting power, not more than two thirds")]
    InsufficientPower { signed: u64, total: u64 },
    #[error("signer index {0} is not in the validator set")]
    UnknownSigner(ValidatorIndex),
    #[error("signer index {0} appears twice")]
    DuplicateSigner(ValidatorIndex),
    #[error("the signer bitmap has {got} bytes, the validator set needs {expected}")]
    BitmapLength { expected: usize, got: usize },
    #[error("the aggregate signature does not verify for this chain, height, round and batch")]
    BadSignature,
    #[error("the certificate is for height {found}, not {expected}")]
    WrongHeight { expected: Height, found: Height },
    #[error("the certificate is for batch {found}, not {expected}")]
    WrongBatch { expected: Hash, found: Hash },
    #[error("signature: {0}")]
    Signature(#[from] BlsError),
}

/// Which validators signed: bit i is validator index i.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignerBitmap(pub Vec<u8>);

impl SignerBitmap {
    /// An empty bitmap for a set of `n` validators.
    pub fn new(n: usize) -> SignerBitmap {
        SignerBitmap(vec![0; n.div_ceil(8)])
    }

    /// Whether index `i` is set.
    pub fn get(&self, i: ValidatorIndex) -> bool {
        let i = i.0 as usize;
        self.0.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Sets index `i`; false if it is out of range.
    pub fn set(&mut self, i: ValidatorIndex) -> bool {
        let i = i.0 as usize;
        match self.0.get_mut(i / 8) {
            Some(b) => {
                *b |= 1 << (i % 8);
                true
            }
            None => false,
        }
    }

    /// The set indices, checked against a set of `n` validators.
    pub fn indices(&self, n: usize) -> Result<Vec<ValidatorIndex>, CertificateError> {
        let expected = n.div_ceil(8);
        if self.0.len() != expected {
            return Err(CertificateError::BitmapLength {
                expected,
                got: self.0.len(),
            });
        }
        let mut out = Vec::new();
        for (byte_index, byte) in self.0.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    let i = byte_index * 8 + bit;
                    let index = ValidatorIndex(u32::try_from(i).unwrap_or(u32::MAX));
                    if i >= n {
                        return Err(CertificateError::UnknownSigner(index));
                    }
                    out.push(index);
                }
            }
        }
        Ok(out)
    }
}

/// A BLS-aggregated certificate over one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub height: Height,
    pub round: Round,
    pub batch_hash: Hash,
    pub signers: SignerBitmap,
    pub signature: BlsSignature,
}

/// A certificate built from individual attestations, and the signers left out because their
/// signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregated {
    pub certificate: Certificate,
    pub rejected: Vec<ValidatorIndex>,
}

impl Certificate {
    /// Aggregates individual attestations over `(chain_id, height, round, batch_hash)`. The
    /// aggregate is checked once; only if that fails is each signature checked, and the bad ones
    /// are dropped. Fails if the remaining signers do not hold a quorum.
    pub fn aggregate(
        set: &ValidatorSet,
        chain_id: ChainId,
        height: Height,
        round: Round,
        batch_hash: Hash,
        votes: &[(ValidatorIndex, BlsSignature)],
    ) -> Result<Aggregated, CertificateError> {
        let mut seen = SignerBitmap::new(set.len());
        for (i, _) in votes {
            if set.get(*i).is_none() {
                return Err(CertificateError::UnknownSigner(*i));
            }
            if seen.get(*i) {
                return Err(CertificateError::DuplicateSigner(*i));
            }
            seen.set(*i);
        }
        let msg = attestation_message(chain_id, height, round, &batch_hash);
        let mut good: Vec<(ValidatorIndex, BlsSignature)> = votes.to_vec();
        let mut rejected = Vec::new();
        let mut candidate = Self::combine(set, height, round, batch_hash, &good)?;
        if candidate.verify(set, chain_id).is_err() {
            good.retain(|(i, sig)| {
                let ok = set.get(*i).is_some_and(|v| v.bls_key.verify(&msg, sig));
                if !ok {
                    rejected.push(*i);
                }
                ok
            });
            candidate = Self::combine(set, height, round, batch_hash, &good)?;
            candidate.verify(set, chain_id)?;
        }
        Ok(Aggregated {
            certificate: candidate,
            rejected,
        })
    }

    fn combine(
        set: &ValidatorSet,
        height: Height,
        round: Round,
        batch_hash: Hash,
        votes: &[(ValidatorIndex, BlsSignature)],
    ) -> Result<Certificate, CertificateError> {
        let mut signers = SignerBitmap::new(set.len());
        let mut power = 0u64;
        for (i, _) in votes {
            signers.set(*i);
            power += set.get(*i).map_or(0, |v| v.voting_power);
        }
        if !set.is_quorum(power) {
            return Err(CertificateError::InsufficientPower {
                signed: power,
                total: set.total_power(),
            });
        }
        let sigs: Vec<_> = votes.iter().map(|(_, s)| s.raw()).collect();
        let agg = AggregateSignature::aggregate(&sigs, false)
            .map_err(|_| CertificateError::BadSignature)?;
        Ok(Certificate {
            height,
            round,
            batch_hash,
            signers,
            signature: BlsSignature::from_raw(agg.to_signature()),
        })
    }

    /// Checks the certificate against `set`: a well-formed bitmap, more than two thirds of the
    /// power, and one aggregate signature over this certificate's own height, round and batch.
    pub fn verify(&self, set: &ValidatorSet, chain_id: ChainId) -> Result<(), CertificateError> {
        let signers = self.signers.indices(set.len())?;
        let mut power = 0u64;
        let mut keys: Vec<&PublicKey> = Vec::with_capacity(signers.len());
        for i in &signers {
            let v = set.get(*i).ok_or(CertificateError::UnknownSigner(*i))?;
            power += v.voting_power;
            keys.push(v.bls_key.raw());
        }
        if !set.is_quorum(power) {
            return Err(CertificateError::InsufficientPower {
                signed: power,
                total: set.total_power(),
            });
        }
        // Keys were validated (and their possession proven) when the set was built.
        let agg = AggregatePublicKey::aggregate(&keys, false)
            .map_err(|_| CertificateError::BadSignature)?
            .to_public_key();
        let msg = attestation_message(chain_id, self.height, self.round, &self.batch_hash);
        match self
            .signature
            .raw()
            .verify(false, &msg, SIG_DST, &[], &agg, false)
        {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(CertificateError::BadSignature),
        }
    }

    /// [`Certificate::verify`], and that the certificate is for `height` and `batch_hash`.
    pub fn verify_for(
        &self,
        set: &ValidatorSet,
        chain_id: ChainId,
        height: Height,
        batch_hash: &Hash,
    ) -> Result<(), CertificateError> {
        if self.height != height {
            return Err(CertificateError::WrongHeight {
                expected: height,
                found: self.height,
            });
        }
        if self.batch_hash != *batch_hash {
            return Err(CertificateError::WrongBatch {
                expected: *batch_hash,
                found: self.batch_hash,
            });
        }
        self.verify(set, chain_id)
    }

    /// The fixed encoding.
    pub fn encode(&self) -> Vec<u8> {
        let bitmap_len =
            u16::try_from(self.signers.0.len()).expect("a bitmap of at most 65535 bytes");
        let mut out = Vec::with_capacity(8 + 4 + 32 + 2 + self.signers.0.len() + SIGNATURE_LEN);
        out.extend_from_slice(&self.height.0.to_be_bytes());
        out.extend_from_slice(&self.round.0.to_be_bytes());
        out.extend_from_slice(&self.batch_hash.0);
        out.extend_from_slice(&bitmap_len.to_be_bytes());
        out.extend_from_slice(&self.signers.0);
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Decodes the fixed encoding; the bitmap may cover at most `limits.max_validators`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Certificate, DecodeError> {
        let max_bitmap = (limits.max_validators as usize).div_ceil(8);
        check_len(
            bytes.len(),
            (8 + 4 + 32 + 2 + max_bitmap + SIGNATURE_LEN) as u64,
        )?;
        let mut r = Reader::new(bytes);
        let height = Height(r.u64("height")?);
        let round = Round(r.u32("round")?);
        let batch_hash = Hash(r.array("batch_hash")?);
        let bitmap_len = r.u16("bitmap length")? as usize;
        if bitmap_len > max_bitmap {
            return Err(DecodeError::CountOverLimit {
                field: "bitmap length",
                count: bitmap_len as u64,
                max: max_bitmap as u64,
            });
        }
        let signers = SignerBitmap(r.take(bitmap_len, "bitmap")?.to_vec());
        let signature =
            BlsSignature::from_bytes(r.take(SIGNATURE_LEN, "signature")?).map_err(|e| {
                DecodeError::Invalid {
                    field: "signature",
                    reason: e.to_string(),
                }
            })?;
        r.finish("certificate")?;
        Ok(Certificate {
            height,
            round,
            batch_hash,
            signers,
            signature,
        })
    }

    /// `sha256("ordo.cert.v1" ‖ encode())`, for decision logs.
    pub fn hash(&self) -> Hash {
        sha256(&[CERTIFICATE_DOMAIN, &self.encode()])
    }
}
