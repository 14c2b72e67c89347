//! Sign-bytes of every consensus message and the ed25519 signer and verifier malachite calls.
//!
//! Every kind of signed message starts with its own ASCII tag and the chain id, so a signature
//! of one kind, or for another chain, never verifies as another (docs/ENCODING.md, "Consensus
//! messages"). The signer asks a [`SignGuard`] before each vote or proposal leaves the process.

use crate::context::{BatchId, OrdoContext, Proposal, ValidatorAddress, Vote};
use crate::guard::{Refusal, SignRequest, Step};
use crate::mc::{self, NilOrVal, Round, SignedMessage, VoteExtensionScope, VoteType};
use async_trait::async_trait;
use bytes::Bytes;
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey, Signature};
use ordo_types::{BatchHeader, ChainId, Hash};
use std::sync::Arc;

pub const VOTE_DOMAIN: &[u8] = b"ordo.vote.v1";
pub const PROPOSAL_DOMAIN: &[u8] = b"ordo.proposal.v1";
pub const VOTE_EXTENSION_DOMAIN: &[u8] = b"ordo.voteext.v1";
pub const PARTS_DOMAIN: &[u8] = b"ordo.parts.v1";
pub const VALIDATOR_PROOF_DOMAIN: &[u8] = b"ordo.pov.v1";

fn round_i64(r: Round) -> [u8; 8] {
    r.as_i64().to_be_bytes()
}

fn value_bytes(v: &NilOrVal<BatchId>) -> [u8; 33] {
    let mut out = [0u8; 33];
    if let NilOrVal::Val(id) = v {
        out[0] = 1;
        out[1..].copy_from_slice(&id.0.0);
    }
    out
}

/// `"ordo.vote.v1" ‖ chain u64 ‖ type u8 ‖ height u64 ‖ round i64 ‖ (0 ‖ 0³² | 1 ‖ value) ‖ address`.
pub fn vote_sign_bytes(chain: ChainId, v: &Vote) -> Vec<u8> {
    let mut m = Vec::with_capacity(VOTE_DOMAIN.len() + 8 + 1 + 8 + 8 + 33 + 20);
    m.extend_from_slice(VOTE_DOMAIN);
    m.extend_from_slice(&chain.0.to_be_bytes());
    m.push(match v.vote_type {
        VoteType::Prevote => 0,
        VoteType::Precommit => 1,
    });
    m.extend_from_slice(&v.height.0.to_be_bytes());
    m.extend_from_slice(&round_i64(v.round));
    m.extend_from_slice(&value_bytes(&v.value));
    m.extend_from_slice(&v.validator.0.0);
    m
}

/// `"ordo.proposal.v1" ‖ chain ‖ height ‖ round i64 ‖ pol_round i64 ‖ value id ‖ proposer`.
pub fn proposal_sign_bytes(chain: ChainId, p: &Proposal) -> Vec<u8> {
    let mut m = Vec::with_capacity(PROPOSAL_DOMAIN.len() + 8 + 8 + 8 + 8 + 32 + 20);
    m.extend_from_slice(PROPOSAL_DOMAIN);
    m.extend_from_slice(&chain.0.to_be_bytes());
    m.extend_from_slice(&p.height.0.to_be_bytes());
    m.extend_from_slice(&round_i64(p.round));
    m.extend_from_slice(&round_i64(p.pol_round));
    m.extend_from_slice(&mc::Value::id(&p.value).0.0);
    m.extend_from_slice(&p.proposer.0.0);
    m
}

/// `"ordo.voteext.v1" ‖ chain ‖ height ‖ round i64 ‖ value id ‖ address ‖ len u32 ‖ extension`.
pub fn extension_sign_bytes(
    chain: ChainId,
    scope: &VoteExtensionScope<OrdoContext>,
    ext: &Bytes,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(VOTE_EXTENSION_DOMAIN.len() + 80 + ext.len());
    m.extend_from_slice(VOTE_EXTENSION_DOMAIN);
    m.extend_from_slice(&chain.0.to_be_bytes());
    m.extend_from_slice(&scope.height.0.to_be_bytes());
    m.extend_from_slice(&round_i64(scope.round));
    m.extend_from_slice(&scope.value_id.0.0);
    m.extend_from_slice(&scope.validator_address.0.0);
    m.extend_from_slice(&(ext.len() as u32).to_be_bytes());
    m.extend_from_slice(ext);
    m
}

