//! A node's home directory: where its config, genesis, keys and data live, and the commands
//! that create homes (`ordo init`, `ordo testnet init`).
//!
//! ```text
//! HOME/config.toml      node configuration
//! HOME/genesis.json     the chain's genesis
//! HOME/keys/            consensus.json (ed25519), bls.json, node.json (libp2p); mode 0600;
//!                       l1.key (DA posting), operator.key (stake table) where set up
//! HOME/data/db/         rocksdb
//! HOME/data/wal/        malachite's write-ahead log
//! HOME/data/sign_state  the double-sign guard's state (fsynced before any signature leaves)
//! HOME/data/*.log       decision and signature logs (JSON lines) for checkers
//! ```

use crate::config::{Config, GossipSection, P2pSection, RpcSection, TestingSection};
use crate::genesis::{ChainParams, Genesis};
use crate::keyfile::{self, KeyFileError};
use malachitebft_signing_ed25519::PrivateKey;
use ordo_types::{Address, BlsSecretKey, ChainId, ConsensusKey, Limits, Validator};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const CONSENSUS_KEY_KIND: &str = "ordo-ed25519-consensus";
pub const NODE_KEY_KIND: &str = "ordo-libp2p-ed25519";

/// Paths inside a home.
#[derive(Clone, Debug)]
pub struct Home(pub PathBuf);

impl Home {
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }
    pub fn genesis(&self) -> PathBuf {
        self.0.join("genesis.json")
    }
    pub fn consensus_key(&self) -> PathBuf {
        self.0.join("keys/consensus.json")
    }
    pub fn bls_key(&self) -> PathBuf {
        self.0.join("keys/bls.json")
    }
    pub fn node_key(&self) -> PathBuf {
        self.0.join("keys/node.json")
    }
    /// The L1 account that registered this validator in the stake table (`ordo validator`);
    /// written by `ordo l1 deploy --stake-table` for a development L1.
    pub fn operator_key(&self) -> PathBuf {
        self.0.join("keys/operator.key")
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("data/db")
    }
    /// The L1 source's cache (inbox entries and block hashes read).
    pub fn l1_cache(&self) -> PathBuf {
        self.0.join("data/l1")
    }
    pub fn wal(&self) -> PathBuf {
        self.0.join("data/wal/consensus.wal")
    }
    pub fn sign_state(&self) -> PathBuf {
        self.0.join("data/sign_state")
    }
    pub fn signature_log(&self) -> PathBuf {
        self.0.join("data/signatures.log")
    }
    pub fn decision_log(&self) -> PathBuf {
        self.0.join("data/decisions.log")
    }
    /// The DA poster's state: the local backend's frames, the blob watcher's progress.
    pub fn da_dir(&self) -> PathBuf {
        self.0.join("data/da")
    }
    /// Where an in-process rollup keeps its delivery cursor (and the builtin ledger its
    /// snapshot).
    pub fn rollup_dir(&self, namespace: ordo_types::Namespace) -> PathBuf {
        self.0.join(format!("data/rollups/{}", namespace.0))
    }
}

/// A validator's three keys.
#[derive(Clone)]
pub struct Keys {
    pub consensus: PrivateKey,
    pub bls: BlsSecretKey,
    pub node: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// The address of a consensus key: the first 20 bytes of `sha256("ordo.address.v1" ‖ key)`.
pub fn address_of(key: &[u8; 32]) -> Address {
    ordo_consensus::epoch::address_of(key)
}

impl Keys {
    /// Fresh keys from the operating system's randomness.
    pub fn generate() -> Result<Keys, ordo_types::BlsError> {
        Ok(Keys {
            consensus: PrivateKey::generate(rand::rngs::OsRng),
            bls: BlsSecretKey::generate()?,
            node: Zeroizing::new(ordo_p2p::generate_node_secret()),
        })
    }

    pub fn address(&self) -> Address {
        address_of(self.consensus.public_key().as_bytes())
    }

