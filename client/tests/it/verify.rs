//! A chain of real batches with real BLS certificates, turned into stream items the way a node
//! builds them, then tampered with in every way a dishonest node could: each tampering is
//! rejected with its own error, and the verifier does not advance past it.

use ordo_client::api::NamespaceSlice;
use ordo_client::{SliceVerifier, VerifyError};
use ordo_types::bls::{BlsSecretKey, SignerBitmap, attestation_message};
use ordo_types::tx::{BatchTx, Transaction};
use ordo_types::wire::pb;
use ordo_types::{
    Address, Batch, BatchHeader, Certificate, CertificateError, ChainId, ConsensusKey, Epoch,
    ForcedCursor, Hash, Height, L1Ref, Limits, Namespace, ProofError, Round, Validator,
    ValidatorIndex, ValidatorSet,
};

const CHAIN: ChainId = ChainId(9);
const NS: Namespace = Namespace(7);

fn sk(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i.wrapping_add(1); 32])
}

fn set() -> ValidatorSet {
    set_from(0)
}

/// Four validators of power 10, with keys and addresses from `first` on.
fn set_from(first: u8) -> ValidatorSet {
    let vs = (first..first + 4)
        .map(|i| Validator {
            address: Address([i; 20]),
            voting_power: 10,
            consensus_key: ConsensusKey([i; 32]),
            bls_key: sk(i).public_key(),
            bls_pop: sk(i).proof_of_possession(),
        })
        .collect();
    ValidatorSet::new(vs, 100).unwrap()
}

/// Signs as the validators at the given indices, with keys `keys(i)`.
fn certify(
    set: &ValidatorSet,
    header: &BatchHeader,
    who: &[usize],
    key: impl Fn(usize) -> BlsSecretKey,
) -> Certificate {
    let msg = attestation_message(CHAIN, header.height, Round(0), &header.hash());
    let votes: Vec<_> = who
        .iter()
        .map(|&i| (ValidatorIndex(i as u32), key(i).sign(&msg)))
        .collect();
    Certificate::aggregate(set, CHAIN, header.height, Round(0), header.hash(), &votes)
        .unwrap()
        .certificate
}

fn honest_key(set: &ValidatorSet) -> impl Fn(usize) -> BlsSecretKey + '_ {
    move |i| sk(set.validators()[i].address.0[0])
}

fn tx(ns: u64, s: &str) -> BatchTx {
    BatchTx::Ordinary(Transaction::new(Namespace(ns), s.as_bytes().to_vec()))
}

/// Heights 1..=n; namespace 7 has three transactions at odd heights and none at even ones.
fn chain(set: &ValidatorSet, n: u64) -> Vec<(Batch, Certificate)> {
    chain_of(n, |_| (Epoch(0), set, set.hash()))
}

/// Heights 1..=n, height `h` in the epoch, of the set, and naming the next set's hash that
/// `at(h)` gives.
fn chain_of<'a>(
    n: u64,
    at: impl Fn(u64) -> (Epoch, &'a ValidatorSet, Hash),
) -> Vec<(Batch, Certificate)> {
    let limits = Limits::default();
    let mut parent = Hash::ZERO;
    let mut out = Vec::new();
    for h in 1..=n {
        let mut txs = vec![tx(3, &format!("a{h}")), tx(9, &format!("z{h}"))];
        if h % 2 == 1 {
            for k in 0..3 {
                txs.push(tx(7, &format!("rollup {h}.{k}")));
            }
        }
        txs.sort_by_key(|t| t.namespace());
        let (epoch, set, next) = at(h);
        let header = BatchHeader {
            chain_id: CHAIN,
            height: Height(h),
            parent_hash: parent,
            timestamp_ms: 1_000 + h,
            epoch,
            validator_set_hash: set.hash(),
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: set.validators()[0].address,
            next_validator_set_hash: next,
        };
        let batch = Batch::seal(header, txs, 0, &limits).unwrap();
        let cert = certify(set, &batch.header, &[0, 1, 2], honest_key(set));
        parent = batch.hash();
        out.push((batch, cert));
    }
    out
}

/// A stream item as a node builds it.
fn item(batch: &Batch, cert: &Certificate, ns: Namespace) -> NamespaceSlice {
    NamespaceSlice {
        header: Some((&batch.header).into()),
        certificate: Some(cert.into()),
        txs: batch
            .txs
            .iter()
            .filter(|t| t.namespace() == ns)
            .map(pb::BatchTx::from)
            .collect(),
        proof: Some((&batch.namespace_tree().proof(ns)).into()),
        commitment: None,
    }
}

