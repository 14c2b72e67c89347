//! The load generator: submits transactions at a fixed rate over the gRPC bulk stream
//! (acknowledgement *accepted*) to every node given, and follows each namespace's stream on the
//! first node to see when each transaction is ordered.
//!
//! Every payload starts with a run id and a sequence number, so each ordered transaction is
//! matched to the moment it was sent; the rest of the payload is filler up to `--size`.
//! Latency is submit-to-ordered: from handing the request to the stream until the certified
//! batch holding it reaches the namespace stream.

use crate::bench::percentile as pct;
use futures::StreamExt;
use ordo_client::Client;
use ordo_client::api::{AckLevel, Outcome, StreamNamespaceRequest, SubmitTxRequest};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadParams {
    pub rpcs: Vec<String>,
    /// Transactions per second, across all nodes.
    pub rate: f64,
    /// Payload bytes per transaction (at least 16).
    pub size: usize,
    /// K namespaces from `first_namespace` on, used in turn.
    pub namespaces: u64,
    pub first_namespace: u64,
    /// Text payloads (`<run><seq>=<filler>` in hex) instead of binary ones.
    pub text: bool,
    pub duration: Duration,
    /// How long to wait after the last submission for what was accepted to be ordered.
    pub drain: Duration,
}

const HEADER: usize = 16;
/// `<run><seq>=` in hex.
const TEXT_HEADER: usize = 33;
/// Submissions generated per tick of the pacing loop.
const TICK: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    ordered: AtomicU64,
    ordered_twice: AtomicU64,
}

struct Shared {
    run: u64,
    start: Instant,
    /// Micros since `start` at which sequence number i was sent (0: not sent).
    sent_at: Vec<AtomicU64>,
    /// Sequence number i was seen ordered.
    seen: Vec<AtomicBool>,
    counters: Counters,
    rejections: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

fn payload(run: u64, seq: u64, size: usize, text: bool) -> Vec<u8> {
    if text {
        let mut p = format!("{run:016x}{seq:016x}=").into_bytes();
        let filler = payload(run, seq, size.saturating_sub(p.len()).div_ceil(2), false);
        p.extend(filler.iter().flat_map(|b| {
            let hex = |n: u8| {
                b"0123456789abcdef"
                    .get(usize::from(n))
                    .copied()
                    .unwrap_or(b'0')
            };
            [hex(b >> 4), hex(b & 15)]
        }));
        p.truncate(size.max(TEXT_HEADER));
        return p;
    }
    let mut p = Vec::with_capacity(size.max(HEADER));
    p.extend_from_slice(&run.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    // Cheap, varied filler (compressible payloads would flatter nothing here, but be honest).
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ run;
    while p.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.extend_from_slice(&x.to_le_bytes());
    }
    p.truncate(size.max(HEADER));
    p
}

fn parse(p: &[u8], text: bool) -> Option<(u64, u64)> {
    if text {
        let hex = std::str::from_utf8(p.get(..32)?).ok()?;
        let run = u64::from_str_radix(hex.get(..16)?, 16).ok()?;
        let seq = u64::from_str_radix(hex.get(16..)?, 16).ok()?;
        return Some((run, seq));
    }
    let run = u64::from_be_bytes(p.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(p.get(8..16)?.try_into().ok()?);
    Some((run, seq))
}

/// Runs the load and returns the final figures.
// Longer than the house limit (clippy.toml); splitting it is open work.
#[allow(clippy::too_many_lines)]
pub async fn run(p: &LoadParams) -> anyhow::Result<Value> {
    anyhow::ensure!(!p.rpcs.is_empty(), "no --rpc given");
    anyhow::ensure!(p.rate > 0.0, "--rate must be positive");
    anyhow::ensure!(p.namespaces >= 1, "--namespaces must be at least 1");
    anyhow::ensure!(p.size >= HEADER, "--size must be at least {HEADER} bytes");
    let client = Client::new(&p.rpcs)?;
    let max = (p.rate * p.duration.as_secs_f64() * 1.05) as usize + 1024;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let mut status = client
        .node(0)
        .ok_or_else(|| anyhow::anyhow!("no node"))?
        .status(ordo_client::api::StatusRequest {})
        .await?
        .into_inner();
    let from = status.height + 1;
    let shared = Arc::new(Shared {
        run,
        start: Instant::now(),
        sent_at: (0..max).map(|_| AtomicU64::new(0)).collect(),
        seen: (0..max).map(|_| AtomicBool::new(false)).collect(),
        counters: Counters::default(),
        rejections: Default::default(),
    });
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::with_capacity(max)));
    let last_ordered = Arc::new(AtomicU64::new(0));

