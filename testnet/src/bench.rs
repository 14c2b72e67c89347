//! The consensus benchmark against a running testnet (see `testnet/localnet.sh`).
//!
//! It submits transactions at a fixed rate to the nodes in turn (or, with fan-out, to all of
//! them, as a client that wants the next proposer to have them would), watches node 0 for new
//! heights (polling its status every few milliseconds), and records for each transaction the
//! time from submission to the moment a certified batch holding it was seen. It also samples
//! each node process's CPU time and resident memory from `/proc`.

use ordo_node::http;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchParams {
    pub rpcs: Vec<SocketAddr>,
    pub pids: Vec<u32>,
    pub rate: f64,
    pub size: usize,
    pub duration: Duration,
    /// Submit every transaction to all nodes (a client's fan-out), not to one in turn.
    pub fanout: bool,
}

fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn proc_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Percentile `p` (0..=100) of sorted `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn height(rpc: SocketAddr) -> Option<u64> {
    let (code, v) = http::get_json(rpc, "/v1/status").await.ok()?;
    (code == 200).then(|| v["height"].as_u64()).flatten()
}

/// Runs the benchmark and returns its figures as JSON.
// Longer than the house limit (clippy.toml); splitting it is open work.
#[allow(clippy::too_many_lines)]
pub async fn run(p: &BenchParams) -> anyhow::Result<Value> {
    let rpc0 = *p
        .rpcs
        .first()
        .ok_or_else(|| anyhow::anyhow!("no --rpc given"))?;
    let cpu0: Vec<Option<f64>> = p.pids.iter().map(|pid| proc_cpu_seconds(*pid)).collect();
    let h0 = height(rpc0)
        .await
        .ok_or_else(|| anyhow::anyhow!("node 0 does not answer"))?;
    let t0 = Instant::now();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut pending: HashMap<String, Instant> = HashMap::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut submitted = 0u64;
    let mut rejected = 0u64;
    let mut reasons: HashMap<String, u64> = HashMap::new();
    let mut seen = h0;
    let interval = if p.rate > 0.0 {
        Duration::from_secs_f64(1.0 / p.rate)
    } else {
        Duration::MAX
    };
    let mut next_submit = Instant::now();
    let mut last_report = Instant::now();
    let deadline = t0 + p.duration;
    let drain_until = deadline + Duration::from_secs(5);
    while Instant::now() < drain_until && (Instant::now() < deadline || !pending.is_empty()) {
        if p.rate > 0.0 && Instant::now() >= next_submit && Instant::now() < deadline {
            // A per-run nonce keeps payloads of different runs apart (ids must be new).
            let mut payload = vec![0u8; p.size.max(16)];
            payload[..8].copy_from_slice(&submitted.to_be_bytes());
            payload[8..16].copy_from_slice(&nonce.to_be_bytes());
            let body = json!({"namespace": submitted % 4, "payload": hex::encode(&payload)});
            let targets: Vec<SocketAddr> = if p.fanout {
                p.rpcs.clone()
            } else {
                vec![p.rpcs[submitted as usize % p.rpcs.len()]]
            };
            let sent = Instant::now();
            let mut accepted = false;
            for rpc in targets {
                match http::post_json(rpc, "/v1/tx", &body).await {
                    Ok((200, v)) => {
                        accepted = true;
                        pending.insert(v["id"].as_str().unwrap_or_default().to_string(), sent);
                    }
                    Ok((code, v)) => {
                        let why = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
                        *reasons.entry(format!("{code}: {why}")).or_insert(0u64) += 1;
                    }
                    Err(e) => *reasons.entry(e.to_string()).or_insert(0u64) += 1,
                }
            }
            if !accepted {
                rejected += 1;
            }
            submitted += 1;
            next_submit += interval;
        }
        if let Some(h) = height(rpc0).await {
            while seen < h {
                seen += 1;
                let at = Instant::now();
                if let Ok((200, b)) = http::get_json(rpc0, &format!("/v1/batch/{seen}")).await {
                    for tx in b["txs"].as_array().into_iter().flatten() {
                        if let Some(sent) = tx["id"].as_str().and_then(|id| pending.remove(id)) {
                            latencies.push(at.duration_since(sent).as_secs_f64() * 1e3);
                        }
                    }
                }
            }
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "bench: {:.0} s, height {seen}, submitted {submitted}, certified {}",
                t0.elapsed().as_secs_f64(),
                latencies.len()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let nodes: Vec<Value> = p
        .pids
        .iter()
        .zip(&cpu0)
        .map(|(pid, c0)| {
            let cpu = proc_cpu_seconds(*pid)
                .zip(*c0)
                .map(|(c1, c0)| (c1 - c0) / elapsed * 100.0);
            json!({"pid": pid, "cpu_percent": cpu, "rss_mib": proc_rss_mib(*pid)})
        })
        .collect();
    Ok(json!({
        "duration_s": elapsed,
        "heights": seen - h0,
        "heights_per_s": (seen - h0) as f64 / elapsed,
        "rate_tx_per_s": p.rate,
        "tx_size": p.size,
        "fanout": p.fanout,
        "submitted": submitted,
        "rejected": rejected,
        "rejections": reasons,
        "certified": latencies.len(),
        "not_certified": pending.len(),
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(f64::NAN),
        },
        "nodes": nodes,
    }))
}
