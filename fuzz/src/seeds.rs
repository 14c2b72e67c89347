//! The seed corpus: one or more valid inputs per decoder of every target, built from a real
//! certified batch of the pinned chain, so fuzzing starts from inputs that pass every check and
//! mutates inwards. `tests/corpus.rs` checks that `fuzz/corpus/` holds exactly these
//! (`ORDO_BLESS_SEEDS=1` rewrites it) and replays the whole corpus through each target.

use crate::fixtures::{CHAIN, NAMESPACE, pinned_set, secret};
use bytes::Bytes;
use malachitebft_signing_ed25519::Signature;
use malachitebft_sync::{ValueRequest, ValueResponse};
use ordo_client::api;
use ordo_consensus::codec::ProtoCodec;
use ordo_consensus::mala::app::consensus::LivenessMsg;
use ordo_consensus::mala::app::streaming::{StreamContent, StreamId, StreamMessage};
use ordo_consensus::mala::app::types::codec::Codec;
use ordo_consensus::mala::app::types::sync;
use ordo_consensus::mala::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use ordo_consensus::mc::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use ordo_consensus::{
    BatchId, BatchValue, ConsHeight, PartData, PartFin, PartInit, Proposal, ProposalPart,
    ValidatorAddress, Vote,
};
use ordo_types::bls::attestation_message;
use ordo_types::wire::pb;
use ordo_types::{
    Address, Batch, BatchHeader, BatchTx, Certificate, Epoch, ForcedCursor, ForcedTx, Hash, Height,
    L1Ref, Limits, Namespace, Transaction, ValidatorIndex,
};
use prost::Message;

/// One seed: the target it is for, its file name, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A certified batch of the pinned chain at height 5: two forced entries, then namespaces 1
/// (two transactions) and 2, certified by validators 0, 1 and 3 in round 2.
#[derive(Debug)]
pub struct Sample {
    pub batch: Batch,
    pub certificate: Certificate,
}

const HEIGHT: u64 = 5;
const ROUND: u32 = 2;

fn forced(queue_index: u64, payload: &[u8]) -> ForcedTx {
    ForcedTx {
        queue_index,
        l1_block: 90,
        namespace: NAMESPACE,
        sender: [0xaa; 20],
        payload: payload.to_vec().into(),
    }
}

fn tx(ns: u64, payload: &[u8]) -> Transaction {
    Transaction::new(Namespace(ns), payload.to_vec())
}

impl Sample {
    pub fn new() -> Sample {
        let set = pinned_set();
        let template = BatchHeader {
            chain_id: CHAIN,
            height: Height(HEIGHT),
            parent_hash: Hash([0x11; 32]),
            timestamp_ms: 1_767_225_600_000,
            epoch: Epoch(0),
            validator_set_hash: set.hash(),
            l1_ref: L1Ref {
                number: 100,
                hash: Hash([0x33; 32]),
            },
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: set.validators().get(1).expect("four validators").address,
            next_validator_set_hash: set.hash(),
        };
        let body = vec![
            BatchTx::Forced(forced(0, b"forced zero")),
            BatchTx::Forced(forced(1, b"forced one")),
            BatchTx::Ordinary(tx(1, b"alpha")),
            BatchTx::Ordinary(tx(1, b"beta")),
            BatchTx::Ordinary(tx(2, b"gamma")),
        ];
        let batch = Batch::seal(template, body, 0, &Limits::default()).expect("a valid body");
        let msg = attestation_message(
            CHAIN,
            Height(HEIGHT),
            ordo_types::Round(ROUND),
            &batch.hash(),
        );
        let votes: Vec<_> = [0u32, 1, 3]
            .iter()
            .map(|&i| {
                let who = set
                    .get(ValidatorIndex(i))
                    .expect("four validators")
                    .address
                    .0;
                let who = who.first().copied().unwrap_or_default();
                (ValidatorIndex(i), secret(who).sign(&msg))
            })
            .collect();
        let certificate = Certificate::aggregate(
            &set,
            CHAIN,
            Height(HEIGHT),
            ordo_types::Round(ROUND),
            batch.hash(),
            &votes,
        )
        .expect("a quorum")
        .certificate;
        Sample { batch, certificate }
    }