fn verifier(set: &ValidatorSet) -> SliceVerifier {
    SliceVerifier::new(CHAIN, set.clone(), NS, Height(1), Limits::default())
}

fn ordinary(payload: &str) -> pb::BatchTx {
    pb::BatchTx::from(&tx(7, payload))
}

#[test]
fn an_honest_stream_verifies_including_empty_heights() {
    let s = set();
    let c = chain(&s, 4);
    let mut v = verifier(&s);
    for (h, (b, cert)) in c.iter().enumerate() {
        let got = v.verify(item(b, cert, NS)).unwrap();
        assert_eq!(got.height, Height(h as u64 + 1));
        assert_eq!(got.hash, b.hash());
        assert_eq!(got.txs.len(), if h % 2 == 0 { 3 } else { 0 });
        assert!(got.txs.iter().all(|t| t.namespace() == NS));
    }
    assert_eq!(v.next_height(), Height(5));
}

/// Checks that `tamper` makes the item at height 1 fail with an error matching `expected`,
/// and that the verifier then still accepts the honest item.
fn rejects(tamper: impl FnOnce(&mut NamespaceSlice), expected: impl Fn(&VerifyError) -> bool) {
    let s = set();
    let c = chain(&s, 2);
    let (b, cert) = &c[0];
    let mut v = verifier(&s);
    let mut bad = item(b, cert, NS);
    tamper(&mut bad);
    let err = v.verify(bad).unwrap_err();
    assert!(expected(&err), "unexpected error: {err:?}");
    assert_eq!(
        v.next_height(),
        Height(1),
        "a rejected item must not advance"
    );
    v.verify(item(b, cert, NS)).unwrap();
}

#[test]
fn a_tampered_transaction_is_rejected() {
    rejects(
        |i| i.txs[1] = ordinary("rollup 1.1 but changed"),
        |e| matches!(e, VerifyError::Proof(ProofError::TxRootMismatch)),
    );
}

#[test]
fn a_dropped_transaction_is_rejected() {
    rejects(
        |i| {
            i.txs.remove(2);
        },
        |e| {
            matches!(
                e,
                VerifyError::Proof(ProofError::CountMismatch {
                    expected: 3,
                    got: 2
                })
            )
        },
    );
}

#[test]
fn an_added_transaction_is_rejected() {
    rejects(
        |i| i.txs.push(ordinary("smuggled")),
        |e| matches!(e, VerifyError::Proof(ProofError::CountMismatch { .. })),
    );
}

#[test]
fn reordered_transactions_are_rejected() {
    rejects(
        |i| i.txs.swap(0, 2),
        |e| matches!(e, VerifyError::Proof(ProofError::TxRootMismatch)),
    );
}

#[test]
fn a_foreign_namespace_transaction_is_rejected() {
    rejects(
        |i| i.txs[0] = pb::BatchTx::from(&tx(3, "a1")),
        |e| matches!(e, VerifyError::Proof(ProofError::ForeignTransaction { .. })),
    );
}

#[test]
fn transactions_smuggled_into_an_empty_height_are_rejected() {
    let s = set();
    let c = chain(&s, 2);
    let mut v = verifier(&s);
    v.verify(item(&c[0].0, &c[0].1, NS)).unwrap();
    let mut bad = item(&c[1].0, &c[1].1, NS);
    bad.txs.push(ordinary("not in the batch"));
    assert!(matches!(
        v.verify(bad),
        Err(VerifyError::Proof(ProofError::CountMismatch {
            expected: 0,
            got: 1
        }))
    ));
}

#[test]
fn a_proof_of_another_namespace_is_rejected() {
    let s = set();
    let c = chain(&s, 1);
    let (b, cert) = &c[0];
    let mut v = verifier(&s);
    let mut bad = item(b, cert, Namespace(3));
    bad.txs.clear();
    assert!(matches!(
        v.verify(bad),
        Err(VerifyError::WrongNamespace { .. })
    ));
}

#[test]
fn a_forged_certificate_is_rejected() {
    // Well-formed, three signers claimed, but the signature is by a key outside the set.
    let s = set();
    let c = chain(&s, 1);
    let (b, honest) = &c[0];
    let msg = attestation_message(CHAIN, b.header.height, Round(0), &b.hash());
    let mut forged = honest.clone();
    forged.signature = sk(100).sign(&msg);
    let mut v = verifier(&s);
    assert_eq!(
        v.verify(item(b, &forged, NS)),
        Err(VerifyError::Certificate(CertificateError::BadSignature))
    );
}

