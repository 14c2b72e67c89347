//! Protobuf codecs (schemas in `proto/ordo/v1/consensus.proto`) for everything malachite sends
//! between validators or writes to its WAL. Every decode checks the input size against
//! [`Limits`] first and every field's length after; nothing here panics on peer input.

use crate::context::{
    BatchId, BatchValue, ConsHeight, OrdoContext, PartData, PartFin, PartInit, Proposal,
    ProposalPart, ValidatorAddress, Vote,
};
use crate::mala::app::consensus::LivenessMsg;
use crate::mala::app::streaming::{StreamContent, StreamId, StreamMessage};
use crate::mala::app::types::sync;
use crate::mala::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use crate::mc::{
    self, ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate,
    PolkaSignature, Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage,
    Validity, VoteType,
};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_signing_ed25519::Signature;
use ordo_types::tx::BatchTx;
use ordo_types::{Address, BatchHeader, Hash, Limits};
use prost::Message;

/// The generated messages of package `ordo.v1.consensus`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    rust_2018_idioms
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/ordo.v1.consensus.rs"));
}

/// A message from a peer or the WAL that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consensus codec: {0}")]
pub struct CodecError(pub String);

fn err(s: impl Into<String>) -> CodecError {
    CodecError(s.into())
}

type R<T> = Result<T, CodecError>;

/// The codec of ordo's consensus network, sync protocol and WAL.
#[derive(Clone, Copy, Debug)]
pub struct ProtoCodec {
    pub limits: Limits,
}

fn b(x: &[u8]) -> Bytes {
    Bytes::copy_from_slice(x)
}

fn address(x: &[u8]) -> R<ValidatorAddress> {
    Address::from_slice(x)
        .map(ValidatorAddress)
        .ok_or_else(|| err("an address is 20 bytes"))
}

fn hash(x: &[u8]) -> R<Hash> {
    Hash::from_slice(x).ok_or_else(|| err("a hash is 32 bytes"))
}

fn signature(x: &[u8]) -> R<Signature> {
    <[u8; 64]>::try_from(x)
        .map(Signature::from_bytes)
        .map_err(|_| err("a signature is 64 bytes"))
}

fn round(r: u32) -> Round {
    Round::new(r)
}

fn round_u32(r: Round) -> u32 {
    r.as_u32().unwrap_or(0)
}

fn opt_round(r: i64) -> R<Round> {
    match r {
        -1 => Ok(Round::Nil),
        r => u32::try_from(r)
            .map(Round::new)
            .map_err(|_| err("a round is -1 or a u32")),
    }
}

fn value_id(x: &[u8]) -> R<NilOrVal<BatchId>> {
    if x.is_empty() {
        Ok(NilOrVal::Nil)
    } else {
        hash(x).map(|h| NilOrVal::Val(BatchId(h)))
    }
}

fn value_id_bytes(v: &NilOrVal<BatchId>) -> Bytes {
    match v {
        NilOrVal::Nil => Bytes::new(),
        NilOrVal::Val(id) => b(&id.0.0),
    }
}

fn header(x: &[u8]) -> R<BatchHeader> {
    BatchHeader::from_bytes(x).map_err(|e| err(e.to_string()))
}

fn vote_type(t: i32) -> R<VoteType> {
    match pb::VoteType::try_from(t) {
        Ok(pb::VoteType::Prevote) => Ok(VoteType::Prevote),
        Ok(pb::VoteType::Precommit) => Ok(VoteType::Precommit),
        Err(_) => Err(err("unknown vote type")),
    }
}

fn vote_type_pb(t: VoteType) -> i32 {
    match t {
        VoteType::Prevote => pb::VoteType::Prevote as i32,
        VoteType::Precommit => pb::VoteType::Precommit as i32,
    }
}

fn ext_pb(e: &SignedMessage<OrdoContext, Bytes>) -> pb::SignedExtension {
    pb::SignedExtension {
        extension: e.message.clone(),
        signature: b(&e.signature.to_bytes()),
    }
}

