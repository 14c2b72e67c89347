//! The node configuration, `config.toml` in the node's home.

use malachitebft_app_channel::app::config::{
    ConsensusConfig, NodeConfig, ValuePayload, ValueSyncConfig,
};
use ordo_types::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// `[p2p]`: the consensus network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// `/ip4/<ip>/tcp/<port>`.
    pub listen: String,
    /// `/ip4/<ip>/tcp/<port>/p2p/<peer id>` of every other validator.
    pub persistent_peers: Vec<String>,
}

/// `[rpc]`: the node's gRPC (rollup) and HTTP (humans, probes) APIs, on one port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    pub listen: SocketAddr,
}

/// `[gossip]`: the transaction gossip network. Without it, a transaction is proposed only by
/// the node it was submitted to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    /// `/ip4/<ip>/tcp/<port>`.
    pub listen: String,
    /// `/ip4/<ip>/tcp/<port>/p2p/<peer id>` of every other validator's gossip listener.
    pub peers: Vec<String>,
}

/// `[l1]`: how this validator reads the L1 named by the genesis (needed when the genesis has an
/// `l1` section).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L1Section {
    /// JSON-RPC endpoints, tried in order with failover. `ORDO_L1_RPC` (comma-separated)
    /// overrides.
    pub rpc: Vec<String>,
    /// `"finalized"`, or `"latest-K"` for development chains without finality.
    pub finality: String,
    pub poll_ms: u64,
    /// Most blocks per `eth_getLogs`.
    pub max_range: u64,
    pub request_timeout_ms: u64,
    /// How long a proposal naming an L1 block not read here yet may wait for this node's L1
    /// view before it is judged invalid.
    pub wait_ms: u64,
    /// How many blocks below its L1 head a proposer names as `l1_ref`, so that validators
    /// polling a moment later have read it.
    pub ref_margin: u64,
    /// Most inbox entries read and not yet ordered that this node holds in memory: past it (or
    /// past `max_pending_bytes` of payload) the source stops reading ahead until ordering
    /// prunes them; the L1 keeps what is not read yet.
    pub max_pending_entries: usize,
    pub max_pending_bytes: u64,
}

impl Default for L1Section {
    fn default() -> Self {
        L1Section {
            rpc: Vec::new(),
            finality: "finalized".into(),
            poll_ms: 1_000,
            max_range: 1_000,
            request_timeout_ms: 5_000,
            wait_ms: 500,
            ref_margin: 1,
            max_pending_entries: ordo_da_adapter::l1::Cap::default().entries,
            max_pending_bytes: ordo_da_adapter::l1::Cap::default().bytes,
        }
    }
}

/// `[testing]`: faults a test can switch on. Never set these on a real validator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingSection {
    /// Propose batches whose header does not match their body (a Byzantine proposer double).
    pub propose_invalid_batches: bool,
    /// Propose only empty batches: the node's own pool is never proposed by itself, so what is
    /// submitted to it is ordered only if gossip carries it to another proposer.
    pub propose_empty_batches: bool,
    /// Leave every forced entry out of this node's proposals while naming the newest L1 block:
    /// a censoring proposer double. Its proposals are invalid whenever an entry is due.
    pub censor_forced: bool,
    /// Write every decided transaction id into `data/decisions.log` (the chaos runner's
    /// durability check reads them).
    pub log_tx_ids: bool,
    /// Sign and send a second, conflicting vote for every vote and a second proposal for every
    /// proposal: an equivocating validator double. Needs an `ordo` built with
    /// `--features ordo-node/chaos`; other builds refuse to start with it.
    pub equivocate: bool,
}

/// `[[rollup]]`: a rollup this node executes itself, fed from its own committed batches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupSection {
    pub namespace: u64,
    /// `builtin:kv`, `abci://host:port`, `abci+unix:///path` or `grpc://host:port`.
    pub executor: String,
}

/// `[da]`: where this validator posts certified batches (docs/DA.md). Without it, nothing is
/// posted and no height is reported available.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaSection {
    /// `"local"` (frames in `<home>/data/da/`) or `"ethereum-blobs"`.
    pub backend: String,
    /// The L1's JSON-RPC URL (`ethereum-blobs`). `ORDO_DA_RPC` overrides.
    pub rpc: String,
    /// A beacon node's REST API (`http://host:5052`) to read blobs from; empty: the L1
    /// endpoint's anvil blob RPC (development). A real network's execution nodes keep no blobs.
    pub beacon_url: String,
    /// The L1 account key that pays for blobs: a file (mode 0600, hex, relative to the home)
    /// or an environment variable holding the hex key. Never the key itself.
    pub key_file: Option<String>,
    pub key_env: Option<String>,
    /// `"finalized"`, or `"latest-K"` for development chains.
    pub finality: String,
    /// `"eip4844"` (Cancun, Prague) or `"eip7594"` (cell proofs, Osaka and later).
    pub proofs: String,
    pub max_blobs_per_tx: usize,
    /// Fee caps: a blob transaction never bids above them; while the L1's blob base fee is
    /// above `max_fee_per_blob_gas_gwei`, posting waits.
    pub max_fee_per_gas_gwei: u64,
    pub max_fee_per_blob_gas_gwei: u64,
    /// How often the poster and the watcher look at the chain and the L1.
    pub poll_ms: u64,
    /// How long after a range is certified, without it landing on the L1, the next validator
    /// in the rotation posts it.
    pub takeover_after_ms: u64,
    /// How long a posted frame may stay out of a block before it is sent again with doubled
    /// fees.
    pub bump_after_ms: u64,
}

