//! Property tests of [`ProtoCodec`] for every message type it carries (consensus gossip, proposal
//! streams, liveness, sync and the WAL), each checked four ways:
//!
//! - `round_trips`: an arbitrary value encodes and decodes back to exactly itself (compared with
//!   `PartialEq` *and* `Debug`, since `Vote` and `BatchValue` leave fields out of their equality),
//!   and re-encodes to the same bytes.
//! - `prefixes_never_decode_to_the_original`: every strict prefix of a valid encoding decodes to
//!   an error or to another value, without panicking.
//! - `mutations_never_panic`: bytes flipped, inserted or removed decode to an error or to a value
//!   whose re-encoding decodes back to that same value.
//! - `size_limit_is_exact`: an encoding of `max_message_bytes` bytes is accepted, one byte over
//!   is refused before parsing.
//!
//! Then random bytes against every decoder, and a table of the per-field limits. A failing case
//! prints its inputs and proptest records its seed under `proptest-regressions/`, so it reruns.

use super::*;
use malachitebft_sync::{ValueRequest, ValueResponse};
use ordo_types::tx::{ForcedTx, Transaction};
use ordo_types::{ChainId, Epoch, Height, Namespace};
use ordo_types::{ForcedCursor, L1Ref};
use proptest::prelude::*;
use proptest::sample::Index;
use std::fmt::Debug;

/// Cases per property: enough to reach every variant and field many times, few enough that the
/// whole file runs in seconds in a debug build.
const CASES: u32 = 128;

fn codec() -> ProtoCodec {
    ProtoCodec {
        limits: Limits::default(),
    }
}

fn codec_with(limits: Limits) -> ProtoCodec {
    ProtoCodec { limits }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn addr() -> impl Strategy<Value = ValidatorAddress> {
    any::<[u8; 20]>().prop_map(|a| ValidatorAddress(Address(a)))
}

fn sig() -> impl Strategy<Value = Signature> {
    any::<[u8; 64]>().prop_map(Signature::from_bytes)
}

fn height() -> impl Strategy<Value = ConsHeight> {
    any::<u64>().prop_map(ConsHeight)
}

/// A defined round: the codec writes message rounds as `u32` (only `pol_round` and
/// `valid_round` may be nil).
fn some_round() -> impl Strategy<Value = Round> {
    any::<u32>().prop_map(Round::new)
}

fn opt_round() -> impl Strategy<Value = Round> {
    prop_oneof![Just(Round::Nil), some_round()]
}

fn value_id() -> impl Strategy<Value = NilOrVal<BatchId>> {
    prop_oneof![
        Just(NilOrVal::Nil),
        hash().prop_map(|h| NilOrVal::Val(BatchId(h)))
    ]
}

fn vote_type() -> impl Strategy<Value = VoteType> {
    prop_oneof![Just(VoteType::Prevote), Just(VoteType::Precommit)]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn extension() -> impl Strategy<Value = SignedMessage<OrdoContext, Bytes>> {
    (bytes(96), sig()).prop_map(|(e, s)| SignedMessage::new(e, s))
}

fn header() -> impl Strategy<Value = BatchHeader> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            hash(),
            any::<u64>(),
            any::<u64>(),
        ),
        (hash(), any::<u64>(), hash(), any::<u64>(), any::<u64>()),
        (
            hash(),
            any::<u32>(),
            any::<u64>(),
            any::<[u8; 20]>(),
            hash(),
        ),
    )
        .prop_map(
            |(
                (chain_id, height, parent_hash, timestamp_ms, epoch),
                (validator_set_hash, l1_number, l1_hash, first, next),
                (namespaces_root, tx_count, body_bytes, proposer, next_validator_set_hash),
            )| BatchHeader {
                chain_id: ChainId(chain_id),
                height: Height(height),
                parent_hash,
                timestamp_ms,
                epoch: Epoch(epoch),
                validator_set_hash,
                l1_ref: L1Ref {
                    number: l1_number,
                    hash: l1_hash,
                },
                forced_cursor: ForcedCursor { first, next },
                namespaces_root,
                tx_count,
                body_bytes,
                proposer: Address(proposer),
                next_validator_set_hash,
            },
        )
}

