//! `ordo validator`: this validator's entry in the L1 stake table named by its genesis
//! (docs/VALIDATORS.md): register with the home's keys, request an exit, withdraw after the
//! unbonding delay, and read the entry back.

use crate::config::Config;
use crate::genesis::{Genesis, StakeGenesis};
use crate::home::{Home, Keys};
use anyhow::Context;
use ordo_da_adapter::l1::stake;

/// The stake table the genesis file at `path` names: its section, its address and the L1's
/// chain id.
fn table_of(path: &std::path::Path) -> anyhow::Result<(StakeGenesis, stake::L1Address, u64)> {
    let g = Genesis::read(path)?.genesis;
    let l1_chain_id = g.l1.as_ref().map_or(0, |l1| l1.l1_chain_id);
    let stake = g.stake.with_context(|| {
        format!(
            "{}: the genesis names no stake table (static mode); `ordo l1 deploy --stake-table` \
             deploys one",
            path.display()
        )
    })?;
    let table = stake.table_address()?.into();
    Ok((stake, table, l1_chain_id))
}

/// The operator's L1 key: `--key`, else `ORDO_L1_KEY`, else the home's `keys/operator.key`.
pub fn operator_key(home: &Home, key: Option<String>) -> anyhow::Result<String> {
    if let Some(k) = key.or_else(|| std::env::var("ORDO_L1_KEY").ok()) {
        return Ok(k);
    }
    let path = home.operator_key();
    if !path.exists() {
        anyhow::bail!(
            "give the operator's L1 key with --key or ORDO_L1_KEY, or keep it in {} (0600)",
            path.display()
        );
    }
    let raw = crate::keyfile::read_secret(&path)?;
    let text = std::str::from_utf8(&raw).context("operator key file is not text")?;
    Ok(text.trim().to_string())
}

/// What this home registers: its BLS key and proof of possession, its consensus key, its
/// libp2p peer id, and its consensus and gossip listen addresses (in that order) with the peer
/// id appended.
pub fn registration_of(home: &Home) -> anyhow::Result<stake::Registration> {
    let keys = Keys::read(home)?;
    let config = Config::read(&home.config())?;
    let peer = ordo_p2p::peer_id(*keys.node)?;
    let mut addresses = vec![format!("{}/p2p/{peer}", config.p2p.listen)];
    if let Some(gossip) = &config.gossip {
        addresses.push(format!("{}/p2p/{peer}", gossip.listen));
    }
    Ok(stake::Registration {
        bls_key: keys.bls.public_key(),
        bls_pop: keys.bls.proof_of_possession(),
        consensus_key: *keys.consensus.public_key().as_bytes(),
        peer_id: peer.to_bytes(),
        p2p_addresses: addresses.join(","),
    })
}

/// What `ordo validator` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Bond this many wei with the home's keys.
    Register {
        stake_wei: u128,
    },
    /// Add this many wei to the bond.
    AddStake {
        wei: u128,
    },
    Exit,
    Withdraw,
}

/// Performs `action` for the validator of `home` against the stake table of its genesis,
/// through `rpc`; answers the status after it.
pub async fn act(
    home: &Home,
    rpc: &str,
    key: Option<String>,
    action: Action,
) -> anyhow::Result<serde_json::Value> {
    let (_, table, _) = table_of(&home.genesis())?;
    let key = operator_key(home, key)?;
    let block = match action {
        Action::Register { stake_wei } => {
            let r = registration_of(home)?;
            stake::register(rpc, &key, table, &r, stake_wei).await?
        }
        Action::AddStake { wei } => {
            stake::call(rpc, &key, table, stake::Call::AddStake { wei }).await?
        }
        Action::Exit => stake::call(rpc, &key, table, stake::Call::RequestExit).await?,
        Action::Withdraw => stake::call(rpc, &key, table, stake::Call::Withdraw).await?,
    };
    let mut out = status(home, rpc, Some(key)).await?;
    if let Some(map) = out.as_object_mut() {
        map.insert("l1_block".into(), block.into());
    }
    Ok(out)
}

