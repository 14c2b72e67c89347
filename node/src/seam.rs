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
//! Without the feature, this is the libp2p network alone (a config asking for a double is
//! refused before, by `crate::doubles`). The equivocator lives in `crate::doubles::equivocate`.

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
    let registry = SharedRegistry::global().with_moniker(config.moniker());
    let (real, tx) = malachitebft_app_channel::spawn::spawn_network_actor(
        identity,
        config.consensus(),
        config.value_sync(),
        &registry,
        codec,
    )
    .await
    .map_err(|e| StartError::actor("the network", e))?;
    #[cfg(feature = "chaos")]
    let (inner, faults) =
        match crate::doubles::equivocate::equivocator(real.clone(), testing, double).await {
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
            return Err(StartError::actor("the network front", e));
        }
    };
    if inner.get_id() != real.get_id() {
        // The front supervises the libp2p network too, so stopping the node stops it.
        real.get_cell().link(actor.get_cell());
    }
    Ok(Network { actor, tx, faults })
}
