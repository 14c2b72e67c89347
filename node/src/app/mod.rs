//! The application side of the engine: answers every `AppMsg` of malachite, promptly.
//!
//! - Proposing: `GetValue` builds a batch from the pool (or returns the one already built for
//!   that height and round), stores it, replies, then streams its parts in a separate task.
//! - Receiving: parts are reassembled, the stream's signature and the proposal's validity
//!   (`ordo_consensus::validity`) are checked, and the proposal is stored before it is reported.
//! - Attesting: `ExtendVote` signs the BLS attestation (after the double-sign guard);
//!   `VerifyVoteExtensions` checks other validators' attestations.
//! - Deciding: `Decided` aggregates the attestations into the batch's certificate and stores
//!   batch, certificate and commit in one fsynced write before acknowledging.
//! - Sync: `GetDecidedValues` serves stored heights; `ProcessSyncedValue` accepts a certified
//!   batch from a peer after checking it matches its header.
//! - Forced inclusion (a chain with an L1 inbox): the proposer names its L1 head (less a margin)
//!   and puts the entries the rule requires first; a validator judges them against its own L1
//!   view, waiting at most `[l1] wait_ms` for a block it has not read yet.

use crate::config::TestingSection;
use crate::genesis::LoadedGenesis;
use crate::store::{Decided, Store, StoreError};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::{Role, VoteExtensionError};
use malachitebft_app_channel::app::engine::host::{Next, SyncedValueOutcome};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, NetworkMsg};
use ordo_consensus::forced::{ForcedParams, InboxView, required};
use ordo_consensus::mc::{self, HeightParams, Round, Validity, VoteExtensionPolicy};
use ordo_consensus::parts::{self, Assembled, Assembler};
use ordo_consensus::signing::{OrdoSigner, OrdoVerifier};
use ordo_consensus::validity::{InvalidProposal, L1Input, Parent, Rules, check_header};
use ordo_consensus::{BatchId, BatchValue, ConsHeight, OrdoContext, PartFin, ValidatorAddress};
use ordo_da_adapter::l1::L1Reader;
use ordo_types::bls::attestation_message;
use ordo_types::tx::BatchTx;
use ordo_types::{
    Batch, BatchHeader, BlsSecretKey, BlsSignature, Certificate, Epoch, ForcedCursor, Hash, Height,
    L1Ref, TxId, ValidatorIndex,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// What the RPC reads of the node's progress.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub moniker: String,
    pub address: String,
    pub chain_id: u64,
    pub height: u64,
    pub round: u32,
    pub latest_hash: String,
    pub latest_timestamp_ms: u64,
    pub latest_tx_count: u32,
    pub pool_size: usize,
    pub validators: usize,
    /// Proposals this node refused for their L1 reference or forced entries.
    pub forced_refusals: u64,
    /// Transactions in the batches this process stored since it started (a rate's numerator).
    pub txs_since_start: u64,
}

/// State shared by the app loop, the APIs and gossip.
#[derive(Debug)]
pub struct Shared {
    pub store: Arc<Store>,
    pub pool: Mutex<ordo_mempool::Mempool>,
    pub status: Mutex<Status>,
    pub genesis: Arc<LoadedGenesis>,
    /// The L1 source, on a chain with an inbox.
    pub l1: Option<L1Reader>,
    /// Where admitted transactions go to reach the other validators (none without `[gossip]`).
    pub gossip: Option<ordo_p2p::gossip::GossipHandle>,
    /// Clients waiting for their transactions to be ordered.
    pub waiters: crate::ingress::Waiters,
    /// The latest stored height; namespace streams wait on it.
    pub heights: tokio::sync::watch::Sender<u64>,
    /// Set once consensus has started: `/health` answers 200 from then on.
    pub ready: std::sync::atomic::AtomicBool,
    /// The fault layer's settings, in a build with the `chaos` feature.
    pub net_faults: Option<ordo_p2p::faults::FaultKnob>,
}

/// Most proposals of the next height held until it starts.
const MAX_PENDING: usize = 16;
/// Rounds ahead of the current one a proposal stream may be for (malachite's own lookahead).
const MAX_ROUND_LOOKAHEAD: u32 = 10;
/// Most heights served in one sync response.
const MAX_SYNC_BATCH: u64 = 50;