fn batch_tx() -> impl Strategy<Value = BatchTx> {
    prop_oneof![
        (any::<u64>(), bytes(48))
            .prop_map(|(ns, p)| BatchTx::Ordinary(Transaction::new(Namespace(ns), p))),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<[u8; 20]>(),
            bytes(48)
        )
            .prop_map(|(queue_index, l1_block, ns, sender, payload)| {
                BatchTx::Forced(ForcedTx {
                    queue_index,
                    l1_block,
                    namespace: Namespace(ns),
                    sender,
                    payload,
                })
            }),
    ]
}

fn part() -> impl Strategy<Value = ProposalPart> {
    prop_oneof![
        (height(), some_round(), addr(), header(), opt_round()).prop_map(
            |(height, round, proposer, header, valid_round)| {
                ProposalPart::Init(PartInit {
                    height,
                    round,
                    proposer,
                    header,
                    valid_round,
                })
            }
        ),
        prop::collection::vec(batch_tx(), 0..6)
            .prop_map(|txs| ProposalPart::Data(PartData { txs })),
        sig().prop_map(|signature| ProposalPart::Fin(PartFin { signature })),
    ]
}

fn signed_vote() -> impl Strategy<Value = SignedMessage<OrdoContext, Vote>> {
    (
        (vote_type(), height(), some_round(), value_id(), addr()),
        prop::option::of(extension()),
        sig(),
    )
        .prop_map(
            |((vote_type, height, round, value, validator), extension, s)| {
                let vote = Vote {
                    vote_type,
                    height,
                    round,
                    value,
                    validator,
                    extension,
                };
                SignedMessage::new(vote, s)
            },
        )
}

fn signed_proposal() -> impl Strategy<Value = SignedMessage<OrdoContext, Proposal>> {
    (height(), some_round(), header(), opt_round(), addr(), sig()).prop_map(
        |(height, round, header, pol_round, proposer, s)| {
            let proposal = Proposal {
                height,
                round,
                value: BatchValue::new(header),
                pol_round,
                proposer,
            };
            SignedMessage::new(proposal, s)
        },
    )
}

fn consensus_msg() -> impl Strategy<Value = SignedConsensusMsg<OrdoContext>> {
    prop_oneof![
        signed_vote().prop_map(SignedConsensusMsg::Vote),
        signed_proposal().prop_map(SignedConsensusMsg::Proposal),
    ]
}

fn polka() -> impl Strategy<Value = PolkaCertificate<OrdoContext>> {
    (
        height(),
        some_round(),
        hash(),
        prop::collection::vec((addr(), sig()), 0..6),
    )
        .prop_map(|(height, round, id, sigs)| PolkaCertificate {
            height,
            round,
            value_id: BatchId(id),
            polka_signatures: sigs
                .into_iter()
                .map(|(a, s)| PolkaSignature::new(a, s))
                .collect(),
        })
}

fn round_cert() -> impl Strategy<Value = RoundCertificate<OrdoContext>> {
    let cert_type = prop_oneof![
        Just(RoundCertificateType::Skip),
        Just(RoundCertificateType::Precommit)
    ];
    let signature = (vote_type(), value_id(), addr(), sig())
        .prop_map(|(t, id, a, s)| RoundSignature::new(t, id, a, s));
    (
        height(),
        some_round(),
        cert_type,
        prop::collection::vec(signature, 0..6),
    )
        .prop_map(
            |(height, round, cert_type, round_signatures)| RoundCertificate {
                height,
                round,
                cert_type,
                round_signatures,
            },
        )
}

fn liveness() -> impl Strategy<Value = LivenessMsg<OrdoContext>> {
    prop_oneof![
        signed_vote().prop_map(LivenessMsg::Vote),
        polka().prop_map(LivenessMsg::PolkaCertificate),
        round_cert().prop_map(LivenessMsg::SkipRoundCertificate),
    ]
}

