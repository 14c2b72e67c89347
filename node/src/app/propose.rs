//! Proposing: the batch of this node's turn (built once per height and round, stored before it
//! is offered), its `l1_ref` and forced entries, and streaming it as proposal parts.

use super::{App, AppError, round_u32};
use crate::app::shared::lock;
use malachitebft_app_channel::NetworkMsg;
use ordo_consensus::forced::{InboxView, required};
use ordo_consensus::mc::Round;
use ordo_consensus::parts;
use ordo_consensus::proposer::choose_l1_ref;
use ordo_consensus::{BatchId, PartFin, ValidatorAddress};
use ordo_types::{Batch, BatchHeader, ForcedCursor, ForcedTx, Hash, Height, L1Ref};
use tracing::{info, warn};

impl App {
    /// The batch this node proposes at (height, round): the one already built, or a new one.
    pub(super) fn value_for(&mut self, height: u64, round: Round) -> Result<Batch, AppError> {
        let r = round_u32(round);
        if let Some(b) = self
            .store()
            .undecided_at(height, r)?
            .into_iter()
            .find(|b| b.header.proposer == self.me.0)
        {
            return Ok(b);
        }
        let limits = self.shared.genesis.genesis.limits;
        let (l1_ref, forced) = self.forced_part(height);
        let txs = {
            let mut pool = lock(&self.shared.pool);
            self.doubles.compose(forced, &mut pool, &limits)
        };
        let header = BatchHeader {
            chain_id: self.ctx.chain_id,
            height: Height(height),
            parent_hash: self.h.parent.hash,
            timestamp_ms: super::now_ms().max(self.h.parent.timestamp_ms),
            epoch: self.h.epoch,
            validator_set_hash: self.h.set.set.hash(),
            l1_ref,
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: self.me.0,
            next_validator_set_hash: self.h.next_set_hash,
        };
        let mut batch = Batch::seal(header, txs, self.h.parent.forced_next, &limits)
            .map_err(|error| AppError::Build { height, error })?;
        self.doubles.tamper(&mut batch);
        self.store().put_undecided(r, &batch)?;
        info!(height, round = r, txs = batch.txs.len(), hash = %batch.hash(), "consensus.propose");
        Ok(batch)
    }

    /// What an honest proposer names as `l1_ref` and carries as forced entries.
    fn forced_part(&self, height: u64) -> (L1Ref, Vec<ForcedTx>) {
        let parent = self.h.parent;
        let Some(l1) = &self.l1 else {
            return (parent.l1_ref, Vec::new());
        };
        let head = l1.reader.head();
        let l1_ref = choose_l1_ref(parent.l1_ref, head, l1.ref_margin, |n| l1.reader.hash_at(n));
        let limits = &self.shared.genesis.genesis.limits;
        let due_by = l1_ref.number.saturating_sub(l1.params.inclusion_delay);
        let view = l1
            .reader
            .view(parent.forced_next, due_by, limits.max_batch_txs as usize);
        let inbox = InboxView {
            read_to: view.read_to.map_or(0, |r| r.number),
            entries: &view.entries,
        };
        let forced = match required(&l1.params, parent.forced_next, l1_ref.number, &inbox) {
            Ok(due) => due.to_vec(),
            Err(e) => {
                warn!(height, error = %e, "consensus.forced_entries_unknown");
                Vec::new()
            }
        };
        self.doubles
            .censor(height, parent.l1_ref, head, (l1_ref, forced))
    }

    /// Streams `batch` as proposal parts without holding up the engine.
    pub(super) fn publish(&self, batch: &Batch, round: Round, valid_round: Round) {
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

    /// Streams a proposal again (a re-proposal of a valid value), if it is one of this node's.
    pub(super) fn restream(
        &self,
        height: u64,
        round: Round,
        valid_round: Round,
        proposer: ValidatorAddress,
        value_id: BatchId,
    ) -> Result<(), AppError> {
        // We stream (and sign the Fin of) only proposals of our own turns.
        if proposer == self.me
            && let Some(batch) = self.store().undecided_by_hash(height, &value_id.0)?
        {
            self.publish(&batch, round, valid_round);
        }
        Ok(())
    }
}