/// A fatal application error: the node stops rather than acknowledge what it could not store.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invariant(String),
}

/// The forced-inclusion side of a validator on a chain with an L1 inbox.
#[derive(Debug, Clone)]
pub struct L1Ctx {
    pub reader: L1Reader,
    pub params: ForcedParams,
    /// Longest wait for this node's L1 view when judging a proposal.
    pub wait: std::time::Duration,
    /// Blocks below its L1 head a proposer names.
    pub ref_margin: u64,
}

/// The application state machine.
#[derive(Debug)]
pub struct App {
    pub ctx: OrdoContext,
    pub shared: Arc<Shared>,
    pub signer: OrdoSigner,
    pub verifier: OrdoVerifier,
    pub bls: BlsSecretKey,
    pub me: ValidatorAddress,
    pub net: mpsc::Sender<NetworkMsg<OrdoContext>>,
    pub testing: TestingSection,
    pub decisions: std::fs::File,
    pub l1: Option<L1Ctx>,
    height: u64,
    round: u32,
    parent: Parent,
    assembler: Assembler<PeerId>,
    pending: BTreeMap<u64, Vec<Assembled>>,
    /// The header of the last height this node stored, so the next height's parent needs no
    /// read (and decode) of the whole batch.
    last_header: Option<BatchHeader>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn round_u32(r: Round) -> u32 {
    r.as_u32().unwrap_or(0)
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: OrdoContext,
        shared: Arc<Shared>,
        signer: OrdoSigner,
        bls: BlsSecretKey,
        me: ValidatorAddress,
        net: mpsc::Sender<NetworkMsg<OrdoContext>>,
        testing: TestingSection,
        decisions: std::fs::File,
        l1: Option<L1Ctx>,
    ) -> App {
        let limits = shared.genesis.genesis.limits;
        App {
            verifier: OrdoVerifier {
                chain: ctx.chain_id,
            },
            ctx,
            shared,
            signer,
            bls,
            me,
            net,
            testing,
            decisions,
            l1,
            height: 0,
            round: 0,
            parent: Parent {
                height: Height(0),
                hash: Hash::ZERO,
                timestamp_ms: 0,
                l1_ref: L1Ref::default(),
                forced_next: 0,
            },
            assembler: Assembler::new(limits),
            pending: BTreeMap::new(),
            last_header: None,
        }
    }