fn ext_from(e: pb::SignedExtension) -> R<SignedMessage<OrdoContext, Bytes>> {
    if e.extension.len() > 1024 {
        return Err(err("a vote extension is at most 1 KiB"));
    }
    Ok(SignedMessage::new(e.extension, signature(&e.signature)?))
}

fn signed_vote_pb(v: &SignedMessage<OrdoContext, Vote>) -> pb::SignedVote {
    pb::SignedVote {
        vote: Some(pb::Vote {
            vote_type: vote_type_pb(v.vote_type),
            height: v.height.0,
            round: round_u32(v.round),
            value_id: value_id_bytes(&v.value),
            validator: b(&v.validator.0.0),
        }),
        signature: b(&v.signature.to_bytes()),
        extension: v.extension.as_ref().map(ext_pb),
    }
}

fn signed_vote_from(s: pb::SignedVote) -> R<SignedMessage<OrdoContext, Vote>> {
    let v = s.vote.ok_or_else(|| err("vote missing"))?;
    let vote = Vote {
        vote_type: vote_type(v.vote_type)?,
        height: ConsHeight(v.height),
        round: round(v.round),
        value: value_id(&v.value_id)?,
        validator: address(&v.validator)?,
        extension: s.extension.map(ext_from).transpose()?,
    };
    Ok(SignedMessage::new(vote, signature(&s.signature)?))
}

fn proposal_pb(p: &SignedMessage<OrdoContext, Proposal>) -> pb::SignedProposal {
    pb::SignedProposal {
        proposal: Some(pb::Proposal {
            height: p.height.0,
            round: round_u32(p.round),
            value: b(&p.value.header.to_bytes()),
            pol_round: p.pol_round.as_i64(),
            proposer: b(&p.proposer.0.0),
        }),
        signature: b(&p.signature.to_bytes()),
    }
}

fn proposal_from(s: pb::SignedProposal) -> R<SignedMessage<OrdoContext, Proposal>> {
    let p = s.proposal.ok_or_else(|| err("proposal missing"))?;
    let proposal = Proposal {
        height: ConsHeight(p.height),
        round: round(p.round),
        value: BatchValue::new(header(&p.value)?),
        pol_round: opt_round(p.pol_round)?,
        proposer: address(&p.proposer)?,
    };
    Ok(SignedMessage::new(proposal, signature(&s.signature)?))
}

fn part_pb(p: &ProposalPart) -> pb::ProposalPart {
    let part = match p {
        ProposalPart::Init(i) => pb::proposal_part::Part::Init(pb::PartInit {
            height: i.height.0,
            round: round_u32(i.round),
            proposer: b(&i.proposer.0.0),
            header: b(&i.header.to_bytes()),
            valid_round: i.valid_round.as_i64(),
        }),
        ProposalPart::Data(d) => pb::proposal_part::Part::Data(pb::PartData {
            txs: d.txs.iter().map(|t| Bytes::from(t.encode())).collect(),
        }),
        ProposalPart::Fin(f) => pb::proposal_part::Part::Fin(pb::PartFin {
            signature: b(&f.signature.to_bytes()),
        }),
    };
    pb::ProposalPart { part: Some(part) }
}

fn part_from(p: pb::ProposalPart, limits: &Limits) -> R<ProposalPart> {
    Ok(match p.part.ok_or_else(|| err("part missing"))? {
        pb::proposal_part::Part::Init(i) => ProposalPart::Init(PartInit {
            height: ConsHeight(i.height),
            round: round(i.round),
            proposer: address(&i.proposer)?,
            header: header(&i.header)?,
            valid_round: opt_round(i.valid_round)?,
        }),
        pb::proposal_part::Part::Data(d) => {
            if d.txs.len() > limits.max_batch_txs as usize {
                return Err(err("too many transactions in a part"));
            }
            let txs = d
                .txs
                .iter()
                .map(|t| BatchTx::decode(t, limits).map_err(|e| err(e.to_string())))
                .collect::<R<Vec<_>>>()?;
            ProposalPart::Data(PartData { txs })
        }
        pb::proposal_part::Part::Fin(f) => ProposalPart::Fin(PartFin {
            signature: signature(&f.signature)?,
        }),
    })
}

