//! The bodies of ordo's fuzz targets: every decoder of bytes that come from outside a node, fed
//! arbitrary input. A target never panics on any input; where a decoder accepts, what it decoded
//! re-encodes to bytes that decode to the same value (so a value the node accepts is one it can
//! pass on). The cargo-fuzz project in `fuzz/targets/` wraps each in `fuzz_target!`;
//! `testnet/fuzz.sh` runs them; `tests/corpus.rs` replays the committed corpus in every test run.
//!
//! Inputs whose first byte picks a decoder (`consensus`, `batch`, `proof`, `api`) use it modulo
//! the number of decoders, so every byte value is a valid choice.
//!
//! | target | decoders |
//! |---|---|
//! | `consensus` | the consensus codec: votes, proposals, proposal parts and streams, liveness, sync status/request/response, the WAL's proposed values, polka certificates |
//! | `batch` | batches (protobuf and checked body), certificates, transactions, batch and forced entries, headers, validator sets |
//! | `proof` | a namespace stream item through the verifying client; a namespace proof alone |
//! | `gossip` | gossip bundles, and each transaction in one through pool admission |
//! | `frame` | DA frames, the certified batches a frame's data holds, frames read back from blob bytes |
//! | `api` | the gRPC requests a node decodes (a submission through pool admission), and the responses a client decodes |

mod fixtures;
pub mod seeds;

pub use fixtures::{CHAIN, NAMESPACE, pinned_set};

use bytes::Bytes;
use ordo_client::SliceVerifier;
use ordo_client::api;
use ordo_consensus::codec::ProtoCodec;
use ordo_consensus::mala::app::consensus::LivenessMsg;
use ordo_consensus::mala::app::streaming::StreamMessage;
use ordo_consensus::mala::app::types::codec::Codec;
use ordo_consensus::mala::app::types::sync;
use ordo_consensus::mala::app::types::{ProposedValue, SignedConsensusMsg};
use ordo_consensus::mc::{PolkaCertificate, ValidatorProof};
use ordo_consensus::{OrdoContext, ProposalPart};
use ordo_mempool::{Mempool, MempoolConfig};
use ordo_types::wire::{decode_message, pb};
use ordo_types::{
    Batch, BatchHeader, BatchTx, Certificate, ForcedTx, Hash, Height, Limits, NamespaceProof,
    Transaction, TxId, ValidatorSet,
};
use std::fmt::Debug;

/// A target: its name (the cargo-fuzz binary and the corpus directory) and its body, which
/// says whether the input was accepted (decoded; for `proof`, verified), so the corpus test can
/// tell that each seed reaches past the decoder it is for.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target.
pub const TARGETS: &[Target] = &[
    ("consensus", consensus),
    ("batch", batch),
    ("proof", proof),
    ("gossip", gossip),
    ("api", api_messages),
    ("frame", frame),
];

fn limits() -> Limits {
    Limits::default()
}

/// The choice byte and the rest.
fn split(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(c, rest)| (*c, rest))
}

/// Decodes with the consensus codec; an accepted value must survive a round trip.
fn stable<T: Debug>(c: &ProtoCodec, bytes: &[u8]) -> bool
where
    ProtoCodec: Codec<T>,
    <ProtoCodec as Codec<T>>::Error: Debug,
{
    let Ok(v) = Codec::<T>::decode(c, Bytes::copy_from_slice(bytes)) else {
        return false;
    };
    let enc = c.encode(&v).expect("a decoded value encodes");
    let again: T = c
        .decode(enc)
        .expect("the encoding of a decoded value decodes");
    assert_eq!(format!("{v:?}"), format!("{again:?}"), "round trip");
    true
}