    /// Serves the engine until it stops, or until a fatal error.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<AppMsg<OrdoContext>>,
    ) -> Result<(), AppError> {
        while let Some(msg) = rx.recv().await {
            self.handle(msg).await?;
        }
        Ok(())
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    fn set(&self) -> &ordo_consensus::ConsValidatorSet {
        &self.shared.genesis.set
    }

    fn params(&self) -> HeightParams<OrdoContext> {
        let g = &self.shared.genesis.genesis;
        HeightParams::new(
            self.set().clone(),
            g.params.timeouts(),
            Some(std::time::Duration::from_millis(g.params.block_time_ms)),
        )
        .with_vote_extension_policy(VoteExtensionPolicy::Required)
    }

    /// The parent of `height`: the stored batch below it, or genesis.
    fn parent_of(&self, height: u64) -> Result<Parent, AppError> {
        let g = &self.shared.genesis.genesis;
        if height <= 1 {
            return Ok(Parent {
                height: Height(0),
                hash: Hash::ZERO,
                timestamp_ms: g.genesis_time_ms,
                l1_ref: L1Ref::default(),
                forced_next: 0,
            });
        }
        if let Some(h) = &self.last_header
            && h.height.0 == height - 1
        {
            return Ok(parent_from(h));
        }
        let d = self
            .store()
            .decided(Height(height - 1))?
            .ok_or_else(|| AppError::Invariant(format!("height {} is not stored", height - 1)))?;
        Ok(parent_from(&d.batch.header))
    }

    async fn handle(&mut self, msg: AppMsg<OrdoContext>) -> Result<(), AppError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = self.store().latest_height()?.map_or(1, |h| h.0 + 1);
                self.enter_height(start)?;
                self.shared
                    .ready
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                info!(height = start, "consensus.ready");
                let _ = reply.send((ConsHeight(start), self.params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                let values = self.started_round(height.0, round, proposer, role).await?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                reply,
                ..
            } => {
                let batch = self.value_for(height.0, round)?;
                let _ = reply.send(LocallyProposedValue::new(
                    height,
                    round,
                    BatchValue::new(batch.header),
                ));
                self.publish(&batch, round, Round::Nil);
            }
            AppMsg::ExtendVote {
                height,
                round,
                value_id,
                reply,
                ..
            } => {
                let _ = reply.send(self.attest(height.0, round, value_id));
            }
            AppMsg::VerifyVoteExtensions {
                height,
                round,
                value_id,
                extensions,
                reply,
            } => {
                let _ = reply.send(self.verify_attestations(height.0, round, value_id, extensions));
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                // We stream (and sign the Fin of) only proposals of our own turns.
                if address == self.me
                    && let Some(batch) = self.store().undecided_by_hash(height.0, &value_id.0)?
                {
                    self.publish(&batch, round, valid_round);
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let h = self.store().earliest_height()?.map_or(1, |h| h.0);
                let _ = reply.send(ConsHeight(h));
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let value = self
                    .received_part(published_by.unwrap_or(from), part)
                    .await?;
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate,
                extensions,
                reply,
            } => {
                self.decided(certificate, extensions)?;
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let next = certificate.height.0 + 1;
                self.enter_height(next)?;
                let _ = reply.send(Next::Start(ConsHeight(next), self.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let _ = reply.send(self.decided_values(range.start().0, range.end().0)?);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let _ = reply.send(self.synced_value(height.0, round, proposer, value_bytes)?);
            }
        }
        Ok(())
    }

    fn enter_height(&mut self, height: u64) -> Result<(), AppError> {
        self.parent = self.parent_of(height)?;
        self.height = height;
        self.round = 0;
        let stale: Vec<u64> = self.pending.range(..=height).map(|(h, _)| *h).collect();
        for h in stale {
            if h < height {
                self.pending.remove(&h);
            }
        }
        Ok(())
    }

    async fn started_round(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        role: Role,
    ) -> Result<Vec<ProposedValue<OrdoContext>>, AppError> {
        debug!(height, round = round_u32(round), %proposer, ?role, "consensus.started_round");
        self.round = round_u32(round);
        if let Ok(mut s) = self.shared.status.lock() {
            s.round = self.round;
        }
        let mut out = Vec::new();
        let mut reported = Vec::new();
        // Proposals of this height that arrived early.
        for a in self.pending.remove(&height).unwrap_or_default() {
            let hash = a.batch.hash();
            if let Some(v) = self.accept(a).await? {
                reported.push(hash);
                out.push(v);
            }
        }
        // Proposals stored before a restart (not those just accepted, which are stored too).
        for batch in self.store().undecided_at(height, self.round)? {
            if reported.contains(&batch.hash()) {
                continue;
            }
            let body_ok = batch
                .check_body(&self.shared.genesis.genesis.limits)
                .is_ok();
            let validity = self.validity(&batch, body_ok, round, None).await;
            out.push(ProposedValue {
                height: ConsHeight(height),
                round,
                valid_round: Round::Nil,
                proposer: ValidatorAddress(batch.header.proposer),
                value: BatchValue::new(batch.header),
                validity,
            });
        }
        Ok(out)
    }

    /// The batch this node proposes at (height, round): the one already built, or a new one.
    fn value_for(&mut self, height: u64, round: Round) -> Result<Batch, AppError> {
        let r = round_u32(round);
        if let Some(b) = self
            .store()
            .undecided_at(height, r)?
            .into_iter()
            .find(|b| b.header.proposer == self.me.0)
        {
            return Ok(b);
        }
        let g = &self.shared.genesis.genesis;
        let limits = g.limits;
        // Forced entries first, then a namespace-fair selection in body order (grouped by
        // namespace, ascending) in the room they leave.
        let (l1_ref, mut txs) = self.forced_part(height);
        let forced_bytes: u64 = txs.iter().map(|t| t.encoded_len() as u64).sum();
        let room_txs = (limits.max_batch_txs as usize).saturating_sub(txs.len());
        let room_bytes = limits.max_batch_bytes.saturating_sub(forced_bytes);
        match self.shared.pool.lock() {
            Ok(_) if self.testing.propose_empty_batches => {}
            Ok(mut pool) => txs.extend(
                pool.select(room_txs, room_bytes)
                    .into_iter()
                    .map(BatchTx::Ordinary),
            ),
            Err(_) => {}
        }
        let header = BatchHeader {
            chain_id: self.ctx.chain_id,
            height: Height(height),
            parent_hash: self.parent.hash,
            timestamp_ms: now_ms().max(self.parent.timestamp_ms),
            epoch: Epoch(0),
            validator_set_hash: self.set().set.hash(),
            l1_ref,
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: self.me.0,
        };
        let mut batch = Batch::seal(header, txs, self.parent.forced_next, &limits)
            .map_err(|e| AppError::Invariant(format!("building a batch: {e}")))?;
        if self.testing.propose_invalid_batches {
            // A Byzantine double: the header claims one transaction more than the body has.
            batch.header.tx_count += 1;
            warn!(height, "testing: proposing an invalid batch");
        }
        self.store().put_undecided(r, &batch)?;
        info!(height, round = r, txs = batch.txs.len(), hash = %batch.hash(), "consensus.propose");
        Ok(batch)
    }

    /// Streams `batch` as proposal parts without holding up the engine.
    fn publish(&self, batch: &Batch, round: Round, valid_round: Round) {
        let fin = PartFin {
            signature: self
                .signer
                .sign_parts(round, valid_round, &batch.header, &self.me),
        };
        let msgs = parts::split(batch, round, valid_round, self.me, fin);
        let net = self.net.clone();
        tokio::spawn(async move {
            for m in msgs {
                if net.send(NetworkMsg::PublishProposalPart(m)).await.is_err() {
                    return;
                }
            }
        });
    }

    async fn received_part(
        &mut self,
        from: PeerId,
        part: malachitebft_app_channel::app::streaming::StreamMessage<ordo_consensus::ProposalPart>,
    ) -> Result<Option<ProposedValue<OrdoContext>>, AppError> {
        let assembled = match self.assembler.push(from, part) {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(None),
            Err(e) => {
                warn!(%from, error = %e, "consensus.part_dropped");
                return Ok(None);
            }
        };
        let h = assembled.init.height.0;
        if h < self.height {
            return Ok(None);
        }
        if h > self.height {
            // Only the next height is buffered; anything further is refetched by sync.
            if h == self.height + 1
                && self.pending.values().map(Vec::len).sum::<usize>() < MAX_PENDING
            {
                self.pending.entry(h).or_default().push(assembled);
            }
            return Ok(None);
        }
        self.accept(assembled).await
    }

    /// Checks a complete proposal of the current height, stores it and reports it.
    async fn accept(
        &mut self,
        a: Assembled,
    ) -> Result<Option<ProposedValue<OrdoContext>>, AppError> {
        let (h, r) = (a.init.height, a.init.round);
        if round_u32(r) > self.round.saturating_add(MAX_ROUND_LOOKAHEAD) {
            return Ok(None);
        }
        // Only the scheduled proposer of (height, round) may stream a proposal for it; anyone
        // else could otherwise crowd out the real one or plant a batch in our own turn.
        let scheduled = self.set().proposer(h, r);
        if scheduled.address != a.init.proposer {
            warn!(height = h.0, round = round_u32(r), from = %a.init.proposer, "consensus.stream_not_from_proposer");
            return Ok(None);
        }
        if !self.verifier.verify_parts(
            r,
            a.init.valid_round,
            &a.batch.header,
            &a.init.proposer,
            &a.fin.signature,
            &scheduled.public_key,
        ) {
            warn!(proposer = %a.init.proposer, "consensus.bad_stream_signature");
            return Ok(None);
        }
        // The body is checked once: it decides both validity and whether the batch is stored.
        let body_ok = a
            .batch
            .check_body(&self.shared.genesis.genesis.limits)
            .is_ok();
        let validity = self
            .validity(&a.batch, body_ok, r, Some(a.init.valid_round))
            .await;
        if validity == Validity::Invalid {
            warn!(height = h.0, round = round_u32(r), proposer = %a.init.proposer, "consensus.invalid_proposal");
        }
        // Only a body that matches its header is stored: such a body is the only one the header
        // (and so any certificate over it) can stand for. A batch judged invalid for another
        // reason (time, proposer field) is kept, since the others may still decide it.
        if body_ok {
            self.store().put_undecided(round_u32(r), &a.batch)?;
        }
        Ok(Some(ProposedValue {
            height: h,
            round: r,
            valid_round: a.init.valid_round,
            proposer: a.init.proposer,
            value: BatchValue::new(a.batch.header),
            validity,
        }))
    }

    /// Validity of `batch` proposed at `round`, given whether its body matches its header. A
    /// re-proposal (`valid_round` defined, or `None` for a batch restored from storage whose
    /// origin is not known) carries the header of the round that first built it, so its
    /// proposer field need only name a validator.
    async fn validity(
        &self,
        batch: &Batch,
        body_ok: bool,
        round: Round,
        valid_round: Option<Round>,
    ) -> Validity {
        if !body_ok {
            return Validity::Invalid;
        }
        let g = &self.shared.genesis.genesis;
        let reproposal = valid_round.is_none_or(|vr| vr.is_defined());
        let in_set = self.set().set.index_of(&batch.header.proposer).is_some();
        let proposer = if reproposal && in_set {
            batch.header.proposer
        } else {
            self.set()
                .proposer(ConsHeight(batch.header.height.0), round)
                .address
                .0
        };
        let rules = Rules {
            chain_id: g.chain_id,
            epoch: Epoch(0),
            validator_set_hash: self.set().set.hash(),
            proposer,
            limits: &g.limits,
            now_ms: now_ms(),
            max_future_skew_ms: g.params.max_future_skew_ms,
            l1: None,
        };
        let mut verdict = self.judge(rules, batch);
        if let (Err(e), Some(l1)) = (&verdict, &self.l1)
            && e.needs_more_l1()
        {
            // Not read here yet: wait briefly for this node's L1 view, then judge again.
            let n = batch.header.l1_ref.number;
            debug!(l1_ref = n, error = %e, "consensus.waiting_for_l1");
            if l1.reader.wait_for(n, l1.wait).await {
                let _ = tokio::time::timeout(l1.wait, l1.reader.fetch_hash(n)).await;
            }
            verdict = self.judge(rules, batch);
        }
        match verdict {
            Ok(()) => Validity::Valid,
            Err(e) => {
                if matches!(
                    e,
                    InvalidProposal::Forced(_)
                        | InvalidProposal::L1RefHash { .. }
                        | InvalidProposal::L1HashUnknown { .. }
                ) {
                    warn!(height = batch.header.height.0, error = %e, "consensus.forced_inclusion_refused");
                    if let Ok(mut s) = self.shared.status.lock() {
                        s.forced_refusals += 1;
                    }
                } else {
                    debug!(error = %e, "consensus.validity");
                }
                Validity::Invalid
            }
        }
    }

    /// [`check_header`] with this node's L1 view, if the chain has an inbox.
    fn judge(&self, rules: Rules<'_>, batch: &Batch) -> Result<(), InvalidProposal> {
        let Some(l1) = &self.l1 else {
            return check_header(&rules, &self.parent, batch);
        };
        let limits = &self.shared.genesis.genesis.limits;
        let due_by = batch
            .header
            .l1_ref
            .number
            .saturating_sub(l1.params.inclusion_delay);
        let view = l1.reader.view(
            self.parent.forced_next,
            due_by,
            limits.max_batch_txs as usize + 1,
        );
        let input = L1Input {
            params: l1.params,
            ref_hash: l1.reader.hash_at(batch.header.l1_ref.number),
            view: InboxView {
                read_to: view.read_to.map_or(0, |r| r.number),
                entries: &view.entries,
            },
        };
        let rules = Rules {
            l1: Some(input),
            ..rules
        };
        check_header(&rules, &self.parent, batch)
    }

    /// What an honest proposer names as `l1_ref` and carries as forced entries.
    fn forced_part(&self, height: u64) -> (L1Ref, Vec<BatchTx>) {
        let Some(l1) = &self.l1 else {
            return (self.parent.l1_ref, Vec::new());
        };
        let parent = self.parent.l1_ref;
        // The head less a margin (validators that polled a moment later have read it), never
        // behind the parent's.
        let l1_ref = match l1.reader.head() {
            Some(head) => {
                let n = head.number.saturating_sub(l1.ref_margin);
                let candidate = l1
                    .reader
                    .hash_at(n)
                    .map_or(head, |hash| L1Ref { number: n, hash });
                if candidate.number > parent.number {
                    candidate
                } else {
                    parent
                }
            }
            None => parent,
        };
        let limits = &self.shared.genesis.genesis.limits;
        let due_by = l1_ref.number.saturating_sub(l1.params.inclusion_delay);
        let view = l1.reader.view(
            self.parent.forced_next,
            due_by,
            limits.max_batch_txs as usize,
        );
        let inbox = InboxView {
            read_to: view.read_to.map_or(0, |r| r.number),
            entries: &view.entries,
        };
        let forced = match required(&l1.params, self.parent.forced_next, l1_ref.number, &inbox) {
            Ok(due) => due.iter().cloned().map(BatchTx::Forced).collect(),
            Err(e) => {
                warn!(height, error = %e, "consensus.forced_entries_unknown");
                Vec::new()
            }
        };
        if self.testing.censor_forced {
            // The censoring double: the newest L1 block, and none of the entries due by it.
            let newest = l1.reader.head().filter(|h| h.number > parent.number);
            if !forced.is_empty() {
                warn!(
                    height,
                    left_out = forced.len(),
                    "testing: censoring forced entries"
                );
            }
            return (newest.unwrap_or(l1_ref), Vec::new());
        }
        (l1_ref, forced)
    }

    fn attest(&self, height: u64, round: Round, value: BatchId) -> Option<Bytes> {
        if let Err(e) = self
            .signer
            .permit_attestation(height, round_u32(round), value.0)
        {
            error!(error = %e, height, "consensus.attest_refused");
            return None;
        }
        let msg = attestation_message(
            self.ctx.chain_id,
            Height(height),
            ordo_types::Round(round_u32(round)),
            &value.0,
        );
        Some(Bytes::copy_from_slice(&self.bls.sign(&msg).to_bytes()))
    }

    fn verify_attestations(
        &self,
        height: u64,
        round: Round,
        value: BatchId,
        exts: Vec<(ValidatorAddress, Bytes)>,
    ) -> Vec<(ValidatorAddress, Result<(), VoteExtensionError>)> {
        let msg = attestation_message(
            self.ctx.chain_id,
            Height(height),
            ordo_types::Round(round_u32(round)),
            &value.0,
        );
        let set = &self.set().set;
        exts.into_iter()
            .map(|(addr, ext)| {
                let ok = set
                    .index_of(&addr.0)
                    .and_then(|i| set.get(i))
                    .zip(BlsSignature::from_bytes(&ext).ok())
                    .is_some_and(|(v, sig)| v.bls_key.verify(&msg, &sig));
                (
                    addr,
                    if ok {
                        Ok(())
                    } else {
                        Err(VoteExtensionError::InvalidVoteExtension)
                    },
                )
            })
            .collect()
    }

    fn decided(
        &mut self,
        cert: mc::CommitCertificate<OrdoContext>,
        exts: mc::VoteExtensions<OrdoContext>,
    ) -> Result<(), AppError> {
        let h = cert.height.0;
        let hash = cert.value_id.0;
        let batch = self.store().undecided_by_hash(h, &hash)?.ok_or_else(|| {
            AppError::Invariant(format!(
                "decided batch {hash} at height {h} was never received"
            ))
        })?;
        let set = &self.set().set;
        let votes: Vec<(ValidatorIndex, BlsSignature)> = exts
            .extensions
            .iter()
            .filter_map(|(addr, ext)| {
                Some((
                    set.index_of(&addr.0)?,
                    BlsSignature::from_bytes(&ext.message).ok()?,
                ))
            })
            .collect();
        let round = ordo_types::Round(round_u32(cert.round));
        let certificate =
            Certificate::aggregate(set, self.ctx.chain_id, Height(h), round, hash, &votes)
                .map_err(|e| AppError::Invariant(format!("certificate of height {h}: {e}")))?
                .certificate;
        let commit =
            mc::ExtendedCommitCertificate::from_commit_certificate_and_extensions(cert, exts);
        self.commit(Decided { batch, certificate }, &commit)
    }

    fn commit(
        &mut self,
        d: Decided,
        commit: &mc::ExtendedCommitCertificate<OrdoContext>,
    ) -> Result<(), AppError> {
        // Transaction ids are hashed once, for the index and for the pool.
        let ids: Vec<TxId> = d.batch.txs.iter().map(BatchTx::id).collect();
        self.store().put_decided(&d, &ids, commit)?;
        self.last_header = Some(d.batch.header);
        if let Some(l1) = &self.l1 {
            let h = &d.batch.header;
            l1.reader.prune(h.forced_cursor.next, h.l1_ref.number);
        }
        let h = d.batch.header.height.0;
        // Durable now: acknowledge "ordered" and wake the namespace streams.
        self.shared.waiters.notify(Height(h), &ids);
        self.shared.heights.send_replace(h);
        let hash = d.batch.hash();
        let forced: Vec<u64> = d
            .batch
            .txs
            .iter()
            .filter_map(|t| t.as_forced().map(|f| f.queue_index))
            .collect();
        let mut line = serde_json::json!({
            "height": h,
            "round": d.certificate.round.0,
            "hash": hash.to_string(),
            "certificate": d.certificate.hash().to_string(),
            "cert": hex::encode(d.certificate.encode()),
            "txs": d.batch.txs.len(),
            "l1_ref": d.batch.header.l1_ref.number,
            "forced": forced,
            "decided_at_ms": now_ms(),
        });
        if let (true, Some(obj)) = (self.testing.log_tx_ids, line.as_object_mut()) {
            obj.insert("tx_ids".into(), ids.iter().map(|i| i.to_string()).collect());
        }
        let _ = writeln!(self.decisions, "{line}");
        let ordered = d.batch.txs.iter().map(BatchTx::namespace).zip(ids);
        if let Ok(mut p) = self.shared.pool.lock() {
            p.commit(ordered);
        }
        if let Ok(mut s) = self.shared.status.lock() {
            s.height = h;
            s.latest_hash = hash.to_string();
            s.latest_timestamp_ms = d.batch.header.timestamp_ms;
            s.latest_tx_count = d.batch.header.tx_count;
            s.txs_since_start += u64::from(d.batch.header.tx_count);
            // pool_size is read live by `Shared::status_now`.
        }
        info!(height = h, txs = d.batch.txs.len(), %hash, "consensus.decided");
        Ok(())
    }

    fn decided_values(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<RawDecidedValue<OrdoContext>>, AppError> {
        let end = end.min(start.saturating_add(MAX_SYNC_BATCH - 1));
        let mut out = Vec::new();
        for h in start..=end {
            // The stored body is already the `ordo.v1.Batch` sync sends: no decode, no encode.
            let (Some(body), Some(c)) = (
                self.store().decided_batch_bytes(Height(h))?,
                self.store().commit(Height(h))?,
            ) else {
                break;
            };
            out.push(RawDecidedValue::new(Bytes::from(body), c));
        }
        Ok(out)
    }

    fn synced_value(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        bytes: Bytes,
    ) -> Result<SyncedValueOutcome<OrdoContext>, AppError> {
        let limits = self.shared.genesis.genesis.limits;
        let batch = match Batch::decode_proto(&bytes, &limits) {
            Ok(b) if b.header.height.0 == height && b.check_body(&limits).is_ok() => b,
            _ => return Ok(SyncedValueOutcome::PeerFault),
        };
        self.store().put_undecided(round_u32(round), &batch)?;
        Ok(SyncedValueOutcome::Verdict(ProposedValue {
            height: ConsHeight(height),
            round,
            valid_round: Round::Nil,
            proposer,
            value: BatchValue::new(batch.header),
            validity: Validity::Valid,
        }))
    }
}

fn parent_from(h: &BatchHeader) -> Parent {
    Parent {
        height: h.height,
        hash: h.hash(),
        timestamp_ms: h.timestamp_ms,
        l1_ref: h.l1_ref,
        forced_next: h.forced_cursor.next,
    }
}
