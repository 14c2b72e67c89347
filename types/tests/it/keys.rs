//! Keys, signatures and proofs of possession: encodings, subgroup checks, key files.
//!
//! The helpers here build curve points by hand with blst's field arithmetic, to produce encodings
//! an attacker could send: points on the curve but outside the prime-order subgroup, and a rogue
//! public key.
#![allow(unsafe_code)]

use crate::common::sk;
use blst::*;
use ordo_types::bls::{BlsError, BlsKeyFile, BlsPublicKey, BlsSignature, ProofOfPossession};

fn fp(k: u64) -> blst_fp {
    let mut out = blst_fp::default();
    let limbs = [k, 0, 0, 0, 0, 0];
    // SAFETY: blst reads six limbs from `limbs` and writes `out`.
    unsafe { blst_fp_from_uint64(&mut out, limbs.as_ptr()) };
    out
}

/// A compressed G1 point on y² = x³ + 4 that is not in the prime-order subgroup.
pub fn g1_off_subgroup() -> [u8; 48] {
    for k in 1u64.. {
        let x = fp(k);
        let (mut x2, mut x3, mut rhs, mut y) = Default::default();
        // SAFETY: plain field arithmetic on initialised values.
        let on_curve = unsafe {
            blst_fp_sqr(&mut x2, &x);
            blst_fp_mul(&mut x3, &x2, &x);
            blst_fp_add(&mut rhs, &x3, &fp(4));
            blst_fp_sqrt(&mut y, &rhs)
        };
        if !on_curve {
            continue;
        }
        let p = blst_p1_affine { x, y };
        // SAFETY: checks and encodes an initialised affine point.
        unsafe {
            if blst_p1_affine_on_curve(&p) && !blst_p1_affine_in_g1(&p) {
                let mut out = [0u8; 48];
                blst_p1_affine_compress(out.as_mut_ptr(), &p);
                return out;
            }
        }
    }
    unreachable!("some small x gives a point outside the subgroup")
}

/// A compressed G2 point on y² = x³ + 4(1 + i) that is not in the prime-order subgroup.
pub fn g2_off_subgroup() -> [u8; 96] {
    let b = blst_fp2 { fp: [fp(4), fp(4)] };
    for k in 1u64.. {
        let x = blst_fp2 { fp: [fp(k), fp(0)] };
        let (mut x2, mut x3, mut rhs, mut y) = Default::default();
        // SAFETY: plain field arithmetic on initialised values.
        let on_curve = unsafe {
            blst_fp2_sqr(&mut x2, &x);
            blst_fp2_mul(&mut x3, &x2, &x);
            blst_fp2_add(&mut rhs, &x3, &b);
            blst_fp2_sqrt(&mut y, &rhs)
        };
        if !on_curve {
            continue;
        }
        let p = blst_p2_affine { x, y };
        // SAFETY: checks and encodes an initialised affine point.
        unsafe {
            if blst_p2_affine_on_curve(&p) && !blst_p2_affine_in_g2(&p) {
                let mut out = [0u8; 96];
                blst_p2_affine_compress(out.as_mut_ptr(), &p);
                return out;
            }
        }
    }
    unreachable!("some small x gives a point outside the subgroup")
}

/// `attacker − honest`, compressed: the rogue key of the classic aggregation attack.
pub fn rogue_key(attacker: &[u8; 48], honest: &[u8; 48]) -> [u8; 48] {
    let (mut a, mut h) = (blst_p1_affine::default(), blst_p1_affine::default());
    let (mut pa, mut ph, mut sum) = (blst_p1::default(), blst_p1::default(), blst_p1::default());
    let mut out_affine = blst_p1_affine::default();
    let mut out = [0u8; 48];
    // SAFETY: valid compressed inputs of 48 bytes; every output is initialised before use.
    unsafe {
        assert_eq!(
            blst_p1_uncompress(&mut a, attacker.as_ptr()),
            BLST_ERROR::BLST_SUCCESS
        );
        assert_eq!(
            blst_p1_uncompress(&mut h, honest.as_ptr()),
            BLST_ERROR::BLST_SUCCESS
        );
        blst_p1_from_affine(&mut pa, &a);
        blst_p1_from_affine(&mut ph, &h);
        blst_p1_cneg(&mut ph, true);
        blst_p1_add_or_double(&mut sum, &pa, &ph);
        blst_p1_to_affine(&mut out_affine, &sum);
        blst_p1_affine_compress(out.as_mut_ptr(), &out_affine);
    }
    out
}