/// `"ordo.parts.v1" ‖ chain ‖ height ‖ round i64 ‖ valid_round i64 ‖ header hash ‖ proposer`:
/// what the Fin part of a proposal stream signs, binding the streamed body (through the header)
/// and the claim that it is a re-proposal (`valid_round`, which relaxes the header's proposer
/// rule) to its proposer.
pub fn part_sign_bytes(
    chain: ChainId,
    round: Round,
    valid_round: Round,
    header: &BatchHeader,
    proposer: &ValidatorAddress,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(PARTS_DOMAIN.len() + 8 + 8 + 8 + 8 + 32 + 20);
    m.extend_from_slice(PARTS_DOMAIN);
    m.extend_from_slice(&chain.0.to_be_bytes());
    m.extend_from_slice(&header.height.0.to_be_bytes());
    m.extend_from_slice(&round_i64(round));
    m.extend_from_slice(&round_i64(valid_round));
    m.extend_from_slice(&header.hash().0);
    m.extend_from_slice(&proposer.0.0);
    m
}

fn proof_sign_bytes(public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    let mut m = VALIDATOR_PROOF_DOMAIN.to_vec();
    m.extend_from_slice(&mc::ValidatorProof::<OrdoContext>::signing_bytes(
        public_key, peer_id,
    ));
    m
}

/// Why the guard would not let a signature out.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("double-sign protection: {0}")]
    Refused(#[from] Refusal),
    #[error("could not persist the signing state: {0}")]
    Storage(String),
}

/// Role trait: the durable double-sign guard.
///
/// Contract: `permit` returns `Ok` only if `req` is allowed by [`crate::guard::check`] against
/// the persisted state, and only after the resulting state is durable (fsynced). It may block
/// for one disk sync. It is called from the consensus actor, one request at a time.
pub trait SignGuard: Send + Sync + std::fmt::Debug {
    fn permit(&self, req: &SignRequest) -> Result<(), GuardError>;
}

fn vote_request(v: &Vote) -> SignRequest {
    SignRequest {
        height: v.height.0,
        round: v.round.as_u32().unwrap_or(0),
        step: match v.vote_type {
            VoteType::Prevote => Step::Prevote,
            VoteType::Precommit => Step::Precommit,
        },
        value: match &v.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(id.0),
        },
    }
}

/// The ed25519 signer of one validator.
#[derive(Clone)]
pub struct OrdoSigner {
    chain: ChainId,
    key: PrivateKey,
    guard: Arc<dyn SignGuard>,
}

impl std::fmt::Debug for OrdoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdoSigner")
            .field("chain", &self.chain)
            .field("public_key", &self.key.public_key())
            .finish_non_exhaustive()
    }
}

impl OrdoSigner {
    pub fn new(chain: ChainId, key: PrivateKey, guard: Arc<dyn SignGuard>) -> OrdoSigner {
        OrdoSigner { chain, key, guard }
    }

    /// Signs the Fin part of a proposal stream. Not guarded: it signs nothing the proposal
    /// signature (guarded) does not already commit to.
    pub fn sign_parts(
        &self,
        round: Round,
        valid_round: Round,
        header: &BatchHeader,
        proposer: &ValidatorAddress,
    ) -> Signature {
        self.key.sign(&part_sign_bytes(
            self.chain,
            round,
            valid_round,
            header,
            proposer,
        ))
    }

    /// Asks the guard before attesting `value` at (height, round): the attestation is part of
    /// the precommit step.
    pub fn permit_attestation(
        &self,
        height: u64,
        round: u32,
        value: Hash,
    ) -> Result<(), GuardError> {
        self.guard.permit(&SignRequest {
            height,
            round,
            step: Step::Precommit,
            value: Some(value),
        })
    }

    fn guard(&self, req: &SignRequest) -> Result<(), SigningError> {
        self.guard.permit(req).map_err(SigningError::from_source)
    }
}

