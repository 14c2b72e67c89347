//! `ordo-p2p`: the libp2p configuration of ordo's consensus network, handed to malachite.
//!
//! - TCP + noise + yamux (malachite picks the transport from the listen address: `/tcp/`).
//! - Permissioned mode: only the persistent peers (the genesis validators) may connect, every
//!   peer address names its `/p2p/<peer id>`, and discovery is off.
//! - A node identity key (libp2p ed25519) separate from the consensus and BLS keys, so rotating
//!   transport identity never touches signing keys.
//! - Message size limits derived from the chain's [`Limits`].
//!
//! [`seam`] is the actor consensus talks to in front of malachite's network (it redials peers
//! left mute by a reconnect, and carries the [`faults`] layer in chaos builds); [`gossip`] is
//! the second swarm: transaction gossip over gossipsub.

pub mod faults;
pub mod gossip;
pub mod seam;

use bytesize::ByteSize;
use libp2p_identity::{Keypair, PeerId};
use malachitebft_app_channel::app::config::{DiscoveryConfig, P2pConfig, PubSubProtocol};
use malachitebft_app_channel::app::net::Multiaddr;
use ordo_types::Limits;
use thiserror::Error;

/// Why a network setting was refused.
#[derive(Debug, Error)]
pub enum P2pError {
    #[error("node key: {0}")]
    NodeKey(String),
    #[error("gossip: {0}")]
    Gossip(String),
    #[error("address {addr:?}: {reason}")]
    Address { addr: String, reason: String },
}

/// The libp2p identity from a 32-byte ed25519 secret.
pub fn node_keypair(secret: [u8; 32]) -> Result<Keypair, P2pError> {
    let mut s = secret;
    Keypair::ed25519_from_bytes(&mut s).map_err(|e| P2pError::NodeKey(e.to_string()))
}

/// A fresh 32-byte node secret.
pub fn generate_node_secret() -> [u8; 32] {
    let kp = libp2p_identity::ed25519::Keypair::generate();
    kp.secret()
        .as_ref()
        .try_into()
        .expect("an ed25519 secret is 32 bytes")
}

/// The peer id of a node secret.
pub fn peer_id(secret: [u8; 32]) -> Result<PeerId, P2pError> {
    Ok(node_keypair(secret)?.public().to_peer_id())
}

/// `/ip4/<ip>/tcp/<port>`.
pub fn tcp_addr(ip: std::net::Ipv4Addr, port: u16) -> Multiaddr {
    format!("/ip4/{ip}/tcp/{port}")
        .parse()
        .expect("an ip4/tcp address always parses")
}

/// `/ip4/<ip>/tcp/<port>/p2p/<peer id>`: a persistent peer address.
pub fn peer_addr(ip: std::net::Ipv4Addr, port: u16, peer: &PeerId) -> Multiaddr {
    format!("/ip4/{ip}/tcp/{port}/p2p/{peer}")
        .parse()
        .expect("an ip4/tcp/p2p address always parses")
}

/// Parses a persistent peer address, which must name TCP and the peer id.
pub fn parse_peer(s: &str) -> Result<Multiaddr, P2pError> {
    let addr = s.parse::<Multiaddr>().map_err(|e| P2pError::Address {
        addr: s.into(),
        reason: e.to_string(),
    })?;
    let text = addr.to_string();
    if !text.contains("/tcp/") || !text.contains("/p2p/") {
        return Err(P2pError::Address {
            addr: s.into(),
            reason: "a peer address needs /tcp/<port> and /p2p/<peer id>".into(),
        });
    }
    Ok(addr)
}

/// The consensus network configuration: listen on `listen`, connect to and accept only
/// `peers`, with message limits large enough for one proposal part and one sync response.
pub fn consensus_p2p(listen: Multiaddr, peers: Vec<Multiaddr>, limits: &Limits) -> P2pConfig {
    let part = ordo_consensus_part_limit();
    let response = limits
        .max_batch_bytes
        .saturating_mul(2)
        .max(ByteSize::mib(16).as_u64());
    P2pConfig {
        listen_addr: listen,
        persistent_peers: peers,
        persistent_peers_only: true,
        discovery: DiscoveryConfig {
            enabled: false,
            ..DiscoveryConfig::default()
        },
        protocol: PubSubProtocol::default(),
        pubsub_max_size: ByteSize::b(part),
        rpc_max_size: ByteSize::b(response),
        ..P2pConfig::default()
    }
}

/// Largest gossiped message: a proposal part of 256 KiB of transactions plus framing, with room.
fn ordo_consensus_part_limit() -> u64 {
    ByteSize::mib(1).as_u64()
}