fn stream_msg() -> impl Strategy<Value = StreamMessage<ProposalPart>> {
    let content = prop_oneof![
        part().prop_map(StreamContent::Data),
        Just(StreamContent::Fin)
    ];
    (bytes(64), any::<u64>(), content)
        .prop_map(|(id, seq, content)| StreamMessage::new(StreamId::new(id), seq, content))
}

fn validator_proof() -> impl Strategy<Value = mc::ValidatorProof<OrdoContext>> {
    (
        prop::collection::vec(any::<u8>(), 0..=64),
        prop::collection::vec(any::<u8>(), 0..=128),
        sig(),
    )
        .prop_map(|(pk, peer, s)| mc::ValidatorProof::new(pk, peer, s))
}

/// A peer id as libp2p builds them: a sha2-256 multihash, or an identity multihash of an
/// inlined key of at most 42 bytes.
fn peer_id() -> impl Strategy<Value = PeerId> {
    let sha = any::<[u8; 32]>().prop_map(|d| [&[0x12, 0x20][..], &d].concat());
    let identity = prop::collection::vec(any::<u8>(), 0..=42)
        .prop_map(|d| [&[0x00, d.len() as u8][..], &d].concat());
    prop_oneof![sha, identity]
        .prop_map(|b| PeerId::from_bytes(&b).expect("a well-formed peer id multihash"))
}

fn status() -> impl Strategy<Value = sync::Status<OrdoContext>> {
    (peer_id(), height(), height()).prop_map(|(peer_id, tip_height, history_min_height)| {
        sync::Status {
            peer_id,
            tip_height,
            history_min_height,
        }
    })
}

fn request() -> impl Strategy<Value = sync::Request<OrdoContext>> {
    (height(), height())
        .prop_map(|(start, end)| sync::Request::ValueRequest(ValueRequest::new(start..=end)))
}

fn extended_cert() -> impl Strategy<Value = ExtendedCommitCertificate<OrdoContext>> {
    let signature = (addr(), sig(), prop::option::of(extension()))
        .prop_map(|(a, s, e)| ExtendedCommitSignature::new(a, s, e));
    (
        height(),
        some_round(),
        hash(),
        prop::collection::vec(signature, 0..5),
    )
        .prop_map(
            |(height, round, id, commit_signatures)| ExtendedCommitCertificate {
                height,
                round,
                value_id: BatchId(id),
                commit_signatures,
            },
        )
}

fn response() -> impl Strategy<Value = sync::Response<OrdoContext>> {
    let value = (bytes(128), extended_cert())
        .prop_map(|(value_bytes, cert)| sync::RawDecidedValue::new(value_bytes, cert));
    (height(), prop::collection::vec(value, 0..4)).prop_map(|(start, values)| {
        sync::Response::ValueResponse(ValueResponse::new(start, values))
    })
}

fn proposed_value() -> impl Strategy<Value = ProposedValue<OrdoContext>> {
    (
        height(),
        some_round(),
        opt_round(),
        addr(),
        header(),
        any::<bool>(),
    )
        .prop_map(
            |(height, round, valid_round, proposer, header, valid)| ProposedValue {
                height,
                round,
                valid_round,
                proposer,
                value: BatchValue::new(header),
                validity: Validity::from_bool(valid),
            },
        )
}

/// One change to an encoding; positions are taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Insert(Index, u8),
    Remove(Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, x)| Edit::Flip(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, x)| Edit::Insert(i, x)),
        any::<Index>().prop_map(Edit::Remove),
    ];
    prop::collection::vec(edit, 1..8)
}

