//! Certificates: valid, forged, under quorum, rogue keys, wrong height/batch/domain, bitmaps.

use crate::common::{CHAIN, set, sk, sk_at, validator};
use ordo_types::bls::certificate::ATTESTATION_DOMAIN;
use ordo_types::bls::{
    BlsSignature, Certificate, CertificateError, SignerBitmap, ValidatorSetError,
    attestation_message,
};
use ordo_types::{ChainId, Hash, Height, Limits, Round, ValidatorIndex, ValidatorSet};

const H: Height = Height(42);
const R: Round = Round(1);
const BATCH: Hash = Hash([0x5a; 32]);

fn votes(s: &ValidatorSet, who: &[usize]) -> Vec<(ValidatorIndex, BlsSignature)> {
    let msg = attestation_message(CHAIN, H, R, &BATCH);
    who.iter()
        .map(|&i| (ValidatorIndex(i as u32), sk_at(s, i).sign(&msg)))
        .collect()
}

fn cert(s: &ValidatorSet, who: &[usize]) -> Certificate {
    Certificate::aggregate(s, CHAIN, H, R, BATCH, &votes(s, who))
        .unwrap()
        .certificate
}

#[test]
fn a_quorum_certificate_verifies() {
    let s = set(&[1, 1, 1, 1]);
    let all = cert(&s, &[0, 1, 2, 3]);
    assert_eq!(all.verify(&s, CHAIN), Ok(()));
    assert_eq!(all.verify_for(&s, CHAIN, H, &BATCH), Ok(()));
    let three = cert(&s, &[0, 2, 3]);
    assert_eq!(three.verify(&s, CHAIN), Ok(()));
    assert!(three.signers.get(ValidatorIndex(0)) && !three.signers.get(ValidatorIndex(1)));
}

#[test]
fn under_quorum_is_refused_when_built_and_when_verified() {
    let s = set(&[1, 1, 1, 1]);
    let two = votes(&s, &[0, 1]);
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &two),
        Err(CertificateError::InsufficientPower {
            signed: 2,
            total: 4
        })
    );
    // A certificate of three signers whose bitmap is cut to two.
    let mut c = cert(&s, &[0, 1, 2]);
    c.signers = SignerBitmap(vec![0b0000_0011]);
    assert_eq!(
        c.verify(&s, CHAIN),
        Err(CertificateError::InsufficientPower {
            signed: 2,
            total: 4
        })
    );
}

#[test]
fn quorum_is_by_voting_power_not_by_count() {
    // Index 0 holds 10 of 13: alone it is a quorum; the three others together are not.
    let s = set(&[10, 1, 1, 1]);
    assert_eq!(s.validators()[0].voting_power, 10);
    assert_eq!(cert(&s, &[0]).verify(&s, CHAIN), Ok(()));
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &votes(&s, &[1, 2, 3])),
        Err(CertificateError::InsufficientPower {
            signed: 3,
            total: 13
        })
    );
    // Exactly two thirds is not more than two thirds.
    let s = set(&[2, 1]);
    assert!(!s.is_quorum(2));
    assert!(s.is_quorum(3));
}

#[test]
fn forged_certificates_are_refused() {
    let s = set(&[1, 1, 1, 1]);
    let good = cert(&s, &[0, 1, 2]);

    // Claiming a validator that did not sign.
    let mut c = good.clone();
    c.signers = SignerBitmap(vec![0b0000_1111]);
    assert_eq!(c.verify(&s, CHAIN), Err(CertificateError::BadSignature));

    // A signature from a key outside the set.
    let mut c = good.clone();
    c.signature = sk(99).sign(&attestation_message(CHAIN, H, R, &BATCH));
    assert_eq!(c.verify(&s, CHAIN), Err(CertificateError::BadSignature));

    // One validator's own signature presented as the aggregate of three.
    let mut c = good.clone();
    c.signature = votes(&s, &[0])[0].1;
    assert_eq!(c.verify(&s, CHAIN), Err(CertificateError::BadSignature));
}

