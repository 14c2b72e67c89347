//! Runs one scenario: a fresh testnet of real `ordo` processes, one network namespace each, with
//! anvil in a namespace of its own; load and forced entries while the fault schedule plays; then
//! the checkers over what the nodes logged.
//!
//! This is the orchestration: the testnet is in `cluster`, the load in `workload`, the fault
//! actions in `faults` and the files the run writes in `record`.

use super::check::{self, Ack, Evidence, Expect, ForcedEntry, Sample, Timeline};
use super::cluster::{self, Cluster};
use super::faults::{self, Faults};
use super::manifest::Manifest;
use super::record::{Lines, Logs, Sampler, now_ms};
use super::workload::{DRAIN, LoadCounters, Workload};
use anyhow::Context as _;
use ordo_node::genesis::Genesis;
use ordo_node::home::{Home, Keys};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the binaries are and where runs go.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub ordo: PathBuf,
    pub anvil: PathBuf,
    /// Each scenario gets `dir/<name>`.
    pub dir: PathBuf,
    /// Keep the directory of a passing scenario too.
    pub keep: bool,
    /// Picks namespace names and the subnet (0..50).
    pub slot: u8,
}

/// A scenario's result.
#[derive(Debug)]
pub struct Verdict {
    pub ok: bool,
    pub json: Value,
}

/// A progress line on stderr, under the scenario's name.
fn say(m: &Manifest, s: impl Display) {
    eprintln!("chaos[{}] {s}", m.name);
}

/// Sleeps until `at`, printing the nodes' heights every 5 s (`t0`: the start of the load).
async fn wait_until(m: &Manifest, t0: Instant, at: Instant, rpcs: &[SocketAddr]) {
    while Instant::now() + Duration::from_secs(5) < at {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let hs: Vec<String> = cluster::heights(rpcs)
            .await
            .iter()
            .map(|h| h.map_or("-".into(), |h| h.to_string()))
            .collect();
        say(
            m,
            format!(
                "{:5.1} s  heights {}",
                t0.elapsed().as_secs_f64(),
                hs.join(" ")
            ),
        );
    }
    tokio::time::sleep_until(at.into()).await;
}

/// Plays `m`'s fault schedule, each fault at its time from `t0`, noting it in `events`. Returns
/// when the first fault was played and when the last one ended (unix ms; `None` and `start_ms`
/// without faults).
async fn play(
    m: &Manifest,
    c: &mut Cluster,
    events: &Lines,
    t0: Instant,
    start_ms: u64,
) -> anyhow::Result<(Option<u64>, u64)> {
    let mut faults = Faults::new(m.nodes, m.seed);
    let mut first_fault_ms = None;
    let mut heal_ms = start_ms;
    for f in &m.faults {
        wait_until(m, t0, t0 + Duration::from_secs_f64(f.at_s), &c.rpcs).await;
        let now = now_ms();
        first_fault_ms.get_or_insert(now);
        say(
            m,
            format!("{:5.1} s  {:?}", t0.elapsed().as_secs_f64(), f.action),
        );
        events.push(&json!({"t_ms": now, "at_s": f.at_s, "action": format!("{:?}", f.action)}));
        faults::apply(c, &mut faults, &f.action, t0, events).await?;
        heal_ms = now_ms();
    }
    Ok((first_fault_ms, heal_ms))
}

/// Empties (or creates) the scenario's directory.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Runs `m` and returns its verdict. The scenario directory is kept when a check fails (or with
/// `keep`), removed otherwise.
pub async fn scenario(m: &Manifest, opts: &RunOptions) -> anyhow::Result<Verdict> {
    let dir = opts.dir.join(&m.name);
    fresh_dir(&dir)?;
    say(
        m,
        format!("starting {} nodes in {}", m.nodes, dir.display()),
    );
    let mut c = cluster::build(m, opts, &dir).await?;
    let genesis_path = c.homes[0].genesis();
    let logs = Logs::create(&dir)?;
    let t0 = Instant::now();
    let start_ms = now_ms();
    let sampler = Sampler::start(c.rpcs.clone(), logs.samples.clone());
    let workload = Workload::start(m, &c, &genesis_path, &logs);
    let (first_fault_ms, heal_ms) = play(m, &mut c, &logs.events, t0, start_ms).await?;
    wait_until(m, t0, t0 + Duration::from_secs(m.duration_s), &c.rpcs).await;
    let counters = workload.stop().await;
    tokio::time::sleep(DRAIN).await;
    sampler.stop().await;
    let end_ms = now_ms();
    logs.flush();
    // The nodes stop before their logs are read; the namespaces go with the cluster.
    c.stop_all().await?;
    let timeline = Timeline {
        start_ms,
        first_fault_ms: first_fault_ms.unwrap_or(start_ms),
        heal_ms: heal_ms.max(first_fault_ms.unwrap_or(start_ms)),
        end_ms,
    };
    let ev = evidence(&dir, &c.homes, timeline)?;
    drop(c);
    judge(m, opts, &dir, &ev, &genesis_path, &counters)
}

/// What `m` holds its run to.
fn expect(m: &Manifest) -> Expect {
    Expect {
        liveness_ms: (m.expect.liveness_s * 1000.0) as u64,
        progress_during: m.expect.progress_during,
        forced_deadline_ms: (m.expect.forced_deadline_s * 1000.0) as u64,
        byzantine: m.expect.byzantine.iter().copied().collect::<BTreeSet<_>>(),
        exempt: m.expect.exempt.iter().copied().collect(),
        equivocators: m.setup.equivocate.iter().copied().collect(),
        rate_recovery_percent: m.expect.rate_recovery_percent,
    }
}

/// Runs the checkers over `ev`, writes `verdict.json` in `dir`, and removes `dir` when every
/// check passed (unless `keep`).
fn judge(
    m: &Manifest,
    opts: &RunOptions,
    dir: &Path,
    ev: &Evidence,
    genesis: &Path,
    counters: &LoadCounters,
) -> anyhow::Result<Verdict> {
    let genesis = Genesis::read(genesis)?;
    let (checks, mut figures) = check::run_all(ev, &expect(m), &genesis);
    let ok = checks.iter().all(|c| c.ok);
    figures["load"] = counters.to_json();
    let verdict = json!({
        "scenario": m.name,
        "seed": m.seed,
        "ok": ok,
        "nodes": m.nodes,
        "duration_s": m.duration_s,
        "checks": checks.iter().map(check::Outcome::to_json).collect::<Vec<_>>(),
        "figures": figures,
        "dir": if ok && !opts.keep { Value::Null } else { json!(dir.display().to_string()) },
    });
    std::fs::write(
        dir.join("verdict.json"),
        serde_json::to_string_pretty(&verdict)?,
    )?;
    if ok && !opts.keep {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(Verdict { ok, json: verdict })
}

/// Reads what the scenario left in `dir` and in the nodes' homes.
pub fn evidence(dir: &Path, homes: &[Home], timeline: Timeline) -> anyhow::Result<Evidence> {
    let mut ev = Evidence {
        timeline,
        acks: check::read_lines::<Ack>(&dir.join("acks.jsonl"))?,
        samples: check::read_lines::<Sample>(&dir.join("samples.jsonl"))?,
        forced: check::read_lines::<ForcedEntry>(&dir.join("forced.jsonl"))?,
        ..Evidence::default()
    };
    for h in homes {
        ev.decisions.push(check::read_lines(&h.decision_log())?);
        ev.signatures.push(check::read_lines(&h.signature_log())?);
        ev.keys.push(Keys::read(h)?.address().to_string());
    }
    Ok(ev)
}