fn polka_pb(c: &PolkaCertificate<OrdoContext>) -> pb::PolkaCertificate {
    pb::PolkaCertificate {
        height: c.height.0,
        round: round_u32(c.round),
        value_id: b(&c.value_id.0.0),
        signatures: c
            .polka_signatures
            .iter()
            .map(|s| pb::PolkaSignature {
                address: b(&s.address.0.0),
                signature: b(&s.signature.to_bytes()),
            })
            .collect(),
    }
}

fn check_sigs(n: usize, limits: &Limits) -> R<()> {
    if n > limits.max_validators as usize {
        return Err(err("more signatures than validators"));
    }
    Ok(())
}

fn polka_from(c: pb::PolkaCertificate, limits: &Limits) -> R<PolkaCertificate<OrdoContext>> {
    check_sigs(c.signatures.len(), limits)?;
    Ok(PolkaCertificate {
        height: ConsHeight(c.height),
        round: round(c.round),
        value_id: BatchId(hash(&c.value_id)?),
        polka_signatures: c
            .signatures
            .iter()
            .map(|s| {
                Ok(PolkaSignature::new(
                    address(&s.address)?,
                    signature(&s.signature)?,
                ))
            })
            .collect::<R<_>>()?,
    })
}

fn round_cert_pb(c: &RoundCertificate<OrdoContext>) -> pb::RoundCertificate {
    pb::RoundCertificate {
        height: c.height.0,
        round: round_u32(c.round),
        cert_type: match c.cert_type {
            RoundCertificateType::Skip => 0,
            RoundCertificateType::Precommit => 1,
        },
        signatures: c
            .round_signatures
            .iter()
            .map(|s| pb::RoundSignature {
                vote_type: vote_type_pb(s.vote_type),
                value_id: value_id_bytes(&s.value_id),
                address: b(&s.address.0.0),
                signature: b(&s.signature.to_bytes()),
            })
            .collect(),
    }
}

fn round_cert_from(c: pb::RoundCertificate, limits: &Limits) -> R<RoundCertificate<OrdoContext>> {
    check_sigs(c.signatures.len(), limits)?;
    Ok(RoundCertificate {
        height: ConsHeight(c.height),
        round: round(c.round),
        cert_type: match c.cert_type {
            0 => RoundCertificateType::Skip,
            1 => RoundCertificateType::Precommit,
            _ => return Err(err("unknown round certificate type")),
        },
        round_signatures: c
            .signatures
            .iter()
            .map(|s| {
                Ok(RoundSignature::new(
                    vote_type(s.vote_type)?,
                    value_id(&s.value_id)?,
                    address(&s.address)?,
                    signature(&s.signature)?,
                ))
            })
            .collect::<R<_>>()?,
    })
}

/// The protobuf form of an extended commit certificate (also stored with each decided batch).
pub fn extended_cert_pb(
    c: &ExtendedCommitCertificate<OrdoContext>,
) -> pb::ExtendedCommitCertificate {
    pb::ExtendedCommitCertificate {
        height: c.height.0,
        round: round_u32(c.round),
        value_id: b(&c.value_id.0.0),
        signatures: c
            .commit_signatures
            .iter()
            .map(|s| pb::ExtendedCommitSignature {
                address: b(&s.address.0.0),
                signature: b(&s.signature.to_bytes()),
                extension: s.extension.as_ref().map(ext_pb),
            })
            .collect(),
    }
}

/// Reads [`extended_cert_pb`] back.
pub fn extended_cert_from(
    c: pb::ExtendedCommitCertificate,
    limits: &Limits,
) -> Result<ExtendedCommitCertificate<OrdoContext>, CodecError> {
    check_sigs(c.signatures.len(), limits)?;
    Ok(ExtendedCommitCertificate {
        height: ConsHeight(c.height),
        round: round(c.round),
        value_id: BatchId(hash(&c.value_id)?),
        commit_signatures: c
            .signatures
            .into_iter()
            .map(|s| {
                Ok(ExtendedCommitSignature::new(
                    address(&s.address)?,
                    signature(&s.signature)?,
                    s.extension.map(ext_from).transpose()?,
                ))
            })
            .collect::<R<_>>()?,
    })
}

