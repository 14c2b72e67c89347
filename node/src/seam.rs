//! The consensus network as the engine sees it: malachite's libp2p network actor behind
//! ordo's front (`ordo_p2p::seam`, which redials peers a reconnect left mute), and, in a build
//! with the `chaos` feature, two test doubles:
//!
//! ```text
//! consensus ──▶ front (+ fault layer) ──▶ equivocator (testing.equivocate) ──▶ libp2p
//!           ◀── (delays, duplicates, reorders what arrives) ◀──────────────────┘
//! ```
//!
//! - The fault layer (`ordo_p2p::faults`) is in every chaos build and starts off;
//!   `POST /testing/net-faults` turns it on (see docs/CHAOS.md).
//! - The equivocator is malachite's Byzantine network proxy: for every vote and proposal this
//!   node publishes, it signs and sends a second, conflicting one, through a signer whose guard
//!   refuses nothing but logs everything.
//!
//! Without the feature, this is the libp2p network alone, and a config asking for a double is
//! refused.

use crate::config::{EngineConfig, TestingSection};
use crate::node::StartError;
use malachitebft_app_channel::app::config::NodeConfig as _;
use malachitebft_app_channel::app::engine::network::NetworkRef;
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::{NetworkIdentity, NetworkMsg};
use ordo_consensus::OrdoContext;
use ordo_consensus::codec::ProtoCodec;
use ordo_p2p::faults::FaultKnob;
use tokio::sync::mpsc::Sender;

/// What the engine builder gets as its network, and the fault layer's knob when there is one.
#[derive(Debug)]
pub struct Network {
    pub actor: NetworkRef<OrdoContext>,
    pub tx: Sender<NetworkMsg<OrdoContext>>,
    pub faults: Option<FaultKnob>,
}

/// What the equivocating double needs beyond the network itself.
pub struct Double<'a> {
    pub ctx: OrdoContext,
    pub address: ordo_consensus::ValidatorAddress,
    pub key: &'a malachitebft_signing_ed25519::PrivateKey,
    /// The node's signature log, which the double's signatures join.
    pub signature_log: std::sync::Arc<crate::signguard::SignLog>,
}

impl std::fmt::Debug for Double<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Double")
            .field("address", &self.address)
            .field("signature_log", &self.signature_log)
            .finish_non_exhaustive()
    }
}

/// Spawns the libp2p network actor and the front consensus talks to (`ordo_p2p::seam`), with,
/// in a chaos build, the doubles between them.
pub async fn spawn(
    config: &EngineConfig,
    identity: NetworkIdentity,
    codec: ProtoCodec,
    testing: &TestingSection,
    double: Double<'_>,
) -> Result<Network, StartError> {
    #[cfg(not(feature = "chaos"))]
    if testing.equivocate {
        return Err(StartError::Other(
            "testing.equivocate needs an ordo built with `--features ordo-node/chaos`".into(),
        ));
    }
    let registry = SharedRegistry::global().with_moniker(config.moniker());
    let (real, tx) = malachitebft_app_channel::spawn::spawn_network_actor(
        identity,
        config.consensus(),
        config.value_sync(),
        &registry,
        codec,
    )
    .await
    .map_err(|e| StartError::Other(format!("starting the network: {e}")))?;
    #[cfg(feature = "chaos")]
    let (inner, faults) = match chaos::equivocator(real.clone(), testing, double).await {
        Ok(inner) => (inner, Some(FaultKnob::new(0))),
        Err(e) => {
            real.stop(None);
            return Err(e);
        }
    };
    #[cfg(not(feature = "chaos"))]
    let (inner, faults) = {
        let _ = (testing, double);
        (real.clone(), None)
    };
    let peers = &config.consensus().p2p.persistent_peers;
    let actor = match ordo_p2p::seam::front(inner.clone(), peers, faults.clone()).await {
        Ok(front) => front,
        Err(e) => {
            inner.stop(None);
            real.stop(None);
            return Err(StartError::Other(format!(
                "starting the network front: {e}"
            )));
        }
    };
    if inner.get_id() != real.get_id() {
        // The front supervises the libp2p network too, so stopping the node stops it.
        real.get_cell().link(actor.get_cell());
    }
    Ok(Network { actor, tx, faults })
}

#[cfg(feature = "chaos")]
mod chaos {
    use super::Double;
    use crate::config::TestingSection;
    use crate::node::StartError;
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
    pub(super) async fn equivocator(
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
        .map_err(|e| StartError::Other(format!("starting the equivocating double: {e}")))
    }
}