    fn slice(&self, ns: Namespace) -> api::NamespaceSlice {
        let tree = self.batch.namespace_tree();
        api::NamespaceSlice {
            header: Some(pb::BatchHeader::from(&self.batch.header)),
            certificate: Some(pb::Certificate::from(&self.certificate)),
            txs: self
                .batch
                .txs
                .iter()
                .filter(|t| t.namespace() == ns)
                .map(pb::BatchTx::from)
                .collect(),
            proof: Some(pb::NamespaceProof::from(&tree.proof(ns))),
            commitment: None,
        }
    }
}

impl Default for Sample {
    fn default() -> Sample {
        Sample::new()
    }
}

struct Out(Vec<Seed>);

impl Out {
    fn add(&mut self, target: &'static str, name: &str, choice: Option<u8>, bytes: &[u8]) {
        let mut b = choice.map(|c| vec![c]).unwrap_or_default();
        b.extend_from_slice(bytes);
        self.0.push(Seed {
            target,
            name: name.into(),
            bytes: b,
        });
    }

    fn consensus<T>(&mut self, name: &str, choice: u8, v: &T)
    where
        ProtoCodec: Codec<T>,
        <ProtoCodec as Codec<T>>::Error: std::fmt::Debug,
    {
        let c = ProtoCodec {
            limits: Limits::default(),
        };
        let bytes = c.encode(v).expect("encodes");
        self.add("consensus", name, Some(choice), &bytes);
    }
}

/// Every seed, in a fixed order.
pub fn seeds() -> Vec<Seed> {
    let s = Sample::new();
    let mut out = Out(Vec::new());
    batch_seeds(&mut out, &s);
    proof_seeds(&mut out, &s);
    gossip_seeds(&mut out, &s);
    api_seeds(&mut out, &s);
    consensus_seeds(&mut out, &s);
    frame_seeds(&mut out, &s);
    out.0
}

fn batch_seeds(out: &mut Out, s: &Sample) {
    let b = &s.batch;
    out.add("batch", "batch", Some(0), &b.encode_proto());
    out.add("batch", "certificate", Some(1), &s.certificate.encode());
    out.add("batch", "transaction", Some(2), &tx(1, b"alpha").encode());
    let ordinary = BatchTx::Ordinary(tx(1, b"alpha"));
    out.add("batch", "batch-tx-ordinary", Some(3), &ordinary.encode());
    let forced_tx = BatchTx::Forced(forced(0, b"forced zero"));
    out.add("batch", "batch-tx-forced", Some(3), &forced_tx.encode());
    out.add(
        "batch",
        "forced",
        Some(4),
        &forced(0, b"forced zero").encode(),
    );
    out.add("batch", "header", Some(5), &b.header.to_bytes());
    let set = pb::ValidatorSet::from(&pinned_set()).encode_to_vec();
    out.add("batch", "validator-set", Some(6), &set);
}

fn frame_seeds(out: &mut Out, s: &Sample) {
    use ordo_types::da::{Certified, pack};
    let one = Certified {
        batch: s.batch.clone(),
        certificate: s.certificate.clone(),
    };
    let frame = pack(CHAIN, &[one], 4096).remove(0);
    out.add("frame", "frame", Some(0), &frame.encode());
    // The frame as it starts a blob: 31 bytes behind every zero byte, trailing zeros dropped.
    let blob = frame.to_blobs().remove(0);
    let used = blob.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    out.add(
        "frame",
        "blob",
        Some(1),
        blob.get(..used).unwrap_or_default(),
    );
}

