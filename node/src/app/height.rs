//! The per-height context: what every role needs to know of the height consensus is at (the
//! height, the round, the parent batch, the validator set and the epoch), built once when the
//! height starts. Epochs plug in at [`App::start_height`]: the height's epoch and its set come
//! from [`crate::epochs::Epochs`] (the genesis set and epoch 0 in static mode).

use super::{App, AppError};
use crate::genesis::LoadedGenesis;
use ordo_consensus::mc::{HeightParams, VoteExtensionPolicy};
use ordo_consensus::validity::Parent;
use ordo_consensus::{ConsValidatorSet, OrdoContext};
use ordo_types::{BatchHeader, Epoch, Hash, Height, L1Ref};
use std::sync::Arc;
use tracing::info;

/// The height consensus is at, and what it is judged against.
#[derive(Clone, Debug)]
pub struct HeightCtx {
    pub height: Height,
    pub round: u32,
    pub parent: Parent,
    pub set: Arc<ConsValidatorSet>,
    pub epoch: Epoch,
    /// The hash of the next epoch's set, which every header of this epoch names.
    pub next_set_hash: Hash,
}

impl HeightCtx {
    /// The context before consensus names its first height.
    pub fn before_start(set: Arc<ConsValidatorSet>) -> HeightCtx {
        HeightCtx {
            height: Height(0),
            round: 0,
            parent: genesis_parent(0),
            next_set_hash: set.set.hash(),
            set,
            epoch: Epoch(0),
        }
    }

    /// What malachite is told of this height.
    pub fn params(&self, genesis: &LoadedGenesis) -> HeightParams<OrdoContext> {
        let p = &genesis.genesis.params;
        HeightParams::new(
            (*self.set).clone(),
            p.timeouts(),
            Some(std::time::Duration::from_millis(p.block_time_ms)),
        )
        .with_vote_extension_policy(VoteExtensionPolicy::Required)
    }
}

/// The parent of height 1.
fn genesis_parent(genesis_time_ms: u64) -> Parent {
    Parent {
        height: Height(0),
        hash: Hash::ZERO,
        timestamp_ms: genesis_time_ms,
        l1_ref: L1Ref::default(),
        forced_next: 0,
    }
}

/// What a child of `h` is judged against.
pub fn parent_from(h: &BatchHeader) -> Parent {
    Parent {
        height: h.height,
        hash: h.hash(),
        timestamp_ms: h.timestamp_ms,
        l1_ref: h.l1_ref,
        forced_next: h.forced_cursor.next,
    }
}

impl App {
    /// Enters `height`: builds its context and forgets buffered proposals below it.
    /// Waits for the epoch's set, and the next epoch's, if the deriver has not derived them
    /// yet (the next one is derived from the height before the epoch's first).
    pub(super) async fn start_height(&mut self, height: u64) -> Result<(), AppError> {
        let parent = self.parent_of(height)?;
        let epochs = &self.shared.epochs;
        let epoch = epochs.epoch_of(height);
        let set = match epochs.set_of(epoch) {
            Some(set) => set,
            None => epochs.wait_set(epoch).await,
        };
        let next = Epoch(epoch.0.saturating_add(1));
        let next_set_hash = match epochs.set_of(next) {
            Some(s) => s.set.hash(),
            None => epochs.wait_set(next).await.set.hash(),
        };
        if set.set.hash() != self.h.set.set.hash() {
            info!(height, epoch = epoch.0, validators = set.set.len(), hash = %set.set.hash(), "epoch.set_changed");
        }
        self.h = HeightCtx {
            height: Height(height),
            round: 0,
            parent,
            set,
            epoch,
            next_set_hash,
        };
        self.pending.retain(|h, _| *h >= height);
        Ok(())
    }

    /// The parent of `height`: the stored batch below it, or genesis.
    fn parent_of(&self, height: u64) -> Result<Parent, AppError> {
        if height <= 1 {
            return Ok(genesis_parent(self.shared.genesis.genesis.genesis_time_ms));
        }
        if let Some(h) = &self.last_header
            && h.height.0 == height - 1
        {
            return Ok(parent_from(h));
        }
        let d = self
            .store()
            .decided(Height(height - 1))?
            .ok_or(AppError::ParentMissing(height - 1))?;
        Ok(parent_from(&d.batch.header))
    }
}