fn apply(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for e in edits {
        match *e {
            Edit::Flip(at, x) if !out.is_empty() => {
                let i = at.index(out.len());
                out[i] ^= x | 1;
            }
            Edit::Insert(at, x) => {
                let i = at.index(out.len() + 1);
                out.insert(i, x);
            }
            Edit::Remove(at) if !out.is_empty() => {
                out.remove(at.index(out.len()));
            }
            Edit::Flip(..) | Edit::Remove(_) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The four properties, for any type the codec carries.

/// Exact equality: `PartialEq` and `Debug` (which shows the fields `PartialEq` skips).
fn assert_same<T: PartialEq + Debug>(got: &T, want: &T) -> Result<(), TestCaseError> {
    prop_assert_eq!(got, want);
    prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
    Ok(())
}

fn round_trip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: PartialEq + Debug,
    ProtoCodec: Codec<T, Error = CodecError>,
{
    let c = codec();
    let bytes = c.encode(v)?;
    let back = c.decode(bytes.clone())?;
    assert_same(&back, v)?;
    prop_assert_eq!(c.encode(&back)?, bytes);
    Ok(())
}

fn prefixes<T>(v: &T) -> Result<(), TestCaseError>
where
    T: Debug,
    ProtoCodec: Codec<T, Error = CodecError>,
{
    let c = codec();
    let bytes = c.encode(v)?;
    for n in 0..bytes.len() {
        if let Ok(part) = c.decode(bytes.slice(..n)) {
            // Protobuf omits default fields, so a cut at a field boundary can decode; but the
            // fields it lost were not defaults, so it cannot come back as the original.
            prop_assert_ne!(
                c.encode(&part)?,
                bytes.clone(),
                "a {}-byte prefix decoded as {:?}",
                n,
                part
            );
        }
    }
    Ok(())
}

/// Decodes `bytes`; whatever is accepted must re-encode to bytes that decode back to it, and
/// re-encode identically (the codec has one canonical form per value).
fn decode_is_stable<T>(c: &ProtoCodec, bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: PartialEq + Debug,
    ProtoCodec: Codec<T, Error = CodecError>,
{
    let Ok(v) = Codec::<T>::decode(c, Bytes::copy_from_slice(bytes)) else {
        return Ok(());
    };
    let again = c.encode(&v)?;
    let back: T = c.decode(again.clone())?;
    assert_same(&back, &v)?;
    prop_assert_eq!(c.encode(&back)?, again);
    Ok(())
}

fn mutations<T>(v: &T, edits: &[Edit]) -> Result<(), TestCaseError>
where
    T: PartialEq + Debug,
    ProtoCodec: Codec<T, Error = CodecError>,
{
    let c = codec();
    let bytes = apply(&c.encode(v)?, edits);
    decode_is_stable::<T>(&c, &bytes)
}

fn size_limit<T>(v: &T) -> Result<(), TestCaseError>
where
    T: PartialEq + Debug,
    ProtoCodec: Codec<T, Error = CodecError>,
{
    let bytes = codec().encode(v)?;
    let len = bytes.len() as u64;
    let limited = |max_message_bytes| {
        codec_with(Limits {
            max_message_bytes,
            ..Limits::default()
        })
    };
    let at: T = limited(len).decode(bytes.clone())?;
    assert_same(&at, v)?;
    if let Some(under) = len.checked_sub(1) {
        let refused = Codec::<T>::decode(&limited(under), bytes).err();
        prop_assert_eq!(refused, Some(err("message over the size limit")));
    }
    Ok(())
}

macro_rules! codec_properties {
    ($($name:ident: $t:ty = $strategy:expr;)*) => {$(
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(CASES))]

                #[test]
                fn round_trips(v in $strategy) {
                    round_trip::<$t>(&v)?;
                }

                #[test]
                fn prefixes_never_decode_to_the_original(v in $strategy) {
                    prefixes::<$t>(&v)?;
                }

                #[test]
                fn mutations_never_panic(v in $strategy, e in edits()) {
                    mutations::<$t>(&v, &e)?;
                }

                #[test]
                fn size_limit_is_exact(v in $strategy) {
                    size_limit::<$t>(&v)?;
                }
            }
        }
    )*};
}

codec_properties! {
    proposal_part: ProposalPart = part();
    signed_consensus_msg: SignedConsensusMsg<OrdoContext> = consensus_msg();
    liveness_msg: LivenessMsg<OrdoContext> = liveness();
    stream_message: StreamMessage<ProposalPart> = stream_msg();
    validator_proof: mc::ValidatorProof<OrdoContext> = validator_proof();
    sync_status: sync::Status<OrdoContext> = status();
    sync_request: sync::Request<OrdoContext> = request();
    sync_response: sync::Response<OrdoContext> = response();
    proposed_value: ProposedValue<OrdoContext> = proposed_value();
    polka_certificate: PolkaCertificate<OrdoContext> = polka();
}

