//! Transaction gossip: a libp2p swarm of its own (TCP + noise + yamux + gossipsub), apart from
//! the consensus network, so a flood of transactions never queues behind or ahead of votes.
//!
//! - **Batched**: transactions handed to [`GossipHandle::publish`] are bundled and sent every
//!   `flush_interval`, or as soon as a bundle reaches `max_bundle_bytes`. A bundle is one
//!   gossipsub message: version byte `0x01`, then each transaction as a 4-byte big-endian length
//!   and its canonical encoding.
//! - **Bounded**: the outbound queue holds at most `outbound_capacity` transactions (overflow:
//!   the transaction is not gossiped, it stays in the local pool and this node proposes it in
//!   its own turn); the inbound queue holds at most `inbound_capacity` bundles (overflow: the
//!   bundle is ignored, not penalized: the sender still has it). A received bundle over
//!   `max_bundle_bytes` is rejected (and gossipsub itself refuses any message past that plus
//!   its own framing).
//! - **Unsigned, content-addressed**: transactions authenticate nothing about who relayed them,
//!   so bundles carry no author signature (gossipsub's anonymous mode); each hop is
//!   authenticated and encrypted by noise, and a bundle's id is the hash of its bytes. This
//!   saves an ed25519 signature per bundle and a verification at every receiver (ADR 8).
//! - **Validated and scored**: every bundle is checked by the node's `validate` function before
//!   it is forwarded. An undecodable bundle is rejected, which counts against the peer that
//!   sent it (gossipsub's invalid-deliveries penalty, P4); a peer whose score falls under the
//!   graylist threshold is ignored.
//! - **Permissioned**: only the configured peers may connect (an allow list of peer ids), and
//!   disconnected peers are redialed.

use crate::P2pError;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, allow_block_list, noise, tcp, yamux};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Bundle format version.
const BUNDLE_V1: u8 = 0x01;
/// Per-transaction framing: a 4-byte length.
const FRAME: usize = 4;

/// How the gossip swarm runs.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    /// `/ip4/<ip>/tcp/<port>`.
    pub listen: Multiaddr,
    /// The other validators' gossip addresses, each with `/p2p/<peer id>`.
    pub peers: Vec<Multiaddr>,
    /// The topic, distinct per chain.
    pub topic: String,
    /// Largest bundle, sent or accepted.
    pub max_bundle_bytes: usize,
    /// Longest a transaction waits to be bundled.
    pub flush_interval: Duration,
    /// Transactions waiting to be gossiped.
    pub outbound_capacity: usize,
    /// Received bundles waiting for the node.
    pub inbound_capacity: usize,
    /// How often disconnected peers are redialed.
    pub redial_interval: Duration,
}

impl GossipConfig {
    /// Defaults for `chain_id`: 1 MiB bundles flushed every 5 ms.
    pub fn new(listen: Multiaddr, peers: Vec<Multiaddr>, chain_id: u64) -> GossipConfig {
        GossipConfig {
            listen,
            peers,
            topic: format!("/ordo/{chain_id}/txs/1"),
            max_bundle_bytes: 1024 * 1024,
            flush_interval: Duration::from_millis(5),
            outbound_capacity: 200_000,
            // At most 64 MiB of bundles waiting for admission.
            inbound_capacity: 64,
            redial_interval: Duration::from_secs(2),
        }
    }
}

/// Counters of the gossip swarm.
#[derive(Debug, Default)]
pub struct GossipStats {
    pub bundles_sent: AtomicU64,
    pub txs_sent: AtomicU64,
    pub bundles_received: AtomicU64,
    pub txs_received: AtomicU64,
    pub bundles_rejected: AtomicU64,
    /// Transactions not gossiped because the outbound queue was full.
    pub outbound_dropped: AtomicU64,
    /// Bundles ignored because the node's inbound queue was full.
    pub inbound_dropped: AtomicU64,
    pub peers_connected: AtomicU64,
}

