//! The genesis file: the chain id, the first validator set, the limits and the consensus
//! parameters every validator must share. `genesis.json`.

use ordo_consensus::{ConsValidatorSet, mc};
use ordo_types::{ChainId, Hash, Limits, Validator, ValidatorSet};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// Consensus timing shared by the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// Minimum time between two heights; batches fill with what arrived meanwhile.
    pub block_time_ms: u64,
    /// How far ahead of a validator's clock a proposal's timestamp may be.
    pub max_future_skew_ms: u64,
    pub timeout_propose_ms: u64,
    pub timeout_prevote_ms: u64,
    pub timeout_precommit_ms: u64,
    /// Added to each timeout per round, so a slow network eventually fits.
    pub timeout_delta_ms: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_time_ms: 100,
            max_future_skew_ms: 2_000,
            timeout_propose_ms: 1_000,
            timeout_prevote_ms: 500,
            timeout_precommit_ms: 500,
            timeout_delta_ms: 250,
        }
    }
}

impl ChainParams {
    /// The engine's timeouts.
    pub fn timeouts(&self) -> mc::LinearTimeouts {
        let ms = Duration::from_millis;
        let propose = ms(self.timeout_propose_ms);
        let prevote = ms(self.timeout_prevote_ms);
        let precommit = ms(self.timeout_precommit_ms);
        mc::LinearTimeouts {
            propose,
            propose_delta: ms(self.timeout_delta_ms),
            prevote,
            prevote_delta: ms(self.timeout_delta_ms),
            precommit,
            precommit_delta: ms(self.timeout_delta_ms),
            rebroadcast: propose + prevote + precommit,
            max_timeout: Duration::from_secs(30),
        }
    }
}

/// `l1`: the L1 inbox of forced inclusion (DESIGN.md, "Forced inclusion"). Without it the chain
/// runs in static mode: no L1, no forced transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1Genesis {
    /// The L1's chain id; every endpoint is checked against it.
    pub l1_chain_id: u64,
    /// The `OrdoInbox` contract, `0x`-prefixed hex.
    pub inbox: String,
    /// The block the inbox was deployed in: validators read from there.
    pub inbox_block: u64,
    /// L1 blocks an entry waits before every batch must carry it.
    pub inclusion_delay: u64,
    /// Most bytes of forced entries in one batch; the rest carries over.
    pub forced_budget_bytes: u64,
}

impl L1Genesis {
    /// The inbox address.
    pub fn inbox_address(&self) -> Result<[u8; 20], GenesisError> {
        parse_address(&self.inbox).ok_or_else(|| {
            GenesisError::Params(format!(
                "l1.inbox {:?} is not a 20-byte hex address",
                self.inbox
            ))
        })
    }

    /// The forced-inclusion rule's parameters.
    pub fn forced_params(&self, limits: &Limits) -> ordo_consensus::forced::ForcedParams {
        ordo_consensus::forced::ForcedParams {
            inclusion_delay: self.inclusion_delay,
            budget_bytes: self.forced_budget_bytes,
            max_entries: u64::from(limits.max_batch_txs),
        }
    }
}

/// The genesis of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    pub genesis_time_ms: u64,
    pub validators: Vec<Validator>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub params: ChainParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<L1Genesis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub da: Option<DaGenesis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake: Option<StakeGenesis>,
}

/// `stake`: the L1 stake table the validator set follows, epoch by epoch (docs/VALIDATORS.md).
/// Needs the `l1` section. Without it the chain runs in static mode, from the genesis set alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakeGenesis {
    /// The `OrdoStakeTable` contract, `0x`-prefixed hex.
    pub table: String,
    /// The block the table was deployed in: validators read its events from there.
    pub table_block: u64,
    /// Heights per epoch.
    pub epoch_length: u64,
    /// Most validators in one epoch's set.
    pub max_validators: u32,
}

impl StakeGenesis {
    /// The table's address.
    pub fn table_address(&self) -> Result<[u8; 20], GenesisError> {
        parse_address(&self.table).ok_or_else(|| {
            GenesisError::Params(format!(
                "stake.table {:?} is not a 20-byte hex address",
                self.table
            ))
        })
    }

