//! Value sync: serving stored heights to peers that lag (the stored body is already the
//! `ordo.v1.Batch` sync sends: no decode, no encode), and accepting a synced batch after
//! checking it matches its header. Its certificate is checked by the engine.

use super::{App, AppError, MAX_SYNC_BATCH, round_u32};
use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::SyncedValueOutcome;
use malachitebft_app_channel::app::types::ProposedValue;
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use ordo_consensus::mc::{Round, Validity};
use ordo_consensus::{BatchValue, ConsHeight, OrdoContext, ValidatorAddress};
use ordo_types::{Batch, Height};

impl App {
    /// Stored heights `start..=end`, at most [`MAX_SYNC_BATCH`] of them, stopping at the first
    /// one not held.
    pub(super) fn decided_values(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<RawDecidedValue<OrdoContext>>, AppError> {
        let end = end.min(start.saturating_add(MAX_SYNC_BATCH - 1));
        let mut out = Vec::new();
        for h in start..=end {
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

    /// A batch a peer sent for `height`: stored as a proposal if it is well formed.
    pub(super) fn synced_value(
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
