//! Deciding: the attestations of the decided round are aggregated into the batch's one BLS
//! certificate, the height is stored in one atomic, fsynced write, and only then is it
//! published on the committed-batch feed (acknowledgements, streams, pool, status, the decision
//! log, the L1 prune) and the engine told it is done.

use super::feed::Committed;
use super::{App, AppError, round_u32};
use crate::store::Decided;
use ordo_consensus::OrdoContext;
use ordo_consensus::mc;
use ordo_types::tx::BatchTx;
use ordo_types::{BlsSignature, Certificate, Height, TxId, ValidatorIndex};
use tracing::info;

impl App {
    /// The engine decided `cert`: certify, store and publish the batch.
    pub(super) fn decided(
        &mut self,
        cert: mc::CommitCertificate<OrdoContext>,
        exts: mc::VoteExtensions<OrdoContext>,
    ) -> Result<(), AppError> {
        let height = cert.height.0;
        let hash = cert.value_id.0;
        let batch = self
            .store()
            .undecided_by_hash(height, &hash)?
            .ok_or(AppError::DecidedUnknown { height, hash })?;
        let certificate = self.certificate(&cert, &exts)?;
        let commit =
            mc::ExtendedCommitCertificate::from_commit_certificate_and_extensions(cert, exts);
        self.commit(Decided { batch, certificate }, &commit)
    }

    /// The BLS certificate of the decided round from the precommits' attestations. Signers
    /// whose attestation does not verify are left out of the bitmap.
    fn certificate(
        &self,
        cert: &mc::CommitCertificate<OrdoContext>,
        exts: &mc::VoteExtensions<OrdoContext>,
    ) -> Result<Certificate, AppError> {
        let height = cert.height.0;
        let set = &self.h.set.set;
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
        Certificate::aggregate(
            set,
            self.ctx.chain_id,
            Height(height),
            round,
            cert.value_id.0,
            &votes,
        )
        .map(|a| a.certificate)
        .map_err(|error| AppError::Certificate { height, error })
    }

    /// Stores a decided height durably, then publishes it.
    fn commit(
        &mut self,
        d: Decided,
        commit: &mc::ExtendedCommitCertificate<OrdoContext>,
    ) -> Result<(), AppError> {
        // Transaction ids are hashed once, for the index and for every subscriber.
        let ids: Vec<TxId> = d.batch.txs.iter().map(BatchTx::id).collect();
        self.store().put_decided(&d, &ids, commit)?;
        self.last_header = Some(d.batch.header);
        let event = Committed::new(&d, &ids, super::now_ms());
        info!(height = event.height.0, txs = ids.len(), hash = %event.hash, "consensus.decided");
        self.feed.publish(event);
        Ok(())
    }
}