impl ProtoCodec {
    fn decode_pb<M: Message + Default>(&self, bytes: &Bytes) -> R<M> {
        if bytes.len() as u64 > self.limits.max_message_bytes {
            return Err(err("message over the size limit"));
        }
        M::decode(bytes.clone()).map_err(|e| err(e.to_string()))
    }
}

macro_rules! proto_codec {
    ($t:ty, $pb:ty, |$s:ident, $m:ident| $to:expr, |$s2:ident, $p:ident| $from:expr) => {
        impl Codec<$t> for ProtoCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                let $p: $pb = self.decode_pb(&bytes)?;
                let $s2 = self;
                $from
            }

            fn encode(&self, $m: &$t) -> Result<Bytes, CodecError> {
                let $s = self;
                let _ = $s;
                let out: $pb = $to;
                Ok(Bytes::from(out.encode_to_vec()))
            }
        }
    };
}

proto_codec!(
    ProposalPart,
    pb::ProposalPart,
    |_s, m| part_pb(m),
    |s, p| part_from(p, &s.limits)
);

proto_codec!(
    SignedConsensusMsg<OrdoContext>,
    pb::SignedConsensusMsg,
    |_s, m| pb::SignedConsensusMsg {
        msg: Some(match m {
            SignedConsensusMsg::Vote(v) => pb::signed_consensus_msg::Msg::Vote(signed_vote_pb(v)),
            SignedConsensusMsg::Proposal(p) => {
                pb::signed_consensus_msg::Msg::Proposal(proposal_pb(p))
            }
        })
    },
    |_s, p| match p.msg.ok_or_else(|| err("message missing"))? {
        pb::signed_consensus_msg::Msg::Vote(v) => signed_vote_from(v).map(SignedConsensusMsg::Vote),
        pb::signed_consensus_msg::Msg::Proposal(p) => {
            proposal_from(p).map(SignedConsensusMsg::Proposal)
        }
    }
);

proto_codec!(
    LivenessMsg<OrdoContext>,
    pb::LivenessMsg,
    |_s, m| pb::LivenessMsg {
        msg: Some(match m {
            LivenessMsg::Vote(v) => pb::liveness_msg::Msg::Vote(signed_vote_pb(v)),
            LivenessMsg::PolkaCertificate(c) => pb::liveness_msg::Msg::Polka(polka_pb(c)),
            LivenessMsg::SkipRoundCertificate(c) => {
                pb::liveness_msg::Msg::SkipRound(round_cert_pb(c))
            }
        })
    },
    |s, p| match p.msg.ok_or_else(|| err("message missing"))? {
        pb::liveness_msg::Msg::Vote(v) => signed_vote_from(v).map(LivenessMsg::Vote),
        pb::liveness_msg::Msg::Polka(c) => {
            polka_from(c, &s.limits).map(LivenessMsg::PolkaCertificate)
        }
        pb::liveness_msg::Msg::SkipRound(c) => {
            round_cert_from(c, &s.limits).map(LivenessMsg::SkipRoundCertificate)
        }
    }
);

proto_codec!(
    StreamMessage<ProposalPart>,
    pb::StreamMessage,
    |_s, m| pb::StreamMessage {
        stream_id: m.stream_id.to_bytes(),
        sequence: m.sequence,
        content: Some(match &m.content {
            StreamContent::Data(p) => pb::stream_message::Content::Data(part_pb(p)),
            StreamContent::Fin => pb::stream_message::Content::Fin(true),
        }),
    },
    |s, p| {
        if p.stream_id.len() > 64 {
            return Err(err("stream id over 64 bytes"));
        }
        let content = match p.content.ok_or_else(|| err("stream content missing"))? {
            pb::stream_message::Content::Data(part) => {
                StreamContent::Data(part_from(part, &s.limits)?)
            }
            pb::stream_message::Content::Fin(_) => StreamContent::Fin,
        };
        Ok(StreamMessage::new(
            StreamId::new(p.stream_id),
            p.sequence,
            content,
        ))
    }
);

