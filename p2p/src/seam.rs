//! The network consensus is given: an actor in front of malachite's libp2p network actor.
//!
//! It forwards everything, and it watches for one failure the libp2p layer does not repair
//! itself: a **mute reconnect**.
//!
//! - gossipsub announces a node's topic subscriptions to a peer once, on the *first*
//!   connection to it;
//! - after a partition, a node that has reaped its dead connections redials peers that have
//!   not reaped theirs yet;
//! - for those peers the new connection is a second one, so they announce nothing;
//! - the returning node then believes no peer subscribes to any topic
//!   (`NoPeersSubscribedToTopic`), while it still *receives* everything.
//!
//! It decides heights in step with the others, but no vote or proposal of its own leaves it,
//! and its turns as proposer time out, for as long as the connection lives. Measured before
//! this watch: about 2 heights/s instead of 9 for the rest of a 20 s run after a heal.
//!
//! The watch therefore follows the engine's connection events. After a peer connects, and
//! only until it has been seen in a gossipsub mesh, it reads the network's state once a second
//! (`DumpState`): the topics that peer is in our mesh for. A peer whose subscriptions we never
//! heard is in no mesh. One that stays connected for [`GRACE`] in no mesh at all is
//! disconnected and redialed: the new connection is the first on both sides, and both announce
//! their subscriptions. (With four validators and a mesh target of six, every subscribed peer
//! is meshed within a heartbeat.) A peer is kicked at most once per [`KICK_BACKOFF`]. In steady
//! state (every peer meshed) the watch reads nothing: `DumpState` holds the network actor until
//! the swarm answers, and polling it on every node measurably slowed consensus under load.
//!
//! With the `faults` feature the front also puts the fault layer ([`crate::faults`]) on what
//! consensus receives.

use crate::faults::FaultKnob;
use malachitebft_app_channel::app::engine::network::{
    Msg, NetworkEvent, NetworkRef, PersistentPeersOp,
};
use malachitebft_app_channel::app::net::{Multiaddr, PeerId};
use malachitebft_app_channel::app::types::PeerId as EnginePeerId;
use malachitebft_app_channel::app::types::core::Context;
use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a connected peer may stay in no gossipsub mesh.
pub const GRACE: Duration = Duration::from_secs(4);
/// Least time between two reconnections of one peer.
pub const KICK_BACKOFF: Duration = Duration::from_secs(10);
/// How often the watch looks (the network refreshes its mesh view once a second).
const TICK: Duration = Duration::from_secs(1);
/// Between dropping a peer and dialing it again, for the old connection to close.
const REDIAL_PAUSE: Duration = Duration::from_millis(300);

/// Puts the front in front of `real`. `peers` are the persistent peer addresses (with
/// `/p2p/<id>`), used to redial a mute peer. `faults` is the fault layer's knob, in a build with
/// the `faults` feature (ignored otherwise). Stopping the front stops `real`, and `real`
/// stopping stops the front.
pub async fn front<Ctx: Context>(
    real: NetworkRef<Ctx>,
    peers: &[Multiaddr],
    faults: Option<FaultKnob>,
) -> Result<NetworkRef<Ctx>, SpawnErr> {
    let addrs: HashMap<PeerId, Multiaddr> = peers
        .iter()
        .filter_map(|a| Some((peer_of(a)?, a.clone())))
        .collect();
    let (front, _) = Actor::spawn(
        None,
        Front {
            real: real.clone(),
            faults,
        },
        addrs,
    )
    .await?;
    real.get_cell().link(front.get_cell());
    Ok(front)
}

/// The peer id of a `/p2p/<id>` address.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

struct Front<Ctx: Context> {
    real: NetworkRef<Ctx>,
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    faults: Option<FaultKnob>,
}

type Subscriber<Ctx> =
    Box<dyn malachitebft_app_channel::app::engine::network::Subscriber<NetworkEvent<Ctx>>>;

impl<Ctx: Context> Front<Ctx> {
    /// The subscriber to give the real network: `subscriber` itself, or a fault-layer shaper
    /// standing for it.
    #[cfg(feature = "faults")]
    async fn shaped(
        &self,
        subscriber: Subscriber<Ctx>,
        myself: &ActorRef<Msg<Ctx>>,
    ) -> Result<Subscriber<Ctx>, SpawnErr> {
        match &self.faults {
            Some(knob) => crate::faults::shaper(knob.clone(), subscriber, myself.get_cell()).await,
            None => Ok(subscriber),
        }
    }

    #[cfg(not(feature = "faults"))]
    async fn shaped(
        &self,
        subscriber: Subscriber<Ctx>,
        _myself: &ActorRef<Msg<Ctx>>,
    ) -> Result<Subscriber<Ctx>, SpawnErr> {
        Ok(subscriber)
    }
}

