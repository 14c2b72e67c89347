//! The equivocating validator double (`testing.equivocate`): malachite's Byzantine network
//! proxy between the front and libp2p. For every vote and proposal this node publishes, it
//! signs and sends a second, conflicting one, through a signer whose guard refuses nothing but
//! logs everything (the chaos checkers must see both signatures).

use crate::config::TestingSection;
use crate::node::StartError;
use crate::seam::Double;
use crate::signguard::RecordOnly;
use malachitebft_app_channel::app::engine::network::NetworkRef;
use malachitebft_engine_byzantine::{ByzantineConfig, ByzantineNetworkProxy, Trigger};
use ordo_consensus::OrdoContext;
use ordo_consensus::context::{BatchId, BatchValue};
use ordo_consensus::signing::OrdoSigner;
use ordo_types::Hash;
use std::sync::Arc;

/// A batch id no honest proposer made: `id` with its last byte flipped (or a fixed one for
/// a nil vote, which then becomes a vote for a value).
fn conflicting_id(id: Option<&BatchId>) -> BatchId {
    let mut bytes = id.map_or([0x5a; 32], |b| b.0.0);
    bytes[31] ^= 0xff;
    BatchId(Hash(bytes))
}

/// The same batch proposed one millisecond later: another header, so another value.
fn conflicting_value(v: &BatchValue) -> BatchValue {
    let mut header = v.header;
    header.timestamp_ms = header.timestamp_ms.wrapping_add(1);
    BatchValue::new(header)
}

/// `real`, behind malachite's Byzantine proxy when `testing.equivocate` is set.
pub async fn equivocator(
    real: NetworkRef<OrdoContext>,
    testing: &TestingSection,
    double: Double<'_>,
) -> Result<NetworkRef<OrdoContext>, StartError> {
    if !testing.equivocate {
        return Ok(real);
    }
    let signer = OrdoSigner::new(
        double.ctx.chain_id,
        double.key.clone(),
        Arc::new(RecordOnly(double.signature_log)),
    );
    let byzantine = ByzantineConfig::new(None)
        .with_equivocate_votes(Trigger::Always)
        .with_equivocate_proposals(Trigger::Always);
    tracing::warn!("testing.equivocate: this node signs two values at every step");
    ByzantineNetworkProxy::spawn(
        byzantine,
        real,
        Box::new(signer),
        double.ctx,
        double.address,
        tracing::Span::current(),
        Some(Box::new(conflicting_value)),
        Some(Box::new(conflicting_id)),
    )
    .await
    .map_err(|e| StartError::actor("the equivocating double", e))
}
