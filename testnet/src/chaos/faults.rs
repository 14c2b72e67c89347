//! The fault actions: how each action of a manifest's schedule is played on the cluster (node
//! processes killed, started, paused or run on a skewed clock; `nft` rules and traffic caps in
//! the namespaces; the in-node fault layer; torn WALs and full disks; flapping partitions).

use super::cluster::{Cluster, heights};
use super::manifest::Action;
use super::net::{Net, Rules};
use super::record::{Lines, now_ms};
use anyhow::{Context as _, bail};
use ordo_node::genesis::Genesis;
use ordo_node::home::Keys;
use ordo_p2p::faults::NetFaults;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Network rules, as the schedule builds them up, and the nodes whose fault layer is on; and
/// the schedule's random draws.
pub(super) struct Faults {
    rules: Vec<Rules>,
    n: usize,
    delayed: BTreeSet<usize>,
    /// Draws the flapping schedule and the fault layer's seeds, from the manifest's seed.
    rng: StdRng,
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
    /// No fault yet on `n` nodes (and the L1).
    pub(super) fn new(n: usize, seed: u64) -> Faults {
        Faults {
            rules: vec![Rules::default(); n + 1],
            n,
            delayed: BTreeSet::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

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

    fn one_way(&mut self, net: &Net, from: &[usize], to: &[usize]) {
        for &a in from {
            for &b in to {
                let (ia, ib) = (net.addr(a), net.addr(b));
                self.rules[b].drop_from.insert(ia);
                self.rules[a].drop_to.insert(ib);
            }
        }
    }

    fn cut_l1(&mut self, net: &Net, nodes: &[usize]) {
        let l1 = net.l1_addr();
        for &i in nodes {
            self.rules[i].drop_from.insert(l1);
            self.rules[i].drop_to.insert(l1);
        }
    }

    fn loss(&mut self, percent: u8) {
        for r in self.rules.iter_mut().take(self.n) {
            r.loss = percent;
        }
    }

    fn bandwidth(&mut self, nodes: &[usize], kbit: u64) {
        for &i in nodes {
            self.rules[i].kbit = Some(kbit);
        }
    }

    /// Turns the fault layer on `nodes` (every node when empty) to `faults`.
    async fn delay(
        &mut self,
        rpcs: &[SocketAddr],
        nodes: &[usize],
        faults: &NetFaults,
    ) -> anyhow::Result<()> {
        let all: Vec<usize> = (0..self.n).collect();
        let targets = if nodes.is_empty() { &all } else { nodes };
        let body = serde_json::to_value(faults)?;
        for &i in targets {
            let seed = self.rng.r#gen::<u64>();
            set_net_faults(rpcs[i], seed, &body)
                .await
                .with_context(|| {
                    format!("delay on node {i} (an ordo built with --features ordo-node/chaos?)")
                })?;
            self.delayed.insert(i);
        }
        Ok(())
    }

    /// Turns the fault layer off on the nodes that have it on.
    async fn clear_delays(&mut self, rpcs: &[SocketAddr], events: &Lines) {
        // A node restarted since has the layer off already; one that does not answer is
        // noted, not fatal.
        for i in std::mem::take(&mut self.delayed) {
            if let Err(e) = set_net_faults(rpcs[i], 0, &json!({})).await {
                events.push(
                    &json!({"t_ms": now_ms(), "net_faults_not_cleared": i, "error": e.to_string()}),
                );
            }
        }
    }

    /// Cuts the proposer of the next height from every other node.
    async fn isolate_proposer(&mut self, c: &Cluster, events: &Lines) -> anyhow::Result<()> {
        let p = next_proposer(c).await?;
        events.push(&json!({"t_ms": now_ms(), "isolated": p}));
        let others: Vec<usize> = (0..self.n).filter(|i| *i != p).collect();
        self.partition(&c.net, &[vec![p], others]);
        Ok(())
    }

    /// A random partition in two (or, one time in four, none), from the rng; describes it.
    fn draw_partition(&mut self, net: &Net, order: &mut [usize]) -> String {
        self.heal();
        if self.rng.gen_bool(0.25) {
            "healed".to_string()
        } else {
            order.shuffle(&mut self.rng);
            let k = self.rng.gen_range(1..self.n);
            let (a, b) = order.split_at(k);
            self.partition(net, &[a.to_vec(), b.to_vec()]);
            format!("{a:?} | {b:?}")
        }
    }

    /// A new random partition every `period_ms` until `until`, each applied at once; then
    /// everything heals.
    async fn flap(
        &mut self,
        net: &mut Net,
        until: Instant,
        period_ms: u64,
        events: &Lines,
    ) -> anyhow::Result<()> {
        let mut order: Vec<usize> = (0..self.n).collect();
        while Instant::now() + Duration::from_millis(period_ms) < until {
            let what = self.draw_partition(net, &mut order);
            net.apply(&self.rules)?;
            events.push(&json!({"t_ms": now_ms(), "flap": what}));
            tokio::time::sleep(Duration::from_millis(period_ms)).await;
        }
        self.heal();
        Ok(())
    }
}

/// Stops `nodes` with `signal` (see [`Cluster::stop`]).
async fn kill(c: &mut Cluster, nodes: &[usize], signal: &str) -> anyhow::Result<()> {
    for &i in nodes {
        c.stop(i, signal).await?;
    }
    Ok(())
}

fn start(c: &mut Cluster, nodes: &[usize]) -> anyhow::Result<()> {
    for &i in nodes {
        c.start(i)?;
    }
    Ok(())
}

/// Stops `nodes` gracefully, one after the other, each started again right away; with
/// `offset_s`, on a clock shifted by that many seconds (`Some(0)`: the true clock).
async fn restart(c: &mut Cluster, nodes: &[usize], offset_s: Option<i64>) -> anyhow::Result<()> {
    for &i in nodes {
        c.stop(i, "TERM").await?;
        if let Some(s) = offset_s {
            c.skew[i] = (s != 0).then_some(s);
        }
        c.start(i)?;
    }
    Ok(())
}

/// Sends `sig` (STOP, CONT) to the `nodes` running.
fn signal(c: &Cluster, nodes: &[usize], sig: &str) -> anyhow::Result<()> {
    for &i in nodes {
        c.signal(i, sig)?;
    }
    Ok(())
}

/// Cuts the WAL of each of `nodes` (stopped) to its first `keep` bytes.
fn tear_wal(c: &Cluster, nodes: &[usize], keep: u64, events: &Lines) -> anyhow::Result<()> {
    for &i in nodes {
        if c.procs[i].is_some() {
            bail!("tear_wal: node {i} is running; kill it first");
        }
        let wal = c.homes[i].wal();
        let len = std::fs::metadata(&wal)?.len();
        // A WAL no longer than `keep` would not be torn: the scenario would pass without
        // exercising anything.
        if len <= keep {
            bail!("tear_wal: node {i}'s WAL is {len} bytes, not longer than keep = {keep}");
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)?
            .set_len(keep)?;
        events.push(&json!({"t_ms": now_ms(), "torn_wal": i, "from": len, "to": keep}));
    }
    Ok(())
}

/// The file `fill_disk` writes on node `i`'s `data` tmpfs.
fn fill_path(c: &Cluster, i: usize) -> PathBuf {
    c.homes[i].0.join("data/fill")
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
    let hs = heights(&c.rpcs).await;
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

/// Plays one action of the manifest on the cluster.
pub(super) async fn apply(
    c: &mut Cluster,
    f: &mut Faults,
    a: &Action,
    t0: Instant,
    events: &Lines,
) -> anyhow::Result<()> {
    match a {
        Action::Kill { nodes, signal } => kill(c, nodes, signal).await?,
        Action::Start { nodes } => start(c, nodes)?,
        Action::Restart { nodes } => restart(c, nodes, None).await?,
        Action::Pause { nodes } => signal(c, nodes, "STOP")?,
        Action::Resume { nodes } => signal(c, nodes, "CONT")?,
        Action::Skew { nodes, offset_s } => restart(c, nodes, Some(*offset_s)).await?,
        Action::Partition { groups } => f.partition(&c.net, groups),
        Action::Cut { pairs } => {
            for [a, b] in pairs {
                f.cut(&c.net, *a, *b);
            }
        }
        Action::OneWay { from, to } => f.one_way(&c.net, from, to),
        Action::CutL1 { nodes } => f.cut_l1(&c.net, nodes),
        Action::Loss { percent } => f.loss(*percent),
        Action::Bandwidth { nodes, kbit } => f.bandwidth(nodes, *kbit),
        Action::Delay { nodes, faults } => f.delay(&c.rpcs, nodes, faults).await?,
        Action::Heal {} => {
            f.heal();
            f.clear_delays(&c.rpcs, events).await;
        }
        Action::IsolateProposer {} => f.isolate_proposer(c, events).await?,
        Action::TearWal { nodes, keep } => tear_wal(c, nodes, *keep, events)?,
        Action::FillDisk { nodes } => {
            for &i in nodes {
                fill(&fill_path(c, i))?;
            }
        }
        Action::FreeDisk { nodes } => {
            for &i in nodes {
                std::fs::remove_file(fill_path(c, i))?;
            }
        }
        Action::Flap { until_s, period_ms } => {
            let until = t0 + Duration::from_secs_f64(*until_s);
            f.flap(&mut c.net, until, *period_ms, events).await?;
        }
    }
    c.net.apply(&f.rules)?;
    Ok(())
}
