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