#[test]
fn keys_signatures_and_proofs_round_trip() {
    let k = sk(3);
    let pk = k.public_key();
    assert_eq!(BlsPublicKey::from_bytes(&pk.to_bytes()), Ok(pk));
    let sig = k.sign(b"hello");
    assert_eq!(BlsSignature::from_bytes(&sig.to_bytes()), Ok(sig));
    assert!(pk.verify(b"hello", &sig));
    assert!(!pk.verify(b"hellp", &sig));
    assert!(!sk(4).public_key().verify(b"hello", &sig));
    let pop = k.proof_of_possession();
    assert!(pop.verify(&pk));
    assert!(!pop.verify(&sk(4).public_key()));
    // A plain signature over the key bytes is not a proof of possession (other DST).
    let not_pop = ProofOfPossession::from_bytes(&k.sign(&pk.to_bytes()).to_bytes()).unwrap();
    assert!(!not_pop.verify(&pk));
    let secret = k.to_bytes();
    assert_eq!(
        ordo_types::BlsSecretKey::from_bytes(secret.as_ref())
            .unwrap()
            .public_key(),
        pk
    );
}

#[test]
fn points_outside_the_subgroup_are_refused() {
    assert_eq!(
        BlsPublicKey::from_bytes(&g1_off_subgroup()),
        Err(BlsError::NotInSubgroup { what: "public key" })
    );
    assert_eq!(
        BlsSignature::from_bytes(&g2_off_subgroup()),
        Err(BlsError::NotInSubgroup { what: "signature" })
    );
    assert_eq!(
        ProofOfPossession::from_bytes(&g2_off_subgroup()),
        Err(BlsError::NotInSubgroup { what: "signature" })
    );
}

#[test]
fn identity_off_curve_and_malformed_points_are_refused() {
    let mut infinity = [0u8; 48];
    infinity[0] = 0xc0;
    assert_eq!(
        BlsPublicKey::from_bytes(&infinity),
        Err(BlsError::Infinity { what: "public key" })
    );
    let mut sig_infinity = [0u8; 96];
    sig_infinity[0] = 0xc0;
    assert!(BlsSignature::from_bytes(&sig_infinity).is_err());
    // x = 2 gives no point on G1 (8 + 4 = 12 is not a square mod p), whatever the sign bit.
    let mut no_point = [0u8; 48];
    no_point[0] = 0x80;
    no_point[47] = 2;
    assert!(matches!(
        BlsPublicKey::from_bytes(&no_point),
        Err(BlsError::NotOnCurve { .. } | BlsError::BadEncoding { .. })
    ));
    // Uncompressed flag missing, or the wrong length.
    let mut uncompressed = sk(1).public_key().to_bytes();
    uncompressed[0] &= 0x7f;
    assert!(BlsPublicKey::from_bytes(&uncompressed).is_err());
    assert!(matches!(
        BlsPublicKey::from_bytes(&[0u8; 47]),
        Err(BlsError::BadLength { .. })
    ));
    assert!(matches!(
        BlsSignature::from_bytes(&[0u8; 95]),
        Err(BlsError::BadLength { .. })
    ));
}

#[test]
fn key_files_round_trip_and_refuse_mismatched_contents() {
    let k = sk(5);
    let json = BlsKeyFile::new(&k).to_json();
    let back = BlsKeyFile::from_json(json.as_bytes()).unwrap();
    assert_eq!(back.public_key(), k.public_key());

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["public_key"] = sk(6).public_key().to_string().into();
    let wrong_pk = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        BlsKeyFile::from_json(&wrong_pk),
        Err(BlsError::KeyFile(m)) if m.contains("does not belong")
    ));

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["proof_of_possession"] = sk(6).proof_of_possession().to_string().into();
    let wrong_pop = serde_json::to_vec(&v).unwrap();
    assert!(matches!(
        BlsKeyFile::from_json(&wrong_pop),
        Err(BlsError::KeyFile(m)) if m.contains("proof_of_possession")
    ));

    assert!(BlsKeyFile::from_json(&vec![b' '; 5000]).is_err());
    assert!(BlsKeyFile::from_json(b"{}").is_err());
    assert!(format!("{:?}", k).contains("redacted"));
    assert!(!format!("{:?}", k).contains(&hex::encode(k.to_bytes().as_ref())));
}