/// DA frames: a frame's bytes (and the entries its data holds), or the bytes at the start of a
/// blob (zero-padded to a whole blob: one or more frames back to back). An accepted frame
/// re-encodes to the bytes it came from.
pub fn frame(data: &[u8]) -> bool {
    use ordo_types::da::{BLOB_BYTES, Frame, decode_entries, frames_from_blobs};
    let Some((choice, bytes)) = split(data) else {
        return false;
    };
    let l = limits();
    let frames = if choice % 2 == 0 {
        Frame::decode(bytes, &l)
            .inspect(|f| assert_eq!(f.encode(), bytes, "re-encodes"))
            .map(|f| vec![f])
    } else {
        let mut blob = bytes.to_vec();
        blob.resize(BLOB_BYTES.max(bytes.len()), 0);
        frames_from_blobs(&[blob], &l)
    };
    frames.is_ok_and(|frames| {
        for f in frames {
            let _ = decode_entries(f.chain_id, f.first, f.last, &f.data, &l);
            assert_eq!(Frame::decode(&f.encode(), &l).expect("re-decodes"), f);
        }
        true
    })
}

/// The consensus codec: what validators send each other, and what the WAL holds.
pub fn consensus(data: &[u8]) -> bool {
    let Some((choice, bytes)) = split(data) else {
        return false;
    };
    let c = ProtoCodec { limits: limits() };
    match choice % 10 {
        0 => stable::<SignedConsensusMsg<OrdoContext>>(&c, bytes),
        1 => stable::<ProposalPart>(&c, bytes),
        2 => stable::<StreamMessage<ProposalPart>>(&c, bytes),
        3 => stable::<LivenessMsg<OrdoContext>>(&c, bytes),
        4 => stable::<ValidatorProof<OrdoContext>>(&c, bytes),
        5 => stable::<sync::Status<OrdoContext>>(&c, bytes),
        6 => stable::<sync::Request<OrdoContext>>(&c, bytes),
        7 => stable::<sync::Response<OrdoContext>>(&c, bytes),
        8 => stable::<ProposedValue<OrdoContext>>(&c, bytes),
        _ => stable::<PolkaCertificate<OrdoContext>>(&c, bytes),
    }
}

/// Batches and everything inside them.
pub fn batch(data: &[u8]) -> bool {
    let Some((choice, bytes)) = split(data) else {
        return false;
    };
    let l = limits();
    match choice % 7 {
        0 => Batch::decode_proto(bytes, &l).is_ok_and(|b| {
            let _ = b.check_body(&l);
            let _ = b.namespace_tree().root();
            let again = Batch::decode_proto(&b.encode_proto(), &l).expect("re-decodes");
            assert_eq!(again, b);
            true
        }),
        1 => Certificate::decode(bytes, &l).is_ok_and(|c| {
            let _ = c.verify(&pinned_set(), CHAIN);
            assert_eq!(Certificate::decode(&c.encode(), &l).expect("re-decodes"), c);
            true
        }),
        2 => Transaction::decode(bytes, &l).is_ok_and(|t| {
            assert_eq!(Transaction::decode(&t.encode(), &l).expect("re-decodes"), t);
            true
        }),
        3 => BatchTx::decode(bytes, &l).is_ok_and(|t| {
            let _ = t.id();
            assert_eq!(BatchTx::decode(&t.encode(), &l).expect("re-decodes"), t);
            true
        }),
        4 => ForcedTx::decode(bytes, &l).is_ok_and(|t| {
            assert_eq!(ForcedTx::decode(&t.encode(), &l).expect("re-decodes"), t);
            true
        }),
        5 => BatchHeader::from_bytes(bytes).is_ok_and(|h| {
            let _ = h.hash();
            assert_eq!(
                BatchHeader::from_bytes(&h.to_bytes()).expect("re-parses"),
                h
            );
            true
        }),
        _ => decode_message::<pb::ValidatorSet>(bytes, &l)
            .ok()
            .and_then(|p| ValidatorSet::from_proto(p, &l).ok())
            .is_some_and(|s| {
                let _ = s.hash();
                let again = ValidatorSet::from_proto(pb::ValidatorSet::from(&s), &l);
                assert_eq!(again.expect("re-converts"), s);
                true
            }),
    }
}

