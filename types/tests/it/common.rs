//! Deterministic fixtures shared by the integration tests.

use ordo_types::bls::{BlsSecretKey, Validator, ValidatorSet};
use ordo_types::tx::{BatchTx, ForcedTx, Transaction};
use ordo_types::{Address, BatchHeader, ChainId, Epoch, ForcedCursor, Hash, Height, L1Ref};
use ordo_types::{Limits, Namespace};

pub const CHAIN: ChainId = ChainId(7);

/// The `i`-th deterministic secret key.
pub fn sk(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i.wrapping_add(1); 32])
}

pub fn address(i: u8) -> Address {
    Address([i; 20])
}

pub fn validator(i: u8, power: u64) -> Validator {
    let k = sk(i);
    Validator {
        address: address(i),
        voting_power: power,
        consensus_key: ordo_types::ConsensusKey([i; 32]),
        bls_key: k.public_key(),
        bls_pop: k.proof_of_possession(),
    }
}

/// A set of validators with the given powers; validator `i` has key `sk(i)`.
pub fn set(powers: &[u64]) -> ValidatorSet {
    let vs = powers
        .iter()
        .enumerate()
        .map(|(i, p)| validator(i as u8, *p))
        .collect();
    ValidatorSet::new(vs, Limits::default().max_validators).unwrap()
}

/// The secret key of the validator at index `i` of a set built by [`set`].
pub fn sk_at(set: &ValidatorSet, i: usize) -> BlsSecretKey {
    let addr = set.validators()[i].address;
    sk(addr.0[0])
}

pub fn header(height: u64) -> BatchHeader {
    BatchHeader {
        chain_id: CHAIN,
        height: Height(height),
        parent_hash: Hash([0x11; 32]),
        timestamp_ms: 1_700_000_000_000u64.wrapping_add(height),
        epoch: Epoch(0),
        validator_set_hash: Hash([0x22; 32]),
        l1_ref: L1Ref {
            number: 100,
            hash: Hash([0x33; 32]),
        },
        forced_cursor: ForcedCursor { first: 0, next: 0 },
        namespaces_root: Hash::ZERO,
        tx_count: 0,
        body_bytes: 0,
        proposer: address(1),
        next_validator_set_hash: Hash([0x22; 32]),
    }
}

pub fn tx(ns: u64, payload: &[u8]) -> BatchTx {
    BatchTx::Ordinary(Transaction::new(Namespace(ns), payload.to_vec()))
}

pub fn forced(index: u64, ns: u64, payload: &[u8]) -> BatchTx {
    BatchTx::Forced(ForcedTx {
        queue_index: index,
        l1_block: 90,
        namespace: Namespace(ns),
        sender: [0xaa; 20],
        payload: payload.to_vec().into(),
    })
}

/// A well-ordered body: two forced entries, then namespaces 1, 2, 5 (two txs each).
pub fn body() -> Vec<BatchTx> {
    vec![
        forced(10, 5, b"deposit"),
        forced(11, 1, b"withdraw"),
        tx(1, b"a1"),
        tx(1, b"a2"),
        tx(2, b"b1"),
        tx(2, b"b2"),
        tx(5, b"c1"),
        tx(5, b"c2"),
    ]
}