#[test]
fn an_under_quorum_certificate_is_rejected() {
    rejects(
        |i| {
            let cert = i.certificate.as_mut().unwrap();
            let mut bits = SignerBitmap::new(4);
            bits.set(ValidatorIndex(0));
            bits.set(ValidatorIndex(1));
            cert.signers = bits.0.clone().into();
        },
        |e| {
            matches!(
                e,
                VerifyError::Certificate(CertificateError::InsufficientPower { .. })
            )
        },
    );
}

#[test]
fn a_certificate_for_another_batch_is_rejected() {
    let s = set();
    let c = chain(&s, 2);
    let mut v = verifier(&s);
    // Height 1's header with height 2's certificate.
    assert!(matches!(
        v.verify(item(&c[0].0, &c[1].1, NS)),
        Err(VerifyError::Certificate(
            CertificateError::WrongHeight { .. }
        ))
    ));
}

#[test]
fn a_changed_header_is_rejected_by_its_certificate() {
    rejects(
        |i| i.header.as_mut().unwrap().timestamp_ms += 1,
        |e| {
            matches!(
                e,
                VerifyError::Certificate(CertificateError::WrongBatch { .. })
            )
        },
    );
}

#[test]
fn a_broken_parent_link_is_rejected() {
    // A validly certified batch of another history at height 2: its certificate is fine, its
    // parent is not the batch this stream verified at height 1.
    let s = set();
    let c = chain(&s, 2);
    let mut v = verifier(&s);
    v.verify(item(&c[0].0, &c[0].1, NS)).unwrap();
    let mut other = c[1].0.clone();
    other.header.parent_hash = Hash([0xee; 32]);
    let cert = certify(&s, &other.header, &[1, 2, 3], honest_key(&s));
    assert!(matches!(
        v.verify(item(&other, &cert, NS)),
        Err(VerifyError::BrokenParentLink { .. })
    ));
    v.verify(item(&c[1].0, &c[1].1, NS)).unwrap();
}

#[test]
fn a_skipped_or_repeated_height_is_rejected() {
    let s = set();
    let c = chain(&s, 3);
    let mut v = verifier(&s);
    assert!(matches!(
        v.verify(item(&c[1].0, &c[1].1, NS)),
        Err(VerifyError::UnexpectedHeight { .. })
    ));
    v.verify(item(&c[0].0, &c[0].1, NS)).unwrap();
    assert!(matches!(
        v.verify(item(&c[0].0, &c[0].1, NS)),
        Err(VerifyError::UnexpectedHeight { .. })
    ));
}

#[test]
fn another_chain_or_validator_set_is_rejected() {
    let s = set();
    let c = chain(&s, 1);
    let (b, cert) = &c[0];
    let mut v = SliceVerifier::new(ChainId(10), s.clone(), NS, Height(1), Limits::default());
    assert!(matches!(
        v.verify(item(b, cert, NS)),
        Err(VerifyError::WrongChain { .. })
    ));
    let other = ValidatorSet::new(
        (0..4u8)
            .map(|i| Validator {
                address: Address([i + 50; 20]),
                voting_power: 10,
                consensus_key: ConsensusKey([i + 50; 32]),
                bls_key: sk(i + 50).public_key(),
                bls_pop: sk(i + 50).proof_of_possession(),
            })
            .collect(),
        100,
    )
    .unwrap();
    let mut v = SliceVerifier::new(CHAIN, other, NS, Height(1), Limits::default());
    assert!(matches!(
        v.verify(item(b, cert, NS)),
        Err(VerifyError::WrongValidatorSet { .. })
    ));
}

#[test]
fn missing_parts_and_garbage_are_rejected_without_panic() {
    rejects(
        |i| i.proof = None,
        |e| matches!(e, VerifyError::Missing("proof")),
    );
    rejects(
        |i| i.certificate.as_mut().unwrap().signature = vec![1, 2, 3].into(),
        |e| matches!(e, VerifyError::Decode(_)),
    );
    rejects(
        |i| i.header.as_mut().unwrap().parent_hash = vec![0; 5].into(),
        |e| matches!(e, VerifyError::Decode(_)),
    );
}

/// Heights 1..=3 in epoch 0 of set A, naming set B next; heights 4..=6 in epoch 1 of set B.
fn two_epochs(a: &ValidatorSet, b: &ValidatorSet) -> Vec<(Batch, Certificate)> {
    chain_of(6, |h| {
        if h <= 3 {
            (Epoch(0), a, b.hash())
        } else {
            (Epoch(1), b, b.hash())
        }
    })
}