/// What a rollup checks alone: a namespace stream item, and a namespace proof.
pub fn proof(data: &[u8]) -> bool {
    let Some((choice, bytes)) = split(data) else {
        return false;
    };
    let l = limits();
    if choice % 2 == 0 {
        let Ok(item) = decode_message::<api::NamespaceSlice>(bytes, &l) else {
            return false;
        };
        // Expect whatever height and namespace the item claims, so the checks after those are
        // reached.
        let from = item.header.as_ref().map_or(1, |h| h.height);
        let ns = item
            .proof
            .as_ref()
            .map_or(NAMESPACE, |p| ordo_types::Namespace(p.namespace));
        let mut v = SliceVerifier::new(CHAIN, pinned_set(), ns, Height(from), l);
        v.verify(item).is_ok()
    } else {
        let Some((root, rest)) = bytes.split_first_chunk::<32>() else {
            return false;
        };
        let root = Hash(*root);
        decode_message::<pb::NamespaceProof>(rest, &l)
            .ok()
            .and_then(|p| NamespaceProof::try_from(p).ok())
            .is_some_and(|p| {
                let _ = p.verify_slice(&root, &[]);
                p.verify(&root).is_ok()
            })
    }
}

/// Gossip bundles as a validator receives them, each transaction then admitted to a pool the
/// way the node admits it: with the id of the bytes as received, which must be its id.
pub fn gossip(data: &[u8]) -> bool {
    let data = Bytes::copy_from_slice(data);
    let Some(txs) = ordo_p2p::gossip::bundle_split(&data) else {
        return false;
    };
    let mut rebuilt = Vec::new();
    for t in &txs {
        ordo_p2p::gossip::bundle_push(&mut rebuilt, t);
    }
    assert_eq!(
        rebuilt,
        data.to_vec(),
        "a bundle splits into what rebuilds it"
    );
    let l = limits();
    let mut pool = Mempool::new(MempoolConfig::default(), l);
    for b in &txs {
        if let Ok(tx) = Transaction::decode(b, &l) {
            let id = TxId::of_encoding(b);
            assert_eq!(
                id,
                tx.id(),
                "the id of the received bytes is the transaction's"
            );
            let _ = pool.admit_with_id(tx, id);
        }
    }
    true
}

/// The gRPC API: requests a node decodes, responses a client decodes.
pub fn api_messages(data: &[u8]) -> bool {
    let Some((choice, bytes)) = split(data) else {
        return false;
    };
    let l = limits();
    match choice % 6 {
        0 => decode_message::<api::SubmitTxRequest>(bytes, &l).is_ok_and(|r| {
            let tx = Transaction::new(ordo_types::Namespace(r.namespace), r.payload);
            let id = tx.id();
            let mut pool = Mempool::new(MempoolConfig::default(), l);
            if let Ok(admitted) = pool.admit(tx) {
                assert_eq!(admitted, id, "admission keeps the id");
            }
            true
        }),
        1 => decode_message::<api::GetTransactionRequest>(bytes, &l)
            .is_ok_and(|r| Hash::from_slice(&r.id).is_some()),
        2 => {
            let batch = decode_message::<api::GetBatchRequest>(bytes, &l).is_ok();
            decode_message::<api::StreamNamespaceRequest>(bytes, &l).is_ok() || batch
        }
        3 => decode_message::<api::SubmitTxResponse>(bytes, &l).is_ok_and(|r| {
            let _ = api::Outcome::try_from(r.outcome);
            Hash::from_slice(&r.id).is_some()
        }),
        4 => decode_message::<api::ValidatorSetResponse>(bytes, &l)
            .ok()
            .and_then(|r| r.validator_set)
            .is_some_and(|s| ValidatorSet::from_proto(s, &l).is_ok()),
        _ => decode_message::<pb::CertifiedBatch>(bytes, &l)
            .ok()
            .and_then(|r| Some((Batch::from_proto(r.batch?, &l).ok()?, r.certificate?)))
            .and_then(|(b, c)| Some((b, Certificate::from_proto(c, &l).ok()?)))
            .is_some_and(|(b, c)| {
                b.check_body(&l).is_ok() && c.verify(&pinned_set(), CHAIN).is_ok()
            }),
    }
}
