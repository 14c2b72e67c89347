//! The cost per height of the two ways of getting a BLS certificate (DESIGN.md, "Consensus and
//! attestations"), measured with the real primitives and sign-bytes:
//!
//! - A: BLS consensus votes. Each node signs a prevote and a precommit with BLS and verifies
//!   every other validator's prevote and precommit one by one (malachite verifies votes
//!   serially); the commit's signatures aggregate into the certificate.
//! - B: ed25519 votes plus a BLS attestation as a required vote extension. Each node signs two
//!   ed25519 votes and one ed25519-wrapped BLS attestation, verifies 2n ed25519 votes, n
//!   extension signatures and n BLS attestations, then aggregates (one pairing check).
//!
//! A third column shows B when attestations are checked only once, in aggregate, at the decision.
//!
//! Run: `cargo bench -p ordo-consensus --bench attestation`. Prints the per-node signature work
//! of one height at N = 4, 16, 64, 100 (the consensus critical path is serial, so this is a
//! floor on time per height).

// A benchmark measures time: the crate's no-clock rule is for its library code.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use malachitebft_signing_ed25519::PrivateKey;
use ordo_consensus::context::{BatchId, ConsHeight, OrdoContext, ValidatorAddress, Vote};
use ordo_consensus::mc::{NilOrVal, Round, VoteExtensionScope, VoteType};
use ordo_consensus::signing::{extension_sign_bytes, vote_sign_bytes};
use ordo_types::bls::{BlsSecretKey, Certificate, Validator, attestation_message};
use ordo_types::{Address, ChainId, ConsensusKey, Hash, Height, ValidatorIndex, ValidatorSet};
use std::hint::black_box;
use std::time::Instant;

const CHAIN: ChainId = ChainId(1);

fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..7).map(|_| f()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[3]
}

fn vote(t: VoteType, i: usize) -> Vote {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Vote {
        vote_type: t,
        height: ConsHeight(10),
        round: Round::new(0),
        value: NilOrVal::Val(BatchId(Hash([9; 32]))),
        validator: ValidatorAddress(Address(a)),
        extension: None,
    }
}

/// Design A at `n`: seconds of signature work for one node at one height.
fn design_a(n: usize) -> f64 {
    let keys: Vec<BlsSecretKey> = (0..n)
        .map(|i| BlsSecretKey::from_seed(&[i as u8 + 1; 32]))
        .collect();
    let pks: Vec<_> = keys.iter().map(BlsSecretKey::public_key).collect();
    let msgs: Vec<Vec<u8>> = (0..n)
        .flat_map(|i| [vote(VoteType::Prevote, i), vote(VoteType::Precommit, i)])
        .map(|v| vote_sign_bytes(CHAIN, &v))
        .collect();
    let sigs: Vec<_> = msgs
        .iter()
        .enumerate()
        .map(|(j, m)| keys[j / 2].sign(m))
        .collect();
    median(|| {
        let t = Instant::now();
        black_box(keys[0].sign(&msgs[0]));
        black_box(keys[0].sign(&msgs[1]));
        for (j, (m, s)) in msgs.iter().zip(&sigs).enumerate() {
            assert!(pks[j / 2].verify(m, s));
        }
        t.elapsed().as_secs_f64()
    })
}

/// Design B at `n`: seconds of signature work for one node at one height. With `deferred`, the
/// attestations are not verified one by one on arrival, only once in aggregate at the decision.
fn design_b(n: usize, deferred: bool) -> f64 {
    let ed: Vec<PrivateKey> = (0..n)
        .map(|i| PrivateKey::from([i as u8 + 1; 32]))
        .collect();
    let bls: Vec<BlsSecretKey> = (0..n)
        .map(|i| BlsSecretKey::from_seed(&[i as u8 + 1; 32]))
        .collect();
    let set = ValidatorSet::new(
        (0..n)
            .map(|i| Validator {
                address: Address([i as u8; 20]),
                voting_power: 1,
                consensus_key: ConsensusKey(*ed[i].public_key().as_bytes()),
                bls_key: bls[i].public_key(),
                bls_pop: bls[i].proof_of_possession(),
            })
            .collect(),
        1024,
    )
    .unwrap();
    let by_index: Vec<usize> = set
        .validators()
        .iter()
        .map(|v| v.address.0[0] as usize)
        .collect();
    let hash = Hash([9; 32]);
    let att = attestation_message(CHAIN, Height(10), ordo_types::Round(0), &hash);
    let votes: Vec<Vec<u8>> = (0..n)
        .flat_map(|i| [vote(VoteType::Prevote, i), vote(VoteType::Precommit, i)])
        .map(|v| vote_sign_bytes(CHAIN, &v))
        .collect();
    let vote_sigs: Vec<_> = votes
        .iter()
        .enumerate()
        .map(|(j, m)| ed[j / 2].sign(m))
        .collect();
    let att_sigs: Vec<_> = bls.iter().map(|k| k.sign(&att)).collect();
    let exts: Vec<(Vec<u8>, _)> = (0..n)
        .map(|i| {
            let scope = VoteExtensionScope::<OrdoContext> {
                height: ConsHeight(10),
                round: Round::new(0),
                value_id: BatchId(hash),
                validator_address: vote(VoteType::Precommit, i).validator,
            };
            let bytes = extension_sign_bytes(
                CHAIN,
                &scope,
                &Bytes::copy_from_slice(&att_sigs[i].to_bytes()),
            );
            let sig = ed[i].sign(&bytes);
            (bytes, sig)
        })
        .collect();
    median(|| {
        let t = Instant::now();
        black_box(ed[0].sign(&votes[0]));
        black_box(ed[0].sign(&votes[1]));
        black_box(bls[0].sign(&att));
        black_box(ed[0].sign(&exts[0].0));
        for (j, (m, s)) in votes.iter().zip(&vote_sigs).enumerate() {
            assert!(ed[j / 2].public_key().verify(m, s).is_ok());
        }
        for (i, (m, s)) in exts.iter().enumerate() {
            assert!(ed[i].public_key().verify(m, s).is_ok());
            if !deferred {
                assert!(bls[i].public_key().verify(&att, &att_sigs[i]));
            }
        }
        let agg_votes: Vec<_> = by_index
            .iter()
            .enumerate()
            .map(|(idx, &i)| (ValidatorIndex(idx as u32), att_sigs[i]))
            .collect();
        Certificate::aggregate(
            &set,
            CHAIN,
            Height(10),
            ordo_types::Round(0),
            hash,
            &agg_votes,
        )
        .unwrap();
        t.elapsed().as_secs_f64()
    })
}

fn main() {
    println!("signature work per node per height (median of 7), ms");
    println!(
        "{:>5} {:>12} {:>16} {:>8} {:>22}",
        "N", "A: BLS votes", "B: ed25519+ext", "A / B", "B, deferred BLS check"
    );
    for n in [4usize, 16, 64, 100] {
        let a = design_a(n) * 1e3;
        let b = design_b(n, false) * 1e3;
        let d = design_b(n, true) * 1e3;
        println!("{n:>5} {a:>12.2} {b:>16.2} {:>8.2} {d:>22.2}", a / b);
    }
}