#[test]
fn the_verifier_follows_the_set_the_last_header_vouched_for() {
    let (a, b) = (set(), set_from(10));
    let c = two_epochs(&a, &b);
    let mut v = verifier(&a);
    for (batch, cert) in &c[..3] {
        assert_eq!(v.set_needed(&item(batch, cert, NS)), None);
        v.verify(item(batch, cert, NS)).unwrap();
    }
    let (b4, c4) = &c[3];
    assert_eq!(v.set_needed(&item(b4, c4, NS)), Some((Epoch(1), b.hash())));
    // Not entered yet: refused, naming the set to enter.
    let err = v.verify(item(b4, c4, NS)).unwrap_err();
    assert!(matches!(err, VerifyError::SetNotEntered { .. }), "{err:?}");
    // Only the set the headers vouched for is taken.
    let err = v.enter_epoch(set_from(20)).unwrap_err();
    assert!(matches!(err, VerifyError::NotTheNextSet { .. }), "{err:?}");
    v.enter_epoch(b.clone()).unwrap();
    for (batch, cert) in &c[3..] {
        v.verify(item(batch, cert, NS)).unwrap();
    }
    assert_eq!(v.set().hash(), b.hash());
    assert_eq!(v.next_height(), Height(7));
}

#[test]
fn a_forged_first_header_of_the_next_epoch_does_not_move_the_verifier() {
    let (a, b) = (set(), set_from(10));
    let c = two_epochs(&a, &b);
    let mut v = verifier(&a);
    for (batch, cert) in &c[..2] {
        v.verify(item(batch, cert, NS)).unwrap();
    }
    // Height 3 of epoch 0, forged to claim epoch 1 under the set the headers vouch for: the
    // verifier asks for that set, takes it, and refuses the item.
    let mut header = c[2].0.header;
    header.epoch = Epoch(1);
    header.validator_set_hash = b.hash();
    let forged = Batch::seal(header, c[2].0.txs.clone(), 0, &Limits::default()).unwrap();
    let junk = item(&forged, &c[2].1, NS);
    assert_eq!(v.set_needed(&junk), Some((Epoch(1), b.hash())));
    v.enter_epoch(b.clone()).unwrap();
    assert!(v.verify(junk).is_err());
    // Left as it was: the real height 3 of epoch 0 verifies, then epoch 1 as usual.
    assert_eq!(v.set().hash(), a.hash());
    v.verify(item(&c[2].0, &c[2].1, NS)).unwrap();
    v.enter_epoch(b.clone()).unwrap();
    for (batch, cert) in &c[3..] {
        v.verify(item(batch, cert, NS)).unwrap();
    }
    assert_eq!(v.next_height(), Height(7));
}

#[test]
fn a_new_epoch_certified_by_the_old_set_is_rejected() {
    let (a, b) = (set(), set_from(10));
    let c = two_epochs(&a, &b);
    let parent = c[2].0.hash();
    let fresh = || {
        let mut v = verifier(&a);
        for (batch, cert) in &c[..3] {
            v.verify(item(batch, cert, NS)).unwrap();
        }
        v
    };
    // Height 4 of epoch 1 as the old set would have it: naming itself, signed by itself.
    let mut header = c[3].0.header;
    header.validator_set_hash = a.hash();
    let batch = Batch::seal(header, c[3].0.txs.clone(), 0, &Limits::default()).unwrap();
    let old = certify(&a, &batch.header, &[0, 1, 2], honest_key(&a));
    assert_eq!(batch.header.parent_hash, parent);
    let mut v = fresh();
    let err = v.verify(item(&batch, &old, NS)).unwrap_err();
    assert!(
        matches!(err, VerifyError::WrongValidatorSet { .. }),
        "{err:?}"
    );
    // The honest header of height 4, but certified by the old set.
    let (b4, _) = &c[3];
    let forged = certify(&a, &b4.header, &[0, 1, 2], honest_key(&a));
    v.enter_epoch(b.clone()).unwrap();
    let err = v.verify(item(b4, &forged, NS)).unwrap_err();
    assert!(matches!(err, VerifyError::Certificate(_)), "{err:?}");
    // A header going back to epoch 0 after epoch 1 started.
    let mut v = fresh();
    v.enter_epoch(b.clone()).unwrap();
    v.verify(item(&c[3].0, &c[3].1, NS)).unwrap();
    let mut back = c[4].0.header;
    back.epoch = Epoch(0);
    let batch = Batch::seal(back, c[4].0.txs.clone(), 0, &Limits::default()).unwrap();
    let cert = certify(&b, &batch.header, &[0, 1, 2], honest_key(&b));
    let err = v.verify(item(&batch, &cert, NS)).unwrap_err();
    assert!(
        matches!(err, VerifyError::UnexpectedEpoch { .. }),
        "{err:?}"
    );
}
