//! DA frames and blobs: round trips through packing, blobs and decoding; split batches; every
//! tamper, truncation and random input refused with a typed error.

use crate::common::{CHAIN, body, header, set, sk_at, tx};
use ordo_types::bls::{Certificate, attestation_message};
use ordo_types::da::{
    BLOB_BYTES, BLOB_PAYLOAD, Certified, FRAME_OVERHEAD, Frame, Gather, Gathered, MIN_PART,
    assemble, decode_entries, frame_capacity, frames_from_blobs, frames_to_blobs, next_tx, pack,
    to_blobs,
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
        .flat_map(|f| frames_from_blobs(&f.to_blobs(), &limits).unwrap())
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

/// Streams `batches` as a poster does: `arrive` heights at a time, a transaction whenever the
/// batches since the last one fill whole blobs, the rest once all are in.
fn stream(batches: &[Certified], arrive: usize, max_blobs: usize) -> Vec<Vec<Frame>> {
    let (mut carry, mut next, mut end, mut txs) = (Vec::new(), 0, 0, Vec::new());
    loop {
        end = (end + arrive).min(batches.len());
        let flush = end == batches.len();
        while let Some((frames, taken)) =
            next_tx(CHAIN, &mut carry, &batches[next..end], max_blobs, flush)
        {
            assert!(!frames.is_empty());
            next += taken;
            txs.push(frames);
        }
        if flush {
            break;
        }
    }
    assert!(carry.is_empty(), "nothing is left over");
    assert_eq!(next, batches.len());
    txs
}

/// Reads transactions back as a reader does: frames out of each transaction's blobs, split
/// batches gathered, entries decoded.
fn read_back(txs: &[Vec<Frame>]) -> Vec<Certified> {
    let limits = Limits::default();
    let mut parts = Gather::new(8);
    let mut out = Vec::new();
    for frames in txs {
        let back = frames_from_blobs(&frames_to_blobs(frames), &limits).unwrap();
        assert_eq!(&back, frames);
        for f in back {
            if let Gathered::Whole(group, ()) = parts.add(&0u8, f, ()) {
                let data = assemble(&group).unwrap();
                let (first, last) = (group[0].first, group[0].last);
                out.extend(decode_entries(CHAIN, first, last, &data, &limits).unwrap());
            }
        }
    }
    assert_eq!(parts.open(), 0, "no split batch is left open");
    out
}

#[test]
fn a_streamed_range_fills_whole_blobs_and_comes_back_byte_for_byte() {
    // Heights of 7 to 28 kB, and one of about 900 kB (more than a transaction of 6 blobs).
    let sizes = |h: u64| {
        if h == 17 {
            (0..90).map(|i| tx(1, &vec![i as u8; 10_000])).collect()
        } else {
            (0..(h % 4 + 1))
                .map(|i| tx(1 + i / 2, &vec![h as u8; 7_000]))
                .collect()
        }
    };
    let batches = chain(40, sizes);
    for (arrive, max_blobs) in [(1, 6), (3, 6), (5, 2), (40, 6), (2, 1)] {
        let txs = stream(&batches, arrive, max_blobs);
        let case = format!("{arrive} heights at a time, {max_blobs} blobs");
        assert_eq!(read_back(&txs), batches, "{case}");
        // Every transaction but the last ends on a whole blob, up to a part too small to cut.
        for t in &txs[..txs.len() - 1] {
            let used: usize = t.iter().map(Frame::encoded_len).sum();
            let blobs = used.div_ceil(BLOB_PAYLOAD);
            assert!(blobs <= max_blobs, "{case}: {blobs} blobs");
            let empty = blobs * BLOB_PAYLOAD - used;
            assert!(
                empty < FRAME_OVERHEAD + MIN_PART,
                "{case}: {empty} bytes empty"
            );
        }
        assert!(txs.iter().any(|t| t.len() > 1), "{case}: frames share a tx");
        assert!(
            txs.iter()
                .any(|t| t.iter().any(|f| f.parts > 1 && f.part == 0)),
            "{case}: a batch is split to fill a blob"
        );
    }
    // Not even one blob of batches: nothing is sent until the range is complete.
    let little = chain(3, small);
    assert_eq!(next_tx(CHAIN, &mut Vec::new(), &little, 6, false), None);
    let (frames, taken) = next_tx(CHAIN, &mut Vec::new(), &little, 6, true).unwrap();
    assert_eq!((frames.len(), taken), (1, 3));
}

#[test]
fn parts_are_gathered_per_poster_and_a_new_first_part_starts_over() {
    let batches = chain(1, |_| {
        (0..27).map(|i| tx(1, &vec![i as u8; 10_000])).collect()
    });
    // The same batch cut two ways into three parts each.
    let a = pack(CHAIN, &batches, frame_capacity(1));
    let b = pack(CHAIN, &batches, 100_000);
    assert_eq!((a.len(), b.len()), (3, 3));
    assert_ne!(a[0].data.len(), b[0].data.len());
    let whole = |g: Gathered<()>| match g {
        Gathered::Whole(frames, ()) => frames,
        other => panic!("{other:?}"),
    };
    // Two posters interleaved: each gets its own batch back.
    let mut g = Gather::new(4);
    for i in 0..2 {
        assert_eq!(g.add(&1u8, a[i].clone(), ()), Gathered::Waiting);
        assert_eq!(g.add(&2u8, b[i].clone(), ()), Gathered::Waiting);
    }
    assert_eq!(whole(g.add(&1u8, a[2].clone(), ())), a);
    assert_eq!(whole(g.add(&2u8, b[2].clone(), ())), b);
    // A poster that restarted and cut the batch elsewhere: its new part 0 starts over.
    assert_eq!(g.add(&1u8, a[0].clone(), ()), Gathered::Waiting);
    assert_eq!(g.add(&1u8, a[1].clone(), ()), Gathered::Waiting);
    for f in &b[..2] {
        assert_eq!(g.add(&1u8, f.clone(), ()), Gathered::Waiting);
    }
    assert_eq!(whole(g.add(&1u8, b[2].clone(), ())), b);
    // Anyone can post: open groups are bounded.
    let mut g = Gather::new(2);
    for who in 0..2u8 {
        assert_eq!(g.add(&who, a[0].clone(), ()), Gathered::Waiting);
    }
    assert_eq!(g.add(&9u8, a[0].clone(), ()), Gathered::TooMany);
    g.forget_through(1);
    assert_eq!(g.open(), 0);
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
    assert!(frames_from_blobs(&high, &limits).is_err());
    let mut after = blobs.clone();
    after[0][BLOB_BYTES - 1] = 9;
    assert!(frames_from_blobs(&after, &limits).is_err());
    let mut cut = blobs.clone();
    cut[0].truncate(BLOB_BYTES - 32);
    assert!(frames_from_blobs(&cut, &limits).is_err());
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
        let _ = frames_from_blobs(&[blob], &limits);
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
