//! Runs one scenario: a fresh testnet of real `ordo` processes, one network namespace each, with
//! anvil in a namespace of its own; load and forced entries while the fault schedule plays; then
//! the checkers over what the nodes logged.

use super::check::{self, Ack, Evidence, Expect, ForcedEntry, Sample, Timeline};
use super::manifest::{Action, Manifest};
use super::net::{self, Net, Rules};
use anyhow::{Context as _, bail};
use ordo_client::{Ack as AckLevel, Client};
use ordo_node::config::Config;
use ordo_node::genesis::Genesis;
use ordo_node::home::{self, Home, Keys};
use ordo_types::{ChainId, Namespace};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// anvil's first development account (its well-known default mnemonic): a dev L1 only.
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BASE_PORT: u16 = 26000;
const L1_PORT: u16 = 8545;
/// After the load stops, how long the nodes keep running (and are sampled) so that what was
/// queued last can be ordered.
const DRAIN: Duration = Duration::from_secs(6);

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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A JSON-lines file several tasks append to.
#[derive(Clone)]
struct Lines(Arc<Mutex<std::io::BufWriter<std::fs::File>>>);

impl Lines {
    fn create(path: &Path) -> anyhow::Result<Lines> {
        let f = std::fs::File::create(path).with_context(|| path.display().to_string())?;
        Ok(Lines(Arc::new(Mutex::new(std::io::BufWriter::new(f)))))
    }
    fn push(&self, v: &Value) {
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{v}");
        }
    }
    fn flush(&self) {
        if let Ok(mut w) = self.0.lock() {
            let _ = w.flush();
        }
    }
}

fn send(c: &Child, sig: &str) -> anyhow::Result<()> {
    net::run(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(c.id().to_string()),
    )
    .map(|_| ())
}

/// The node processes, anvil and the tmpfs mounts of one scenario; all stopped on drop, before
/// the namespaces go.
struct Cluster {
    ordo: PathBuf,
    homes: Vec<Home>,
    procs: Vec<Option<Child>>,
    /// Clock offset (seconds) each node runs with.
    skew: Vec<Option<i64>>,
    rpcs: Vec<SocketAddr>,
    anvil: Option<Child>,
    mounts: Vec<PathBuf>,
    net: Net,
}