/// Every decoder of the codec on the same bytes.
fn decode_all(c: &ProtoCodec, bytes: &[u8]) -> Result<(), TestCaseError> {
    decode_is_stable::<ProposalPart>(c, bytes)?;
    decode_is_stable::<SignedConsensusMsg<OrdoContext>>(c, bytes)?;
    decode_is_stable::<LivenessMsg<OrdoContext>>(c, bytes)?;
    decode_is_stable::<StreamMessage<ProposalPart>>(c, bytes)?;
    decode_is_stable::<mc::ValidatorProof<OrdoContext>>(c, bytes)?;
    decode_is_stable::<sync::Status<OrdoContext>>(c, bytes)?;
    decode_is_stable::<sync::Request<OrdoContext>>(c, bytes)?;
    decode_is_stable::<sync::Response<OrdoContext>>(c, bytes)?;
    decode_is_stable::<ProposedValue<OrdoContext>>(c, bytes)?;
    decode_is_stable::<PolkaCertificate<OrdoContext>>(c, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&codec(), &bytes)?;
    }

    /// Over the limit, every decoder refuses before looking at the bytes.
    #[test]
    fn oversized_input_is_refused_by_every_decoder(
        max in 0u64..256,
        extra in 1usize..64,
        fill in any::<u8>(),
    ) {
        let c = codec_with(Limits { max_message_bytes: max, ..Limits::default() });
        let bytes = Bytes::from(vec![fill; max as usize + extra]);
        let over = Some(err("message over the size limit"));
        prop_assert_eq!(Codec::<ProposalPart>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(
            Codec::<SignedConsensusMsg<OrdoContext>>::decode(&c, bytes.clone()).err(),
            over.clone()
        );
        prop_assert_eq!(Codec::<LivenessMsg<OrdoContext>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(Codec::<StreamMessage<ProposalPart>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(
            Codec::<mc::ValidatorProof<OrdoContext>>::decode(&c, bytes.clone()).err(),
            over.clone()
        );
        prop_assert_eq!(Codec::<sync::Status<OrdoContext>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(Codec::<sync::Request<OrdoContext>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(Codec::<sync::Response<OrdoContext>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(Codec::<ProposedValue<OrdoContext>>::decode(&c, bytes.clone()).err(), over.clone());
        prop_assert_eq!(Codec::<PolkaCertificate<OrdoContext>>::decode(&c, bytes).err(), over);
    }

    /// The sync actor sizes responses with `encoded_len` before encoding them.
    #[test]
    fn response_encoded_len_is_the_encoding_length(v in response()) {
        let c = codec();
        prop_assert_eq!(c.encoded_len(&v)?, c.encode(&v)?.len());
    }
}

// ---------------------------------------------------------------------------------------------
// The per-field limits and shape checks, each at its boundary.

const SMALL: Limits = Limits {
    max_tx_payload: 64,
    max_batch_txs: 4,
    max_batch_bytes: 4096,
    max_message_bytes: 64 * 1024,
    max_validators: 4,
};

fn sig_bytes() -> Bytes {
    Bytes::from(vec![7u8; 64])
}

fn header_bytes() -> Bytes {
    Bytes::copy_from_slice(
        &BatchHeader {
            chain_id: ChainId(1),
            height: Height(2),
            parent_hash: Hash([3; 32]),
            timestamp_ms: 4,
            epoch: Epoch(0),
            validator_set_hash: Hash([5; 32]),
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash([6; 32]),
            tx_count: 0,
            body_bytes: 0,
            proposer: Address([8; 20]),
            next_validator_set_hash: Hash([5; 32]),
        }
        .to_bytes(),
    )
}

fn pb_vote(vote_type: i32, validator_len: usize, extension_len: usize) -> pb::SignedConsensusMsg {
    pb::SignedConsensusMsg {
        msg: Some(pb::signed_consensus_msg::Msg::Vote(pb::SignedVote {
            vote: Some(pb::Vote {
                vote_type,
                height: 1,
                round: 0,
                value_id: Bytes::from(vec![1u8; 32]),
                validator: Bytes::from(vec![2u8; validator_len]),
            }),
            signature: sig_bytes(),
            extension: Some(pb::SignedExtension {
                extension: Bytes::from(vec![3u8; extension_len]),
                signature: sig_bytes(),
            }),
        })),
    }
}

fn pb_proposal(pol_round: i64, value: Bytes, signature: Bytes) -> pb::SignedConsensusMsg {
    pb::SignedConsensusMsg {
        msg: Some(pb::signed_consensus_msg::Msg::Proposal(
            pb::SignedProposal {
                proposal: Some(pb::Proposal {
                    height: 1,
                    round: 0,
                    value,
                    pol_round,
                    proposer: Bytes::from(vec![2u8; 20]),
                }),
                signature,
            },
        )),
    }
}

fn pb_data(txs: usize, payload: usize) -> pb::ProposalPart {
    let tx = BatchTx::Ordinary(Transaction::new(Namespace(1), vec![0u8; payload]));
    pb::ProposalPart {
        part: Some(pb::proposal_part::Part::Data(pb::PartData {
            txs: vec![Bytes::from(tx.encode()); txs],
        })),
    }
}

fn pb_polka(signatures: usize, value_id_len: usize) -> pb::PolkaCertificate {
    pb::PolkaCertificate {
        height: 1,
        round: 0,
        value_id: Bytes::from(vec![1u8; value_id_len]),
        signatures: vec![
            pb::PolkaSignature {
                address: Bytes::from(vec![2u8; 20]),
                signature: sig_bytes(),
            };
            signatures
        ],
    }
}

fn pb_round_cert(signatures: usize, cert_type: u32) -> pb::LivenessMsg {
    pb::LivenessMsg {
        msg: Some(pb::liveness_msg::Msg::SkipRound(pb::RoundCertificate {
            height: 1,
            round: 0,
            cert_type,
            signatures: vec![
                pb::RoundSignature {
                    vote_type: pb::VoteType::Prevote as i32,
                    value_id: Bytes::new(),
                    address: Bytes::from(vec![2u8; 20]),
                    signature: sig_bytes(),
                };
                signatures
            ],
        })),
    }
}

fn pb_response(signatures: usize, certificate: bool) -> pb::SyncResponse {
    let cert = pb::ExtendedCommitCertificate {
        height: 1,
        round: 0,
        value_id: Bytes::from(vec![1u8; 32]),
        signatures: vec![
            pb::ExtendedCommitSignature {
                address: Bytes::from(vec![2u8; 20]),
                signature: sig_bytes(),
                extension: None,
            };
            signatures
        ],
    };
    pb::SyncResponse {
        start_height: 1,
        values: vec![pb::RawDecidedValue {
            value_bytes: Bytes::from_static(b"batch"),
            certificate: certificate.then_some(cert),
        }],
    }
}

fn pb_stream(id_len: usize, content: Option<pb::stream_message::Content>) -> pb::StreamMessage {
    pb::StreamMessage {
        stream_id: Bytes::from(vec![1u8; id_len]),
        sequence: 0,
        content,
    }
}

fn pb_proof(pk_len: usize, peer_len: usize) -> pb::ValidatorProof {
    pb::ValidatorProof {
        public_key: Bytes::from(vec![1u8; pk_len]),
        peer_id: Bytes::from(vec![2u8; peer_len]),
        signature: sig_bytes(),
    }
}

/// Decodes `m`'s encoding as `T` with [`SMALL`] limits, keeping only the verdict.
fn verdict<T>(m: &impl Message) -> Result<(), String>
where
    ProtoCodec: Codec<T, Error = CodecError>,
{
    Codec::<T>::decode(&codec_with(SMALL), Bytes::from(m.encode_to_vec()))
        .map(|_| ())
        .map_err(|e| e.0)
}

fn decode_error(r: Result<BatchTx, ordo_types::codec::DecodeError>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

type Cm = SignedConsensusMsg<OrdoContext>;
type Lm = LivenessMsg<OrdoContext>;

/// A row of [`field_limits_table`]: the verdict on a crafted message, and the one expected.
struct Case {
    case: &'static str,
    input: Result<(), String>,
    expected: Result<(), String>,
}

fn case(case: &'static str, input: Result<(), String>, expected: Result<(), &str>) -> Case {
    Case {
        case,
        input,
        expected: expected.map_err(str::to_string),
    }
}

fn vote_and_proposal_cases() -> Vec<Case> {
    let prevote = pb::VoteType::Prevote as i32;
    let short_header = header_bytes().slice(1..);
    let header_error = BatchHeader::from_bytes(&short_header)
        .err()
        .map(|e| e.to_string());
    let no_vote = pb::SignedConsensusMsg {
        msg: Some(pb::signed_consensus_msg::Msg::Vote(
            pb::SignedVote::default(),
        )),
    };
    let no_proposal = pb::SignedConsensusMsg {
        msg: Some(pb::signed_consensus_msg::Msg::Proposal(
            pb::SignedProposal::default(),
        )),
    };
    let proposal = |pol_round, value| verdict::<Cm>(&pb_proposal(pol_round, value, sig_bytes()));
    vec![
        case(
            "a 1 KiB vote extension",
            verdict::<Cm>(&pb_vote(prevote, 20, 1024)),
            Ok(()),
        ),
        case(
            "a vote extension over 1 KiB",
            verdict::<Cm>(&pb_vote(prevote, 20, 1025)),
            Err("a vote extension is at most 1 KiB"),
        ),
        case(
            "an unknown vote type",
            verdict::<Cm>(&pb_vote(2, 20, 0)),
            Err("unknown vote type"),
        ),
        case(
            "a 19-byte validator address",
            verdict::<Cm>(&pb_vote(prevote, 19, 0)),
            Err("an address is 20 bytes"),
        ),
        case("a nil pol_round", proposal(-1, header_bytes()), Ok(())),
        case(
            "a pol_round below -1",
            proposal(-2, header_bytes()),
            Err("a round is -1 or a u32"),
        ),
        case(
            "a pol_round over u32",
            proposal(1 << 32, header_bytes()),
            Err("a round is -1 or a u32"),
        ),
        Case {
            case: "a header one byte short",
            input: proposal(-1, short_header),
            expected: Err(header_error.unwrap_or_default()),
        },
        case(
            "a 63-byte signature",
            verdict::<Cm>(&pb_proposal(-1, header_bytes(), sig_bytes().slice(1..))),
            Err("a signature is 64 bytes"),
        ),
        case(
            "a consensus message with no message",
            verdict::<Cm>(&pb::SignedConsensusMsg { msg: None }),
            Err("message missing"),
        ),
        case(
            "a signed vote with no vote",
            verdict::<Cm>(&no_vote),
            Err("vote missing"),
        ),
        case(
            "a signed proposal with no proposal",
            verdict::<Cm>(&no_proposal),
            Err("proposal missing"),
        ),
    ]
}

fn part_and_certificate_cases() -> Vec<Case> {
    type Polka = PolkaCertificate<OrdoContext>;
    let fat_tx = BatchTx::Ordinary(Transaction::new(Namespace(1), vec![0u8; 65])).encode();
    let fat_error = decode_error(BatchTx::decode(&fat_tx, &SMALL));
    let too_many = Err("more signatures than validators");
    vec![
        case(
            "a part with max_batch_txs transactions",
            verdict::<ProposalPart>(&pb_data(4, 64)),
            Ok(()),
        ),
        case(
            "a part with one transaction too many",
            verdict::<ProposalPart>(&pb_data(5, 1)),
            Err("too many transactions in a part"),
        ),
        Case {
            case: "a transaction payload over max_tx_payload",
            input: verdict::<ProposalPart>(&pb_data(1, 65)),
            expected: Err(fat_error),
        },
        case(
            "a part with no part",
            verdict::<ProposalPart>(&pb::ProposalPart { part: None }),
            Err("part missing"),
        ),
        case(
            "a polka with max_validators signatures",
            verdict::<Polka>(&pb_polka(4, 32)),
            Ok(()),
        ),
        case(
            "a polka with more signatures than validators",
            verdict::<Polka>(&pb_polka(5, 32)),
            too_many,
        ),
        case(
            "a polka for a 31-byte value id",
            verdict::<Polka>(&pb_polka(1, 31)),
            Err("a hash is 32 bytes"),
        ),
        case(
            "a skip-round certificate with max_validators signatures",
            verdict::<Lm>(&pb_round_cert(4, 0)),
            Ok(()),
        ),
        case(
            "a skip-round certificate with more signatures than validators",
            verdict::<Lm>(&pb_round_cert(5, 0)),
            too_many,
        ),
        case(
            "an unknown round certificate type",
            verdict::<Lm>(&pb_round_cert(1, 2)),
            Err("unknown round certificate type"),
        ),
        case(
            "a liveness message with no message",
            verdict::<Lm>(&pb::LivenessMsg { msg: None }),
            Err("message missing"),
        ),
    ]
}

fn stream_sync_and_proof_cases() -> Vec<Case> {
    type Proof = mc::ValidatorProof<OrdoContext>;
    type Resp = sync::Response<OrdoContext>;
    type Sm = StreamMessage<ProposalPart>;
    let fin = || Some(pb::stream_message::Content::Fin(true));
    let too_long = Err("validator proof fields too long");
    vec![
        case(
            "a sync response certificate with max_validators signatures",
            verdict::<Resp>(&pb_response(4, true)),
            Ok(()),
        ),
        case(
            "a sync response certificate with more signatures than validators",
            verdict::<Resp>(&pb_response(5, true)),
            Err("more signatures than validators"),
        ),
        case(
            "a decided value without its certificate",
            verdict::<Resp>(&pb_response(0, false)),
            Err("certificate missing"),
        ),
        case(
            "a 64-byte stream id",
            verdict::<Sm>(&pb_stream(64, fin())),
            Ok(()),
        ),
        case(
            "a stream id over 64 bytes",
            verdict::<Sm>(&pb_stream(65, fin())),
            Err("stream id over 64 bytes"),
        ),
        case(
            "a stream message with no content",
            verdict::<Sm>(&pb_stream(8, None)),
            Err("stream content missing"),
        ),
        case(
            "a validator proof at its field limits",
            verdict::<Proof>(&pb_proof(64, 128)),
            Ok(()),
        ),
        case(
            "a validator proof key over 64 bytes",
            verdict::<Proof>(&pb_proof(65, 0)),
            too_long,
        ),
        case(
            "a validator proof peer id over 128 bytes",
            verdict::<Proof>(&pb_proof(0, 129)),
            too_long,
        ),
    ]
}

/// Each field check of the decoders at its boundary: the last accepted value and the first
/// refused one, with the exact error.
#[test]
fn field_limits_table() {
    let cases = [
        vote_and_proposal_cases(),
        part_and_certificate_cases(),
        stream_sync_and_proof_cases(),
    ];
    for c in cases.into_iter().flatten() {
        assert_eq!(c.input, c.expected, "case: {}", c.case);
    }
}

#[test]
fn a_sync_status_with_a_malformed_peer_id_is_refused() {
    let c = codec();
    let inline_key_too_long = [&[0x00, 43][..], &[9u8; 43]].concat();
    for peer_id in [
        &b""[..],
        &[0x12, 0x20, 1, 2, 3][..],
        &[0x13, 0x01, 0][..],
        &inline_key_too_long[..],
    ] {
        let m = pb::SyncStatus {
            peer_id: Bytes::copy_from_slice(peer_id),
            tip_height: 1,
            history_min_height: 0,
        };
        let got = Codec::<sync::Status<OrdoContext>>::decode(&c, Bytes::from(m.encode_to_vec()));
        assert!(got.is_err(), "peer id {peer_id:?} accepted: {got:?}");
    }
}
