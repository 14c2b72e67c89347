//! DA frames and blobs: round trips through packing, blobs and decoding; split batches; every
//! tamper, truncation and random input refused with a typed error.

use crate::common::{CHAIN, body, header, set, sk_at, tx};
use ordo_types::bls::{Certificate, attestation_message};
use ordo_types::da::{
    BLOB_BYTES, BLOB_PAYLOAD, Certified, Frame, assemble, decode_entries, frame_capacity,
    frame_from_blobs, pack, to_blobs,
};
use ordo_types::{Batch, Hash, Height, Limits, Round, ValidatorIndex};
use proptest::prelude::*;

/// A chain of certified batches at heights `1..=n`; batch `h` has `txs(h)` as its body.
fn chain(n: u64, txs: impl Fn(u64) -> Vec<ordo_types::BatchTx>) -> Vec<Certified> {
    let s = set(&[1, 1, 1, 1]);
    let limits = Limits::default();
    let mut parent = Hash::ZERO;
    (1..=n)
        .map(|h| {
            let mut hd = header(h);
            hd.parent_hash = parent;
            let body = txs(h);
            let forced_next = 0;
            let batch = Batch::seal(hd, body, forced_next, &limits).unwrap();
            parent = batch.hash();
            let msg = attestation_message(CHAIN, Height(h), Round(0), &batch.hash());
            let votes: Vec<_> = (0..3)
                .map(|i| (ValidatorIndex(i as u32), sk_at(&s, i).sign(&msg)))
                .collect();
            let certificate =
                Certificate::aggregate(&s, CHAIN, Height(h), Round(0), batch.hash(), &votes)
                    .unwrap()
                    .certificate;
            Certified { batch, certificate }
        })
        .collect()
}

fn small(h: u64) -> Vec<ordo_types::BatchTx> {
    // Namespaces ascending, as a body orders them.
    (0..(h % 5))
        .map(|i| tx(1 + i / 2, format!("tx {h}/{i}").as_bytes()))
        .collect()
}

/// Every frame through blobs and back, then the ranges' entries decoded.
fn through_blobs(frames: &[Frame]) -> Vec<Certified> {
    let limits = Limits::default();
    let back: Vec<Frame> = frames
        .iter()
        .map(|f| frame_from_blobs(&f.to_blobs(), &limits).unwrap())
        .collect();
    assert_eq!(back, frames);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(f) = back.get(i) {
        let group = &back[i..i + usize::from(f.parts)];
        let data = assemble(group).unwrap();
        out.extend(decode_entries(f.chain_id, f.first, f.last, &data, &limits).unwrap());
        i += group.len();
    }
    out
}

#[test]
fn consecutive_batches_fill_frames_and_come_back_byte_for_byte() {
    let batches = chain(200, small);
    let cap = frame_capacity(1);
    let frames = pack(CHAIN, &batches, 4096);
    assert!(frames.len() > 1, "a 4 KiB capacity splits 200 batches");
    for pair in frames.windows(2) {
        assert_eq!(
            pair[1].first.0,
            pair[0].last.0 + 1,
            "frames are consecutive"
        );
    }
    assert!(frames.iter().all(|f| f.data.len() <= 4096 && f.parts == 1));
    assert_eq!(through_blobs(&frames), batches);
    // At a blob's capacity the whole run fits one frame in one blob.
    let one = pack(CHAIN, &batches, cap);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].to_blobs().len(), 1);
    assert_eq!((one[0].first, one[0].last), (Height(1), Height(200)));
    assert_eq!(through_blobs(&one), batches);
}

#[test]
fn a_batch_larger_than_a_frame_is_split_into_parts() {
    let big = |h: u64| {
        if h == 2 {
            (0..40).map(|i| tx(1, &vec![i as u8; 10_000])).collect()
        } else {
            body()
        }
    };
    let batches = chain(3, big);
    let cap = frame_capacity(1);
    assert!(batches[1].encoded_len() > 3 * cap);
    let frames = pack(CHAIN, &batches, cap);
    let parts: Vec<_> = frames.iter().filter(|f| f.first == Height(2)).collect();
    assert_eq!(parts.len(), batches[1].encoded_len().div_ceil(cap));
    assert!(
        parts
            .iter()
            .all(|f| f.parts as usize == parts.len() && f.last == Height(2))
    );
    assert_eq!(through_blobs(&frames), batches);
    // A missing or reordered part is refused.
    let mut owned: Vec<Frame> = parts.into_iter().cloned().collect();
    assert!(assemble(&owned[1..]).is_err());
    owned.swap(0, 1);
    assert!(assemble(&owned).is_err());
}

