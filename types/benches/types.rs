//! Benchmarks of ordo's crypto and hashing: certificate verification and aggregation by set
//! size, header hashing, tree building and proof verification.
//!
//! Run: `cargo bench -p ordo-types --bench types` (figures go in docs/BENCHMARKS.md). Each line
//! gives the median time per operation over about a second of samples.

// A benchmark measures time: the crate's no-clock rule is for its library code.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ordo_types::bls::{BlsSecretKey, Certificate, Validator, attestation_message};
use ordo_types::tx::{BatchTx, Transaction};
use ordo_types::{
    Address, Batch, BatchHeader, ChainId, Epoch, ForcedCursor, Hash, Height, L1Ref, Limits,
    Namespace, NamespaceTree, Round, ValidatorIndex, ValidatorSet,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median seconds per call of `f`, sampled in batches that each take about a millisecond.
fn measure(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_millis(50) {
        f();
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let batch = ((1e-3 / per_call).ceil() as u64).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) || samples.len() < 11 {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn fmt(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:9.3} ms", secs * 1e3)
    } else {
        format!("{:9.3} us", secs * 1e6)
    }
}

fn row(name: &str, secs: f64) {
    println!("{name:<58} {}", fmt(secs));
}

fn keys(n: usize) -> Vec<BlsSecretKey> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            BlsSecretKey::from_seed(&seed)
        })
        .collect()
}

fn validator_set(keys: &[BlsSecretKey]) -> ValidatorSet {
    let vs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Validator {
                address: Address(a),
                voting_power: 1,
                consensus_key: ordo_types::ConsensusKey([i as u8; 32]),
                bls_key: k.public_key(),
                bls_pop: k.proof_of_possession(),
            }
        })
        .collect();
    ValidatorSet::new(vs, 1024).unwrap()
}

fn certificates() {
    let chain = ChainId(1);
    let (h, r, batch) = (Height(10), Round(0), Hash([7; 32]));
    let msg = attestation_message(chain, h, r, &batch);
    let mut verify_at = Vec::new();
    for n in [4usize, 16, 64, 100] {
        let ks = keys(n);
        let set = validator_set(&ks);
        // The signer of each set index.
        let by_index: Vec<&BlsSecretKey> = set
            .validators()
            .iter()
            .map(|v| ks.iter().find(|k| k.public_key() == v.bls_key).unwrap())
            .collect();
        let votes: Vec<_> = by_index
            .iter()
            .enumerate()
            .map(|(i, k)| (ValidatorIndex(i as u32), k.sign(&msg)))
            .collect();
        let cert = Certificate::aggregate(&set, chain, h, r, batch, &votes)
            .unwrap()
            .certificate;
        let v = measure(|| cert.verify(black_box(&set), chain).unwrap());
        row(&format!("certificate verify, N = {n:3}, all signed"), v);
        verify_at.push(v);
        row(
            &format!("certificate aggregate (+1 verify), N = {n:3}"),
            measure(|| {
                Certificate::aggregate(&set, chain, h, r, batch, black_box(&votes)).unwrap();
            }),
        );
    }
    println!(
        "{:<58} {:9.2} x",
        "verify N = 100 / N = 4 (target <= 1.5)",
        verify_at[3] / verify_at[0]
    );
}

fn single_signatures() {
    let k = keys(1).remove(0);
    let pk = k.public_key();
    let msg = attestation_message(ChainId(1), Height(1), Round(0), &Hash([1; 32]));
    let sig = k.sign(&msg);
    let pop = k.proof_of_possession();
    row(
        "bls sign one attestation",
        measure(|| {
            let _ = black_box(k.sign(&msg));
        }),
    );
    row(
        "bls verify one signature",
        measure(|| assert!(pk.verify(&msg, &sig))),
    );
    row(
        "bls verify one proof of possession",
        measure(|| assert!(pop.verify(&pk))),
    );
    let bytes = sig.to_bytes();
    row(
        "bls decode + subgroup-check one signature",
        measure(|| {
            let _ = black_box(ordo_types::BlsSignature::from_bytes(&bytes).unwrap());
        }),
    );
}

fn sample_body(txs: usize, namespaces: u64, size: usize) -> Vec<BatchTx> {
    let mut body: Vec<BatchTx> = (0..txs)
        .map(|i| {
            let mut p = vec![0u8; size];
            p[..8].copy_from_slice(&(i as u64).to_be_bytes());
            BatchTx::Ordinary(Transaction::new(Namespace(i as u64 % namespaces), p))
        })
        .collect();
    body.sort_by_key(BatchTx::namespace);
    body
}

fn hashing_and_proofs() {
    let header = BatchHeader {
        chain_id: ChainId(1),
        height: Height(1),
        parent_hash: Hash([1; 32]),
        timestamp_ms: 1,
        epoch: Epoch(0),
        validator_set_hash: Hash([2; 32]),
        l1_ref: L1Ref::default(),
        forced_cursor: ForcedCursor::default(),
        namespaces_root: Hash([3; 32]),
        tx_count: 0,
        body_bytes: 0,
        proposer: Address([4; 20]),
        next_validator_set_hash: Hash([2; 32]),
    };
    row(
        "header hash",
        measure(|| {
            let _ = black_box(header.hash());
        }),
    );

    let body = sample_body(4000, 64, 250);
    row(
        "namespace tree build, 4000 txs x 250 B, 64 namespaces",
        measure(|| {
            let _ = black_box(NamespaceTree::build(&body));
        }),
    );
    let batch = Batch::seal(header, body, 0, &Limits::default()).unwrap();
    row(
        "batch check_body (order, limits, root), 4000 txs",
        measure(|| batch.check_body(&Limits::default()).unwrap()),
    );
    let tree = batch.namespace_tree();
    let root = tree.root();
    let ns = Namespace(17);
    let proof = tree.proof(ns);
    let slice = batch.slice(ns);
    row(
        "namespace proof verify (leaf + path), 64 leaves",
        measure(|| {
            let _ = black_box(proof.verify(&root).unwrap());
        }),
    );
    row(
        &format!("namespace slice verify ({} txs, complete)", slice.len()),
        measure(|| proof.verify_slice(&root, &slice).unwrap()),
    );
    let absent = tree.proof(Namespace(1000));
    row(
        "namespace absence proof verify",
        measure(|| {
            let _ = black_box(absent.verify(&root).unwrap());
        }),
    );
    let tx_proof = tree.tx_proof(ns, 3).unwrap();
    row(
        "single transaction position proof verify",
        measure(|| tx_proof.verify(&root, &slice[3]).unwrap()),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    println!("ordo-types benchmarks (median per operation)");
    single_signatures();
    certificates();
    hashing_and_proofs();
}
