//! Receiving proposals: parts reassembled (bounded), streams only from the scheduled proposer
//! with a valid signature, proposals of the next height buffered until it starts, and every
//! complete proposal judged, stored (when its body matches its header) and reported.

use super::{App, AppError, MAX_PENDING, MAX_PROPOSALS_PER_ROUND, MAX_ROUND_LOOKAHEAD, round_u32};
use malachitebft_app_channel::app::consensus::Role;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::{PeerId, ProposedValue};
use ordo_consensus::mc::{Round, Validity};
use ordo_consensus::parts::Assembled;
use ordo_consensus::proposer::Origin;
use ordo_consensus::{BatchValue, ConsHeight, OrdoContext, ProposalPart, ValidatorAddress};
use ordo_types::Batch;
use tracing::{debug, warn};

impl App {
    /// A round starts: report the proposals of it already here (buffered early, or stored
    /// before a restart).
    pub(super) async fn started_round(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        role: Role,
    ) -> Result<Vec<ProposedValue<OrdoContext>>, AppError> {
        debug!(height, round = round_u32(round), %proposer, ?role, "consensus.started_round");
        self.h.round = round_u32(round);
        self.shared
            .progress
            .set_round(ordo_types::Round(self.h.round));
        let mut out = Vec::new();
        let mut reported = Vec::new();
        for a in self.pending.remove(&height).unwrap_or_default() {
            let hash = a.batch.hash();
            if let Some(v) = self.accept(a).await? {
                reported.push(hash);
                out.push(v);
            }
        }
        // Proposals stored before a restart (not those just accepted, which are stored too).
        for batch in self.store().undecided_at(height, self.h.round)? {
            if reported.contains(&batch.hash()) {
                continue;
            }
            out.push(self.restored(batch, round).await);
        }
        Ok(out)
    }

    /// A proposal read back from storage, judged again.
    async fn restored(&self, batch: Batch, round: Round) -> ProposedValue<OrdoContext> {
        let body_ok = batch
            .check_body(&self.shared.genesis.genesis.limits)
            .is_ok();
        let validity = self
            .validity(&batch, body_ok, round, Origin::Restored)
            .await;
        ProposedValue {
            height: ConsHeight(batch.header.height.0),
            round,
            valid_round: Round::Nil,
            proposer: ValidatorAddress(batch.header.proposer),
            value: BatchValue::new(batch.header),
            validity,
        }
    }

    /// One part of a proposal stream; the proposal once it is complete.
    pub(super) async fn received_part(
        &mut self,
        from: PeerId,
        part: StreamMessage<ProposalPart>,
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
        let current = self.h.height.0;
        if h < current {
            return Ok(None);
        }
        if h > current {
            // Only the next height is buffered; anything further is refetched by sync.
            if h == current + 1 && self.pending.values().map(Vec::len).sum::<usize>() < MAX_PENDING
            {
                self.pending.entry(h).or_default().push(assembled);
            }
            return Ok(None);
        }
        self.accept(assembled).await
    }

    /// Stores a proposal of the current height, unless its round already holds
    /// [`MAX_PROPOSALS_PER_ROUND`] others: an equivocating proposer streams as many batches as
    /// it likes, and two are all the evidence there is to keep. False when refused; the
    /// engine then never sees it, and a decision on it comes by sync.
    fn store_proposal(&self, round: u32, batch: &Batch) -> Result<bool, AppError> {
        let height = batch.header.height.0;
        let hash = batch.hash();
        let (stored, has) = self.store().undecided_count(height, round, &hash)?;
        if !has && stored >= MAX_PROPOSALS_PER_ROUND {
            warn!(height, round, proposer = %ValidatorAddress(batch.header.proposer), stored, "consensus.proposal_not_stored: the round's proposer sent more batches than are kept");
            return Ok(false);
        }
        if !has {
            self.store().put_undecided(round, batch)?;
        }
        Ok(true)
    }

    /// Checks a complete proposal of the current height, stores it and reports it.
    async fn accept(
        &mut self,
        a: Assembled,
    ) -> Result<Option<ProposedValue<OrdoContext>>, AppError> {
        let (h, r) = (a.init.height, a.init.round);
        if round_u32(r) > self.h.round.saturating_add(MAX_ROUND_LOOKAHEAD) {
            return Ok(None);
        }
        // Only the scheduled proposer of (height, round) may stream a proposal for it; anyone
        // else could otherwise crowd out the real one or plant a batch in our own turn.
        let scheduled = self.h.set.proposer(h, r);
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
        let origin = Origin::of(Some(a.init.valid_round));
        let validity = self.validity(&a.batch, body_ok, r, origin).await;
        if validity == Validity::Invalid {
            warn!(height = h.0, round = round_u32(r), proposer = %a.init.proposer, "consensus.invalid_proposal");
        }
        // Only a body that matches its header is stored: such a body is the only one the header
        // (and so any certificate over it) can stand for. A batch judged invalid for another
        // reason (time, proposer field) is kept, since the others may still decide it.
        if body_ok && !self.store_proposal(round_u32(r), &a.batch)? {
            return Ok(None);
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
}
