//! A local testnet in one test process (or as real `ordo` processes): homes from
//! `testnet_init` on free loopback ports, helpers to wait for heights, submit transactions and
//! check agreement, certificates and signature logs.

use ordo_node::genesis::{ChainParams, Genesis, LoadedGenesis};
use ordo_node::home::{self, Home};
use ordo_node::node::{self, NodeHandle};
use ordo_node::store::Decided;
use ordo_types::{ChainId, Height};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CHAIN: ChainId = ChainId(77);

/// A base port such that the ports of an n-node testnet are free right now.
pub fn free_base(n: usize) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let seed = (std::process::id() as u64).wrapping_mul(0x9E37_79B9) ^ nanos;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 977) % 20_000) as u16;
        let all_free = (0..home::PORTS_PER_NODE * n as u16)
            .all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free port range found");
}

/// Creates `n` homes under `dir` with fast test timing.
pub fn init(dir: &Path, n: usize) -> (Vec<Home>, u16) {
    let base = free_base(n);
    let params = ChainParams {
        block_time_ms: 50,
        timeout_propose_ms: 600,
        timeout_prevote_ms: 300,
        timeout_precommit_ms: 300,
        timeout_delta_ms: 100,
        ..ChainParams::default()
    };
    let homes = home::testnet_init(dir, n, CHAIN, base, params, &[]).unwrap();
    (homes.into_iter().map(|(h, _)| h).collect(), base)
}

pub fn genesis(home: &Home) -> LoadedGenesis {
    Genesis::read(&home.genesis()).unwrap()
}

/// Edits a home's config.toml.
pub fn edit_config(home: &Home, f: impl FnOnce(&mut ordo_node::config::Config)) {
    let mut c = ordo_node::config::Config::read(&home.config()).unwrap();
    f(&mut c);
    std::fs::write(home.config(), c.to_toml()).unwrap();
}

/// Edits a home's genesis.json.
pub fn edit_genesis(home: &Home, f: impl FnOnce(&mut Genesis)) {
    let mut g = genesis(home).genesis;
    f(&mut g);
    std::fs::write(home.genesis(), serde_json::to_string_pretty(&g).unwrap()).unwrap();
}