/// The node's side of the gossip swarm.
#[derive(Clone, Debug)]
pub struct GossipHandle {
    out: mpsc::Sender<bytes::Bytes>,
    admit: mpsc::Sender<Vec<Multiaddr>>,
    pub stats: Arc<GossipStats>,
}

impl GossipHandle {
    /// Queues an encoded transaction for gossip; `false` if the queue is full or the swarm
    /// stopped (the transaction is then only in the local pool).
    pub fn publish(&self, tx: bytes::Bytes) -> bool {
        let ok = self.out.try_send(tx).is_ok();
        if !ok {
            self.stats.outbound_dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Sets the peers admitted beyond the configured ones (each `/p2p/<id>` address): they are
    /// allowed and dialed; peers admitted before and absent now are refused and disconnected.
    /// The configured peers stay admitted.
    pub async fn admit(&self, peers: Vec<Multiaddr>) -> bool {
        self.admit.send(peers).await.is_ok()
    }
}

/// A validated bundle from a peer.
#[derive(Debug)]
pub struct Inbound {
    pub from: PeerId,
    pub txs: Vec<bytes::Bytes>,
}

/// Checks one encoded transaction of a received bundle.
pub type Validate = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
}

/// Appends `tx` to `bundle` (starting it if empty).
pub fn bundle_push(bundle: &mut Vec<u8>, tx: &[u8]) {
    if bundle.is_empty() {
        bundle.push(BUNDLE_V1);
    }
    bundle.extend_from_slice(&(tx.len() as u32).to_be_bytes());
    bundle.extend_from_slice(tx);
}

/// Splits a bundle into its transactions; `None` if it is not a well-formed bundle.
pub fn bundle_split(data: &bytes::Bytes) -> Option<Vec<bytes::Bytes>> {
    let (&version, mut rest) = data.split_first()?;
    if version != BUNDLE_V1 || rest.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut offset = 1usize;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<FRAME>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > tail.len() {
            return None;
        }
        offset += FRAME;
        out.push(data.slice(offset..offset + len));
        offset += len;
        rest = tail.get(len..)?;
    }
    Some(out)
}

fn message_id(m: &gossipsub::Message) -> MessageId {
    MessageId::from(
        Sha256::digest(&m.data)
            .get(..20)
            .unwrap_or_default()
            .to_vec(),
    )
}

