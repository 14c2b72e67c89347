//! Rollups a validator executes itself (`[[rollup]]`): the builtin ledger on four validators,
//! and a real ABCI app (tendermint-abci's kvstore over a TCP socket) that is unreachable at
//! first.

use crate::cluster::{Cluster, edit_config, submit};
use ordo_node::config::RollupSection;
use ordo_node::home::Home;
use ordo_types::Namespace;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const NS: u64 = 7;

/// Runs the rollup on the nodes `on` names.
fn with_rollup(executor: String, on: fn(usize) -> bool) -> impl Fn(usize, &Home) {
    move |i, h| {
        if !on(i) {
            return;
        }
        edit_config(h, |c| {
            c.rollups = vec![RollupSection {
                namespace: NS,
                executor: executor.clone(),
            }];
        });
    }
}

async fn rollup_status(rpc: SocketAddr) -> Value {
    let (code, v) = ordo_node::http::get_json(rpc, &format!("/v1/rollup/{NS}"))
        .await
        .unwrap();
    assert_eq!(code, 200, "{v}");
    v
}

/// Waits until the rollup of every node in `nodes` has executed `height`.
async fn wait_executed(c: &Cluster, nodes: &[usize], height: u64, timeout: Duration) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for &i in nodes {
            if c.nodes[i].is_some() {
                let v = rollup_status(c.rpc(i)).await;
                all &= v["executed_height"].as_u64().unwrap() >= height;
            }
        }
        if all {
            return;
        }
        if start.elapsed() > timeout {
            let (_, v) = ordo_node::http::get_json(c.rpc(nodes[0]), "/status")
                .await
                .unwrap();
            panic!(
                "rollups not at height {height} after {timeout:?}: {}",
                v["rollups"]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The state roots a node's cursor recorded, by height.
fn roots(home: &Home) -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string(home.rollup_dir(Namespace(NS)).join("cursor.log")).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[2].to_string())
        })
        .collect()
}

