//! `ordo l1`: deploying the inbox to an L1 and wiring validators' homes to it, and queueing
//! forced transactions. The reading side lives in `ordo_da_adapter::l1`.

use crate::config::{Config, L1Section};
use crate::genesis::{Genesis, L1Genesis};
use crate::home::Home;
use ordo_da_adapter::l1::{Deployed, Enqueued};
use ordo_types::Limits;

/// Forced-inclusion parameters written into the genesis by [`deploy`].
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub inclusion_delay: u64,
    /// `None`: a quarter of the chain's `max_batch_bytes`.
    pub forced_budget_bytes: Option<u64>,
    pub fee_wei: u128,
    /// Written into each home's `[l1]` section.
    pub finality: String,
    pub poll_ms: u64,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            inclusion_delay: 4,
            forced_budget_bytes: None,
            fee_wei: 0,
            finality: L1Section::default().finality,
            poll_ms: L1Section::default().poll_ms,
        }
    }
}

/// Deploys `OrdoInbox` (its payload bound taken from the homes' genesis limits) and writes the
/// inbox into every home's genesis and the L1 endpoint into every home's config. The homes must
/// share one genesis.
pub async fn deploy(
    rpc: &str,
    key: &str,
    homes: &[Home],
    opts: &DeployOptions,
) -> anyhow::Result<(Deployed, L1Genesis)> {
    let genesis: Vec<Genesis> = homes
        .iter()
        .map(|h| Genesis::read(&h.genesis()).map(|g| g.genesis))
        .collect::<Result<_, _>>()?;
    if genesis.iter().skip(1).any(|g| Some(g) != genesis.first()) {
        anyhow::bail!("the homes do not share one genesis");
    }
    let limits = genesis.first().map_or_else(Limits::default, |g| g.limits);
    let deployed =
        ordo_da_adapter::l1::deploy_inbox(rpc, key, limits.max_tx_payload, opts.fee_wei).await?;
    let l1 = L1Genesis {
        l1_chain_id: deployed.l1_chain_id,
        inbox: format!("{:#x}", deployed.address),
        inbox_block: deployed.block,
        inclusion_delay: opts.inclusion_delay,
        forced_budget_bytes: opts
            .forced_budget_bytes
            .unwrap_or(limits.max_batch_bytes / 4),
    };
    for (h, mut g) in homes.iter().zip(genesis) {
        g.l1 = Some(l1.clone());
        g.clone().load()?;
        std::fs::write(h.genesis(), serde_json::to_string_pretty(&g)?)?;
        let mut c = Config::read(&h.config())?;
        c.l1 = Some(L1Section {
            rpc: vec![rpc.to_string()],
            finality: opts.finality.clone(),
            poll_ms: opts.poll_ms,
            ..c.l1.unwrap_or_default()
        });
        std::fs::write(h.config(), c.to_toml())?;
    }
    Ok((deployed, l1))
}

/// What `ordo l1 deploy --da-blobs` writes into the homes.
#[derive(Debug, Clone)]
pub struct DaDeployOptions {
    pub range_heights: u64,
    /// ETH for each validator's posting account.
    pub fund_ether: u64,
    /// `[da] proofs`.
    pub proofs: String,
    /// `[da] finality`.
    pub finality: String,
    /// Genesis `da.start_block`: no frame of this chain is older.
    pub start_block: u64,
}

/// The batch inbox of chain `chain_id`: `0xff`, eleven zero bytes and the chain id, an address
/// no one holds a key for (the convention of rollup batch inboxes).
pub fn batch_inbox_of(chain_id: u64) -> String {
    format!("0xff{}{chain_id:016x}", "00".repeat(11))
}