    /// This validator's genesis entry.
    pub fn validator(&self, voting_power: u64) -> Validator {
        Validator {
            address: self.address(),
            voting_power,
            consensus_key: ConsensusKey(*self.consensus.public_key().as_bytes()),
            bls_key: self.bls.public_key(),
            bls_pop: self.bls.proof_of_possession(),
        }
    }

    pub fn peer_id(&self) -> String {
        ordo_p2p::peer_id(*self.node)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// Writes the three key files (mode 0600).
    pub fn write(&self, home: &Home, force: bool) -> Result<(), KeyFileError> {
        let secret = Zeroizing::new(self.consensus.inner().to_bytes());
        keyfile::write_seed(
            &home.consensus_key(),
            CONSENSUS_KEY_KIND,
            format!("0x{}", hex::encode(self.consensus.public_key().as_bytes())),
            &secret,
            force,
        )?;
        keyfile::write_bls_key(&home.bls_key(), &self.bls, force)?;
        keyfile::write_seed(
            &home.node_key(),
            NODE_KEY_KIND,
            self.peer_id(),
            &self.node,
            force,
        )
    }

    /// Reads the three key files, refusing any that others may read.
    pub fn read(home: &Home) -> Result<Keys, KeyFileError> {
        let (secret, _) = keyfile::read_seed(&home.consensus_key(), CONSENSUS_KEY_KIND)?;
        let bls = keyfile::read_bls_key(&home.bls_key())?;
        let (node, _) = keyfile::read_seed(&home.node_key(), NODE_KEY_KIND)?;
        Ok(Keys {
            consensus: PrivateKey::from(*secret),
            bls,
            node,
        })
    }
}

/// Why a home could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already holds a node; remove it or pick another --home")]
    Exists(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("key generation: {0}")]
    Keygen(#[from] ordo_types::BlsError),
    #[error("{n} nodes from base port {base} need ports past 65535; pick a lower --base-port")]
    Ports { n: usize, base: u16 },
    #[error("{hosts} host addresses for {n} validators; give one per validator")]
    Hosts { n: usize, hosts: usize },
}

fn write_file(path: &Path, text: &str) -> Result<(), InitError> {
    std::fs::write(path, text).map_err(|e| InitError::Io(path.to_path_buf(), e))
}

fn prepare(home: &Home) -> Result<(), InitError> {
    if home.config().exists() || home.genesis().exists() {
        return Err(InitError::Exists(home.0.clone()));
    }
    std::fs::create_dir_all(home.0.join("keys")).map_err(|e| InitError::Io(home.0.clone(), e))?;
    std::fs::set_permissions(&home.0, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| InitError::Io(home.0.clone(), e))?;
    Ok(())
}

fn config_for(
    moniker: String,
    ip: Ipv4Addr,
    ports: Ports,
    peers: Vec<String>,
    gossip_peers: Vec<String>,
) -> Config {
    Config {
        moniker,
        p2p: P2pSection {
            listen: ordo_p2p::tcp_addr(ip, ports.p2p).to_string(),
            persistent_peers: peers,
        },
        rpc: RpcSection {
            listen: SocketAddr::from((ip, ports.rpc)),
        },
        gossip: Some(GossipSection {
            listen: ordo_p2p::tcp_addr(ip, ports.gossip).to_string(),
            peers: gossip_peers,
        }),
        mempool: ordo_mempool::MempoolConfig::default(),
        l1: None,
        testing: TestingSection::default(),
        rollups: Vec::new(),
        da: None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ordo init`: a single-validator chain in `home` (keys, genesis naming this validator,
/// config on loopback `ports`).
pub fn init(home: &Home, chain_id: ChainId, ports: Ports) -> Result<Keys, InitError> {
    prepare(home)?;
    let keys = Keys::generate()?;
    keys.write(home, false)?;
    let genesis = Genesis {
        chain_id,
        genesis_time_ms: now_ms(),
        validators: vec![keys.validator(1)],
        limits: Limits::default(),
        params: ChainParams::default(),
        l1: None,
        da: None,
        stake: None,
    };
    write_genesis(home, &genesis)?;
    let moniker = home
        .0
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "node".into());
    write_file(
        &home.config(),
        &config_for(moniker, Ipv4Addr::LOCALHOST, ports, vec![], vec![]).to_toml(),
    )?;
    Ok(keys)
}

fn write_genesis(home: &Home, g: &Genesis) -> Result<(), InitError> {
    let text = serde_json::to_string_pretty(g).expect("a genesis serializes");
    write_file(&home.genesis(), &text)
}

/// The loopback ports of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// Consensus (malachite's libp2p swarm).
    pub p2p: u16,
    /// gRPC and HTTP.
    pub rpc: u16,
    /// Transaction gossip.
    pub gossip: u16,
}

/// Ports used per node of a local testnet.
pub const PORTS_PER_NODE: u16 = 3;

/// Ports of validator `i` of a local testnet: p2p `base + 3i`, rpc `base + 3i + 1`, gossip
/// `base + 3i + 2`.
pub fn testnet_ports(base: u16, i: usize) -> Ports {
    let p2p = base + PORTS_PER_NODE * i as u16;
    Ports {
        p2p,
        rpc: p2p + 1,
        gossip: p2p + 2,
    }
}

/// `ordo testnet init`: `n` homes `output/node-<i>` sharing one genesis, each validator
/// connected to all others. Validator `i` listens on `hosts[i]`, or on loopback when `hosts` is
/// empty (one address per validator lets each run in its own network namespace).
pub fn testnet_init(
    output: &Path,
    n: usize,
    chain_id: ChainId,
    base_port: u16,
    params: ChainParams,
    hosts: &[Ipv4Addr],
) -> Result<Vec<(Home, Keys)>, InitError> {
    if !hosts.is_empty() && hosts.len() != n {
        return Err(InitError::Hosts {
            n,
            hosts: hosts.len(),
        });
    }
    let host = |i: usize| hosts.get(i).copied().unwrap_or(Ipv4Addr::LOCALHOST);
    // testnet_ports adds up to PORTS_PER_NODE * n to the base: refuse what would not fit.
    let last = (n as u64) * u64::from(PORTS_PER_NODE) + u64::from(base_port);
    if last > u64::from(u16::MAX) + 1 {
        return Err(InitError::Ports { n, base: base_port });
    }
    let homes: Vec<Home> = (0..n)
        .map(|i| Home(output.join(format!("node-{i}"))))
        .collect();
    for h in &homes {
        prepare(h)?;
    }
    let keys = (0..n)
        .map(|_| Keys::generate())
        .collect::<Result<Vec<_>, _>>()?;
    let genesis = Genesis {
        chain_id,
        genesis_time_ms: now_ms(),
        validators: keys.iter().map(|k| k.validator(1)).collect(),
        limits: Limits::default(),
        params,
        l1: None,
        da: None,
        stake: None,
    };
    for (i, (home, k)) in homes.iter().zip(&keys).enumerate() {
        k.write(home, false)?;
        write_genesis(home, &genesis)?;
        let others: Vec<(Ipv4Addr, Ports, _)> = keys
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, other)| {
                let peer = ordo_p2p::peer_id(*other.node).expect("a generated node key is valid");
                (host(j), testnet_ports(base_port, j), peer)
            })
            .collect();
        let addr = |ip, port, peer| ordo_p2p::peer_addr(ip, port, peer).to_string();
        let peers = others
            .iter()
            .map(|(ip, p, id)| addr(*ip, p.p2p, id))
            .collect();
        let gossip_peers = others
            .iter()
            .map(|(ip, p, id)| addr(*ip, p.gossip, id))
            .collect();
        let ports = testnet_ports(base_port, i);
        write_file(
            &home.config(),
            &config_for(format!("node-{i}"), host(i), ports, peers, gossip_peers).to_toml(),
        )?;
    }
    Ok(homes.into_iter().zip(keys).collect())
}

/// Why a validator could not be added to a local testnet.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{0}: no node-0 home to take the genesis and config from")]
    NoTestnet(PathBuf),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("{0}")]
    Other(String),
}

/// Where `ordo testnet add --da-key-file` puts the new node's L1 posting key.
const DA_KEY: &str = "keys/l1.key";

/// `ordo testnet add`: a new home `output/node-<n>` next to the `n` existing ones, on loopback
/// ports `testnet_ports(base_port, n)`, with new keys, node-0's genesis, and node-0's config
/// except its identity, listen addresses, peers (every existing node, as consensus and gossip
/// peers), `[da]` and `[[rollup]]` entries. With `da_key` (a 0600 file holding a funded L1
/// account's hex key), it posts too: node-0's `[da]`, with that key in its own `keys/l1.key`.
/// The existing nodes are not changed: on a chain with a stake table they admit the new node
/// once it is registered and in an epoch's set.
pub fn testnet_add(
    output: &Path,
    base_port: u16,
    da_key: Option<&Path>,
) -> Result<(Home, Keys), AddError> {
    let existing: Vec<Home> = (0..)
        .map(|i| Home(output.join(format!("node-{i}"))))
        .take_while(|h| h.config().exists())
        .collect();
    let first = existing
        .first()
        .ok_or_else(|| AddError::NoTestnet(output.to_path_buf()))?;
    let n = existing.len();
    let last = (n as u64 + 1) * u64::from(PORTS_PER_NODE) + u64::from(base_port);
    if last > u64::from(u16::MAX) + 1 {
        return Err(InitError::Ports {
            n: n + 1,
            base: base_port,
        }
        .into());
    }
    let other = |e: &dyn std::fmt::Display| AddError::Other(e.to_string());
    let template = Config::read(&first.config()).map_err(|e| other(&e))?;
    let da = match da_key {
        None => None,
        Some(path) => {
            let Some(section) = template.da.clone() else {
                return Err(AddError::Other(format!(
                    "--da-key-file: {} posts to no DA backend (its config has no [da])",
                    first.0.display()
                )));
            };
            let key = crate::keyfile::read_secret(path)
                .map_err(|e| AddError::Other(format!("--da-key-file: {e}")))?;
            Some((section, key))
        }
    };
    let genesis = std::fs::read_to_string(first.genesis())
        .map_err(|e| other(&format!("{}: {e}", first.genesis().display())))?;
    let mut peers = Vec::new();
    let mut gossip_peers = Vec::new();
    for (i, h) in existing.iter().enumerate() {
        let keys = Keys::read(h).map_err(|e| other(&e))?;
        let peer = ordo_p2p::peer_id(*keys.node).map_err(|e| other(&e))?;
        let ports = testnet_ports(base_port, i);
        peers.push(ordo_p2p::peer_addr(Ipv4Addr::LOCALHOST, ports.p2p, &peer).to_string());
        gossip_peers
            .push(ordo_p2p::peer_addr(Ipv4Addr::LOCALHOST, ports.gossip, &peer).to_string());
    }
    let home = Home(output.join(format!("node-{n}")));
    prepare(&home)?;
    let keys = Keys::generate().map_err(InitError::from)?;
    keys.write(&home, false).map_err(InitError::from)?;
    write_file(&home.genesis(), &genesis)?;
    let ports = testnet_ports(base_port, n);
    let mut config = config_for(
        format!("node-{n}"),
        Ipv4Addr::LOCALHOST,
        ports,
        peers,
        gossip_peers,
    );
    config.l1 = template.l1;
    config.mempool = template.mempool;
    if let Some((section, key)) = da {
        crate::keyfile::write_secret(&home.0.join(DA_KEY), &key, false)
            .map_err(|e| AddError::Other(format!("{DA_KEY}: {e}")))?;
        config.da = Some(crate::config::DaSection {
            key_file: Some(DA_KEY.into()),
            key_env: None,
            ..section
        });
    }
    write_file(&home.config(), &config.to_toml())?;
    Ok((home, keys))
}