fn proof_seeds(out: &mut Out, s: &Sample) {
    out.add(
        "proof",
        "slice-present",
        Some(0),
        &s.slice(NAMESPACE).encode_to_vec(),
    );
    out.add(
        "proof",
        "slice-absent",
        Some(0),
        &s.slice(Namespace(9)).encode_to_vec(),
    );
    let root = s.batch.header.namespaces_root;
    for (name, ns) in [
        ("proof-present", Namespace(2)),
        ("proof-absent", Namespace(0)),
    ] {
        let p = pb::NamespaceProof::from(&s.batch.namespace_tree().proof(ns)).encode_to_vec();
        out.add("proof", name, Some(1), &[&root.0[..], &p].concat());
    }
}

fn gossip_seeds(out: &mut Out, s: &Sample) {
    let mut one = Vec::new();
    ordo_p2p::gossip::bundle_push(&mut one, &tx(1, b"alpha").encode());
    out.add("gossip", "bundle-one", None, &one);
    let mut three = Vec::new();
    for t in s.batch.txs.iter().filter(|t| !t.is_forced()) {
        if let BatchTx::Ordinary(t) = t {
            ordo_p2p::gossip::bundle_push(&mut three, &t.encode());
        }
    }
    out.add("gossip", "bundle-three", None, &three);
}

fn api_seeds(out: &mut Out, s: &Sample) {
    let submit = api::SubmitTxRequest {
        namespace: 1,
        payload: b"alpha".to_vec().into(),
        ack: api::AckLevel::Ordered as i32,
        wait_ms: 1_000,
        seq: 3,
    };
    out.add("api", "submit", Some(0), &submit.encode_to_vec());
    let id = tx(1, b"alpha").id();
    let get = api::GetTransactionRequest {
        id: id.0.as_bytes().to_vec().into(),
    };
    out.add("api", "get-transaction", Some(1), &get.encode_to_vec());
    let batch = api::GetBatchRequest { height: HEIGHT };
    out.add("api", "get-batch", Some(2), &batch.encode_to_vec());
    let stream = api::StreamNamespaceRequest {
        namespace: 1,
        from_height: HEIGHT,
        level: 0,
    };
    out.add("api", "stream-namespace", Some(2), &stream.encode_to_vec());
    let answer = api::SubmitTxResponse {
        seq: 3,
        id: id.0.as_bytes().to_vec().into(),
        outcome: api::Outcome::Ordered as i32,
        height: HEIGHT,
        index: 2,
        reason: String::new(),
    };
    out.add("api", "submit-response", Some(3), &answer.encode_to_vec());
    let set = pinned_set();
    let vs = api::ValidatorSetResponse {
        chain_id: CHAIN.0,
        validator_set: Some(pb::ValidatorSet::from(&set)),
        validator_set_hash: set.hash().0.to_vec().into(),
        epoch: 0,
        epoch_length: 0,
    };
    out.add(
        "api",
        "validator-set-response",
        Some(4),
        &vs.encode_to_vec(),
    );
    let certified = pb::CertifiedBatch {
        batch: Some(s.batch.to_proto()),
        certificate: Some(pb::Certificate::from(&s.certificate)),
    };
    out.add(
        "api",
        "certified-batch",
        Some(5),
        &certified.encode_to_vec(),
    );
}

fn sig(b: u8) -> Signature {
    Signature::from_bytes([b; 64])
}

fn addr(i: u8) -> ValidatorAddress {
    ValidatorAddress(Address([i; 20]))
}