impl Cluster {
    /// Starts node `i` unless it is running (a node that exited by itself, e.g. on a full disk,
    /// is reaped and started again).
    fn start(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(c) = self.procs[i].as_mut() {
            match c.try_wait()? {
                None => return Ok(()),
                Some(status) => {
                    eprintln!("chaos: node {i} had exited ({status}); starting it again");
                    self.procs[i] = None;
                }
            }
        }
        let home = &self.homes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.0.join("node.log"))?;
        let mut cmd = self.net.command(i, &self.ordo.to_string_lossy());
        cmd.arg("start")
            .arg("--home")
            .arg(&home.0)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(s) = self.skew[i] {
            cmd.env("LD_PRELOAD", net::faketime_lib()?)
                .env("FAKETIME", format!("{s:+}"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_NO_CACHE", "1");
        }
        self.procs[i] = Some(cmd.spawn().context("starting ordo")?);
        Ok(())
    }

    fn signal(&self, i: usize, sig: &str) -> anyhow::Result<()> {
        match &self.procs[i] {
            Some(c) => send(c, sig),
            None => Ok(()),
        }
    }

    /// Stops node `i` with `sig` (TERM: waits up to 15 s, then KILL) and reaps it. Waits
    /// without blocking the runtime, so sampling and load go on meanwhile.
    async fn stop(&mut self, i: usize, sig: &str) -> anyhow::Result<()> {
        let Some(mut c) = self.procs[i].take() else {
            return Ok(());
        };
        // A process that is already gone cannot be signalled; the wait below tells.
        let _ = send(&c, sig);
        let deadline = Instant::now() + Duration::from_secs(15);
        while c.try_wait()?.is_none() {
            if Instant::now() > deadline {
                eprintln!("chaos: node {i} ignored SIG{sig} for 15 s; killing it");
                let _ = c.kill();
                c.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self
            .procs
            .iter_mut()
            .chain(std::iter::once(&mut self.anvil))
        {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for m in self.mounts.drain(..) {
            if let Err(e) = net::run(Command::new("umount").arg(&m)) {
                eprintln!("chaos: cleanup: {e}");
            }
        }
    }
}

async fn status_height(addr: SocketAddr) -> Option<u64> {
    let (code, v) = tokio::time::timeout(
        Duration::from_millis(500),
        ordo_node::http::get_json(addr, "/status"),
    )
    .await
    .ok()?
    .ok()?;
    (code == 200).then(|| v["height"].as_u64()).flatten()
}

async fn wait_l1(addr: SocketAddr) -> anyhow::Result<()> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    for _ in 0..200 {
        if let Ok(Ok((200, _))) = tokio::time::timeout(
            Duration::from_millis(500),
            ordo_node::http::post_json(addr, "/", &body),
        )
        .await
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("anvil did not answer on {addr} within 20 s")
}

/// Creates the homes, the namespaces, anvil and the inbox; starts every node not late.
async fn build(m: &Manifest, opts: &RunOptions, dir: &Path) -> anyhow::Result<Cluster> {
    let net = Net::create(m.nodes, opts.slot)?;
    let hosts: Vec<_> = (0..m.nodes).map(|i| net.addr(i)).collect();
    let homes: Vec<Home> = home::testnet_init(
        dir,
        m.nodes,
        ChainId(1),
        BASE_PORT,
        ordo_node::genesis::ChainParams::default(),
        &hosts,
    )?
    .into_iter()
    .map(|(h, _)| h)
    .collect();
    let rpcs = (0..m.nodes)
        .map(|i| SocketAddr::from((hosts[i], home::testnet_ports(BASE_PORT, i).rpc)))
        .collect();
    let mut c = Cluster {
        ordo: opts.ordo.clone(),
        procs: (0..m.nodes).map(|_| None).collect(),
        skew: vec![None; m.nodes],
        homes,
        rpcs,
        anvil: None,
        mounts: vec![],
        net,
    };
    if let Some([from, to]) = m.setup.same_key {
        for f in ["keys/consensus.json", "keys/bls.json"] {
            std::fs::copy(c.homes[from].0.join(f), c.homes[to].0.join(f))?;
        }
    }
    for (i, h) in c.homes.iter().enumerate() {
        let mut cfg = Config::read(&h.config())?;
        cfg.testing.log_tx_ids = true;
        cfg.testing.censor_forced = m.setup.censor.contains(&i);
        cfg.testing.equivocate = m.setup.equivocate.contains(&i);
        std::fs::write(h.config(), cfg.to_toml())?;
    }
    for &i in &m.setup.tmpfs {
        let data = c.homes[i].0.join("data");
        std::fs::create_dir_all(&data)?;
        net::run(
            Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={}m", m.setup.tmpfs_mb),
                    "tmpfs",
                ])
                .arg(&data),
        )?;
        c.mounts.push(data);
    }
    if m.l1 {
        let l1 = c.net.l1_addr();
        let log = std::fs::File::create(dir.join("anvil.log"))?;
        let anvil = c
            .net
            .command(m.nodes, &opts.anvil.to_string_lossy())
            .args(["--host", &l1.to_string(), "--port", &L1_PORT.to_string()])
            .args(["--block-time", "1", "--hardfork", "cancun"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting anvil")?;
        c.anvil = Some(anvil);
        wait_l1(SocketAddr::from((l1, L1_PORT))).await?;
        let opts = ordo_node::l1::DeployOptions {
            inclusion_delay: 2,
            finality: "latest-1".into(),
            poll_ms: 250,
            ..Default::default()
        };
        ordo_node::l1::deploy(&l1_rpc(&c.net), DEV_KEY, &c.homes, &opts).await?;
    }
    for i in 0..m.nodes {
        if !m.setup.late.contains(&i) {
            c.start(i)?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for i in (0..m.nodes).filter(|i| !m.setup.late.contains(i)) {
        loop {
            if status_height(c.rpcs[i]).await.is_some_and(|h| h >= 1) {
                break;
            }
            if Instant::now() > deadline {
                bail!("node {i} did not decide a first height within 90 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(c)
}

fn l1_rpc(net: &Net) -> String {
    format!("http://{}:{L1_PORT}", net.l1_addr())
}

/// Polls every node's height every 200 ms until `stop`.
async fn sample(rpcs: Vec<SocketAddr>, out: Lines, stop: Arc<AtomicBool>) {
    while !stop.load(Relaxed) {
        let t = now_ms();
        let hs = futures::future::join_all(rpcs.iter().map(|a| status_height(*a))).await;
        for (node, h) in hs.into_iter().enumerate() {
            out.push(&json!({"t_ms": t, "node": node, "height": h}));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Default)]
struct LoadCounters {
    sent: AtomicU64,
    ordered: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

/// Submits `rate` transactions a second, in turn to every node, each awaited until *ordered*;
/// every ordered acknowledgement is recorded.
async fn load(
    m: Manifest,
    rpcs: Vec<SocketAddr>,
    out: Lines,
    stop: Arc<AtomicBool>,
    counters: Arc<LoadCounters>,
) {
    if m.load.rate <= 0.0 {
        return;
    }
    let clients: Vec<Option<Arc<Client>>> = rpcs
        .iter()
        .map(|a| Client::new(&[format!("http://{a}")]).ok().map(Arc::new))
        .collect();
    // At most this many submissions wait on a node at once (a partitioned node holds them).
    let permits: Vec<Arc<tokio::sync::Semaphore>> = rpcs
        .iter()
        .map(|_| Arc::new(tokio::sync::Semaphore::new(200)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / m.load.rate);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    while !stop.load(Relaxed) {
        tick.tick().await;
        let node = (seq as usize) % rpcs.len();
        let Some(client) = clients[node].clone() else {
            continue;
        };
        let Ok(permit) = permits[node].clone().try_acquire_owned() else {
            counters.skipped.fetch_add(1, Relaxed);
            seq += 1;
            continue;
        };
        let mut payload = Vec::with_capacity(m.load.size.max(16));
        payload.extend_from_slice(&m.seed.to_be_bytes());
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.resize(m.load.size.max(16), (seq % 251) as u8);
        let ns = Namespace(1 + seq % 4);
        seq += 1;
        let (out, counters) = (out.clone(), counters.clone());
        counters.sent.fetch_add(1, Relaxed);
        tasks.spawn(async move {
            let r = tokio::time::timeout(
                Duration::from_secs(30),
                client.submit(ns, payload, AckLevel::Ordered),
            )
            .await;
            drop(permit);
            match r {
                Ok(Ok(s)) => match s.position {
                    Some((h, index)) => {
                        counters.ordered.fetch_add(1, Relaxed);
                        out.push(
                            &json!({"id": s.id.to_string(), "height": h.0, "index": index,
                            "node": node, "at_ms": now_ms()}),
                        );
                    }
                    None => {
                        counters.failed.fetch_add(1, Relaxed);
                    }
                },
                _ => {
                    counters.failed.fetch_add(1, Relaxed);
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    // What is in flight when the load stops still counts, for as long as the drain lasts.
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// Queues a forced entry on the L1 every `forced_every_s` until `stop`.
async fn forced(m: Manifest, l1: String, genesis: PathBuf, out: Lines, stop: Arc<AtomicBool>) {
    if !m.l1 || m.load.forced_every_s <= 0.0 {
        return;
    }
    let every = Duration::from_secs_f64(m.load.forced_every_s);
    let mut k = 0u64;
    let mut next = Instant::now() + every;
    while !stop.load(Relaxed) {
        tokio::time::sleep_until(next.into()).await;
        next = Instant::now().max(next) + every;
        if stop.load(Relaxed) {
            break;
        }
        let payload = [m.seed.to_be_bytes(), k.to_be_bytes()].concat();
        k += 1;
        let genesis = genesis.to_string_lossy().into_owned();
        // The deadline runs from the moment the entry is sent: the call returns only once the
        // L1 has confirmed it, by when the validators may already have ordered it.
        let sent = now_ms();
        match ordo_node::l1::enqueue(&l1, DEV_KEY, &genesis, 9, &payload).await {
            Ok(e) => out.push(&json!({"queue_index": e.forced.queue_index,
                "l1_block": e.forced.l1_block, "at_ms": sent})),
            Err(e) => eprintln!("chaos: enqueue on the L1 failed: {e:#}"),
        }
    }
}

/// Network rules, as the schedule builds them up, and the nodes whose fault layer is on.
struct Faults {
    rules: Vec<Rules>,
    n: usize,
    delayed: BTreeSet<usize>,
}

/// Sets the fault layer of the node at `addr` (`POST /testing/net-faults?seed=`).
async fn set_net_faults(addr: SocketAddr, seed: u64, body: &Value) -> anyhow::Result<()> {
    let path = format!("/testing/net-faults?seed={seed}");
    let (code, v) = ordo_node::http::post_json(addr, &path, body).await?;
    if code != 200 {
        bail!("POST /testing/net-faults: {code} {v}");
    }
    Ok(())
}

impl Faults {
    fn cut(&mut self, net: &Net, a: usize, b: usize) {
        let (ia, ib) = (net.addr(a), net.addr(b));
        self.rules[a].drop_from.insert(ib);
        self.rules[a].drop_to.insert(ib);
        self.rules[b].drop_from.insert(ia);
        self.rules[b].drop_to.insert(ia);
    }

    fn partition(&mut self, net: &Net, groups: &[Vec<usize>]) {
        for (gi, g) in groups.iter().enumerate() {
            for other in groups.iter().skip(gi + 1) {
                for &a in g {
                    for &b in other {
                        self.cut(net, a, b);
                    }
                }
            }
        }
    }

    fn heal(&mut self) {
        self.rules = vec![Rules::default(); self.n + 1];
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0u8; 1 << 20];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e.into()),
        }
    }
    // The last partial chunk, byte by byte in halves, down to nothing left.
    let mut n = chunk.len() / 2;
    while n > 0 {
        if f.write_all(&chunk[..n]).is_err() {
            n /= 2;
        }
    }
    let _ = f.sync_all();
    Ok(())
}

/// The node that proposes the height after the highest one any node reports, round 0.
async fn next_proposer(c: &Cluster) -> anyhow::Result<usize> {
    let hs = futures::future::join_all(c.rpcs.iter().map(|a| status_height(*a))).await;
    let h = hs.into_iter().flatten().max().unwrap_or(0);
    let g = Genesis::read(&c.homes[0].genesis())?;
    let round = ordo_consensus::mc::Round::new(0);
    let addr = g
        .set
        .proposer(ordo_consensus::ConsHeight(h + 1), round)
        .address
        .to_string();
    for (i, home) in c.homes.iter().enumerate() {
        if Keys::read(home)?.address().to_string() == addr {
            return Ok(i);
        }
    }
    bail!("no node holds the proposer's key {addr}")
}

/// Plays one action; returns a description for the event log.
// Longer than the house limit (clippy.toml); splitting it is open work (issue 13, item 10).
#[allow(clippy::too_many_lines)]
async fn apply(
    c: &mut Cluster,
    f: &mut Faults,
    a: &Action,
    rng: &mut StdRng,
    t0: Instant,
    events: &Lines,
) -> anyhow::Result<()> {
    match a {
        Action::Kill { nodes, signal } => {
            for &i in nodes {
                c.stop(i, signal).await?;
            }
        }
        Action::Start { nodes } => {
            for &i in nodes {
                c.start(i)?;
            }
        }
        Action::Restart { nodes } => {
            for &i in nodes {
                c.stop(i, "TERM").await?;
                c.start(i)?;
            }
        }
        Action::Pause { nodes } => {
            for &i in nodes {
                c.signal(i, "STOP")?;
            }
        }
        Action::Resume { nodes } => {
            for &i in nodes {
                c.signal(i, "CONT")?;
            }
        }
        Action::Skew { nodes, offset_s } => {
            for &i in nodes {
                c.stop(i, "TERM").await?;
                c.skew[i] = (*offset_s != 0).then_some(*offset_s);
                c.start(i)?;
            }
        }
        Action::Partition { groups } => f.partition(&c.net, groups),
        Action::Cut { pairs } => {
            for [a, b] in pairs {
                f.cut(&c.net, *a, *b);
            }
        }
        Action::OneWay { from, to } => {
            for &a in from {
                for &b in to {
                    let (ia, ib) = (c.net.addr(a), c.net.addr(b));
                    f.rules[b].drop_from.insert(ia);
                    f.rules[a].drop_to.insert(ib);
                }
            }
        }
        Action::CutL1 { nodes } => {
            let l1 = c.net.l1_addr();
            for &i in nodes {
                f.rules[i].drop_from.insert(l1);
                f.rules[i].drop_to.insert(l1);
            }
        }
        Action::Loss { percent } => {
            for r in f.rules.iter_mut().take(f.n) {
                r.loss = *percent;
            }
        }
        Action::Bandwidth { nodes, kbit } => {
            for &i in nodes {
                f.rules[i].kbit = Some(*kbit);
            }
        }
        Action::Delay { nodes, faults } => {
            let all: Vec<usize> = (0..f.n).collect();
            let targets = if nodes.is_empty() { &all } else { nodes };
            let body = serde_json::to_value(faults)?;
            for &i in targets {
                let seed = rng.r#gen::<u64>();
                set_net_faults(c.rpcs[i], seed, &body)
                    .await
                    .with_context(|| {
                        format!(
                            "delay on node {i} (an ordo built with --features ordo-node/chaos?)"
                        )
                    })?;
                f.delayed.insert(i);
            }
        }
        Action::Heal {} => {
            f.heal();
            // A node restarted since has the layer off already; one that does not answer is
            // noted, not fatal.
            for i in std::mem::take(&mut f.delayed) {
                if let Err(e) = set_net_faults(c.rpcs[i], 0, &json!({})).await {
                    events.push(&json!({"t_ms": now_ms(), "net_faults_not_cleared": i, "error": e.to_string()}));
                }
            }
        }
        Action::IsolateProposer {} => {
            let p = next_proposer(c).await?;
            events.push(&json!({"t_ms": now_ms(), "isolated": p}));
            let others: Vec<usize> = (0..f.n).filter(|i| *i != p).collect();
            f.partition(&c.net, &[vec![p], others]);
        }
        Action::TearWal { nodes, keep } => {
            for &i in nodes {
                if c.procs[i].is_some() {
                    bail!("tear_wal: node {i} is running; kill it first");
                }
                let wal = c.homes[i].wal();
                let len = std::fs::metadata(&wal)?.len();
                // A WAL no longer than `keep` would not be torn: the scenario would pass without
                // exercising anything.
                if len <= *keep {
                    bail!("tear_wal: node {i}'s WAL is {len} bytes, not longer than keep = {keep}");
                }
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&wal)?
                    .set_len(*keep)?;
                events.push(&json!({"t_ms": now_ms(), "torn_wal": i, "from": len, "to": keep}));
            }
        }
        Action::FillDisk { nodes } => {
            for &i in nodes {
                fill(&c.homes[i].0.join("data/fill"))?;
            }
        }
        Action::FreeDisk { nodes } => {
            for &i in nodes {
                std::fs::remove_file(c.homes[i].0.join("data/fill"))?;
            }
        }
        Action::Flap { until_s, period_ms } => {
            let until = t0 + Duration::from_secs_f64(*until_s);
            let mut order: Vec<usize> = (0..f.n).collect();
            while Instant::now() + Duration::from_millis(*period_ms) < until {
                f.heal();
                let what = if rng.gen_bool(0.25) {
                    "healed".to_string()
                } else {
                    order.shuffle(rng);
                    let k = rng.gen_range(1..f.n);
                    let (a, b) = order.split_at(k);
                    f.partition(&c.net, &[a.to_vec(), b.to_vec()]);
                    format!("{a:?} | {b:?}")
                };
                c.net.apply(&f.rules)?;
                events.push(&json!({"t_ms": now_ms(), "flap": what}));
                tokio::time::sleep(Duration::from_millis(*period_ms)).await;
            }
            f.heal();
        }
    }
    c.net.apply(&f.rules)?;
    Ok(())
}

/// Runs `m` and returns its verdict. The scenario directory is kept when a check fails (or with
/// `keep`), removed otherwise.
// Longer than the house limit (clippy.toml); splitting it is open work (issue 13, item 10).
#[allow(clippy::too_many_lines)]
pub async fn scenario(m: &Manifest, opts: &RunOptions) -> anyhow::Result<Verdict> {
    let dir = opts.dir.join(&m.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let say = |s: String| eprintln!("chaos[{}] {s}", m.name);
    say(format!("starting {} nodes in {}", m.nodes, dir.display()));
    let mut c = build(m, opts, &dir).await?;
    let genesis_path = c.homes[0].genesis();
    let samples = Lines::create(&dir.join("samples.jsonl"))?;
    let acks = Lines::create(&dir.join("acks.jsonl"))?;
    let forced_log = Lines::create(&dir.join("forced.jsonl"))?;
    let events = Lines::create(&dir.join("events.jsonl"))?;
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let stop_load = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(LoadCounters::default());
    let t0 = Instant::now();
    let start_ms = now_ms();
    let sampler = tokio::spawn(sample(
        c.rpcs.clone(),
        samples.clone(),
        stop_sampling.clone(),
    ));
    let loader = tokio::spawn(load(
        m.clone(),
        c.rpcs.clone(),
        acks.clone(),
        stop_load.clone(),
        counters.clone(),
    ));
    let forcer = tokio::spawn(forced(
        m.clone(),
        l1_rpc(&c.net),
        genesis_path.clone(),
        forced_log.clone(),
        stop_load.clone(),
    ));
    let mut faults = Faults {
        rules: vec![Rules::default(); m.nodes + 1],
        n: m.nodes,
        delayed: BTreeSet::new(),
    };
    let mut rng = StdRng::seed_from_u64(m.seed);
    let mut first_fault_ms = None;
    let mut heal_ms = start_ms;
    // Sleeps until `at`, printing the nodes' heights every 5 s.
    let wait_until = |at: Instant, rpcs: Vec<SocketAddr>| async move {
        while Instant::now() + Duration::from_secs(5) < at {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let hs = futures::future::join_all(rpcs.iter().map(|a| status_height(*a))).await;
            let hs: Vec<String> = hs
                .iter()
                .map(|h| h.map_or("-".into(), |h| h.to_string()))
                .collect();
            say(format!(
                "{:5.1} s  heights {}",
                t0.elapsed().as_secs_f64(),
                hs.join(" ")
            ));
        }
        tokio::time::sleep_until(at.into()).await;
    };
    for f in &m.faults {
        wait_until(t0 + Duration::from_secs_f64(f.at_s), c.rpcs.clone()).await;
        let now = now_ms();
        first_fault_ms.get_or_insert(now);
        say(format!(
            "{:5.1} s  {:?}",
            t0.elapsed().as_secs_f64(),
            f.action
        ));
        events.push(&json!({"t_ms": now, "at_s": f.at_s, "action": format!("{:?}", f.action)}));
        apply(&mut c, &mut faults, &f.action, &mut rng, t0, &events).await?;
        heal_ms = now_ms();
    }
    wait_until(t0 + Duration::from_secs(m.duration_s), c.rpcs.clone()).await;
    stop_load.store(true, Relaxed);
    let _ = loader.await;
    let _ = forcer.await;
    tokio::time::sleep(DRAIN).await;
    stop_sampling.store(true, Relaxed);
    let _ = sampler.await;
    let end_ms = now_ms();
    for w in [&samples, &acks, &forced_log, &events] {
        w.flush();
    }
    // The nodes stop before their logs are read; the namespaces go with the cluster.
    for i in 0..m.nodes {
        let _ = c.signal(i, "CONT");
        c.stop(i, "TERM").await?;
    }
    let timeline = Timeline {
        start_ms,
        first_fault_ms: first_fault_ms.unwrap_or(start_ms),
        heal_ms: heal_ms.max(first_fault_ms.unwrap_or(start_ms)),
        end_ms,
    };
    let ev = evidence(&dir, &c.homes, timeline)?;
    drop(c);
    let genesis = Genesis::read(&genesis_path)?;
    let expect = Expect {
        liveness_ms: (m.expect.liveness_s * 1000.0) as u64,
        progress_during: m.expect.progress_during,
        forced_deadline_ms: (m.expect.forced_deadline_s * 1000.0) as u64,
        byzantine: m.expect.byzantine.iter().copied().collect::<BTreeSet<_>>(),
        exempt: m.expect.exempt.iter().copied().collect(),
        equivocators: m.setup.equivocate.iter().copied().collect(),
        rate_recovery_percent: m.expect.rate_recovery_percent,
    };
    let (checks, mut figures) = check::run_all(&ev, &expect, &genesis);
    let ok = checks.iter().all(|c| c.ok);
    figures["load"] = json!({
        "sent": counters.sent.load(Relaxed),
        "ordered": counters.ordered.load(Relaxed),
        "not_acknowledged": counters.failed.load(Relaxed),
        "skipped_backpressure": counters.skipped.load(Relaxed),
    });
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
        std::fs::remove_dir_all(&dir)?;
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
