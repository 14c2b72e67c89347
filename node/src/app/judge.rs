//! Judging a proposal: [`check_header`] against the per-height context and, on a chain with an
//! L1 inbox, this validator's L1 view. When the proposal names an L1 block this node has not
//! read yet, it waits once, at most `[l1] wait_ms`, then judges again (ADR 12): this wait is on
//! the consensus path, bounded, and taken only for such a proposal.

use super::App;
use ordo_consensus::ConsHeight;
use ordo_consensus::forced::{ForcedParams, InboxView};
use ordo_consensus::mc::{Round, Validity};
use ordo_consensus::proposer::{Origin, expected_proposer};
use ordo_consensus::validity::{InvalidProposal, L1Input, Rules, check_header};
use ordo_da_adapter::l1::L1Reader;
use ordo_types::Batch;
use tracing::{debug, warn};

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

impl App {
    /// Validity of `batch` proposed at `round`, given whether its body matches its header.
    pub(super) async fn validity(
        &self,
        batch: &Batch,
        body_ok: bool,
        round: Round,
        origin: Origin,
    ) -> Validity {
        if !body_ok {
            return Validity::Invalid;
        }
        let g = &self.shared.genesis.genesis;
        let header = &batch.header;
        let proposer = expected_proposer(
            &self.h.set,
            ConsHeight(header.height.0),
            round,
            origin,
            header.proposer,
        );
        let rules = Rules {
            chain_id: g.chain_id,
            epoch: self.h.epoch,
            validator_set_hash: self.h.set.set.hash(),
            next_validator_set_hash: self.h.next_set_hash,
            proposer,
            limits: &g.limits,
            now_ms: super::now_ms(),
            max_future_skew_ms: g.params.max_future_skew_ms,
            l1: None,
        };
        let mut verdict = self.judge(rules, batch);
        if let (Err(e), Some(l1)) = (&verdict, &self.l1)
            && e.needs_more_l1()
        {
            // Not read here yet: wait briefly for this node's L1 view, then judge again.
            let n = header.l1_ref.number;
            debug!(l1_ref = n, error = %e, "consensus.waiting_for_l1");
            // One deadline for both steps: the whole wait is at most `wait_ms` (ADR 12).
            let _ = tokio::time::timeout(l1.wait, async {
                if l1.reader.wait_for(n, l1.wait).await {
                    let _ = l1.reader.fetch_hash(n).await;
                }
            })
            .await;
            verdict = self.judge(rules, batch);
        }
        match verdict {
            Ok(()) => Validity::Valid,
            Err(e) => {
                self.refused(header.height.0, &e);
                Validity::Invalid
            }
        }
    }

    fn refused(&self, height: u64, e: &InvalidProposal) {
        if matches!(
            e,
            InvalidProposal::Forced(_)
                | InvalidProposal::L1RefHash { .. }
                | InvalidProposal::L1HashUnknown { .. }
        ) {
            warn!(height, error = %e, "consensus.forced_inclusion_refused");
            self.shared.progress.forced_refused();
        } else {
            debug!(error = %e, "consensus.validity");
        }
    }

    /// [`check_header`] with this node's L1 view, if the chain has an inbox.
    fn judge(&self, rules: Rules<'_>, batch: &Batch) -> Result<(), InvalidProposal> {
        let parent = &self.h.parent;
        let Some(l1) = &self.l1 else {
            return check_header(&rules, parent, batch);
        };
        let limits = &self.shared.genesis.genesis.limits;
        let due_by = batch
            .header
            .l1_ref
            .number
            .saturating_sub(l1.params.inclusion_delay);
        let view = l1.reader.view(
            parent.forced_next,
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
        check_header(&rules, parent, batch)
    }
}