impl Default for DaSection {
    fn default() -> Self {
        DaSection {
            backend: "local".into(),
            rpc: String::new(),
            beacon_url: String::new(),
            key_file: None,
            key_env: None,
            finality: "finalized".into(),
            proofs: "eip4844".into(),
            max_blobs_per_tx: 6,
            max_fee_per_gas_gwei: 500,
            max_fee_per_blob_gas_gwei: 500,
            poll_ms: 500,
            takeover_after_ms: 12_000,
            bump_after_ms: 24_000,
        }
    }
}

/// The whole `config.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub moniker: String,
    pub p2p: P2pSection,
    pub rpc: RpcSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip: Option<GossipSection>,
    /// `[mempool]`: bounds, namespace quota and fairness quantum of the transaction pool.
    #[serde(default)]
    pub mempool: ordo_mempool::MempoolConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<L1Section>,
    #[serde(default)]
    pub testing: TestingSection,
    #[serde(default, rename = "rollup", skip_serializing_if = "Vec::is_empty")]
    pub rollups: Vec<RollupSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub da: Option<DaSection>,
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, toml::de::Error),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path`. `ORDO_RPC_LISTEN`, `ORDO_P2P_LISTEN` and `ORDO_GOSSIP_LISTEN` override the
    /// file.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io(name.clone(), e))?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse(name, e))?;
        if let Ok(v) = std::env::var("ORDO_RPC_LISTEN") {
            c.rpc.listen = v
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("ORDO_RPC_LISTEN={v}: {e}")))?;
        }
        if let Ok(v) = std::env::var("ORDO_P2P_LISTEN") {
            c.p2p.listen = v;
        }
        if let (Ok(v), Some(g)) = (std::env::var("ORDO_GOSSIP_LISTEN"), c.gossip.as_mut()) {
            g.listen = v;
        }
        if let Ok(v) = std::env::var("ORDO_L1_RPC") {
            c.l1.get_or_insert_with(L1Section::default).rpc =
                v.split(',').map(|s| s.trim().to_string()).collect();
        }
        if let (Ok(v), Some(d)) = (std::env::var("ORDO_DA_RPC"), c.da.as_mut()) {
            d.rpc = v;
        }
        crate::rollups::specs(&c.rollups)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config serializes")
    }
}

/// Room left in a sync response for framing beyond the values themselves.
const SYNC_RESPONSE_SLACK: u64 = 1024 * 1024;

/// What malachite reads of the configuration.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub moniker: String,
    pub consensus: ConsensusConfig,
    pub value_sync: ValueSyncConfig,
}

impl EngineConfig {
    /// The engine configuration of a node.
    pub fn new(config: &Config, limits: &Limits) -> Result<EngineConfig, ConfigError> {
        let listen = config.p2p.listen.parse().map_err(|e| {
            ConfigError::Invalid(format!("p2p.listen {:?}: {e}", config.p2p.listen))
        })?;
        let peers = config
            .p2p
            .persistent_peers
            .iter()
            .map(|p| ordo_p2p::parse_peer(p).map_err(|e| ConfigError::Invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let consensus = ConsensusConfig {
            p2p: ordo_p2p::consensus_p2p(listen, peers, limits),
            value_payload: ValuePayload::ProposalAndParts,
            queue_capacity: 100,
            ..ConsensusConfig::default()
        };
        let value_sync = ValueSyncConfig {
            status_update_interval: std::time::Duration::from_millis(500),
            request_timeout: std::time::Duration::from_secs(5),
            // A response must fit what the receiving codec accepts (`max_message_bytes`), or a
            // lagging node could never decode the heights it needs.
            max_response_size: bytesize::ByteSize::b(
                limits.max_message_bytes.saturating_sub(SYNC_RESPONSE_SLACK),
            ),
            ..ValueSyncConfig::default()
        };
        Ok(EngineConfig {
            moniker: config.moniker.clone(),
            consensus,
            value_sync,
        })
    }
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}
