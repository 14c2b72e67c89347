//! `ordo-testnet da-report`: what a chain's DA posting cost and how fast it was, read from the
//! L1 alone (docs/BENCHMARKS.md, "Data availability").
//!
//! It scans the batch inbox from the genesis `da.start_block` to the L1 head and, for every
//! frame found, takes its blob transaction's receipt (gas and blob gas) and its block's
//! timestamp. A height's *certified* time is its header's timestamp (the proposer's clock when
//! it proposed; decision follows within one consensus round); its *available* time is the
//! timestamp of the block `finality` blocks after the first frame carrying it (for a split
//! batch, its last part), the first block at
//! which every node counts it available. It prints one JSON object: heights covered, frames and
//! blobs, blob utilisation (frame bytes over blob payload capacity), blob transactions per
//! height, gas and blob gas per MB of batch data, and certified-to-available latency p50 / p99
//! in seconds and in L1 blocks.

use std::collections::BTreeMap;

use alloy::eips::BlockNumberOrTag;
use alloy::providers::{Provider, RootProvider};
use ordo_da_adapter::da::{BlobConfig, EthereumBlobs};
use ordo_da_adapter::l1::Finality;
use ordo_types::da::{BLOB_PAYLOAD, Frame, Gather, Gathered, assemble, decode_entries};

/// Blob gas one blob uses (EIP-4844).
const BLOB_GAS_PER_BLOB: u64 = 131_072;
use serde_json::{Value, json};

use crate::bench::percentile as pct;

/// What to read.
#[derive(Debug, Clone)]
pub struct DaReportParams {
    pub l1_rpc: String,
    /// A validator's genesis.json (chain id, limits, the `da` section).
    pub genesis: std::path::PathBuf,
    /// Blocks after inclusion at which a frame counts (the validators' `latest-K`).
    pub depth: u64,
    /// Only heights in `from_height..=to_height` (to leave out a warm-up and the idle tail).
    pub from_height: u64,
    pub to_height: u64,
}

struct Seen {
    l1_block: u64,
    certified_ms: u64,
}

pub async fn run(p: &DaReportParams) -> anyhow::Result<Value> {
    let g = ordo_node::genesis::Genesis::read(&p.genesis)?.genesis;
    let da =
        g.da.clone()
            .ok_or_else(|| anyhow::anyhow!("{}: no da section", p.genesis.display()))?;
    let reader = EthereumBlobs::new(
        BlobConfig::reader(
            &p.l1_rpc,
            da.batch_inbox.parse()?,
            Finality::Depth(0),
            g.limits,
        ),
        None,
    )?;
    let l1: RootProvider = RootProvider::new_http(p.l1_rpc.parse()?);
    let head = l1.get_block_number().await?;
    let mut stamps: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut frames, mut blobs, mut frame_bytes, mut batch_bytes) = (0u64, 0u64, 0u64, 0u64);
    let (mut gas, mut blob_gas) = (0u128, 0u128);
    let mut heights: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut parts: Gather<ordo_da_adapter::da::L1Address, ()> = Gather::new(1024);
    let mut txs = std::collections::BTreeSet::new();
    let mut block = da.start_block;
    while block <= head {
        let to = head.min(block + 63);
        for posted in reader.scan(block, to).await? {
            let f = posted.frame;
            // Frames of this chain that carry heights of the window.
            if f.chain_id != g.chain_id || f.last.0 < p.from_height || f.first.0 > p.to_height {
                continue;
            }
            frames += 1;
            frame_bytes += f.encoded_len() as u64;
            // Several frames share a transaction: its blobs and gas count once.
            if txs.insert(posted.tx_hash)
                && let Some(r) = l1.get_transaction_receipt(posted.tx_hash).await?
            {
                gas += u128::from(r.gas_used);
                let bg = r.blob_gas_used.unwrap_or(0);
                blob_gas += u128::from(bg);
                blobs += bg / BLOB_GAS_PER_BLOB;
            }
            let Gathered::Whole(group, ()) = parts.add(&posted.sender, f, ()) else {
                continue;
            };
            // Anyone can send to the inbox: a frame that does not decode is not ours to count.
            let Some(entries) = entries(&g, &group) else {
                continue;
            };
            for c in entries {
                let h = c.height().0;
                if h < p.from_height || h > p.to_height || heights.contains_key(&h) {
                    continue;
                }
                batch_bytes += c.encoded_len() as u64;
                heights.insert(
                    h,
                    Seen {
                        l1_block: posted.l1_block,
                        certified_ms: c.batch.header.timestamp_ms,
                    },
                );
            }
        }
        block = to + 1;
    }
    // Block timestamps for every block the latencies need.
    let first_block = heights.values().map(|s| s.l1_block).min().unwrap_or(head);
    for n in first_block.saturating_sub(64)..=head {
        if let Some(b) = l1.get_block_by_number(BlockNumberOrTag::Number(n)).await? {
            stamps.insert(n, b.header.timestamp);
        }
    }
    let (secs, in_blocks) = latencies(&heights, &stamps, p.depth, first_block);
    let mb = batch_bytes as f64 / 1e6;
    let count = heights.len() as f64;
    Ok(json!({
        "heights": heights.len(),
        "heights_range": [heights.keys().next(), heights.keys().last()],
        "l1_blocks": [da.start_block, head],
        "frames": frames,
        "blobs": blobs,
        "batch_mb": mb,
        "blob_utilisation": frame_bytes as f64 / (blobs.max(1) as f64 * BLOB_PAYLOAD as f64),
        "blob_txs": txs.len(),
        "blob_txs_per_height": txs.len() as f64 / count.max(1.0),
        "gas_per_mb": gas as f64 / mb.max(1e-9),
        "blob_gas_per_mb": blob_gas as f64 / mb.max(1e-9),
        "certified_to_available_s": {"p50": pct(&secs, 50.0), "p99": pct(&secs, 99.0), "heights": secs.len()},
        "certified_to_available_l1_blocks": {"p50": pct(&in_blocks, 50.0), "p99": pct(&in_blocks, 99.0)},
    }))
}

/// Certified-to-available seconds and L1 blocks of every height whose frame is final, sorted.
fn latencies(
    heights: &BTreeMap<u64, Seen>,
    stamps: &BTreeMap<u64, u64>,
    depth: u64,
    first_block: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut secs = Vec::new();
    let mut in_blocks = Vec::new();
    for s in heights.values() {
        let at = s.l1_block + depth;
        let Some(available_s) = stamps.get(&at) else {
            continue; // not final yet
        };
        let certified_s = s.certified_ms / 1000;
        // The L1 head when the height was certified: the last block stamped at or before it.
        let head_then = stamps
            .iter()
            .take_while(|(_, t)| **t <= certified_s)
            .last()
            .map_or(first_block, |(n, _)| *n);
        secs.push((*available_s as f64) - s.certified_ms as f64 / 1000.0);
        in_blocks.push(at.saturating_sub(head_then) as f64);
    }
    secs.sort_by(f64::total_cmp);
    in_blocks.sort_by(f64::total_cmp);
    (secs, in_blocks)
}

/// The certified batches a whole range of `g`'s chain carries, or `None` if it does not decode.
fn entries(
    g: &ordo_node::genesis::Genesis,
    group: &[Frame],
) -> Option<Vec<ordo_types::da::Certified>> {
    let head = group.first()?;
    let data = assemble(group).ok()?;
    decode_entries(g.chain_id, head.first, head.last, &data, &g.limits).ok()
}