#[ractor::async_trait]
impl<Ctx: Context> Actor for Front<Ctx> {
    type Msg = Msg<Ctx>;
    type State = ();
    type Arguments = HashMap<PeerId, Multiaddr>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        addrs: Self::Arguments,
    ) -> Result<(), ActorProcessingErr> {
        let (watch, _) = Actor::spawn_linked(
            None,
            Watch::<Ctx> {
                real: self.real.clone(),
                addrs,
            },
            (),
            myself.get_cell(),
        )
        .await?;
        self.real.cast(Msg::Subscribe(Box::new(watch)))?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Subscribe(subscriber) => {
                let subscriber = self.shaped(subscriber, &myself).await?;
                self.real.cast(Msg::Subscribe(subscriber))?;
            }
            other => self.real.cast(other)?,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorTerminated(..) | SupervisionEvent::ActorFailed(..) = evt {
            // The real network, the watch or a shaper is gone: consensus must not keep a network that
            // silently drops everything.
            myself.stop(Some("the consensus network stopped".into()));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        self.real.stop(None);
        Ok(())
    }
}

/// One connected peer, as the watch sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerWatch {
    /// Since when it has been connected and in no mesh; `None` while meshed.
    pub unmeshed_since: Option<Instant>,
    pub last_kick: Option<Instant>,
}

/// Folds one reading (each connected peer, and whether it is in our mesh for any topic) into
/// `peers`, and returns the peers to reconnect: in no mesh for [`GRACE`] and not kicked within
/// [`KICK_BACKOFF`], marked kicked. Peers no longer connected are forgotten, except for their
/// last kick.
pub fn observe<P: Copy + Ord + std::hash::Hash>(
    peers: &mut HashMap<P, PeerWatch>,
    reading: &[(P, bool)],
    now: Instant,
) -> Vec<P> {
    for (p, w) in peers.iter_mut() {
        if !reading.iter().any(|(q, _)| q == p) {
            w.unmeshed_since = None;
        }
    }
    let mut due = vec![];
    for &(p, meshed) in reading {
        let w = peers.entry(p).or_default();
        if meshed {
            w.unmeshed_since = None;
            continue;
        }
        let since = *w.unmeshed_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= GRACE
            && w.last_kick
                .is_none_or(|k| now.saturating_duration_since(k) >= KICK_BACKOFF)
        {
            w.last_kick = Some(now);
            due.push(p);
        }
    }
    due.sort();
    due
}

/// What the watch hears: the connection events it follows (the rest is dropped on arrival,
/// peers named by their libp2p id), and its own clock.
enum WatchMsg {
    Connected(PeerId),
    Disconnected(PeerId),
    Other,
    Tick,
}

impl<Ctx: Context> From<NetworkEvent<Ctx>> for WatchMsg {
    fn from(e: NetworkEvent<Ctx>) -> Self {
        let libp2p_id = |p: &EnginePeerId| PeerId::from_bytes(&p.to_bytes()).ok();
        match &e {
            NetworkEvent::PeerConnected(p) => {
                libp2p_id(p).map_or(WatchMsg::Other, WatchMsg::Connected)
            }
            NetworkEvent::PeerDisconnected(p) => {
                libp2p_id(p).map_or(WatchMsg::Other, WatchMsg::Disconnected)
            }
            _ => WatchMsg::Other,
        }
    }
}

/// Follows connections and redials a peer left mute.
struct Watch<Ctx: Context> {
    real: NetworkRef<Ctx>,
    addrs: HashMap<PeerId, Multiaddr>,
}

#[derive(Default)]
struct WatchState {
    /// Connected persistent peers not yet seen in a mesh since they connected.
    pending: HashSet<PeerId>,
    peers: HashMap<PeerId, PeerWatch>,
}

#[ractor::async_trait]
impl<Ctx: Context> Actor for Watch<Ctx> {
    type Msg = WatchMsg;
    type State = WatchState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if myself.cast(WatchMsg::Tick).is_err() {
                    return;
                }
            }
        });
        Ok(WatchState::default())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WatchMsg::Connected(p) if self.addrs.contains_key(&p) => {
                st.pending.insert(p);
            }
            WatchMsg::Disconnected(p) => {
                st.pending.remove(&p);
            }
            WatchMsg::Tick if !st.pending.is_empty() => self.look(st).await,
            WatchMsg::Connected(_) | WatchMsg::Other | WatchMsg::Tick => {}
        }
        Ok(())
    }
}