    /// The epoch rules' parameters.
    pub fn epoch_params(&self) -> ordo_consensus::epoch::EpochParams {
        ordo_consensus::epoch::EpochParams {
            epoch_length: self.epoch_length,
            max_validators: self.max_validators,
        }
    }
}

fn parse_address(text: &str) -> Option<[u8; 20]> {
    let hex_part = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(hex_part)
        .ok()
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
}

/// `da`: where the chain's batches are posted on the L1 (docs/DA.md). Every validator and every
/// reader must agree on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaGenesis {
    /// The batch-inbox address blob transactions are sent to, `0x`-prefixed hex.
    pub batch_inbox: String,
    /// The first L1 block readers scan.
    pub start_block: u64,
    /// Heights per posting range: range `k` (heights `k*R+1 ..= (k+1)*R`) is posted first by
    /// validator `k mod n`.
    pub range_heights: u64,
}

/// Why a genesis file was refused.
#[derive(Debug, Error)]
pub enum GenesisError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, serde_json::Error),
    #[error("genesis validators: {0}")]
    Validators(String),
    #[error("genesis params: {0}")]
    Params(String),
}

/// A loaded genesis with its validated sets.
#[derive(Clone, Debug)]
pub struct LoadedGenesis {
    pub genesis: Genesis,
    pub set: ConsValidatorSet,
    pub hash: Hash,
}

/// Largest genesis file accepted.
pub const MAX_GENESIS_BYTES: u64 = 16 * 1024 * 1024;

impl Genesis {
    /// Validates the genesis: the validator set (keys, proofs of possession, powers) and params.
    pub fn load(self) -> Result<LoadedGenesis, GenesisError> {
        if self.params.block_time_ms == 0 || self.params.timeout_propose_ms == 0 {
            return Err(GenesisError::Params(
                "block_time_ms and timeouts must be positive".into(),
            ));
        }
        if let Some(l1) = &self.l1 {
            l1.inbox_address()?;
            if l1.forced_budget_bytes == 0 || l1.forced_budget_bytes > self.limits.max_batch_bytes {
                return Err(GenesisError::Params(format!(
                    "l1.forced_budget_bytes must be in 1..={} (max_batch_bytes)",
                    self.limits.max_batch_bytes
                )));
            }
        }
        if let Some(stake) = &self.stake {
            if self.l1.is_none() {
                return Err(GenesisError::Params(
                    "stake needs the l1 section (the L1 the table is on)".into(),
                ));
            }
            stake.table_address()?;
            if stake.epoch_length == 0 {
                return Err(GenesisError::Params(
                    "stake.epoch_length must be at least 1".into(),
                ));
            }
            if stake.max_validators == 0 || stake.max_validators > self.limits.max_validators {
                return Err(GenesisError::Params(format!(
                    "stake.max_validators must be in 1..={} (limits.max_validators)",
                    self.limits.max_validators
                )));
            }
        }
        let set = ValidatorSet::new(self.validators.clone(), self.limits.max_validators)
            .map_err(|e| GenesisError::Validators(e.to_string()))?;
        let set =
            ConsValidatorSet::new(set).map_err(|e| GenesisError::Validators(e.to_string()))?;
        let bytes = serde_json::to_vec(&self).expect("a genesis serializes");
        Ok(LoadedGenesis {
            hash: ordo_types::hash::sha256(&[b"ordo.genesis.v1", &bytes]),
            genesis: self,
            set,
        })
    }

    /// Reads and validates `path`.
    pub fn read(path: &Path) -> Result<LoadedGenesis, GenesisError> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| GenesisError::Io(name.clone(), e))?;
        if meta.len() > MAX_GENESIS_BYTES {
            return Err(GenesisError::Params(format!(
                "{name} is larger than {MAX_GENESIS_BYTES} bytes"
            )));
        }
        let text = std::fs::read(path).map_err(|e| GenesisError::Io(name.clone(), e))?;
        let g: Genesis = serde_json::from_slice(&text).map_err(|e| GenesisError::Parse(name, e))?;
        g.load()
    }
}
