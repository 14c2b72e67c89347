//! Test fixtures (feature `fixtures`): a four-validator set with deterministic BLS keys and a
//! chain of certified batches over it, for tests of what carries certified batches (DA frames,
//! the L1 reader, the client). Never in a node or client build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::bls::{BlsSecretKey, Validator, ValidatorSet, attestation_message};
use crate::da::Certified;
use crate::tx::Transaction;
use crate::{
    Address, Batch, BatchHeader, BatchTx, Certificate, ChainId, ConsensusKey, Epoch, ForcedCursor,
    Hash, Height, L1Ref, Limits, Namespace, Round, ValidatorIndex,
};

/// The BLS key of fixture validator `i` (0..4).
pub fn bls_key(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i + 1; 32])
}

/// Four validators of power 1, validator `i` at address `[i; 20]`.
pub fn validator_set() -> ValidatorSet {
    let vs = (0..4u8)
        .map(|i| Validator {
            address: Address([i; 20]),
            voting_power: 1,
            consensus_key: ConsensusKey([i; 32]),
            bls_key: bls_key(i).public_key(),
            bls_pop: bls_key(i).proof_of_possession(),
        })
        .collect();
    ValidatorSet::new(vs, 16).expect("a valid fixture set")
}

/// Certified batches of `chain` at heights `1..=n`, chained by parent hash and signed by three of
/// the four [`validator_set`] validators; height `h` carries `per_height(h)` transactions of
/// 200-byte payloads spread over namespaces 1..=3.
pub fn certified_chain(
    chain: ChainId,
    n: u64,
    per_height: impl Fn(u64) -> usize,
) -> Vec<Certified> {
    let set = validator_set();
    let limits = Limits::default();
    let mut parent = Hash::ZERO;
    (1..=n)
        .map(|h| {
            let header = BatchHeader {
                chain_id: chain,
                height: Height(h),
                parent_hash: parent,
                timestamp_ms: 1_800_000_000_000 + h * 100,
                epoch: Epoch(0),
                validator_set_hash: set.hash(),
                l1_ref: L1Ref {
                    number: 1,
                    hash: Hash([1; 32]),
                },
                forced_cursor: ForcedCursor { first: 0, next: 0 },
                namespaces_root: Hash::ZERO,
                tx_count: 0,
                body_bytes: 0,
                proposer: Address([0; 20]),
                next_validator_set_hash: set.hash(),
            };
            let k = per_height(h);
            let txs = (0..k)
                .map(|i| {
                    let ns = 1 + (i * 3 / k.max(1)) as u64;
                    let mut payload = vec![(h % 251) as u8; 200];
                    payload[..8].copy_from_slice(&(h * 1_000_000 + i as u64).to_be_bytes());
                    BatchTx::Ordinary(Transaction::new(Namespace(ns), payload))
                })
                .collect();
            let batch = Batch::seal(header, txs, 0, &limits).expect("a valid fixture batch");
            parent = batch.hash();
            let msg = attestation_message(chain, Height(h), Round(0), &batch.hash());
            let votes: Vec<_> = (0..3u8)
                .map(|i| {
                    let at = set
                        .validators()
                        .iter()
                        .position(|v| v.address == Address([i; 20]))
                        .expect("a fixture validator");
                    (ValidatorIndex(at as u32), bls_key(i).sign(&msg))
                })
                .collect();
            let certificate =
                Certificate::aggregate(&set, chain, Height(h), Round(0), batch.hash(), &votes)
                    .expect("three of four sign")
                    .certificate;
            Certified { batch, certificate }
        })
        .collect()
}