#[test]
fn a_certificate_is_bound_to_its_chain_height_round_and_batch() {
    let s = set(&[1, 1, 1, 1]);
    let c = cert(&s, &[0, 1, 2, 3]);
    assert_eq!(
        c.verify_for(&s, CHAIN, Height(43), &BATCH),
        Err(CertificateError::WrongHeight {
            expected: Height(43),
            found: H
        })
    );
    let other = Hash([0x5b; 32]);
    assert_eq!(
        c.verify_for(&s, CHAIN, H, &other),
        Err(CertificateError::WrongBatch {
            expected: other,
            found: BATCH
        })
    );
    let tampered = [
        Certificate {
            height: Height(43),
            ..c.clone()
        },
        Certificate {
            round: Round(2),
            ..c.clone()
        },
        Certificate {
            batch_hash: other,
            ..c.clone()
        },
    ];
    for t in tampered {
        assert_eq!(t.verify(&s, CHAIN), Err(CertificateError::BadSignature));
    }
    assert_eq!(
        c.verify(&s, ChainId(8)),
        Err(CertificateError::BadSignature)
    );
}

#[test]
fn a_signature_under_another_domain_does_not_count() {
    let s = set(&[1, 1, 1, 1]);
    // The same fields under another message kind's tag.
    let mut other_domain = attestation_message(CHAIN, H, R, &BATCH);
    other_domain.splice(
        0..ATTESTATION_DOMAIN.len(),
        b"ordo.vote.v1..".iter().copied(),
    );
    assert_ne!(other_domain, attestation_message(CHAIN, H, R, &BATCH));
    let bad: Vec<_> = (0..4)
        .map(|i| (ValidatorIndex(i), sk_at(&s, i as usize).sign(&other_domain)))
        .collect();
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &bad),
        Err(CertificateError::InsufficientPower {
            signed: 0,
            total: 4
        })
    );
    // A proof of possession is a signature under another DST: it never verifies as a message.
    let pop = sk_at(&s, 0).proof_of_possession();
    let pk = s.validators()[0].bls_key;
    let as_sig = BlsSignature::from_bytes(&pop.to_bytes()).unwrap();
    assert!(!pk.verify(&pk.to_bytes(), &as_sig));
}

#[test]
fn aggregation_drops_bad_signers_and_keeps_a_quorum() {
    let s = set(&[1, 1, 1, 1]);
    let mut v = votes(&s, &[0, 1, 2, 3]);
    v[2].1 = sk_at(&s, 2).sign(b"something else");
    let out = Certificate::aggregate(&s, CHAIN, H, R, BATCH, &v).unwrap();
    assert_eq!(out.rejected, vec![ValidatorIndex(2)]);
    assert!(!out.certificate.signers.get(ValidatorIndex(2)));
    assert_eq!(out.certificate.verify(&s, CHAIN), Ok(()));

    v[1].1 = sk_at(&s, 1).sign(b"something else");
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &v),
        Err(CertificateError::InsufficientPower {
            signed: 2,
            total: 4
        })
    );
}

#[test]
fn unknown_and_duplicate_signers_are_refused() {
    let s = set(&[1, 1, 1, 1]);
    let mut v = votes(&s, &[0, 1, 2]);
    v.push((ValidatorIndex(4), v[0].1));
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &v),
        Err(CertificateError::UnknownSigner(ValidatorIndex(4)))
    );
    let mut v = votes(&s, &[0, 1, 2]);
    v.push(v[1]);
    assert_eq!(
        Certificate::aggregate(&s, CHAIN, H, R, BATCH, &v),
        Err(CertificateError::DuplicateSigner(ValidatorIndex(1)))
    );

    // A bit past the set's size, and a bitmap of the wrong length.
    let mut c = cert(&s, &[0, 1, 2]);
    c.signers = SignerBitmap(vec![0b0001_0111]);
    assert_eq!(
        c.verify(&s, CHAIN),
        Err(CertificateError::UnknownSigner(ValidatorIndex(4)))
    );
    c.signers = SignerBitmap(vec![0b0000_0111, 0]);
    assert_eq!(
        c.verify(&s, CHAIN),
        Err(CertificateError::BitmapLength {
            expected: 1,
            got: 2
        })
    );
}

#[test]
fn a_set_refuses_keys_without_a_valid_proof_of_possession() {
    let mut bad = validator(3, 1);
    bad.bls_pop = sk(4).proof_of_possession();
    let vs = vec![validator(0, 1), validator(1, 1), validator(2, 1), bad];
    assert_eq!(
        ValidatorSet::new(vs, 16),
        Err(ValidatorSetError::InvalidProofOfPossession(bad_address()))
    );
}

fn bad_address() -> ordo_types::Address {
    crate::common::address(3)
}

