//! The malachite `Context` of ordo and the types it names.

use crate::mc;
use bytes::Bytes;
use malachitebft_signing_ed25519::{Ed25519, PublicKey};
use mc::{NilOrVal, Round, SignedExtension, VoteType};
use ordo_types::tx::BatchTx;
use ordo_types::{Address, BatchHeader, ChainId, Hash, Height, ValidatorSet};
use std::fmt;
use std::sync::Arc;

/// A height as the engine sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsHeight(pub u64);

impl fmt::Display for ConsHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for ConsHeight {
    const ZERO: Self = ConsHeight(0);
    const INITIAL: Self = ConsHeight(1);

    fn increment_by(&self, n: u64) -> Self {
        ConsHeight(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(ConsHeight)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

impl From<ConsHeight> for Height {
    fn from(h: ConsHeight) -> Height {
        Height(h.0)
    }
}

impl From<Height> for ConsHeight {
    fn from(h: Height) -> ConsHeight {
        ConsHeight(h.0)
    }
}

/// A validator address as the engine sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Address for ValidatorAddress {}

/// The id of a batch value: its header hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub Hash);

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The value consensus agrees on: a batch header (the body travels in proposal parts and is
/// committed to by the header). Compared and ordered by its hash.
#[derive(Clone, Debug)]
pub struct BatchValue {
    pub header: BatchHeader,
    id: BatchId,
}

impl BatchValue {
    pub fn new(header: BatchHeader) -> BatchValue {
        BatchValue {
            id: BatchId(header.hash()),
            header,
        }
    }
}

impl PartialEq for BatchValue {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for BatchValue {}

impl PartialOrd for BatchValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BatchValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl mc::Value for BatchValue {
    type Id = BatchId;

    fn id(&self) -> BatchId {
        self.id
    }
}

/// A signed proposal carries the value (header); the body comes in parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: ConsHeight,
    pub round: Round,
    pub value: BatchValue,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
}

impl mc::Proposal<OrdoContext> for Proposal {
    fn height(&self) -> ConsHeight {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BatchValue {
        &self.value
    }
    fn take_value(self) -> BatchValue {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A prevote or precommit. A non-nil precommit carries the validator's BLS attestation as its
/// signed extension; the extension is outside the vote's equality and sign-bytes.
#[derive(Clone, Debug)]
pub struct Vote {
    pub vote_type: VoteType,
    pub height: ConsHeight,
    pub round: Round,
    pub value: NilOrVal<BatchId>,
    pub validator: ValidatorAddress,
    pub extension: Option<SignedExtension<OrdoContext>>,
}

impl PartialEq for Vote {
    fn eq(&self, o: &Self) -> bool {
        self.vote_type == o.vote_type
            && self.height == o.height
            && self.round == o.round
            && self.value == o.value
            && self.validator == o.validator
    }
}

impl Eq for Vote {}

impl mc::Vote<OrdoContext> for Vote {
    fn height(&self) -> ConsHeight {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BatchId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BatchId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<OrdoContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<OrdoContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<OrdoContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// First part of a proposal stream: who proposes what at which height and round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInit {
    pub height: ConsHeight,
    pub round: Round,
    pub proposer: ValidatorAddress,
    pub header: BatchHeader,
    pub valid_round: Round,
}

/// A chunk of the body, in body order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartData {
    pub txs: Vec<BatchTx>,
}

/// Last part: the proposer's signature over the stream (see `signing::part_sign_bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartFin {
    pub signature: malachitebft_signing_ed25519::Signature,
}

/// A part of a streamed proposal.
// `Init` carries the header (about 300 bytes in all): one per stream, sent and dropped at once,
// so boxing it would cost an allocation per stream to save bytes no queue holds for long.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    Init(PartInit),
    Data(PartData),
    Fin(PartFin),
}

impl mc::ProposalPart<OrdoContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// A validator as the engine sees it: address, ed25519 key and power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsValidator {
    pub address: ValidatorAddress,
    pub public_key: PublicKey,
    pub voting_power: u64,
}

impl mc::Validator<OrdoContext> for ConsValidator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> u64 {
        self.voting_power
    }
}

/// Why an ordo validator set cannot serve consensus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsSetError {
    #[error("validator {0}: the consensus key is not a valid ed25519 key")]
    BadConsensusKey(Address),
}

/// Longest proposer schedule: powers are scaled down so that one rotation has at most this many
/// slots, which bounds the memory and setup time of a set.
pub const MAX_SCHEDULE: u64 = 10_000;

/// An ordo validator set with its consensus view and proposer schedule.
#[derive(Clone, Debug)]
pub struct ConsValidatorSet {
    pub set: Arc<ValidatorSet>,
    validators: Arc<Vec<ConsValidator>>,
    schedule: Arc<Vec<u32>>,
}

impl PartialEq for ConsValidatorSet {
    fn eq(&self, o: &Self) -> bool {
        self.set.hash() == o.set.hash()
    }
}

impl Eq for ConsValidatorSet {}

impl ConsValidatorSet {
    /// Builds the consensus view of `set`.
    pub fn new(set: ValidatorSet) -> Result<ConsValidatorSet, ConsSetError> {
        let validators = set
            .validators()
            .iter()
            .map(|v| {
                Ok(ConsValidator {
                    address: ValidatorAddress(v.address),
                    public_key: PublicKey::from_bytes(v.consensus_key.0)
                        .map_err(|_| ConsSetError::BadConsensusKey(v.address))?,
                    voting_power: v.voting_power,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let powers: Vec<u64> = validators.iter().map(|v| v.voting_power).collect();
        Ok(ConsValidatorSet {
            schedule: Arc::new(proposer_schedule(&powers)),
            validators: Arc::new(validators),
            set: Arc::new(set),
        })
    }

    /// The proposer of `height`, `round`: slot `(height - 1 + round)` of the schedule.
    pub fn proposer(&self, height: ConsHeight, round: Round) -> &ConsValidator {
        let r = u64::from(round.as_u32().unwrap_or(0));
        let slot = height.0.wrapping_sub(1).wrapping_add(r) % self.schedule.len() as u64;
        let index = self.schedule.get(slot as usize).copied().unwrap_or(0);
        self.validators
            .get(index as usize)
            .or_else(|| self.validators.first())
            .expect("a validator set is never empty")
    }

    /// The validators, in set order.
    pub fn validators(&self) -> &[ConsValidator] {
        &self.validators
    }
}

/// Smooth weighted round robin (each slot goes to the validator with the highest accumulated
/// weight, which then pays the total): every validator proposes in proportion to its power, and
/// its turns are spread out rather than bunched. Powers are scaled so one rotation has at most
/// [`MAX_SCHEDULE`] slots (each validator keeps at least one).
pub fn proposer_schedule(powers: &[u64]) -> Vec<u32> {
    let total: u128 = powers.iter().map(|p| u128::from(*p)).sum();
    let weights: Vec<i128> = powers
        .iter()
        .map(|p| {
            let scaled = if total > u128::from(MAX_SCHEDULE) {
                u128::from(*p) * u128::from(MAX_SCHEDULE) / total
            } else {
                u128::from(*p)
            };
            scaled.max(1) as i128
        })
        .collect();
    let sum: i128 = weights.iter().sum();
    let mut current = vec![0i128; weights.len()];
    let mut schedule = Vec::with_capacity(sum as usize);
    for _ in 0..sum {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| a.cmp(b).then(j.cmp(i)))
            .expect("at least one validator");
        if let Some(c) = current.get_mut(best) {
            *c -= sum;
        }
        schedule.push(best as u32);
    }
    schedule
}

impl mc::ValidatorSet<OrdoContext> for ConsValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> u64 {
        self.set.total_power()
    }
    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&ConsValidator> {
        self.validators.iter().find(|v| v.address == *address)
    }
    fn get_by_index(&self, index: usize) -> Option<&ConsValidator> {
        self.validators.get(index)
    }
}

/// ordo's malachite context: one per chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrdoContext {
    pub chain_id: ChainId,
}

impl mc::Context for OrdoContext {
    type Address = ValidatorAddress;
    type Height = ConsHeight;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = ConsValidator;
    type ValidatorSet = ConsValidatorSet;
    type Timeouts = mc::LinearTimeouts;
    type Value = BatchValue;
    type Vote = Vote;
    type Extension = Bytes;
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        vs: &'a ConsValidatorSet,
        height: ConsHeight,
        round: Round,
    ) -> &'a ConsValidator {
        vs.proposer(height, round)
    }

    fn new_proposal(
        &self,
        height: ConsHeight,
        round: Round,
        value: BatchValue,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: ConsHeight,
        round: Round,
        value: NilOrVal<BatchId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value,
            validator: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: ConsHeight,
        round: Round,
        value: NilOrVal<BatchId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value,
            validator: address,
            extension: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::proposer_schedule;

    fn counts(s: &[u32], n: usize) -> Vec<usize> {
        (0..n)
            .map(|i| s.iter().filter(|x| **x as usize == i).count())
            .collect()
    }

    #[test]
    fn equal_powers_rotate_in_order() {
        assert_eq!(proposer_schedule(&[5, 5, 5, 5]).len(), 20);
        assert_eq!(&proposer_schedule(&[1, 1, 1, 1]), &[0, 1, 2, 3]);
    }

    #[test]
    fn turns_are_proportional_to_power_and_spread_out() {
        let s = proposer_schedule(&[3, 1, 1]);
        assert_eq!(counts(&s, 3), vec![3, 1, 1]);
        // Never the same validator three slots in a row.
        assert!(s.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])));
    }

    #[test]
    fn huge_powers_are_scaled_and_everyone_keeps_a_turn() {
        let s = proposer_schedule(&[u64::MAX / 2, 1, u64::MAX / 4]);
        assert!(s.len() as u64 <= super::MAX_SCHEDULE + 3);
        let c = counts(&s, 3);
        assert!(c[0] > c[2] && c[2] > 0 && c[1] >= 1, "{c:?}");
    }
}