#[test]
fn a_frame_needs_as_many_blobs_as_its_bytes() {
    let batches = chain(1, |_| {
        (0..30).map(|i| tx(1, &vec![i as u8; 9_000])).collect()
    });
    let frames = pack(CHAIN, &batches, frame_capacity(6));
    assert_eq!(frames.len(), 1);
    let blobs = frames[0].to_blobs();
    assert_eq!(blobs.len(), frames[0].encoded_len().div_ceil(BLOB_PAYLOAD));
    assert_eq!(blobs.len(), Frame::blobs_for(frames[0].data.len()));
    assert!(blobs.len() >= 3 && blobs.iter().all(|b| b.len() == BLOB_BYTES));
    // Every field element starts with a zero byte.
    assert!(blobs.iter().all(|b| b.chunks(32).all(|fe| fe[0] == 0)));
}

#[test]
fn tampering_anywhere_is_refused() {
    let limits = Limits::default();
    let batches = chain(20, small);
    let frame = pack(CHAIN, &batches, frame_capacity(1)).remove(0);
    let bytes = frame.encode();
    // Every single-byte change of the frame's bytes fails its checksum or its structure.
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        assert!(Frame::decode(&t, &limits).is_err(), "byte {i} flipped");
    }
    // A blob with a high byte set, a byte after the frame, or a cut blob.
    let blobs = frame.to_blobs();
    let mut high = blobs.clone();
    high[0][32 * 7] = 1;
    assert!(frame_from_blobs(&high, &limits).is_err());
    let mut after = blobs.clone();
    after[0][BLOB_BYTES - 1] = 9;
    assert!(frame_from_blobs(&after, &limits).is_err());
    let mut cut = blobs.clone();
    cut[0].truncate(BLOB_BYTES - 32);
    assert!(frame_from_blobs(&cut, &limits).is_err());
    // A frame whose data was re-checksummed but names the wrong chain or heights.
    let relabel = |f: &Frame| decode_entries(f.chain_id, f.first, f.last, &f.data, &limits);
    let wrong_chain = Frame {
        chain_id: ordo_types::ChainId(CHAIN.0 + 1),
        ..frame.clone()
    };
    assert!(relabel(&wrong_chain).is_err());
    let shifted = Frame {
        first: Height(2),
        last: Height(21),
        ..frame.clone()
    };
    assert!(relabel(&shifted).is_err());
    let short = Frame {
        last: Height(19),
        ..frame.clone()
    };
    assert!(relabel(&short).is_err(), "an entry left over is refused");
    // A body byte changed under a valid checksum: the body no longer matches its header.
    let mut data = frame.data.to_vec();
    data[217 + 1] ^= 0xff;
    assert!(decode_entries(CHAIN, frame.first, frame.last, &data, &limits).is_err());
}

#[test]
fn every_truncation_is_a_typed_error() {
    let limits = Limits::default();
    let batches = chain(5, small);
    let frame = pack(CHAIN, &batches, frame_capacity(1)).remove(0);
    let bytes = frame.encode();
    for n in 0..bytes.len() {
        assert!(Frame::decode(&bytes[..n], &limits).is_err(), "cut at {n}");
    }
    for n in 0..frame.data.len() {
        assert!(
            decode_entries(CHAIN, frame.first, frame.last, &frame.data[..n], &limits).is_err(),
            "data cut at {n}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let limits = Limits::default();
        let _ = Frame::decode(&bytes, &limits);
        let _ = decode_entries(CHAIN, Height(1), Height(3), &bytes, &limits);
        let mut blob = vec![0u8; BLOB_BYTES];
        for (i, b) in bytes.iter().enumerate() {
            blob[i * 64 % BLOB_BYTES] = *b;
        }
        let _ = frame_from_blobs(&[blob], &limits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_payloads_round_trip_through_blobs(bytes in prop::collection::vec(any::<u8>(), 0..300_000)) {
        let blobs = to_blobs(&bytes);
        prop_assert_eq!(blobs.len(), bytes.len().div_ceil(BLOB_PAYLOAD).max(1));
        let payload: Vec<u8> = blobs
            .iter()
            .flat_map(|b| b.chunks(32).flat_map(|fe| fe[1..].to_vec()))
            .collect();
        prop_assert_eq!(&payload[..bytes.len()], &bytes[..]);
        prop_assert!(payload[bytes.len()..].iter().all(|b| *b == 0));
    }
}