#[test]
fn a_set_refuses_duplicates_zero_power_and_overflow() {
    let dup_addr = vec![validator(0, 1), validator(0, 2)];
    assert!(matches!(
        ValidatorSet::new(dup_addr, 16),
        Err(ValidatorSetError::DuplicateAddress(_))
    ));
    let mut twin = validator(1, 1);
    twin.address = crate::common::address(9);
    twin.consensus_key = ordo_types::ConsensusKey([9; 32]);
    let dup_key = vec![validator(1, 1), twin];
    assert!(matches!(
        ValidatorSet::new(dup_key, 16),
        Err(ValidatorSetError::DuplicateKey(_, _))
    ));
    assert!(matches!(
        ValidatorSet::new(vec![validator(0, 0)], 16),
        Err(ValidatorSetError::ZeroPower(_))
    ));
    assert_eq!(
        ValidatorSet::new(vec![validator(0, u64::MAX), validator(1, 1)], 16),
        Err(ValidatorSetError::PowerOverflow)
    );
    assert_eq!(
        ValidatorSet::new(vec![validator(0, u64::MAX / 3 + 1)], 16),
        Err(ValidatorSetError::PowerOverflow)
    );
    assert!(ValidatorSet::new(vec![validator(0, u64::MAX / 3)], 16).is_ok());
    assert_eq!(ValidatorSet::new(vec![], 16), Err(ValidatorSetError::Empty));
    assert!(matches!(
        ValidatorSet::new(vec![validator(0, 1), validator(1, 1)], 1),
        Err(ValidatorSetError::TooMany { .. })
    ));
}

#[test]
fn certificates_round_trip_through_both_encodings() {
    let s = set(&[1, 1, 1, 1]);
    let c = cert(&s, &[0, 1, 3]);
    let limits = Limits::default();
    assert_eq!(Certificate::decode(&c.encode(), &limits), Ok(c.clone()));
    let pb: ordo_types::wire::pb::Certificate = (&c).into();
    assert_eq!(Certificate::from_proto(pb, &limits), Ok(c.clone()));
    assert_ne!(c.hash(), cert(&s, &[0, 1, 2]).hash());
}

/// The rogue-key attack: with `pk_rogue = pk_attacker − pk_honest`, the attacker alone produces
/// an aggregate that verifies for {honest, rogue}. Plain fast aggregate verification accepts it;
/// ordo refuses the rogue key because its proof of possession cannot be made.
#[test]
fn rogue_key_attack_works_without_possession_proofs_and_is_refused_with_them() {
    use crate::keys::rogue_key;
    use blst::BLST_ERROR;
    use blst::min_pk::{PublicKey, Signature};
    use ordo_types::bls::{BlsPublicKey, ProofOfPossession, SIG_DST, Validator};

    let honest = sk(0).public_key();
    let attacker = sk(1);
    let rogue_bytes = rogue_key(&attacker.public_key().to_bytes(), &honest.to_bytes());
    let rogue = BlsPublicKey::from_bytes(&rogue_bytes).unwrap();

    let msg = attestation_message(CHAIN, H, R, &BATCH);
    let forged = attacker.sign(&msg);
    let raw_sig = Signature::from_bytes(&forged.to_bytes()).unwrap();
    let pks = [
        PublicKey::from_bytes(&honest.to_bytes()).unwrap(),
        PublicKey::from_bytes(&rogue_bytes).unwrap(),
    ];
    let refs: Vec<&PublicKey> = pks.iter().collect();
    assert_eq!(
        raw_sig.fast_aggregate_verify(true, &msg, SIG_DST, &refs),
        BLST_ERROR::BLST_SUCCESS,
        "without possession proofs the forged aggregate verifies"
    );

    // The attacker can only offer a proof made with a key it knows; none verifies for `rogue`.
    for pop in [
        attacker.proof_of_possession(),
        sk(0).proof_of_possession(),
        ProofOfPossession::from_bytes(&forged.to_bytes()).unwrap(),
    ] {
        let vs = vec![
            crate::common::validator(0, 1),
            Validator {
                address: crate::common::address(1),
                voting_power: 1,
                consensus_key: ordo_types::ConsensusKey([1; 32]),
                bls_key: rogue,
                bls_pop: pop,
            },
        ];
        assert!(matches!(
            ValidatorSet::new(vs, 16),
            Err(ValidatorSetError::InvalidProofOfPossession(_))
        ));
    }
}