/// In-process nodes.
pub struct Cluster {
    pub homes: Vec<Home>,
    pub nodes: Vec<Option<NodeHandle>>,
    pub _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes after `edit` changed their homes. A port taken between choosing and
    /// binding (another test process) means a fresh testnet on other ports.
    pub async fn start(n: usize, edit: impl Fn(usize, &Home)) -> Cluster {
        'attempt: for attempt in 0.. {
            let dir = tempfile::tempdir().unwrap();
            let (homes, _) = init(dir.path(), n);
            for (i, h) in homes.iter().enumerate() {
                edit(i, h);
            }
            let mut nodes = Vec::new();
            for h in &homes {
                match node::start(h.clone()).await {
                    Ok(node) => nodes.push(Some(node)),
                    Err(e) if attempt < 5 && e.to_string().contains("in use") => {
                        eprintln!("cluster start: {e}; trying other ports");
                        for n in nodes.into_iter().flatten() {
                            n.stop().await;
                        }
                        continue 'attempt;
                    }
                    Err(e) => panic!("starting a node: {e}"),
                }
            }
            return Cluster {
                homes,
                nodes,
                _dir: dir,
            };
        }
        unreachable!()
    }

    pub fn rpc(&self, i: usize) -> SocketAddr {
        self.nodes[i].as_ref().unwrap().rpc_addr
    }

    /// The latest decided height of node `i` (0 if stopped or none).
    pub fn height(&self, i: usize) -> u64 {
        self.nodes[i]
            .as_ref()
            .and_then(|n| n.shared.store.latest_height().unwrap())
            .map_or(0, |h| h.0)
    }

    /// Waits until every running node has decided `height`.
    pub async fn wait_height(&self, height: u64, timeout: Duration) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.wait_nodes(&all, height, timeout).await;
    }

    /// Waits until every running node of `nodes` has decided `height`.
    pub async fn wait_nodes(&self, nodes: &[usize], height: u64, timeout: Duration) {
        let start = Instant::now();
        loop {
            let hs: Vec<u64> = nodes
                .iter()
                .copied()
                .filter(|i| self.nodes[*i].is_some())
                .map(|i| self.height(i))
                .collect();
            if hs.iter().all(|h| *h >= height) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "heights {hs:?} did not all reach {height} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        // The engine's actors release the WAL and database shortly after stopping.
        let start = Instant::now();
        loop {
            match node::start(self.homes[i].clone()).await {
                Ok(n) => {
                    self.nodes[i] = Some(n);
                    return;
                }
                Err(e) if start.elapsed() < Duration::from_secs(20) => {
                    eprintln!("restart of node {i} not yet possible: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("restart of node {i}: {e}"),
            }
        }
    }

    pub fn decided(&self, i: usize, h: u64) -> Option<Decided> {
        self.nodes[i]
            .as_ref()?
            .shared
            .store
            .decided(Height(h))
            .unwrap()
    }

    pub async fn stop_all(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}

/// Checks that every node holds the same batch at every height in `1..=upto`, that each
/// certificate verifies against the genesis set for that height and batch, and returns the
/// batches.
pub fn check_agreement(c: &Cluster, upto: u64) -> Vec<Decided> {
    let g = genesis(&c.homes[0]);
    let running: Vec<usize> = (0..c.nodes.len())
        .filter(|i| c.nodes[*i].is_some())
        .collect();
    let mut out = Vec::new();
    for h in 1..=upto {
        let first = c
            .decided(running[0], h)
            .unwrap_or_else(|| panic!("node {} lacks height {h}", running[0]));
        for &i in &running[1..] {
            let d = c
                .decided(i, h)
                .unwrap_or_else(|| panic!("node {i} lacks height {h}"));
            assert_eq!(
                d.batch.hash(),
                first.batch.hash(),
                "fork at height {h} between node {} and {i}",
                running[0]
            );
        }
        first
            .certificate
            .verify_for(&g.set.set, CHAIN, Height(h), &first.batch.hash())
            .unwrap_or_else(|e| panic!("certificate of height {h}: {e}"));
        assert_eq!(first.batch.header.height, Height(h));
        if h > 1 {
            assert_eq!(
                first.batch.header.parent_hash,
                out.last().map(|d: &Decided| d.batch.hash()).unwrap()
            );
        }
        out.push(first);
    }
    out
}

/// (height, round, step) of a signature.
pub type SignedStep = (u64, u64, String);

/// A node's signature log as (height, round, step) → the distinct values signed there, and the
/// number of lines; a missing log fails.
pub fn signed_values(home: &Home) -> (HashMap<SignedStep, Vec<Value>>, usize) {
    let text = std::fs::read_to_string(home.signature_log())
        .unwrap_or_else(|e| panic!("{}: {e}", home.signature_log().display()));
    let mut seen: HashMap<SignedStep, Vec<Value>> = HashMap::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (
            v["height"].as_u64().unwrap(),
            v["round"].as_u64().unwrap(),
            v["step"].as_str().unwrap().to_string(),
        );
        let values = seen.entry(key).or_default();
        if !values.contains(&v["value"]) {
            values.push(v["value"].clone());
        }
        n += 1;
    }
    (seen, n)
}

/// Reads a node's signature log and fails on two different values signed at one
/// (height, round, step), or on a log that is missing or empty (a check of nothing); returns
/// the number of signatures.
pub fn check_no_equivocation(home: &Home) -> usize {
    let (seen, n) = signed_values(home);
    for (key, values) in &seen {
        assert_eq!(
            values.len(),
            1,
            "{}: signed two values at {key:?}: {values:?}",
            home.0.display()
        );
    }
    assert!(n > 0, "{}: no signatures logged", home.0.display());
    n
}

/// Submits a transaction over RPC; returns its id.
pub async fn submit(rpc: SocketAddr, namespace: u64, payload: &[u8]) -> String {
    let body = serde_json::json!({"namespace": namespace, "payload": format!("0x{}", hex::encode(payload))});
    let (code, v) = ordo_node::http::post_json(rpc, "/v1/tx", &body)
        .await
        .unwrap();
    assert_eq!(code, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// A testnet of real `ordo` processes.
pub struct Processes {
    pub homes: Vec<Home>,
    pub children: Vec<Option<std::process::Child>>,
    pub rpcs: Vec<SocketAddr>,
    pub _dir: tempfile::TempDir,
}

pub fn ordo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ordo"))
}

impl Processes {
    pub fn init(n: usize) -> Processes {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base(n);
        let out = std::process::Command::new(ordo_bin())
            .args([
                "testnet",
                "init",
                "--validators",
                &n.to_string(),
                "--block-time-ms",
                "50",
                "--chain-id",
                "77",
                "--base-port",
                &base.to_string(),
                "--output",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let homes: Vec<Home> = (0..n)
            .map(|i| Home(dir.path().join(format!("node-{i}"))))
            .collect();
        let rpcs = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], home::testnet_ports(base, i).rpc)))
            .collect();
        Processes {
            children: (0..n).map(|_| None).collect(),
            homes,
            rpcs,
            _dir: dir,
        }
    }

    pub fn start(&mut self, i: usize) {
        let log = std::fs::File::create(self.homes[i].0.join("node.log")).unwrap();
        let child = std::process::Command::new(ordo_bin())
            .args(["start", "--home"])
            .arg(&self.homes[i].0)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    /// `kill -9`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM; returns whether the process exited successfully within `timeout`.
    pub fn terminate(&mut self, i: usize, timeout: Duration) -> bool {
        let Some(mut c) = self.children[i].take() else {
            return false;
        };
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let start = Instant::now();
        while ok && start.elapsed() < timeout {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub async fn height(&self, i: usize) -> Option<u64> {
        let (code, v) = ordo_node::http::get_json(self.rpcs[i], "/v1/status")
            .await
            .ok()?;
        (code == 200).then(|| v["height"].as_u64()).flatten()
    }

    pub async fn batch_hash(&self, i: usize, h: u64) -> Option<String> {
        let (code, v) = ordo_node::http::get_json(self.rpcs[i], &format!("/v1/batch/{h}"))
            .await
            .ok()?;
        (code == 200)
            .then(|| v["hash"].as_str().map(String::from))
            .flatten()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}