#[async_trait]
impl Signer<OrdoContext> for OrdoSigner {
    async fn sign_vote(
        &self,
        vote: Vote,
    ) -> Result<SignedMessage<OrdoContext, Vote>, SigningError> {
        self.guard(&vote_request(&vote))?;
        let sig = self.key.sign(&vote_sign_bytes(self.chain, &vote));
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<OrdoContext, Proposal>, SigningError> {
        self.guard(&SignRequest {
            height: proposal.height.0,
            round: proposal.round.as_u32().unwrap_or(0),
            step: Step::Propose,
            value: Some(mc::Value::id(&proposal.value).0),
        })?;
        let sig = self.key.sign(&proposal_sign_bytes(self.chain, &proposal));
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<OrdoContext>,
        extension: Bytes,
    ) -> Result<SignedMessage<OrdoContext, Bytes>, SigningError> {
        let sig = self
            .key
            .sign(&extension_sign_bytes(self.chain, &scope, &extension));
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<mc::ValidatorProof<OrdoContext>, SigningError> {
        let sig = self.key.sign(&proof_sign_bytes(&public_key, &peer_id));
        Ok(mc::ValidatorProof::new(public_key, peer_id, sig))
    }
}

/// Verifies ed25519 signatures over ordo's sign-bytes.
#[derive(Clone, Copy, Debug)]
pub struct OrdoVerifier {
    pub chain: ChainId,
}

fn verdict(
    pk: &PublicKey,
    msg: &[u8],
    sig: &Signature,
) -> Result<VerificationResult, SigningError> {
    Ok(VerificationResult::from_bool(pk.verify(msg, sig).is_ok()))
}

impl OrdoVerifier {
    /// Checks the Fin signature of a proposal stream.
    pub fn verify_parts(
        &self,
        round: Round,
        valid_round: Round,
        header: &BatchHeader,
        proposer: &ValidatorAddress,
        sig: &Signature,
        pk: &PublicKey,
    ) -> bool {
        pk.verify(
            &part_sign_bytes(self.chain, round, valid_round, header, proposer),
            sig,
        )
        .is_ok()
    }
}

#[async_trait]
impl Verifier<OrdoContext> for OrdoVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        sig: &Signature,
        pk: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(pk, &vote_sign_bytes(self.chain, vote), sig)
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        sig: &Signature,
        pk: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(pk, &proposal_sign_bytes(self.chain, proposal), sig)
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<OrdoContext>,
        extension: &Bytes,
        sig: &Signature,
        pk: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(pk, &extension_sign_bytes(self.chain, scope, extension), sig)
    }

    async fn verify_validator_proof(
        &self,
        proof: &mc::ValidatorProof<OrdoContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(bytes) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Ok(VerificationResult::Invalid);
        };
        let Ok(pk) = PublicKey::from_bytes(bytes) else {
            return Ok(VerificationResult::Invalid);
        };
        verdict(
            &pk,
            &proof_sign_bytes(&proof.public_key, &proof.peer_id),
            &proof.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::{Address, Epoch, ForcedCursor, Height, L1Ref};

    fn header() -> BatchHeader {
        BatchHeader {
            chain_id: ChainId(1),
            height: Height(5),
            parent_hash: Hash::ZERO,
            timestamp_ms: 1,
            epoch: Epoch(0),
            validator_set_hash: Hash::ZERO,
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: Address([1; 20]),
            next_validator_set_hash: Hash::ZERO,
        }
    }

    #[test]
    fn a_stream_signature_binds_round_valid_round_header_and_proposer() {
        let key = PrivateKey::from([9; 32]);
        let pk = key.public_key();
        let v = OrdoVerifier { chain: ChainId(1) };
        let me = ValidatorAddress(Address([1; 20]));
        let h = header();
        let sig = key.sign(&part_sign_bytes(
            ChainId(1),
            Round::new(2),
            Round::Nil,
            &h,
            &me,
        ));
        assert!(v.verify_parts(Round::new(2), Round::Nil, &h, &me, &sig, &pk));
        // A relay that rewrites Init to claim a re-proposal, or another round, proposer,
        // header or chain, no longer matches.
        assert!(!v.verify_parts(Round::new(2), Round::new(0), &h, &me, &sig, &pk));
        assert!(!v.verify_parts(Round::new(3), Round::Nil, &h, &me, &sig, &pk));
        let other = ValidatorAddress(Address([2; 20]));
        assert!(!v.verify_parts(Round::new(2), Round::Nil, &h, &other, &sig, &pk));
        let mut h2 = h;
        h2.timestamp_ms += 1;
        assert!(!v.verify_parts(Round::new(2), Round::Nil, &h2, &me, &sig, &pk));
        let v2 = OrdoVerifier { chain: ChainId(2) };
        assert!(!v2.verify_parts(Round::new(2), Round::Nil, &h, &me, &sig, &pk));
    }
}
