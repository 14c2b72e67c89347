//! The live view of a local testnet (`testnet/localnet.sh up` ends in it): a light load, a demo
//! rollup following one namespace with verified proofs, and one status line per node (certified
//! height, available height on the DA layer, ordered tx/s, finality p50, peers, L1 head),
//! redrawn every second until interrupted.
//!
//! Finality is the submit-to-ordered time of the light load's transactions sent to that node:
//! the moment the node answers that the transaction is in a certified batch on its disk.

use futures::StreamExt as _;
use ordo_client::{Ack, Client, SliceVerifier, TrustAnchor};
use ordo_node::genesis::Genesis;
use ordo_types::{Height, Namespace};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct WatchParams {
    pub rpcs: Vec<SocketAddr>,
    /// The light load, transactions per second across all nodes (0: none).
    pub rate: f64,
    /// The demo rollup's namespace.
    pub namespace: u64,
    /// The chain's genesis: the demo rollup's trust anchor (chain id and validator set).
    pub genesis: PathBuf,
    /// Stop after this long (none: until interrupted).
    pub duration: Option<Duration>,
}

/// Finality samples of the last 30 s, per node.
type Finality = Arc<Mutex<Vec<VecDeque<(Instant, u64)>>>>;

#[derive(Default)]
struct Rollup {
    height: u64,
    txs: u64,
    own_seen: u64,
    last_error: Option<String>,
}

fn p50(v: &VecDeque<(Instant, u64)>) -> Option<u64> {
    let mut ms: Vec<u64> = v.iter().map(|(_, m)| *m).collect();
    ms.sort_unstable();
    ms.get(ms.len() / 2).copied()
}

async fn light_load(p: WatchParams, fin: Finality) {
    if p.rate <= 0.0 {
        return;
    }
    let clients: Vec<Option<Arc<Client>>> = p
        .rpcs
        .iter()
        .map(|a| Client::new(&[format!("http://{a}")]).ok().map(Arc::new))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / p.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let run = rand::random::<u64>();
    for seq in 0u64.. {
        tick.tick().await;
        let node = seq as usize % p.rpcs.len();
        let Some(client) = clients.get(node).cloned().flatten() else {
            continue;
        };
        let fin = fin.clone();
        let payload = [b"demo".as_slice(), &run.to_be_bytes(), &seq.to_be_bytes()].concat();
        let ns = Namespace(p.namespace);
        tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio::time::timeout(
                Duration::from_secs(20),
                client.submit(ns, payload, Ack::Ordered),
            )
            .await;
            if let Ok(Ok(s)) = r
                && s.position.is_some()
                && let Ok(mut f) = fin.lock()
                && let Some(q) = f.get_mut(node)
            {
                q.push_back((Instant::now(), t.elapsed().as_millis() as u64));
            }
        });
    }
}

async fn demo_rollup(p: WatchParams, state: Arc<Mutex<Rollup>>) -> anyhow::Result<()> {
    let g = Genesis::read(&p.genesis)?;
    let anchor = TrustAnchor {
        chain_id: g.genesis.chain_id,
        validator_set_hash: g.set.set.hash(),
    };
    let urls: Vec<String> = p.rpcs.iter().map(|a| format!("http://{a}")).collect();
    let client = Client::new(&urls)?;
    let set = client.validator_set(&anchor).await?;
    let verifier = SliceVerifier::new(
        anchor.chain_id,
        set,
        Namespace(p.namespace),
        Height(1),
        g.genesis.limits,
    );
    let mut stream = std::pin::pin!(client.stream_namespace(verifier));
    while let Some(item) = stream.next().await {
        let Ok(mut r) = state.lock() else { break };
        match item {
            Ok(slice) => {
                r.height = slice.height.0;
                r.txs += slice.txs.len() as u64;
                r.own_seen += slice
                    .txs
                    .iter()
                    .filter(|t| t.payload().starts_with(b"demo"))
                    .count() as u64;
            }
            Err(e) => r.last_error = Some(e.to_string()),
        }
    }
    Ok(())
}

async fn status(addr: SocketAddr) -> Option<Value> {
    let (code, v) = tokio::time::timeout(
        Duration::from_millis(800),
        ordo_node::http::get_json(addr, "/status"),
    )
    .await
    .ok()?
    .ok()?;
    (code == 200).then_some(v)
}

