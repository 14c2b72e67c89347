//! The application side of the engine: answers every `AppMsg` of malachite, promptly. This file
//! is the loop and the dispatch; each role has its own module:
//!
//! - [`height`]: the per-height context (height, round, parent, validator set, epoch), built
//!   once when a height starts: the one place where epochs plug in.
//! - [`propose`]: `GetValue` builds a batch (forced entries, then the pool's fair selection,
//!   `ordo_mempool::compose`) or returns the one already built, stores it, and streams it.
//! - [`receive`]: proposal parts are reassembled and checked (stream signature, scheduled
//!   proposer), judged, stored and reported.
//! - [`judge`]: proposal validity (`ordo_consensus::validity`) with this node's L1 view, and the
//!   one bounded wait for an L1 block not read yet.
//! - [`attest`]: `ExtendVote` signs the BLS attestation after the double-sign guard;
//!   `VerifyVoteExtensions` checks the others'.
//! - [`decide`]: `Decided` aggregates the certificate, stores the height in one fsynced write,
//!   then publishes it on the committed-batch [`feed`].
//! - [`sync`]: serving stored heights to peers and accepting synced ones.
//! - [`shared`]: what the loop shares with the APIs ([`Shared`], the typed [`Status`]).

mod attest;
mod decide;
pub mod feed;
mod height;
mod judge;
mod propose;
mod receive;
pub mod shared;
mod sync;

pub use feed::{Committed, CommittedTx, Feed, FeedHandle, Subscription};
pub use height::HeightCtx;
pub use judge::L1Ctx;
pub use shared::{Latest, Progress, Shared, Status};

use crate::doubles::Doubles;
use crate::store::StoreError;
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId};
use malachitebft_app_channel::{AppMsg, NetworkMsg};
use ordo_consensus::mc::Round;
use ordo_consensus::parts::{Assembled, Assembler};
use ordo_consensus::signing::{OrdoSigner, OrdoVerifier};
use ordo_consensus::{BatchValue, ConsHeight, OrdoContext, ValidatorAddress};
use ordo_types::{BatchHeader, BlsSecretKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::info;

/// Most proposals of the next height held until it starts.
const MAX_PENDING: usize = 16;
/// Rounds ahead of the current one a proposal stream may be for (malachite's own lookahead).
const MAX_ROUND_LOOKAHEAD: u32 = 10;
/// Most distinct proposals stored per (height, round): the scheduled proposer's, and one more
/// as evidence if it equivocates.
const MAX_PROPOSALS_PER_ROUND: usize = 2;
/// Most heights served in one sync response.
const MAX_SYNC_BATCH: u64 = 50;

/// A fatal application error: the node stops rather than acknowledge what it could not store.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("height {0} is not stored, yet the engine started the height above it")]
    ParentMissing(u64),
    #[error("decided batch {hash} at height {height} was never received")]
    DecidedUnknown { height: u64, hash: ordo_types::Hash },
    #[error("building the batch of height {height}: {error}")]
    Build {
        height: u64,
        error: ordo_types::BatchError,
    },
    #[error("the certificate of height {height}: {error}")]
    Certificate {
        height: u64,
        error: ordo_types::CertificateError,
    },
}

/// Everything an [`App`] is built from.
#[derive(Debug)]
pub struct AppParts {
    pub ctx: OrdoContext,
    pub shared: Arc<Shared>,
    pub signer: OrdoSigner,
    pub bls: BlsSecretKey,
    pub me: ValidatorAddress,
    pub net: mpsc::Sender<NetworkMsg<OrdoContext>>,
    pub doubles: Doubles,
    pub l1: Option<L1Ctx>,
    pub feed: Feed,
}

/// The application state machine.
#[derive(Debug)]
pub struct App {
    ctx: OrdoContext,
    shared: Arc<Shared>,
    signer: OrdoSigner,
    verifier: OrdoVerifier,
    bls: BlsSecretKey,
    me: ValidatorAddress,
    net: mpsc::Sender<NetworkMsg<OrdoContext>>,
    doubles: Doubles,
    l1: Option<L1Ctx>,
    feed: Feed,
    /// The height consensus is at.
    h: HeightCtx,
    assembler: Assembler<PeerId>,
    pending: BTreeMap<u64, Vec<Assembled>>,
    /// The header of the last height this node stored, so the next height's parent needs no
    /// read (and decode) of the whole batch.
    last_header: Option<BatchHeader>,
}

/// The wall clock, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn round_u32(r: Round) -> u32 {
    r.as_u32().unwrap_or(0)
}

impl App {
    pub fn new(p: AppParts) -> App {
        let limits = p.shared.genesis.genesis.limits;
        let genesis_set = Arc::new(p.shared.genesis.set.clone());
        App {
            verifier: OrdoVerifier {
                chain: p.ctx.chain_id,
            },
            h: HeightCtx::before_start(genesis_set),
            ctx: p.ctx,
            shared: p.shared,
            signer: p.signer,
            bls: p.bls,
            me: p.me,
            net: p.net,
            doubles: p.doubles,
            l1: p.l1,
            feed: p.feed,
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

    fn store(&self) -> &crate::store::Store {
        &self.shared.store
    }

    /// One message of the engine, answered.
    // The dispatch: one short arm per `AppMsg` variant, the work in the role modules.
    #[allow(clippy::too_many_lines)]
    async fn handle(&mut self, msg: AppMsg<OrdoContext>) -> Result<(), AppError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = self.store().latest_height()?.map_or(1, |h| h.0 + 1);
                self.start_height(start).await?;
                self.shared
                    .ready
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                info!(height = start, "consensus.ready");
                let _ = reply.send((ConsHeight(start), self.h.params(&self.shared.genesis)));
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
                let value = BatchValue::new(batch.header);
                let _ = reply.send(LocallyProposedValue::new(height, round, value));
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
            } => self.restream(height.0, round, valid_round, address, value_id)?,
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
                self.start_height(next).await?;
                let params = self.h.params(&self.shared.genesis);
                let _ = reply.send(Next::Start(ConsHeight(next), params));
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
}