/// Each key's last value in `key=value` transactions, in their order.
fn last_values(txs: &[Vec<u8>]) -> BTreeMap<String, String> {
    txs.iter()
        .map(|p| {
            let s = String::from_utf8(p.clone()).unwrap();
            let (k, v) = s.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The namespace's transactions in the chain up to `height`, in ordo's order.
fn ordered_payloads(c: &Cluster, node: usize, height: u64) -> Vec<Vec<u8>> {
    (1..=height)
        .flat_map(|h| c.decided(node, h).unwrap().batch.txs)
        .filter(|t| t.namespace() == Namespace(NS))
        .map(|t| t.payload().to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_rollup_agrees_on_every_node_after_load_and_a_restart() {
    let mut c = Cluster::start(4, with_rollup("builtin:kv".into(), |_| true)).await;
    c.wait_height(2, Duration::from_secs(60)).await;
    for i in 0..40u32 {
        submit(
            c.rpc(i as usize % 4),
            NS,
            format!("k{}=v{i}", i % 7).as_bytes(),
        )
        .await;
        // Another namespace's transactions never reach this rollup.
        submit(
            c.rpc(i as usize % 4),
            NS + 1,
            format!("other{i}").as_bytes(),
        )
        .await;
    }
    c.stop(2).await;
    for i in 40..60u32 {
        submit(
            c.rpc(i as usize % 2),
            NS,
            format!("k{}=v{i}", i % 7).as_bytes(),
        )
        .await;
    }
    let h = c.height(0) + 5;
    c.wait_height(h, Duration::from_secs(60)).await;
    c.restart(2).await;
    let target = c.height(0) + 3;
    c.wait_height(target, Duration::from_secs(60)).await;
    wait_executed(&c, &[0, 1, 2, 3], target, Duration::from_secs(60)).await;

    // The ledger holds exactly the namespace's transactions, each once, in ordo's order.
    let ordered = ordered_payloads(&c, 0, target);
    assert_eq!(ordered.len(), 60);
    let mut reported = Vec::new();
    for i in 0..4 {
        let v = rollup_status(c.rpc(i)).await;
        let executed = v["executed_height"].as_u64().unwrap();
        let txs = ordered_payloads(&c, 0, executed).len() as u64;
        assert_eq!(v["ledger"]["txs"].as_u64(), Some(txs), "node {i}: {v}");
        assert_eq!(v["stopped"], false);
        reported.push((executed, v["state_root"].as_str().unwrap().to_string()));
    }
    let last = last_values(&ordered);
    for i in 0..4 {
        for (k, want) in &last {
            let (code, v) = ordo_node::http::get_json(c.rpc(i), &format!("/v1/rollup/{NS}/kv/{k}"))
                .await
                .unwrap();
            assert_eq!(code, 200, "{v}");
            assert_eq!(v["value"].as_str(), Some(want.as_str()), "node {i} key {k}");
        }
    }
    let (code, _) = ordo_node::http::get_json(c.rpc(0), &format!("/v1/rollup/{}", NS + 1))
        .await
        .unwrap();
    assert_eq!(code, 404);
    for i in 0..4 {
        c.stop(i).await;
    }

    // Every node recorded the same state root at every height it executed, node 2 included
    // (it executed the heights it missed after its restart), and reported its last one.
    let all: Vec<BTreeMap<u64, String>> = c.homes.iter().map(roots).collect();
    for (i, r) in all.iter().enumerate() {
        let heights: Vec<u64> = r.keys().copied().collect();
        assert_eq!(
            heights,
            (1..=*heights.last().unwrap()).collect::<Vec<_>>(),
            "node {i}"
        );
        assert!(heights.len() as u64 >= target, "node {i}");
        // The nodes stop one by one and the others go on deciding: compare the heights
        // both recorded (every node recorded at least `target`, checked above).
        for (h, root) in r.range(..=*all[0].keys().last().unwrap()) {
            assert_eq!(Some(root), all[0].get(h), "node {i} at height {h}");
        }
        let (executed, root) = &reported[i];
        assert_eq!(format!("0x{}", r[executed]), *root, "node {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rollup_entry_fails_at_start_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let (homes, _) = crate::cluster::init(dir.path(), 1);
    let original = std::fs::read_to_string(homes[0].config()).unwrap();
    for (executor, want) in [
        (
            "ftp://127.0.0.1:1",
            "rollup[0].executor: unknown executor \"ftp://127.0.0.1:1\"",
        ),
        (
            "abci://127.0.0.1",
            "rollup[0].executor: \"abci://127.0.0.1\": expected host:port",
        ),
    ] {
        std::fs::write(homes[0].config(), &original).unwrap();
        with_rollup(executor.into(), |_| true)(0, &homes[0]);
        let err = ordo_node::node::start(homes[0].clone())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains(want), "{err}");
    }
    // The same namespace twice.
    std::fs::write(homes[0].config(), &original).unwrap();
    edit_config(&homes[0], |c| {
        c.rollups = vec![
            RollupSection {
                namespace: NS,
                executor: "builtin:kv".into(),
            },
            RollupSection {
                namespace: NS,
                executor: "grpc://127.0.0.1:50070".into(),
            },
        ];
    });
    let err = ordo_node::node::start(homes[0].clone())
        .await
        .err()
        .unwrap();
    let want = format!("rollup[1].namespace: {NS} is already rollup[0]'s");
    assert!(err.to_string().contains(&want), "{err}");
}

/// Serves tendermint-abci's kvstore app on `addr` from threads of this process.
fn serve_kvstore(addr: SocketAddr) -> tendermint_abci::KeyValueStoreApp {
    let (app, driver) = tendermint_abci::KeyValueStoreApp::new();
    std::thread::spawn(move || drop(driver.run()));
    let server = tendermint_abci::ServerBuilder::default()
        .bind(addr, app.clone())
        .unwrap();
    std::thread::spawn(move || drop(server.listen()));
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abci_app_unreachable_at_start_gets_every_height_once_it_listens() {
    let port = crate::follow::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let c = Cluster::start(4, with_rollup(format!("abci://{addr}"), |i| i == 0)).await;
    c.wait_height(2, Duration::from_secs(60)).await;
    for i in 0..20u32 {
        submit(
            c.rpc(i as usize % 4),
            NS,
            format!("key{}=value{i}", i % 5).as_bytes(),
        )
        .await;
    }
    c.wait_height(c.height(0) + 5, Duration::from_secs(60))
        .await;
    // Nothing listens: the node keeps deciding and says why its rollup does not move.
    let v = rollup_status(c.rpc(0)).await;
    assert_eq!(v["executed_height"], 0, "{v}");
    assert!(
        v["last_error"].as_str().unwrap().contains("connecting"),
        "{v}"
    );
    let (_, status) = ordo_node::http::get_json(c.rpc(0), "/status")
        .await
        .unwrap();
    assert_eq!(status["rollups"][0]["namespace"], NS, "{status}");
    assert!(
        status["rollups"][0]["lag"].as_u64().unwrap() >= 5,
        "{status}"
    );

    let app = serve_kvstore(addr);
    let target = c.height(0) + 2;
    c.wait_height(target, Duration::from_secs(60)).await;
    wait_executed(&c, &[0], target, Duration::from_secs(60)).await;
    let (app_height, _) = app.get("key0").unwrap();
    assert!(app_height as u64 >= target, "the app is at {app_height}");
    let ordered = ordered_payloads(&c, 0, app_height as u64);
    assert_eq!(ordered.len(), 20);
    let last = last_values(&ordered);
    for (k, want) in &last {
        assert_eq!(
            app.get(k).unwrap().1.as_deref(),
            Some(want.as_str()),
            "key {k}"
        );
    }
    c.stop_all().await;
}

/// The token ledger example (`client/examples/token_ledger.rs`), built by the same test run.
fn token_ledger_bin() -> std::path::PathBuf {
    let p = crate::cluster::ordo_bin().with_file_name("examples/token_ledger");
    assert!(
        p.exists(),
        "{} is missing: build the workspace's examples (cargo test --workspace --no-run)",
        p.display()
    );
    p
}

/// The ledger's root after `upto` heights of `c`'s chain, as the example computes it.
fn ledger_root(c: &Cluster, ns: Namespace, upto: u64) -> String {
    let mut root = [0u8; 32];
    for h in 1..=upto {
        let d = c.decided(0, h).unwrap();
        let mut parts: Vec<Vec<u8>> = vec![
            b"token-ledger".to_vec(),
            root.to_vec(),
            h.to_be_bytes().to_vec(),
            d.batch.hash().as_bytes().to_vec(),
        ];
        for t in d.batch.txs.iter().filter(|t| t.namespace() == ns) {
            parts.push((t.payload().len() as u32).to_be_bytes().to_vec());
            parts.push(t.payload().to_vec());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        root = ordo_types::hash::sha256(&refs).0;
    }
    hex::encode(root)
}

/// Heights per second node 0 decides over `span`.
async fn rate(c: &Cluster, span: Duration) -> f64 {
    let (h0, t0) = (c.height(0), Instant::now());
    tokio::time::sleep(span).await;
    (c.height(0) - h0) as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_executor_stopped_for_20_s_costs_consensus_nothing_and_catches_up() {
    let port = crate::follow::free_port();
    let ns = Namespace(9);
    let c = Cluster::start(4, move |i, h| {
        if i == 0 {
            edit_config(h, |c| {
                c.rollups = vec![RollupSection {
                    namespace: ns.0,
                    executor: format!("grpc://127.0.0.1:{port}"),
                }];
            });
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = || {
        let c = std::process::Command::new(token_ledger_bin())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--namespace",
                "9",
                "--dir",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::follow::Proc(c)
    };
    let mut child = ledger();
    c.wait_height(2, Duration::from_secs(60)).await;
    for i in 0..30u64 {
        submit(
            c.rpc(i as usize % 4),
            ns.0,
            format!("mint a{} {i}", i % 5).as_bytes(),
        )
        .await;
    }
    let (code, v) = ordo_node::http::get_json(c.rpc(0), "/v1/rollup/9")
        .await
        .unwrap();
    assert_eq!(code, 200, "{v}");
    let before = rate(&c, Duration::from_secs(5)).await;
    crate::follow::kill(&mut child);
    let stopped_at = c.height(0);
    let during = rate(&c, Duration::from_secs(20)).await;
    // The executor lags and says why; consensus goes on as before (a stall would show as a
    // rate near zero; this is not a speed target).
    let (_, v) = ordo_node::http::get_json(c.rpc(0), "/v1/rollup/9")
        .await
        .unwrap();
    assert!(v["executed_height"].as_u64().unwrap() <= stopped_at, "{v}");
    assert!(v["last_error"].is_string(), "{v}");
    eprintln!("heights/s: {before:.1} with the executor, {during:.1} without");
    assert!(
        during >= before * 0.5,
        "{during:.1} heights/s without the executor, {before:.1} with"
    );

    let mut child = ledger();
    let target = c.height(0);
    let start = Instant::now();
    loop {
        let (_, v) = ordo_node::http::get_json(c.rpc(0), "/v1/rollup/9")
            .await
            .unwrap();
        if v["executed_height"].as_u64().unwrap() >= target {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no catch-up: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    crate::follow::kill(&mut child);
    // Every height reached the ledger once, in order: its root is the chain's.
    let state = std::fs::read_to_string(dir.path().join("state")).unwrap();
    let field = |name: &str| {
        state
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
            .unwrap()
    };
    let height: u64 = field("height").parse().unwrap();
    assert!(height >= target);
    assert_eq!(field("root"), ledger_root(&c, ns, height));
    let minted: u64 = (0..30u64).filter(|i| i % 5 == 1).sum();
    assert!(state.contains(&format!("balance a1 {minted}\n")), "{state}");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_executor_is_told_as_its_heights_become_available() {
    use std::io::BufRead as _;
    let port = crate::follow::free_port();
    let ns = Namespace(9);
    let c = Cluster::start(4, move |i, h| {
        edit_config(h, |c| {
            c.da = Some(ordo_node::config::DaSection {
                backend: "local".into(),
                ..ordo_node::config::DaSection::default()
            });
            if i == 0 {
                c.rollups = vec![RollupSection {
                    namespace: ns.0,
                    executor: format!("grpc://127.0.0.1:{port}"),
                }];
            }
        });
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(token_ledger_bin())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--namespace",
            "9",
            "--dir",
        ])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = crate::follow::Proc(child);
    let told = std::thread::spawn(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                l.strip_prefix("token_ledger: heights up to ")?
                    .strip_suffix(" are available")?
                    .parse::<u64>()
                    .ok()
            })
            // Read to the end: a reader that stops early would break the ledger's stderr.
            .collect::<Vec<u64>>()
    });
    for i in 0..20u64 {
        submit(
            c.rpc(i as usize % 4),
            ns.0,
            format!("mint a {i}").as_bytes(),
        )
        .await;
    }
    let start = Instant::now();
    let v = loop {
        let (_, v) = ordo_node::http::get_json(c.rpc(0), "/v1/rollup/9")
            .await
            .unwrap();
        if v["available_told"].as_u64().unwrap_or(0) >= 20 {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the executor was not told: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Told only of heights it executed and this node confirmed available.
    let available = c.nodes[0]
        .as_ref()
        .unwrap()
        .shared
        .da
        .as_ref()
        .unwrap()
        .lock()
        .unwrap()
        .available_height;
    let told_at = v["available_told"].as_u64().unwrap();
    assert!(told_at <= v["executed_height"].as_u64().unwrap(), "{v}");
    assert!(told_at <= available, "{v}; DA head {available}");
    drop(child);
    let heights = told.join().unwrap();
    assert!(!heights.is_empty(), "the ledger logged no Commitment call");
    assert!(
        heights.windows(2).all(|w| w[0] < w[1]),
        "heights told rise: {heights:?}"
    );
    c.stop_all().await;
}