/// The table's terms and this validator's entry: stake, when it registered, exited and may
/// withdraw, and whether the entry holds this home's BLS key.
pub async fn status(
    home: &Home,
    rpc: &str,
    key: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let (stake_genesis, table, l1_chain_id) = table_of(&home.genesis())?;
    let operator = stake::operator_of(&operator_key(home, key)?)?;
    let (open, min_stake, unbonding) = stake::terms(rpc, table).await?;
    let entry = stake::entry(rpc, table, operator).await?;
    let keys = Keys::read(home)?;
    let state = if entry.registered_block == 0 {
        "unregistered"
    } else if entry.withdrawn {
        "withdrawn"
    } else if entry.exit_block != 0 {
        "exiting"
    } else {
        "bonded"
    };
    Ok(serde_json::json!({
        "table": stake_genesis.table,
        "l1_chain_id": l1_chain_id,
        "registration_open": open,
        "min_stake_wei": min_stake.to_string(),
        "unbonding_blocks": unbonding,
        "operator": format!("{operator:#x}"),
        "address": keys.address().to_string(),
        "state": state,
        "stake_wei": entry.stake_wei.to_string(),
        "registered_block": entry.registered_block,
        "exit_block": entry.exit_block,
        "withdrawable_from_block": (entry.exit_block != 0).then(|| entry.exit_block + unbonding),
        "holds_this_homes_bls_key": entry.bls_key == keys.bls.public_key().to_bytes(),
    }))
}

/// `ordo l1 allow-list`: the owner allow-lists `operator` (or removes it); the L1 block.
pub async fn allow_list(
    rpc: &str,
    owner_key: &str,
    genesis: &std::path::Path,
    operator: &str,
    allowed: bool,
) -> anyhow::Result<u64> {
    let (_, table, _) = table_of(genesis)?;
    let operator = operator
        .parse()
        .map_err(|e| anyhow::anyhow!("--operator {operator}: {e}"))?;
    let call = stake::Call::SetAllowListed { operator, allowed };
    Ok(stake::call(rpc, owner_key, table, call).await?)
}

/// `ordo l1 open-registration`: the owner opens the table to anyone; the L1 block.
pub async fn open_registration(
    rpc: &str,
    owner_key: &str,
    genesis: &std::path::Path,
) -> anyhow::Result<u64> {
    let (_, table, _) = table_of(genesis)?;
    Ok(stake::call(rpc, owner_key, table, stake::Call::OpenRegistration).await?)
}

/// Parses an ETH amount (`32`, `0.5`, `1e-9` is not accepted) into wei.
pub fn parse_ether(text: &str) -> anyhow::Result<u128> {
    let bad = || anyhow::anyhow!("{text:?} is not an amount of ETH (e.g. 32 or 0.5)");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 18 {
        return Err(bad());
    }
    if !whole
        .chars()
        .chain(frac.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_wei: u128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<18}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(1_000_000_000_000_000_000)
        .and_then(|w| w.checked_add(frac_wei))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::parse_ether;

    #[test]
    fn ether_amounts_parse_to_wei_and_nonsense_is_refused() {
        let e = 1_000_000_000_000_000_000u128;
        for (text, wei) in [
            ("32", 32 * e),
            ("0.5", e / 2),
            (".25", e / 4),
            ("1.000000000000000001", e + 1),
            ("0", 0),
        ] {
            assert_eq!(parse_ether(text).ok(), Some(wei), "{text}");
        }
        for text in [
            "",
            ".",
            "-1",
            "1e3",
            "0x10",
            "1.0000000000000000001",
            "1,5",
            "99999999999999999999999999999999999999",
        ] {
            assert!(parse_ether(text).is_err(), "{text}");
        }
    }
}
