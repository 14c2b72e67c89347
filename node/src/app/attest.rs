//! Attesting: this node's BLS attestation rides in its precommit's vote extension, signed only
//! after the double-sign guard permits it; other validators' attestations are checked on
//! arrival against the height's set.

use super::{App, round_u32};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::VoteExtensionError;
use ordo_consensus::mc::Round;
use ordo_consensus::{BatchId, ValidatorAddress};
use ordo_types::bls::attestation_message;
use ordo_types::{BlsSignature, Height};
use tracing::error;

impl App {
    /// This node's attestation of `value` at (height, round), if the guard permits it.
    pub(super) fn attest(&self, height: u64, round: Round, value: BatchId) -> Option<Bytes> {
        if let Err(e) = self
            .signer
            .permit_attestation(height, round_u32(round), value.0)
        {
            error!(error = %e, height, "consensus.attest_refused");
            return None;
        }
        let msg = self.attestation(height, round, &value);
        Some(Bytes::copy_from_slice(&self.bls.sign(&msg).to_bytes()))
    }

    fn attestation(&self, height: u64, round: Round, value: &BatchId) -> Vec<u8> {
        attestation_message(
            self.ctx.chain_id,
            Height(height),
            ordo_types::Round(round_u32(round)),
            &value.0,
        )
    }

    /// Checks each validator's attestation of `value`.
    pub(super) fn verify_attestations(
        &self,
        height: u64,
        round: Round,
        value: BatchId,
        exts: Vec<(ValidatorAddress, Bytes)>,
    ) -> Vec<(ValidatorAddress, Result<(), VoteExtensionError>)> {
        let msg = self.attestation(height, round, &value);
        let set = &self.h.set.set;
        exts.into_iter()
            .map(|(addr, ext)| {
                let ok = set
                    .index_of(&addr.0)
                    .and_then(|i| set.get(i))
                    .zip(BlsSignature::from_bytes(&ext).ok())
                    .is_some_and(|(v, sig)| v.bls_key.verify(&msg, &sig));
                let verdict = if ok {
                    Ok(())
                } else {
                    Err(VoteExtensionError::InvalidVoteExtension)
                };
                (addr, verdict)
            })
            .collect()
    }
}