    // Follow every namespace on node 0.
    let mut followers = Vec::new();
    for ns in p.first_namespace..p.first_namespace + p.namespaces {
        let mut stub = client.node(0).ok_or_else(|| anyhow::anyhow!("no node"))?;
        let (shared, latencies, last) = (shared.clone(), latencies.clone(), last_ordered.clone());
        let text = p.text;
        let mut stream = stub
            .stream_namespace(StreamNamespaceRequest {
                namespace: ns,
                from_height: from,
                ..StreamNamespaceRequest::default()
            })
            .await?
            .into_inner();
        followers.push(tokio::spawn(async move {
            while let Some(Ok(slice)) = stream.next().await {
                let now = shared.start.elapsed().as_micros() as u64;
                let mut lat = Vec::new();
                for t in slice.txs {
                    let Some(tx) = t.kind.and_then(|k| match k {
                        ordo_types::wire::pb::batch_tx::Kind::Ordinary(o) => Some(o),
                        _ => None,
                    }) else {
                        continue;
                    };
                    let Some((r, seq)) = parse(&tx.payload, text) else {
                        continue;
                    };
                    let (Some(sent), Some(seen)) = (
                        shared.sent_at.get(seq as usize),
                        shared.seen.get(seq as usize),
                    ) else {
                        continue;
                    };
                    if r != shared.run {
                        continue;
                    }
                    if seen.swap(true, Relaxed) {
                        shared.counters.ordered_twice.fetch_add(1, Relaxed);
                        continue;
                    }
                    shared.counters.ordered.fetch_add(1, Relaxed);
                    let s = sent.load(Relaxed);
                    lat.push(now.saturating_sub(s) as f64 / 1000.0);
                }
                if !lat.is_empty() {
                    last.store(now, Relaxed);
                    if let Ok(mut l) = latencies.lock() {
                        l.extend(lat);
                    }
                }
            }
        }));
    }

