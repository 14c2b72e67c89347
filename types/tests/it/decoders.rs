//! Every decoder of outside bytes, fed random and truncated input, returns an error or a value:
//! never a panic, and never an allocation past its limits.

use crate::common::{body, header, set};
use ordo_types::bls::{BlsKeyFile, BlsPublicKey, BlsSignature, Certificate};
use ordo_types::codec::DecodeError;
use ordo_types::tx::{BatchTx, ForcedTx, Transaction};
use ordo_types::wire::{decode_message, pb};
use ordo_types::{Batch, BatchHeader, Limits, NamespaceProof, ValidatorSet};
use proptest::prelude::*;
use prost::Message;

fn small_limits() -> Limits {
    Limits {
        max_tx_payload: 64,
        max_batch_txs: 16,
        max_batch_bytes: 4096,
        max_message_bytes: 8192,
        max_validators: 16,
    }
}

/// Runs every decoder on `bytes`; each must return without panicking.
fn decode_all(bytes: &[u8]) {
    let l = small_limits();
    let _ = Transaction::decode(bytes, &l);
    let _ = ForcedTx::decode(bytes, &l);
    let _ = BatchTx::decode(bytes, &l);
    let _ = BatchHeader::from_bytes(bytes);
    let _ = Certificate::decode(bytes, &l);
    let _ = Batch::decode_proto(bytes, &l);
    let _ = decode_message::<pb::Certificate>(bytes, &l).map(|c| Certificate::from_proto(c, &l));
    let _ = decode_message::<pb::NamespaceProof>(bytes, &l).map(NamespaceProof::try_from);
    let _ = decode_message::<pb::ValidatorSet>(bytes, &l).map(|s| ValidatorSet::from_proto(s, &l));
    let _ = BlsPublicKey::from_bytes(bytes);
    let _ = BlsSignature::from_bytes(bytes);
    let _ = BlsKeyFile::from_json(bytes);
}

/// Valid encodings of every kind, to truncate and mutate.
fn valid_encodings() -> Vec<Vec<u8>> {
    let l = Limits::default();
    let batch = Batch::seal(header(3), body(), 10, &l).unwrap();
    let s = set(&[1, 1, 1, 1]);
    let msg = ordo_types::bls::attestation_message(
        crate::common::CHAIN,
        batch.header.height,
        ordo_types::Round(0),
        &batch.hash(),
    );
    let votes: Vec<_> = (0..4)
        .map(|i| {
            (
                ordo_types::ValidatorIndex(i),
                crate::common::sk_at(&s, i as usize).sign(&msg),
            )
        })
        .collect();
    let cert = Certificate::aggregate(
        &s,
        crate::common::CHAIN,
        batch.header.height,
        ordo_types::Round(0),
        batch.hash(),
        &votes,
    )
    .unwrap()
    .certificate;
    let proof: pb::NamespaceProof =
        (&batch.namespace_tree().proof(ordo_types::Namespace(2))).into();
    let mut out = vec![
        batch.header.to_bytes().to_vec(),
        batch.encode_proto(),
        cert.encode(),
        pb::Certificate::from(&cert).encode_to_vec(),
        proof.encode_to_vec(),
        pb::ValidatorSet::from(&s).encode_to_vec(),
        s.validators()[0].bls_key.to_bytes().to_vec(),
        cert.signature.to_bytes().to_vec(),
        BlsKeyFile::new(&crate::common::sk(1))
            .to_json()
            .as_bytes()
            .to_vec(),
    ];
    out.extend(batch.txs.iter().map(BatchTx::encode));
    out
}

static ENCODINGS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let encodings = ENCODINGS.get_or_init(valid_encodings);
        let mut bytes = which.get(encodings).clone();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x | 1;
        }
        decode_all(&bytes);
    }
}

#[test]
fn every_truncation_of_a_fixed_encoding_is_an_error() {
    let l = Limits::default();
    let batch = Batch::seal(header(3), body(), 10, &l).unwrap();
    let h = batch.header.to_bytes();
    for n in 0..h.len() {
        assert!(
            BatchHeader::from_bytes(&h[..n]).is_err(),
            "header cut at {n}"
        );
    }
    for tx in &batch.txs {
        let e = tx.encode();
        assert_eq!(BatchTx::decode(&e, &l).as_ref(), Ok(tx));
        for n in 0..e.len() {
            assert!(BatchTx::decode(&e[..n], &l).is_err(), "tx cut at {n}");
        }
        let mut long = e.clone();
        long.push(0);
        assert!(matches!(
            BatchTx::decode(&long, &l),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }
    for enc in valid_encodings() {
        for n in 0..enc.len() {
            decode_all(&enc[..n]);
        }
    }
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let l = small_limits();
    let big = vec![0u8; l.max_message_bytes as usize + 1];
    assert!(matches!(
        Batch::decode_proto(&big, &l),
        Err(DecodeError::TooLarge { .. })
    ));
    // A length field claiming 4 GiB is refused without allocating it.
    let mut claim = vec![0x01];
    claim.extend_from_slice(&1u64.to_be_bytes());
    claim.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Transaction::decode(&claim, &Limits::default()),
        Err(DecodeError::CountOverLimit { .. })
    ));
    // A protobuf batch with more transactions than allowed.
    let many = pb::Batch {
        header: Some((&header(1)).into()),
        txs: vec![pb::BatchTx::default(); 17],
    };
    assert!(matches!(
        Batch::decode_proto(&many.encode_to_vec(), &l),
        Err(DecodeError::CountOverLimit { .. })
    ));
    // A protobuf batch whose payload exceeds the limit.
    let fat = Batch {
        header: header(1),
        txs: vec![crate::common::tx(1, &[0u8; 65])],
    };
    assert!(matches!(
        Batch::decode_proto(&fat.encode_proto(), &l),
        Err(DecodeError::CountOverLimit { .. })
    ));
}

#[test]
fn wire_round_trips() {
    let l = Limits::default();
    let batch = Batch::seal(header(3), body(), 10, &l).unwrap();
    assert_eq!(
        Batch::decode_proto(&batch.encode_proto(), &l),
        Ok(batch.clone())
    );
    assert_eq!(
        BatchHeader::from_bytes(&batch.header.to_bytes()),
        Ok(batch.header)
    );
    let tree = batch.namespace_tree();
    for ns in 0..7 {
        let p = tree.proof(ordo_types::Namespace(ns));
        let back = NamespaceProof::try_from(pb::NamespaceProof::from(&p)).unwrap();
        assert_eq!(back, p);
    }
    let s = set(&[3, 1, 2]);
    assert_eq!(ValidatorSet::from_proto((&s).into(), &l), Ok(s));
    let mut missing = pb::Batch::decode(&*batch.encode_proto()).unwrap();
    missing.header.as_mut().unwrap().l1_ref = None;
    assert_eq!(
        Batch::from_proto(missing, &l),
        Err(DecodeError::Missing { field: "l1_ref" })
    );
}
