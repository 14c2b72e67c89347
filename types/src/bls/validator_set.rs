//! A weighted validator set. Construction checks what every certificate check then relies on:
//! unique addresses and keys, positive power without overflow, and a valid proof of possession
//! for every BLS key.

use super::keys::{BlsPublicKey, ProofOfPossession};
use crate::hash::{Hash, VALIDATOR_SET_DOMAIN, sha256};
use crate::ids::{Address, ValidatorIndex};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One validator: its consensus (ed25519) key signs votes and proposals, its BLS key signs the
/// attestations that certificates aggregate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    pub address: Address,
    pub voting_power: u64,
    pub consensus_key: ConsensusKey,
    pub bls_key: BlsPublicKey,
    pub bls_pop: ProofOfPossession,
}

/// A validator's 32-byte ed25519 consensus public key, as bytes (checked where it is used).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsensusKey(pub [u8; 32]);

impl std::fmt::Debug for ConsensusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsensusKey({})", hex::encode(self.0))
    }
}

impl Serialize for ConsensusKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(self.0)))
    }
}

impl<'de> Deserialize<'de> for ConsensusKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let raw = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        raw.try_into()
            .map(ConsensusKey)
            .map_err(|_| serde::de::Error::custom("a consensus key is 32 bytes"))
    }
}

/// Why a validator set was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidatorSetError {
    #[error("a validator set needs at least one validator")]
    Empty,
    #[error("{count} validators exceed the limit of {max}")]
    TooMany { count: usize, max: u32 },
    #[error("validator {0} has zero voting power")]
    ZeroPower(Address),
    #[error("the total voting power exceeds u64::MAX / 3 (quorum arithmetic must not overflow)")]
    PowerOverflow,
    #[error("address {0} appears twice")]
    DuplicateAddress(Address),
    #[error("validators {0} and {1} share one BLS key")]
    DuplicateKey(Address, Address),
    #[error("validators {0} and {1} share one consensus key")]
    DuplicateConsensusKey(Address, Address),
    #[error("validator {0}: the proof of possession does not verify for its BLS key")]
    InvalidProofOfPossession(Address),
}

/// A validated set, ordered by voting power (descending) then address, which fixes each
/// validator's [`ValidatorIndex`] and its bit in certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
    hash: Hash,
}

impl ValidatorSet {
    /// Validates and orders `validators`; at most `max` of them.
    pub fn new(
        mut validators: Vec<Validator>,
        max: u32,
    ) -> Result<ValidatorSet, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > max as usize {
            return Err(ValidatorSetError::TooMany {
                count: validators.len(),
                max,
            });
        }
        validators.sort_by(|a, b| {
            b.voting_power
                .cmp(&a.voting_power)
                .then(a.address.cmp(&b.address))
        });
        let mut total_power = 0u64;
        let mut addresses = std::collections::HashSet::new();
        let mut keys = std::collections::HashMap::new();
        let mut consensus_keys = std::collections::HashMap::new();
        for v in &validators {
            if v.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.address));
            }
            total_power = total_power
                .checked_add(v.voting_power)
                .ok_or(ValidatorSetError::PowerOverflow)?;
            if !addresses.insert(v.address) {
                return Err(ValidatorSetError::DuplicateAddress(v.address));
            }
            if let Some(other) = keys.insert(v.bls_key.to_bytes(), v.address) {
                return Err(ValidatorSetError::DuplicateKey(other, v.address));
            }
            if let Some(other) = consensus_keys.insert(v.consensus_key, v.address) {
                return Err(ValidatorSetError::DuplicateConsensusKey(other, v.address));
            }
            if !v.bls_pop.verify(&v.bls_key) {
                return Err(ValidatorSetError::InvalidProofOfPossession(v.address));
            }
        }
        // The consensus engine multiplies powers by up to 3 when counting quorums.
        if total_power > u64::MAX / 3 {
            return Err(ValidatorSetError::PowerOverflow);
        }
        let hash = set_hash(&validators);
        Ok(ValidatorSet {
            validators,
            total_power,
            hash,
        })
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set is never empty.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validators in index order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The validator at `index`.
    pub fn get(&self, index: ValidatorIndex) -> Option<&Validator> {
        self.validators.get(index.0 as usize)
    }

    /// The index of `address`.
    pub fn index_of(&self, address: &Address) -> Option<ValidatorIndex> {
        self.validators
            .iter()
            .position(|v| v.address == *address)
            .and_then(|i| u32::try_from(i).ok())
            .map(ValidatorIndex)
    }

    /// Sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// True when `power` is strictly more than two thirds of the total.
    pub fn is_quorum(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_power) * 2
    }

    /// `sha256("ordo.valset.v1" ‖ count u32 ‖ (address ‖ power u64 ‖ consensus key ‖ bls key)*)` in
    /// index order;
    /// the header's `validator_set_hash`.
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

fn set_hash(validators: &[Validator]) -> Hash {
    let mut buf = Vec::with_capacity(4 + validators.len() * (20 + 8 + 32 + 48));
    buf.extend_from_slice(&(validators.len() as u32).to_be_bytes());
    for v in validators {
        buf.extend_from_slice(&v.address.0);
        buf.extend_from_slice(&v.voting_power.to_be_bytes());
        buf.extend_from_slice(&v.consensus_key.0);
        buf.extend_from_slice(&v.bls_key.to_bytes());
    }
    sha256(&[VALIDATOR_SET_DOMAIN, &buf])
}
