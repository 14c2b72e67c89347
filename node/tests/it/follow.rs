//! `ordo follow` as a real process, delivering to tendermint-abci's kvstore app (served by
//! `ordo-testnet kvstore`, another real process) from four `ordo` validator processes, while
//! the follower, the app and the node it streams from are each killed with `kill -9`.

use crate::cluster::{Processes, ordo_bin};
use ordo_client::deliver::Executor as _;
use ordo_exec::AbciAddr;
use ordo_exec::abci::AbciExecutor;
use ordo_types::ChainId;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const NS: u64 = 7;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ordo-testnet`, built beside `ordo` by the same workspace test run.
fn testnet_bin() -> PathBuf {
    let p = ordo_bin().with_file_name("ordo-testnet");
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo build --workspace) first",
        p.display()
    );
    p
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Child {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    cmd.stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap()
}

fn kill(c: &mut Child) {
    c.kill().unwrap();
    c.wait().unwrap();
}

struct Follower {
    cmd: Vec<String>,
    log: PathBuf,
    status: SocketAddr,
}

impl Follower {
    fn start(&self) -> Child {
        spawn_logged(
            Command::new(ordo_bin())
                .args(&self.cmd)
                .env("ORDO_LOG", "info"),
            &self.log,
        )
    }

    async fn status(&self) -> Option<Value> {
        let (code, v) = ordo_node::http::get_json(self.status, "/status")
            .await
            .ok()?;
        (code == 200).then_some(v)
    }
}

/// Submits `k<i % 11>=v<i>` for `i` in `range`, spread over the running nodes.
async fn load(p: &Processes, up: &[usize], range: std::ops::Range<u32>) {
    for i in range {
        let node = up[i as usize % up.len()];
        let body = serde_json::json!({
            "namespace": NS,
            "payload": format!("0x{}", hex::encode(format!("k{}=v{i}", i % 11))),
        });
        let (code, v) = ordo_node::http::post_json(p.rpcs[node], "/v1/tx", &body)
            .await
            .unwrap();
        assert_eq!(code, 200, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The namespace's payloads at heights `1..=upto`, in ordo's order, read from node `i`.
async fn ordered(p: &Processes, i: usize, upto: u64) -> Vec<String> {
    let mut out = Vec::new();
    for h in 1..=upto {
        let (code, v) = ordo_node::http::get_json(p.rpcs[i], &format!("/v1/batch/{h}"))
            .await
            .unwrap();
        assert_eq!(code, 200, "{v}");
        for t in v["txs"].as_array().unwrap() {
            if t["namespace"] == NS {
                let hex = t["payload"].as_str().unwrap().trim_start_matches("0x");
                out.push(String::from_utf8(hex::decode(hex).unwrap()).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_delivers_every_transaction_once_across_kill_minus_nine_of_each_side() {
    let mut p = Processes::init(4);
    for i in 0..4 {
        p.start(i);
    }
    let start = Instant::now();
    for i in 0..4 {
        while p.height(i).await.unwrap_or(0) < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "node {i} did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let app_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let app_cmd = || {
        let mut c = Command::new(testnet_bin());
        c.args(["kvstore", "--listen", &app_addr.to_string()]);
        c
    };
    let app_log = dir.path().join("kvstore.log");
    let mut app = spawn_logged(&mut app_cmd(), &app_log);
    let nodes: Vec<String> = p.rpcs.iter().map(|a| format!("http://{a}")).collect();
    let f = Follower {
        cmd: vec![
            "follow".into(),
            "--nodes".into(),
            nodes.join(","),
            "--namespace".into(),
            NS.to_string(),
            "--executor".into(),
            format!("abci://{app_addr}"),
            "--genesis".into(),
            p.homes[0].genesis().display().to_string(),
            "--dir".into(),
            dir.path().join("follow").display().to_string(),
            "--status-listen".into(),
            format!("127.0.0.1:{}", free_port()),
        ],
        log: dir.path().join("follow.log"),
        status: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let status = f.cmd.last().unwrap().parse().unwrap();
    let f = Follower { status, ..f };
    let mut follower = f.start();

    let all = [0, 1, 2, 3];
    load(&p, &all, 0..60).await;
    // The follower, mid-delivery.
    kill(&mut follower);
    load(&p, &all, 60..90).await;
    follower = f.start();
    load(&p, &all, 90..120).await;
    // The app: it comes back empty, at height 0, and is replayed from height 1.
    kill(&mut app);
    load(&p, &all, 120..150).await;
    app = spawn_logged(&mut app_cmd(), &app_log);
    load(&p, &all, 150..180).await;
    // The node the follower streams from (the first it is given).
    p.kill(0);
    load(&p, &[1, 2, 3], 180..240).await;

    // Wait for the follower to execute past the last transaction's height.
    let start = Instant::now();
    let (executed, head) = loop {
        let head = p.height(1).await.unwrap();
        let s = f.status().await;
        let executed = s
            .as_ref()
            .map_or(0, |s| s["executed_height"].as_u64().unwrap());
        if executed >= head && ordered(&p, 1, head).await.len() == 240 {
            break (executed, head);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "follower at {executed}, chain at {head}: {s:?}\n{}",
            std::fs::read_to_string(&f.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let s = f.status().await.unwrap();
    assert_eq!(s["stopped"], false, "{s}");

    check_app(&p, app_addr, executed, head).await;
    let log = std::fs::read_to_string(&f.log).unwrap();
    assert!(
        log.contains("client.stream_switch"),
        "the follower never failed over:\n{log}"
    );
    if std::env::var_os("ORDO_TEST_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    kill(&mut follower);
    kill(&mut app);
}

/// The app holds every key at its last value in ordo's order, at least at the follower's
/// height and never past the chain's.
async fn check_app(p: &Processes, app_addr: SocketAddr, executed: u64, head: u64) {
    // The app holds every key at its last value in ordo's order, at the follower's height.
    let txs = ordered(p, 1, head).await;
    let mut last = BTreeMap::new();
    for t in &txs {
        let (k, v) = t.split_once('=').unwrap();
        last.insert(k.to_string(), v.to_string());
    }
    // Heights after the last transaction are empty, and the follower goes on executing them:
    // the app is at least where the follower was, and never past the chain.
    let mut abci = AbciExecutor::new(AbciAddr::Tcp(app_addr.to_string()), ChainId(77));
    let mut app_heights = Vec::new();
    for (k, want) in &last {
        let q = abci.query("", k.as_bytes()).await.unwrap();
        let value = String::from_utf8(q.value.to_vec()).unwrap();
        assert_eq!(value, *want, "key {k}");
        app_heights.push(q.height as u64);
    }
    app_heights.push(abci.resume().await.unwrap().0);
    let chain = p.height(1).await.unwrap();
    for h in app_heights {
        assert!(
            executed <= h && h <= chain,
            "app at {h}, follower was at {executed}, chain at {chain}"
        );
    }
}