/// Sets every home up to post its certified batches as blobs to the L1 at `rpc`: the genesis
/// `da` section (the batch inbox of the chain, the start block, the range length), a new posting
/// account per validator funded from `key` (its key written to `keys/l1.key`, 0600), and the
/// `[da]` section pointing at it, with `bump_after_ms` three of the L1's block intervals and
/// `poll_ms` a quarter of one.
/// Returns the batch inbox.
pub async fn deploy_da(
    rpc: &str,
    key: &str,
    homes: &[Home],
    opts: &DaDeployOptions,
) -> anyhow::Result<String> {
    if opts.range_heights == 0 {
        anyhow::bail!("--da-range-heights must be at least 1");
    }
    if !matches!(opts.proofs.as_str(), "eip4844" | "eip7594") {
        anyhow::bail!("--da-proofs {:?}: use eip4844 or eip7594", opts.proofs);
    }
    // Timing follows the L1's block interval: a transaction left out of a block (anvil does so
    // with a blob transaction that did not fit the block's blob limit) is replaced after three
    // blocks, not 24 s, and the poster and the watcher look four times per block.
    let interval = ordo_da_adapter::l1::dev::block_interval(rpc).await?;
    let bump_after_ms = interval.map(|secs| secs * 3_000);
    let poll_ms = interval.map(|secs| secs * 250);
    let mut inbox = String::new();
    for h in homes {
        let mut g = Genesis::read(&h.genesis())?.genesis;
        inbox = batch_inbox_of(g.chain_id.0);
        g.da = Some(crate::genesis::DaGenesis {
            batch_inbox: inbox.clone(),
            start_block: opts.start_block,
            range_heights: opts.range_heights,
        });
        g.clone().load()?;
        let account = ordo_da_adapter::l1::dev::funded_account(rpc, key, opts.fund_ether).await?;
        let key_file = "keys/l1.key";
        crate::keyfile::write_secret(&h.0.join(key_file), account.as_bytes(), false)?;
        std::fs::write(h.genesis(), serde_json::to_string_pretty(&g)?)?;
        let mut c = Config::read(&h.config())?;
        let defaults = c.da.unwrap_or_default();
        c.da = Some(crate::config::DaSection {
            bump_after_ms: bump_after_ms.unwrap_or(defaults.bump_after_ms),
            poll_ms: poll_ms.unwrap_or(defaults.poll_ms),
            backend: "ethereum-blobs".into(),
            rpc: rpc.to_string(),
            key_file: Some(key_file.into()),
            key_env: None,
            finality: opts.finality.clone(),
            proofs: opts.proofs.clone(),
            ..defaults
        });
        std::fs::write(h.config(), c.to_toml())?;
    }
    Ok(inbox)
}

/// Queues a forced transaction in the inbox named by `inbox` (an address, or a genesis file
/// whose `l1` section names it).
pub async fn enqueue(
    rpc: &str,
    key: &str,
    inbox: &str,
    namespace: u64,
    payload: &[u8],
) -> anyhow::Result<Enqueued> {
    let address = if inbox.starts_with("0x") && inbox.len() == 42 {
        inbox.to_string()
    } else {
        let g = Genesis::read(std::path::Path::new(inbox))?;
        g.genesis
            .l1
            .map(|l| l.inbox)
            .ok_or_else(|| anyhow::anyhow!("{inbox}: the genesis names no L1 inbox"))?
    };
    let address = address
        .parse()
        .map_err(|e| anyhow::anyhow!("inbox address {address}: {e}"))?;
    Ok(ordo_da_adapter::l1::enqueue(rpc, key, address, namespace, payload).await?)
}

/// What `ordo l1 deploy --stake-table` deploys and writes.
#[derive(Debug, Clone)]
pub struct StakeDeployOptions {
    pub min_stake_wei: u128,
    pub unbonding_blocks: u64,
    /// The delay in epochs instead, converted with [`unbonding_blocks_for`].
    pub unbonding_epochs: Option<u64>,
    pub epoch_length: u64,
    pub max_validators: u32,
    /// ETH sent to each genesis validator's new operator account.
    pub fund_ether: u64,
}