proto_codec!(
    mc::ValidatorProof<OrdoContext>,
    pb::ValidatorProof,
    |_s, m| pb::ValidatorProof {
        public_key: b(&m.public_key),
        peer_id: b(&m.peer_id),
        signature: b(&m.signature.to_bytes()),
    },
    |_s, p| {
        if p.public_key.len() > 64 || p.peer_id.len() > 128 {
            return Err(err("validator proof fields too long"));
        }
        Ok(mc::ValidatorProof::new(
            p.public_key.to_vec(),
            p.peer_id.to_vec(),
            signature(&p.signature)?,
        ))
    }
);

proto_codec!(
    sync::Status<OrdoContext>,
    pb::SyncStatus,
    |_s, m| pb::SyncStatus {
        peer_id: Bytes::from(m.peer_id.to_bytes()),
        tip_height: m.tip_height.0,
        history_min_height: m.history_min_height.0,
    },
    |_s, p| Ok(sync::Status {
        peer_id: PeerId::from_bytes(&p.peer_id).map_err(|e| err(e.to_string()))?,
        tip_height: ConsHeight(p.tip_height),
        history_min_height: ConsHeight(p.history_min_height),
    })
);

proto_codec!(
    sync::Request<OrdoContext>,
    pb::SyncRequest,
    |_s, m| match m {
        sync::Request::ValueRequest(r) => pb::SyncRequest {
            start: r.range.start().0,
            end: r.range.end().0,
        },
    },
    |_s, p| Ok(sync::Request::ValueRequest(
        malachitebft_sync::ValueRequest::new(ConsHeight(p.start)..=ConsHeight(p.end))
    ))
);

fn response_pb(m: &sync::Response<OrdoContext>) -> pb::SyncResponse {
    match m {
        sync::Response::ValueResponse(r) => pb::SyncResponse {
            start_height: r.start_height.0,
            values: r
                .values
                .iter()
                .map(|v| pb::RawDecidedValue {
                    value_bytes: v.value_bytes.clone(),
                    certificate: Some(extended_cert_pb(&v.certificate)),
                })
                .collect(),
        },
    }
}

proto_codec!(
    sync::Response<OrdoContext>,
    pb::SyncResponse,
    |_s, m| response_pb(m),
    |s, p| {
        let values = p
            .values
            .into_iter()
            .map(|v| {
                let cert = v.certificate.ok_or_else(|| err("certificate missing"))?;
                Ok(sync::RawDecidedValue::new(
                    v.value_bytes,
                    extended_cert_from(cert, &s.limits)?,
                ))
            })
            .collect::<R<Vec<_>>>()?;
        Ok(sync::Response::ValueResponse(
            malachitebft_sync::ValueResponse::new(ConsHeight(p.start_height), values),
        ))
    }
);

impl HasEncodedLen<sync::Response<OrdoContext>> for ProtoCodec {
    fn encoded_len(&self, msg: &sync::Response<OrdoContext>) -> Result<usize, CodecError> {
        Ok(response_pb(msg).encoded_len())
    }
}

proto_codec!(
    ProposedValue<OrdoContext>,
    pb::ProposedValue,
    |_s, m| pb::ProposedValue {
        height: m.height.0,
        round: round_u32(m.round),
        valid_round: m.valid_round.as_i64(),
        proposer: b(&m.proposer.0.0),
        value: b(&m.value.header.to_bytes()),
        valid: m.validity.is_valid(),
    },
    |_s, p| Ok(ProposedValue {
        height: ConsHeight(p.height),
        round: round(p.round),
        valid_round: opt_round(p.valid_round)?,
        proposer: address(&p.proposer)?,
        value: BatchValue::new(header(&p.value)?),
        validity: Validity::from_bool(p.valid),
    })
);

proto_codec!(
    PolkaCertificate<OrdoContext>,
    pb::PolkaCertificate,
    |_s, m| polka_pb(m),
    |s, p| polka_from(p, &s.limits)
);

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
