//! Forced-inclusion latency: queues entries on the L1 inbox one after another and measures, for
//! each, the time and the L1 blocks from its L1 block to its ordering by the validators.

use anyhow::Context as _;
use ordo_node::http::get_json;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct ForcedBenchParams {
    /// Node whose RPC tells when an entry is ordered.
    pub rpc: SocketAddr,
    pub l1_rpc: String,
    pub l1_key: String,
    /// Inbox address or genesis.json naming it.
    pub inbox: String,
    pub count: usize,
    /// Pause between two enqueues.
    pub interval: Duration,
}

struct Sample {
    queue_index: u64,
    l1_block: u64,
    receipt_to_ordered_ms: u64,
    send_to_ordered_ms: u64,
    /// L1 head when the entry was seen ordered, minus its block.
    l1_blocks: u64,
    /// The including batch's l1_ref minus the entry's block.
    ref_blocks: u64,
    height: u64,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<u64>) -> Value {
    v.sort_unstable();
    json!({
        "min": v.first().copied().unwrap_or(0),
        "p50": percentile(&v, 0.5),
        "p90": percentile(&v, 0.9),
        "max": v.last().copied().unwrap_or(0),
    })
}

async fn watch(
    p: ForcedBenchParams,
    id: String,
    queue_index: u64,
    l1_block: u64,
    sent: Instant,
    receipt: Instant,
) -> anyhow::Result<Sample> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, v) = get_json(p.rpc, &format!("/v1/tx/{id}")).await?;
        if code == 200 && v["status"] == "ordered" {
            let ordered = Instant::now();
            let head = ordo_da_adapter::l1::dev::block_number(&p.l1_rpc).await?;
            let height = v["height"].as_u64().context("height")?;
            let (_, b) = get_json(p.rpc, &format!("/v1/batch/{height}")).await?;
            let ref_number = b["batch"]["header"]["l1_ref"]["number"]
                .as_u64()
                .or_else(|| b["header"]["l1_ref"]["number"].as_u64())
                .context("the batch's l1_ref")?;
            return Ok(Sample {
                queue_index,
                l1_block,
                receipt_to_ordered_ms: (ordered - receipt).as_millis() as u64,
                send_to_ordered_ms: (ordered - sent).as_millis() as u64,
                l1_blocks: head.saturating_sub(l1_block),
                ref_blocks: ref_number.saturating_sub(l1_block),
                height,
            });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "entry {queue_index} not ordered within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the measurement and returns the JSON summary.
pub async fn run(p: &ForcedBenchParams) -> anyhow::Result<Value> {
    let mut watchers = Vec::new();
    for k in 0..p.count {
        let payload = format!("forced-bench {k}").into_bytes();
        let sent = Instant::now();
        let e = ordo_node::l1::enqueue(&p.l1_rpc, &p.l1_key, &p.inbox, 9_000, &payload).await?;
        let receipt = Instant::now();
        eprintln!(
            "forced-bench: entry {} queued in L1 block {}",
            e.forced.queue_index, e.forced.l1_block
        );
        watchers.push(tokio::spawn(watch(
            p.clone(),
            e.forced.id().to_string(),
            e.forced.queue_index,
            e.forced.l1_block,
            sent,
            receipt,
        )));
        tokio::time::sleep(p.interval).await;
    }
    let mut samples = Vec::new();
    for w in watchers {
        let s = w.await??;
        eprintln!(
            "forced-bench: entry {} (L1 block {}) ordered at height {} after {} ms, {} L1 blocks",
            s.queue_index, s.l1_block, s.height, s.receipt_to_ordered_ms, s.l1_blocks
        );
        samples.push(s);
    }
    Ok(json!({
        "entries": samples.len(),
        "receipt_to_ordered_ms": summary(samples.iter().map(|s| s.receipt_to_ordered_ms).collect()),
        "send_to_ordered_ms": summary(samples.iter().map(|s| s.send_to_ordered_ms).collect()),
        "l1_blocks_to_ordered": summary(samples.iter().map(|s| s.l1_blocks).collect()),
        "l1_ref_minus_entry_block": summary(samples.iter().map(|s| s.ref_blocks).collect()),
    }))
}
