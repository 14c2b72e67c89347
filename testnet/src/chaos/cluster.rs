//! The testnet of one scenario: its node processes (one network namespace each), anvil and the
//! inbox in a namespace of their own, and tmpfs data directories; how they are set up, started,
//! signalled, stopped and polled until they are up. Everything is stopped on drop.

use super::manifest::Manifest;
use super::net::{self, Net};
use super::run::RunOptions;
use anyhow::{Context as _, bail};
use ordo_node::config::Config;
use ordo_node::home::{self, Home};
use ordo_types::ChainId;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// anvil's first development account (its well-known default mnemonic): a dev L1 only.
pub(super) const DEV_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BASE_PORT: u16 = 26000;
const L1_PORT: u16 = 8545;

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
pub(super) struct Cluster {
    ordo: PathBuf,
    pub(super) homes: Vec<Home>,
    pub(super) procs: Vec<Option<Child>>,
    /// Clock offset (seconds) each node runs with.
    pub(super) skew: Vec<Option<i64>>,
    pub(super) rpcs: Vec<SocketAddr>,
    anvil: Option<Child>,
    mounts: Vec<PathBuf>,
    pub(super) net: Net,
}

impl Cluster {
    /// The namespaces and the homes of `m`'s nodes; nothing started yet.
    fn create(m: &Manifest, opts: &RunOptions, dir: &Path) -> anyhow::Result<Cluster> {
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
        Ok(Cluster {
            ordo: opts.ordo.clone(),
            procs: (0..m.nodes).map(|_| None).collect(),
            skew: vec![None; m.nodes],
            homes,
            rpcs,
            anvil: None,
            mounts: vec![],
            net,
        })
    }

    /// The setup's duplicated key and the testing switches of every node's config.
    fn configure(&self, m: &Manifest) -> anyhow::Result<()> {
        if let Some([from, to]) = m.setup.same_key {
            for f in ["keys/consensus.json", "keys/bls.json"] {
                std::fs::copy(self.homes[from].0.join(f), self.homes[to].0.join(f))?;
            }
        }
        for (i, h) in self.homes.iter().enumerate() {
            let mut cfg = Config::read(&h.config())?;
            cfg.testing.log_tx_ids = true;
            cfg.testing.censor_forced = m.setup.censor.contains(&i);
            cfg.testing.equivocate = m.setup.equivocate.contains(&i);
            std::fs::write(h.config(), cfg.to_toml())?;
        }
        Ok(())
    }

    /// Mounts a tmpfs on the `data` directory of every node in `setup.tmpfs`.
    fn mount_tmpfs(&mut self, m: &Manifest) -> anyhow::Result<()> {
        for &i in &m.setup.tmpfs {
            let data = self.homes[i].0.join("data");
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
            self.mounts.push(data);
        }
        Ok(())
    }

    /// Starts anvil in the L1's namespace and deploys the inbox on it.
    async fn start_l1(&mut self, m: &Manifest, anvil: &Path, dir: &Path) -> anyhow::Result<()> {
        let l1 = self.net.l1_addr();
        let log = std::fs::File::create(dir.join("anvil.log"))?;
        let child = self
            .net
            .command(m.nodes, &anvil.to_string_lossy())
            .args(["--host", &l1.to_string(), "--port", &L1_PORT.to_string()])
            .args(["--block-time", "1", "--hardfork", "cancun"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting anvil")?;
        self.anvil = Some(child);
        wait_l1(SocketAddr::from((l1, L1_PORT))).await?;
        let deploy = ordo_node::l1::DeployOptions {
            inclusion_delay: 2,
            finality: "latest-1".into(),
            poll_ms: 250,
            ..Default::default()
        };
        ordo_node::l1::deploy(&l1_rpc(&self.net), DEV_KEY, &self.homes, &deploy).await?;
        Ok(())
    }

    /// Waits until every node not `late` has decided a first height (90 s at most).
    async fn wait_first_height(&self, late: &[usize]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        for i in (0..self.rpcs.len()).filter(|i| !late.contains(i)) {
            loop {
                if status_height(self.rpcs[i]).await.is_some_and(|h| h >= 1) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("node {i} did not decide a first height within 90 s");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Starts node `i` unless it is running (a node that exited by itself, e.g. on a full disk,
    /// is reaped and started again).
    pub(super) fn start(&mut self, i: usize) -> anyhow::Result<()> {
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

    pub(super) fn signal(&self, i: usize, sig: &str) -> anyhow::Result<()> {
        match &self.procs[i] {
            Some(c) => send(c, sig),
            None => Ok(()),
        }
    }

    /// Stops node `i` with `sig` (TERM: waits up to 15 s, then KILL) and reaps it. Waits
    /// without blocking the runtime, so sampling and load go on meanwhile.
    pub(super) async fn stop(&mut self, i: usize, sig: &str) -> anyhow::Result<()> {
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

    /// Stops every node gracefully, a paused one resumed first so that it can.
    pub(super) async fn stop_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.procs.len() {
            let _ = self.signal(i, "CONT");
            self.stop(i, "TERM").await?;
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

/// The height a node's `/status` reports; `None` when it does not answer within 500 ms.
pub(super) async fn status_height(addr: SocketAddr) -> Option<u64> {
    let (code, v) = tokio::time::timeout(
        Duration::from_millis(500),
        ordo_node::http::get_json(addr, "/status"),
    )
    .await
    .ok()?
    .ok()?;
    (code == 200).then(|| v["height"].as_u64()).flatten()
}

/// Every node's [`status_height`], asked all at once.
pub(super) async fn heights(rpcs: &[SocketAddr]) -> Vec<Option<u64>> {
    futures::future::join_all(rpcs.iter().map(|a| status_height(*a))).await
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
pub(super) async fn build(m: &Manifest, opts: &RunOptions, dir: &Path) -> anyhow::Result<Cluster> {
    let mut c = Cluster::create(m, opts, dir)?;
    c.configure(m)?;
    c.mount_tmpfs(m)?;
    if m.l1 {
        c.start_l1(m, &opts.anvil, dir).await?;
    }
    for i in 0..m.nodes {
        if !m.setup.late.contains(&i) {
            c.start(i)?;
        }
    }
    c.wait_first_height(&m.setup.late).await?;
    Ok(c)
}

pub(super) fn l1_rpc(net: &Net) -> String {
    format!("http://{}:{L1_PORT}", net.l1_addr())
}