    // One bulk stream per node, each at its share of the rate.
    let seq = Arc::new(AtomicU64::new(0));
    let per_node = p.rate / p.rpcs.len() as f64;
    let mut senders = Vec::new();
    for i in 0..p.rpcs.len() {
        let mut stub = client
            .node(i)
            .ok_or_else(|| anyhow::anyhow!("no node {i}"))?;
        let (tx, rx) = mpsc::channel::<SubmitTxRequest>(65_536);
        let responses = stub
            .submit_tx_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        let sh = shared.clone();
        senders.push(tokio::spawn(read_responses(responses, sh)));
        let (sh, seq, params) = (shared.clone(), seq.clone(), p.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut tick = tokio::time::interval(TICK);
            let start = Instant::now();
            while start.elapsed() < params.duration {
                tick.tick().await;
                let due = (per_node * start.elapsed().as_secs_f64()) as u64;
                while sent < due {
                    let s = seq.fetch_add(1, Relaxed);
                    let Some(slot) = sh.sent_at.get(s as usize) else {
                        return;
                    };
                    let req = SubmitTxRequest {
                        namespace: params.first_namespace + s % params.namespaces,
                        payload: payload(sh.run, s, params.size, params.text).into(),
                        ack: AckLevel::Accepted as i32,
                        wait_ms: 0,
                        seq: s,
                    };
                    slot.store(sh.start.elapsed().as_micros().max(1) as u64, Relaxed);
                    if tx.send(req).await.is_err() {
                        return;
                    }
                    sh.counters.submitted.fetch_add(1, Relaxed);
                    sent += 1;
                }
            }
        }));
    }

    // Progress, once a second, until the submissions end and what was accepted is ordered
    // (or the drain time is up).
    let c = &shared.counters;
    let mut last_print = Instant::now();
    let end = p.duration + p.drain;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = shared.start.elapsed();
        let done_submitting = t >= p.duration;
        let all_ordered = c.ordered.load(Relaxed) >= c.accepted.load(Relaxed);
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "load: t={:>5.1}s submitted={} accepted={} rejected={} ordered={}",
                t.as_secs_f64(),
                c.submitted.load(Relaxed),
                c.accepted.load(Relaxed),
                c.rejected.load(Relaxed),
                c.ordered.load(Relaxed),
            );
        }
        if (done_submitting && all_ordered && t >= p.duration + Duration::from_millis(500))
            || t >= end
        {
            break;
        }
    }
    for s in senders {
        s.abort();
    }
    for f in followers {
        f.abort();
    }
    status = client
        .node(0)
        .ok_or_else(|| anyhow::anyhow!("no node"))?
        .status(ordo_client::api::StatusRequest {})
        .await?
        .into_inner();
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let secs = p.duration.as_secs_f64();
    let ordered = c.ordered.load(Relaxed);
    // Sustained ordered rate: ordered transactions over the time from the first submission
    // to the last ordering seen (so a backlog that drains late lowers it).
    let ordered_span = (last_ordered.load(Relaxed) as f64 / 1e6).max(secs);
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    Ok(json!({
        "nodes": p.rpcs.len(),
        "rate_target": p.rate,
        "size": p.size,
        "namespaces": p.namespaces,
        "duration_s": secs,
        "submitted": c.submitted.load(Relaxed),
        "accepted": c.accepted.load(Relaxed),
        "rejected": c.rejected.load(Relaxed),
        "rejections": *shared.rejections.lock().map_err(|_| anyhow::anyhow!("lock"))?,
        "ordered": ordered,
        "ordered_twice": c.ordered_twice.load(Relaxed),
        "submitted_per_s": r1(c.submitted.load(Relaxed) as f64 / secs),
        "accepted_per_s": r1(c.accepted.load(Relaxed) as f64 / secs),
        "ordered_per_s": r1(ordered as f64 / ordered_span),
        "latency_ms": {
            "p50": r1(pct(&lat, 50.0)),
            "p90": r1(pct(&lat, 90.0)),
            "p99": r1(pct(&lat, 99.0)),
            "max": r1(lat.last().copied().unwrap_or(f64::NAN)),
        },
        "heights": status.height.saturating_sub(from - 1),
    }))
}

async fn read_responses(
    mut responses: tonic::Streaming<ordo_client::api::SubmitTxResponse>,
    sh: Arc<Shared>,
) {
    while let Some(Ok(r)) = responses.next().await {
        match Outcome::try_from(r.outcome) {
            Ok(Outcome::Accepted | Outcome::Duplicate) => {
                sh.counters.accepted.fetch_add(1, Relaxed);
            }
            other => {
                sh.counters.rejected.fetch_add(1, Relaxed);
                if let Ok(mut m) = sh.rejections.lock() {
                    *m.entry(format!("{other:?}")).or_default() += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_run_and_sequence_in_both_forms() {
        for text in [false, true] {
            for size in [1, 16, 33, 34, 250, 251] {
                let p = payload(0xfeed, 77, size, text);
                assert_eq!(
                    parse(&p, text),
                    Some((0xfeed, 77)),
                    "text {text} size {size}"
                );
                assert_eq!(p.len(), size.max(if text { TEXT_HEADER } else { HEADER }));
            }
        }
        let t = payload(1, 2, 100, true);
        let s = std::str::from_utf8(&t).expect("text");
        let (key, value) = s.split_once('=').expect("key=value");
        assert_eq!(key.len(), 32);
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{value}");
    }
}