#[allow(clippy::too_many_lines)] // one value per message kind
fn consensus_seeds(out: &mut Out, s: &Sample) {
    let h = ConsHeight(HEIGHT);
    let r = Round::new(ROUND);
    let id = BatchId(s.batch.hash());
    let vote = Vote {
        vote_type: VoteType::Precommit,
        height: h,
        round: r,
        value: NilOrVal::Val(id),
        validator: addr(0),
        extension: Some(SignedMessage::new(
            Bytes::from(s.certificate.encode()),
            sig(2),
        )),
    };
    let signed_vote = SignedMessage::new(vote, sig(1));
    out.consensus(
        "vote",
        0,
        &SignedConsensusMsg::<_>::Vote(signed_vote.clone()),
    );
    let proposal = Proposal {
        height: h,
        round: r,
        value: BatchValue::new(s.batch.header),
        pol_round: Round::Nil,
        proposer: addr(1),
    };
    out.consensus(
        "proposal",
        0,
        &SignedConsensusMsg::<_>::Proposal(SignedMessage::new(proposal, sig(3))),
    );
    let init = ProposalPart::Init(PartInit {
        height: h,
        round: r,
        proposer: addr(1),
        header: s.batch.header,
        valid_round: Round::Nil,
    });
    let data = ProposalPart::Data(PartData {
        txs: s.batch.txs.clone(),
    });
    let fin = ProposalPart::Fin(PartFin { signature: sig(4) });
    out.consensus("part-init", 1, &init);
    out.consensus("part-data", 1, &data);
    out.consensus("part-fin", 1, &fin);
    let stream = StreamId::new(Bytes::from_static(b"\x00\x00\x00\x05\x00\x00\x00\x02"));
    let msg = StreamMessage::new(stream.clone(), 1, StreamContent::Data(data));
    out.consensus("stream-data", 2, &msg);
    out.consensus(
        "stream-fin",
        2,
        &StreamMessage::<ProposalPart>::new(stream, 3, StreamContent::Fin),
    );
    let polka = PolkaCertificate {
        height: h,
        round: r,
        value_id: id,
        polka_signatures: (0..3)
            .map(|i| PolkaSignature::new(addr(i), sig(i)))
            .collect(),
    };
    out.consensus("liveness-vote", 3, &LivenessMsg::Vote(signed_vote));
    out.consensus(
        "liveness-polka",
        3,
        &LivenessMsg::PolkaCertificate(polka.clone()),
    );
    let skip = RoundCertificate {
        height: h,
        round: r,
        cert_type: RoundCertificateType::Skip,
        round_signatures: (0..3)
            .map(|i| RoundSignature::new(VoteType::Prevote, NilOrVal::Nil, addr(i), sig(i)))
            .collect(),
    };
    out.consensus("liveness-skip", 3, &LivenessMsg::SkipRoundCertificate(skip));
    let proof =
        ValidatorProof::<ordo_consensus::OrdoContext>::new(vec![7; 32], vec![0x12; 38], sig(5));
    out.consensus("validator-proof", 4, &proof);
    let peer = PeerId::from_bytes(&[&[0x12, 0x20][..], &[0x42; 32]].concat()).expect("a peer id");
    let status = sync::Status {
        peer_id: peer,
        tip_height: h,
        history_min_height: ConsHeight(1),
    };
    out.consensus("sync-status", 5, &status);
    let request = sync::Request::ValueRequest(ValueRequest::new(ConsHeight(3)..=h));
    out.consensus("sync-request", 6, &request);
    let commit = ExtendedCommitCertificate {
        height: h,
        round: r,
        value_id: id,
        commit_signatures: (0..3)
            .map(|i| {
                let ext = SignedMessage::new(Bytes::from(vec![i; 96]), sig(i));
                ExtendedCommitSignature::new(addr(i), sig(i), Some(ext))
            })
            .collect(),
    };
    let value = sync::RawDecidedValue::new(Bytes::from(s.batch.encode_proto()), commit);
    let response = sync::Response::ValueResponse(ValueResponse::new(h, vec![value]));
    out.consensus("sync-response", 7, &response);
    let proposed = ProposedValue {
        height: h,
        round: r,
        valid_round: Round::Nil,
        proposer: addr(1),
        value: BatchValue::new(s.batch.header),
        validity: Validity::Valid,
    };
    out.consensus("proposed-value", 8, &proposed);
    out.consensus("polka-certificate", 9, &polka);
}
