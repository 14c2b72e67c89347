//! The pinned chain the targets check against: a chain id, a namespace and four validators
//! with deterministic BLS keys, so certificates in the seed corpus verify.

use ordo_types::bls::{BlsSecretKey, Validator, ValidatorSet};
use ordo_types::{Address, ChainId, ConsensusKey, Limits, Namespace};

pub const CHAIN: ChainId = ChainId(7);
pub const NAMESPACE: Namespace = Namespace(1);

/// The BLS secret key of validator `i`.
pub(crate) fn secret(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i + 1; 32])
}

/// Four validators of power 1; validator `i` has address `[i; 20]` and key [`secret`]`(i)`.
pub fn pinned_set() -> ValidatorSet {
    let vs = (0..4u8)
        .map(|i| {
            let k = secret(i);
            Validator {
                address: Address([i; 20]),
                voting_power: 1,
                consensus_key: ConsensusKey([i; 32]),
                bls_key: k.public_key(),
                bls_pop: k.proof_of_possession(),
            }
        })
        .collect();
    ValidatorSet::new(vs, Limits::default().max_validators).expect("a valid set")
}