/// Deploys `OrdoStakeTable` (owned by `key`'s account, permissioned) with one new operator
/// account per home allow-listed, funded from `key` with `fund_ether` ETH, its key written to
/// the home's `keys/operator.key` (0600), and writes the genesis `stake` section into every
/// home. The genesis validators then register with `ordo validator register`. Answers the
/// genesis section and the table's unbonding delay in L1 blocks.
pub async fn deploy_stake(
    rpc: &str,
    key: &str,
    homes: &[Home],
    opts: &StakeDeployOptions,
) -> anyhow::Result<(crate::genesis::StakeGenesis, u64)> {
    if opts.epoch_length == 0 {
        anyhow::bail!("--epoch-length must be at least 1");
    }
    let unbonding_blocks = match (opts.unbonding_epochs, homes.first()) {
        (Some(epochs), Some(h)) => {
            let block_time_ms = Genesis::read(&h.genesis())?.genesis.params.block_time_ms;
            let interval = ordo_da_adapter::l1::dev::block_interval(rpc)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--unbonding-epochs: the L1 at {rpc} has no block interval yet (fewer than 3 blocks); give --unbonding-blocks"
                    )
                })?;
            unbonding_blocks_for(epochs, opts.epoch_length, block_time_ms, interval)
        }
        _ => opts.unbonding_blocks,
    };
    let mut operators = Vec::with_capacity(homes.len());
    for h in homes {
        let path = h.operator_key();
        if path.exists() {
            anyhow::bail!(
                "{} exists: this home already has an operator account",
                path.display()
            );
        }
        let account = ordo_da_adapter::l1::dev::funded_account(rpc, key, opts.fund_ether).await?;
        operators.push(ordo_da_adapter::l1::stake::operator_of(&account)?);
        crate::keyfile::write_secret(&path, account.as_bytes(), false)?;
    }
    let params = ordo_da_adapter::l1::stake::StakeTableParams {
        min_stake_wei: opts.min_stake_wei,
        unbonding_blocks,
        allow_list: operators,
    };
    let table = ordo_da_adapter::l1::stake::deploy_stake_table(rpc, key, &params).await?;
    let stake = crate::genesis::StakeGenesis {
        table: format!("{:#x}", table.address),
        table_block: table.block,
        epoch_length: opts.epoch_length,
        max_validators: opts.max_validators,
    };
    for h in homes {
        let mut g = Genesis::read(&h.genesis())?.genesis;
        g.stake = Some(stake.clone());
        g.clone().load()?;
        std::fs::write(h.genesis(), serde_json::to_string_pretty(&g)?)?;
    }
    Ok((stake, unbonding_blocks))
}

/// L1 blocks that cover `epochs` epochs of `epoch_length` heights at `block_time_ms` per
/// height, plus two epochs for the derivation lag (an exit takes effect at the epoch after the
/// next cut-off), on an L1 with a block every `l1_interval_s` seconds; rounded up. Heights
/// faster than the block time only lengthen the delay in epochs; a chain slower than it (or
/// halted) shortens it: the limit ADR 19 states.
pub fn unbonding_blocks_for(
    epochs: u64,
    epoch_length: u64,
    block_time_ms: u64,
    l1_interval_s: u64,
) -> u64 {
    let ms = u128::from(epochs.saturating_add(2))
        .saturating_mul(u128::from(epoch_length))
        .saturating_mul(u128::from(block_time_ms));
    let per_block = u128::from(l1_interval_s.max(1)) * 1_000;
    u64::try_from(ms.div_ceil(per_block)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::unbonding_blocks_for;

    #[test]
    fn an_unbonding_delay_in_epochs_covers_them_and_the_derivation_lag_in_l1_blocks() {
        // 2 + 2 epochs of 20 heights at 100 ms: 8 s, on 1 s blocks.
        assert_eq!(unbonding_blocks_for(2, 20, 100, 1), 8);
        // Rounded up: 3 + 2 epochs of 1,000 heights at 100 ms on 12 s blocks is 500 s, 41.7
        // blocks.
        assert_eq!(unbonding_blocks_for(3, 1_000, 100, 12), 42);
        assert_eq!(unbonding_blocks_for(0, 10, 100, 1), 2);
        // An interval of 0 counts as 1 s; a huge delay saturates instead of wrapping.
        assert_eq!(unbonding_blocks_for(1, 10, 100, 0), 3);
        assert_eq!(
            unbonding_blocks_for(u64::MAX, u64::MAX, u64::MAX, 1),
            u64::MAX
        );
    }
}