fn score_params(topic: &IdentTopic) -> (PeerScoreParams, PeerScoreThresholds) {
    let t = TopicScoreParams {
        topic_weight: 1.0,
        // Idle periods are normal for a transaction topic: do not penalize a quiet mesh peer.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // An invalid bundle costs far more than a first delivery earns.
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        ..TopicScoreParams::default()
    };
    let mut p = PeerScoreParams::default();
    p.topics.insert(topic.hash(), t);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        ..PeerScoreThresholds::default()
    };
    (p, thresholds)
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// A started gossip swarm.
#[derive(Debug)]
pub struct Gossip {
    pub handle: GossipHandle,
    /// Validated bundles from peers, for the node to admit.
    pub inbound: mpsc::Receiver<Inbound>,
    /// The swarm's task; aborting it closes every connection and the listener.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the swarm.
pub fn spawn(
    keypair: Keypair,
    config: GossipConfig,
    validate: Validate,
) -> Result<Gossip, P2pError> {
    let err = |what: &str, e: String| P2pError::Gossip(format!("{what}: {e}"));
    let topic = IdentTopic::new(config.topic.clone());
    let mut allowed = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    let mut peers = Vec::new();
    for a in &config.peers {
        let id = peer_of(a).ok_or_else(|| P2pError::Address {
            addr: a.to_string(),
            reason: "a gossip peer address needs /p2p/<peer id>".into(),
        })?;
        allowed.allow_peer(id);
        peers.push((id, a.clone()));
    }
    let gs_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(config.max_bundle_bytes + 64 * 1024)
        .mesh_n_low(2)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .flood_publish(true)
        .heartbeat_interval(Duration::from_millis(500))
        .build()
        .map_err(|e| err("gossipsub config", e.to_string()))?;
    let mut gs = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gs_config)
        .map_err(|e| err("gossipsub", e.to_string()))?;
    let (params, thresholds) = score_params(&topic);
    gs.with_peer_score(params, thresholds)
        .map_err(|e| err("peer scoring", e))?;
    gs.subscribe(&topic)
        .map_err(|e| err("subscribe", e.to_string()))?;
    let behaviour = Behaviour {
        allow: allowed,
        gossipsub: gs,
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err("transport", e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| err("behaviour", e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm.listen_on(config.listen.clone()).map_err(|e| {
        // libp2p's `TransportError::Other` displays as nothing: name the I/O error itself
        // (an address in use, say).
        let reason = match e {
            libp2p::TransportError::Other(io) => io.to_string(),
            other => other.to_string(),
        };
        err("listen", format!("{} ({reason})", config.listen))
    })?;
    let stats = Arc::new(GossipStats::default());
    let (out_tx, out_rx) = mpsc::channel(config.outbound_capacity.max(1));
    let (in_tx, in_rx) = mpsc::channel(config.inbound_capacity.max(1));
    let task = Task {
        topic,
        peers,
        admitted: Vec::new(),
        bundle: Vec::new(),
        bundle_txs: 0,
        config,
        stats: stats.clone(),
        validate,
        inbound: in_tx,
    };
    let (admit_tx, admit_rx) = mpsc::channel(4);
    let task = tokio::spawn(task.run(swarm, out_rx, admit_rx));
    Ok(Gossip {
        handle: GossipHandle {
            out: out_tx,
            admit: admit_tx,
            stats,
        },
        inbound: in_rx,
        task,
    })
}

struct Task {
    topic: IdentTopic,
    /// The configured peers, allowed and redialed for good.
    peers: Vec<(PeerId, Multiaddr)>,
    /// Peers admitted at run time ([`GossipHandle::admit`]), allowed and redialed too.
    admitted: Vec<(PeerId, Multiaddr)>,
    bundle: Vec<u8>,
    bundle_txs: u64,
    config: GossipConfig,
    stats: Arc<GossipStats>,
    validate: Validate,
    inbound: mpsc::Sender<Inbound>,
}

impl Task {
    async fn run(
        mut self,
        mut swarm: libp2p::Swarm<Behaviour>,
        mut out: mpsc::Receiver<bytes::Bytes>,
        mut admit: mpsc::Receiver<Vec<Multiaddr>>,
    ) {
        self.redial(&mut swarm);
        let mut flush = tokio::time::interval(self.config.flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(self.config.redial_interval);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                tx = out.recv() => match tx {
                    Some(tx) => self.add(&mut swarm, &tx),
                    None => {
                        self.flush(&mut swarm);
                        info!("gossip.stopped");
                        return;
                    }
                },
                _ = flush.tick() => self.flush(&mut swarm),
                _ = redial.tick() => self.redial(&mut swarm),
                Some(peers) = admit.recv() => self.admit(&mut swarm, peers),
                ev = swarm.select_next_some() => self.event(&mut swarm, ev),
            }
        }
    }

    fn add(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, tx: &[u8]) {
        if tx.len() + FRAME + 1 > self.config.max_bundle_bytes {
            self.stats.outbound_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.bundle.len() + FRAME + tx.len() > self.config.max_bundle_bytes {
            self.flush(swarm);
        }
        bundle_push(&mut self.bundle, tx);
        self.bundle_txs += 1;
    }

    fn flush(&mut self, swarm: &mut libp2p::Swarm<Behaviour>) {
        if self.bundle.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.bundle);
        let n = std::mem::take(&mut self.bundle_txs);
        match swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), data)
        {
            Ok(_) => {
                self.stats.bundles_sent.fetch_add(1, Ordering::Relaxed);
                self.stats.txs_sent.fetch_add(n, Ordering::Relaxed);
            }
            // No peer connected yet, or the same bundle was sent moments ago: the transactions
            // are in the local pool either way.
            Err(e) => {
                debug!(error = %e, txs = n, "gossip.publish_failed");
                self.stats.outbound_dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    fn admit(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, peers: Vec<Multiaddr>) {
        let configured: std::collections::HashSet<PeerId> =
            self.peers.iter().map(|(id, _)| *id).collect();
        let new: Vec<(PeerId, Multiaddr)> = peers
            .into_iter()
            .filter_map(|a| Some((peer_of(&a)?, a)))
            .filter(|(id, _)| !configured.contains(id))
            .collect();
        for (id, addr) in &self.admitted {
            if !new.iter().any(|(n, _)| n == id) {
                swarm.behaviour_mut().allow.disallow_peer(*id);
                let _ = swarm.disconnect_peer_id(*id);
                info!(peer = %id, %addr, "gossip.peer_dropped");
            }
        }
        for (id, addr) in &new {
            if !self.admitted.iter().any(|(a, _)| a == id) {
                swarm.behaviour_mut().allow.allow_peer(*id);
                let _ = swarm.dial(addr.clone());
                info!(peer = %id, %addr, "gossip.peer_admitted");
            }
        }
        self.admitted = new;
    }

    fn redial(&mut self, swarm: &mut libp2p::Swarm<Behaviour>) {
        for (id, addr) in self.peers.iter().chain(&self.admitted) {
            if !swarm.is_connected(id) {
                let _ = swarm.dial(addr.clone());
            }
        }
    }

    fn event(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. }
            | SwarmEvent::ConnectionClosed { peer_id, .. } => {
                let peers = swarm.connected_peers().count() as u64;
                self.stats.peers_connected.store(peers, Ordering::Relaxed);
                debug!(%peer_id, peers, "gossip.connections");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "gossip.listening");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let verdict = self.received(propagation_source, message);
                swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            _ => {}
        }
    }

    fn received(&mut self, from: PeerId, message: gossipsub::Message) -> MessageAcceptance {
        if message.data.len() > self.config.max_bundle_bytes {
            self.stats.bundles_rejected.fetch_add(1, Ordering::Relaxed);
            warn!(%from, len = message.data.len(), "gossip.oversized_bundle");
            return MessageAcceptance::Reject;
        }
        let data = bytes::Bytes::from(message.data);
        let Some(txs) = bundle_split(&data) else {
            self.stats.bundles_rejected.fetch_add(1, Ordering::Relaxed);
            warn!(%from, "gossip.bad_bundle");
            return MessageAcceptance::Reject;
        };
        if !txs.iter().all(|t| (self.validate)(t)) {
            self.stats.bundles_rejected.fetch_add(1, Ordering::Relaxed);
            warn!(%from, "gossip.bad_transaction");
            return MessageAcceptance::Reject;
        }
        let n = txs.len() as u64;
        match self.inbound.try_send(Inbound { from, txs }) {
            Ok(()) => {
                self.stats.bundles_received.fetch_add(1, Ordering::Relaxed);
                self.stats.txs_received.fetch_add(n, Ordering::Relaxed);
                MessageAcceptance::Accept
            }
            Err(_) => {
                self.stats.inbound_dropped.fetch_add(1, Ordering::Relaxed);
                MessageAcceptance::Ignore
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_bundles_are_refused() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![BUNDLE_V1],
            vec![0x02, 0, 0, 0, 1, 7],
            vec![BUNDLE_V1, 0, 0, 0],
            vec![BUNDLE_V1, 0, 0, 0, 0],
            vec![BUNDLE_V1, 0, 0, 0, 2, 7],
            vec![BUNDLE_V1, 0xff, 0xff, 0xff, 0xff, 7],
        ];
        for c in cases {
            assert_eq!(bundle_split(&bytes::Bytes::from(c.clone())), None, "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn bundles_round_trip(txs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..300), 1..50)) {
            let mut b = Vec::new();
            for t in &txs {
                bundle_push(&mut b, t);
            }
            let got = bundle_split(&bytes::Bytes::from(b)).unwrap();
            prop_assert_eq!(got.iter().map(|x| x.to_vec()).collect::<Vec<_>>(), txs);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = bundle_split(&bytes::Bytes::from(data));
        }
    }
}