impl<Ctx: Context> Watch<Ctx> {
    /// Reads the mesh view of the pending peers; forgets those meshed, redials those mute.
    async fn look(&self, st: &mut WatchState) {
        let (tx, rx) = ractor::concurrency::oneshot();
        if self.real.cast(Msg::DumpState(tx.into())).is_err() {
            return;
        }
        // `None`: not started yet; an error: the network is stopping.
        let Ok(Some(dump)) = rx.await else {
            return;
        };
        let reading: Vec<(PeerId, bool)> = dump
            .peers
            .iter()
            .filter(|(p, _)| st.pending.contains(p))
            .map(|(p, info)| (*p, !info.topics.is_empty()))
            .collect();
        for (p, meshed) in &reading {
            if *meshed {
                st.pending.remove(p);
            }
        }
        for p in observe(&mut st.peers, &reading, Instant::now()) {
            let Some(addr) = self.addrs.get(&p).cloned() else {
                continue;
            };
            tracing::warn!(
                peer = %p,
                "network.peer_redial: connected {GRACE:?} in no gossipsub mesh (its subscriptions never reached us: a stale connection survived its reconnect); redialing"
            );
            tokio::spawn(redial(self.real.clone(), addr));
        }
    }
}

/// Adds (`add`) or removes the persistent peer at `addr` of the consensus network behind
/// `net`, at run time: an added peer is dialed and, with `persistent_peers_only`, admitted; a
/// removed one is disconnected and refused from then on.
pub async fn set_persistent_peer<Ctx: Context>(
    net: &NetworkRef<Ctx>,
    addr: Multiaddr,
    add: bool,
) -> Result<(), String> {
    let op = if add {
        PersistentPeersOp::Add(addr)
    } else {
        PersistentPeersOp::Remove(addr)
    };
    let (tx, rx) = ractor::concurrency::oneshot();
    net.cast(Msg::UpdatePersistentPeers(op, tx.into()))
        .map_err(|e| format!("the network stopped: {e}"))?;
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the network stopped".into()),
    }
}

/// Drops the persistent peer at `addr` (which disconnects it) and adds it back (which dials).
async fn redial<Ctx: Context>(real: NetworkRef<Ctx>, addr: Multiaddr) {
    for (i, op) in [
        PersistentPeersOp::Remove(addr.clone()),
        PersistentPeersOp::Add(addr.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            tokio::time::sleep(REDIAL_PAUSE).await;
        }
        let (tx, rx) = ractor::concurrency::oneshot();
        if real
            .cast(Msg::UpdatePersistentPeers(op, tx.into()))
            .is_err()
        {
            return;
        }
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(%addr, "network.peer_redial: {e}"),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_in_no_mesh_is_kicked_after_the_grace_then_backs_off() {
        let t0 = Instant::now();
        let mut peers = HashMap::new();
        let reading = [(1u8, false), (2u8, true)];
        assert!(observe(&mut peers, &reading, t0).is_empty());
        let just_before = t0 + GRACE - Duration::from_millis(1);
        assert!(observe(&mut peers, &reading, just_before).is_empty());
        assert_eq!(observe(&mut peers, &reading, t0 + GRACE), vec![1]);
        // Not again until the backoff has passed.
        let later = t0 + GRACE + KICK_BACKOFF / 2;
        assert!(observe(&mut peers, &reading, later).is_empty());
        assert_eq!(
            observe(&mut peers, &reading, t0 + GRACE + KICK_BACKOFF),
            vec![1]
        );
    }

    #[test]
    fn meshing_or_leaving_resets_the_grace() {
        let t0 = Instant::now();
        let mut peers = HashMap::new();
        observe(&mut peers, &[(7u8, false)], t0);
        // Meshed for a moment: the grace starts over.
        observe(&mut peers, &[(7u8, true)], t0 + GRACE / 2);
        assert!(observe(&mut peers, &[(7u8, false)], t0 + GRACE).is_empty());
        // Gone (not in the reading), then back unmeshed: the grace starts over too.
        observe(&mut peers, &[], t0 + GRACE * 2);
        assert!(observe(&mut peers, &[(7u8, false)], t0 + GRACE * 2).is_empty());
        assert_eq!(
            observe(&mut peers, &[(7u8, false)], t0 + GRACE * 3),
            vec![7]
        );
    }

    #[test]
    fn peer_ids_are_read_from_persistent_addresses() {
        let id = PeerId::random();
        let addr: Multiaddr = format!("/ip4/10.0.0.1/tcp/26000/p2p/{id}").parse().unwrap();
        assert_eq!(peer_of(&addr), Some(id));
        let bare: Multiaddr = "/ip4/10.0.0.1/tcp/26000".parse().unwrap();
        assert_eq!(peer_of(&bare), None);
    }
}