/// Runs until interrupted (or `duration`), printing the live view.
// Longer than the house limit (clippy.toml); splitting it is open work.
#[allow(clippy::too_many_lines)]
pub async fn run(p: WatchParams) -> anyhow::Result<()> {
    let n = p.rpcs.len();
    let fin: Finality = Arc::new(Mutex::new(vec![VecDeque::new(); n]));
    let rollup = Arc::new(Mutex::new(Rollup::default()));
    let load = tokio::spawn(light_load(p.clone(), fin.clone()));
    let follow = {
        let (p, r) = (p.clone(), rollup.clone());
        tokio::spawn(async move {
            if let Err(e) = demo_rollup(p, r.clone()).await
                && let Ok(mut r) = r.lock()
            {
                r.last_error = Some(format!("{e:#}"));
            }
        })
    };
    let tty = std::io::stdout().is_terminal();
    let start = Instant::now();
    let mut prev: Vec<Option<(Instant, u64)>> = vec![None; n];
    let mut drawn = 0usize;
    let mut last_plain = Instant::now() - Duration::from_secs(60);
    loop {
        if p.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let statuses = futures::future::join_all(p.rpcs.iter().map(|a| status(*a))).await;
        let now = Instant::now();
        let mut lines = vec![format!(
            "{:<7} {:>9} {:>9} {:>8} {:>14} {:>6} {:>8} {:>24}   ({:.0} s; Ctrl-C stops watching, the testnet keeps running)",
            "node",
            "certified",
            "available",
            "tx/s",
            "finality p50",
            "peers",
            "L1 head",
            format!("executed ns {} / root", p.namespace),
            start.elapsed().as_secs_f64()
        )];
        for (i, s) in statuses.iter().enumerate() {
            let Some(s) = s else {
                lines.push(format!("node-{i:<2} {:>8}", "down"));
                prev[i] = None;
                continue;
            };
            let total = s["txs_since_start"].as_u64().unwrap_or(0);
            let rate = match prev[i] {
                Some((t, before)) if total >= before => {
                    format!("{:.1}", (total - before) as f64 / (now - t).as_secs_f64())
                }
                _ => "-".into(),
            };
            prev[i] = Some((now, total));
            let finality = fin.lock().ok().and_then(|mut f| {
                let q = f.get_mut(i)?;
                while q
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(30))
                {
                    q.pop_front();
                }
                p50(q)
            });
            lines.push(format!(
                "node-{i:<2} {:>9} {:>9} {:>8} {:>14} {:>6} {:>8} {:>24}",
                s["height"].as_u64().unwrap_or(0),
                s["da"]["available_height"]
                    .as_u64()
                    .map_or("-".into(), |v| v.to_string()),
                rate,
                finality.map_or("-".into(), |m| format!("{m} ms")),
                s["gossip"]["peers"]
                    .as_u64()
                    .map_or("-".into(), |v| v.to_string()),
                s["l1"]["read_to"]
                    .as_u64()
                    .map_or("-".into(), |v| v.to_string()),
                executed(s, p.namespace).map_or("-".into(), |(h, root)| format!(
                    "{h} / {}",
                    root.get(..12).unwrap_or(&root)
                )),
            ));
        }
        lines.push(agreement(&statuses, p.namespace));
        if let Ok(r) = rollup.lock() {
            lines.push(format!(
                "demo rollup (namespace {}): verified to height {}, {} txs ({} of its own){}",
                p.namespace,
                r.height,
                r.txs,
                r.own_seen,
                r.last_error
                    .as_ref()
                    .map_or(String::new(), |e| format!("; last event: {e}"))
            ));
        }
        let mut out = std::io::stdout().lock();
        if tty {
            // Redraw in place: up over the previous frame, clearing each line.
            if drawn > 0 {
                write!(out, "\x1b[{drawn}A")?;
            }
            for l in &lines {
                writeln!(out, "\x1b[2K{l}")?;
            }
            drawn = lines.len();
        } else if last_plain.elapsed() >= Duration::from_secs(5) {
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            last_plain = Instant::now();
        }
        out.flush()?;
        drop(out);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    load.abort();
    follow.abort();
    Ok(())
}

/// The executed height and state root a node's status reports for its rollup of `namespace`.
fn executed(s: &Value, namespace: u64) -> Option<(u64, String)> {
    let r = s["rollups"]
        .as_array()?
        .iter()
        .find(|r| r["namespace"] == namespace)?;
    Some((
        r["executed_height"].as_u64()?,
        r["state_root"].as_str()?.to_string(),
    ))
}

/// Whether the nodes that executed the same height of the builtin rollup report one root.
fn agreement(statuses: &[Option<Value>], namespace: u64) -> String {
    let mut by_height: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for s in statuses.iter().flatten() {
        if let Some((h, root)) = executed(s, namespace) {
            by_height.entry(h).or_default().push(root);
        }
    }
    let Some((h, roots)) = by_height.iter().max_by_key(|(h, r)| (r.len(), **h)) else {
        return format!("builtin rollup (namespace {namespace}): not run by these nodes");
    };
    if roots.iter().all(|r| r == &roots[0]) {
        format!(
            "builtin rollup (namespace {namespace}): {} of {} nodes at executed height {h}, state roots agree",
            roots.len(),
            statuses.len()
        )
    } else {
        format!(
            "builtin rollup (namespace {namespace}): STATE ROOTS DIFFER at executed height {h}: {roots:?}"
        )
    }
}
