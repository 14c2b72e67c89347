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

/// A loopback port free right now.
pub fn free_port() -> u16 {
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

/// A child process killed when dropped, so a failing test leaves none behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Proc {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Proc(
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    )
}

pub fn kill(c: &mut Proc) {
    c.0.kill().unwrap();
    c.0.wait().unwrap();
}

struct Follower {
    cmd: Vec<String>,
    log: PathBuf,
    status: SocketAddr,
}

impl Follower {
    fn start(&self) -> Proc {
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
    // The chain's head: the highest height any running node has stored.
    let mut chain = 0;
    for i in 0..p.rpcs.len() {
        chain = chain.max(p.height(i).await.unwrap_or(0));
    }
    for h in app_heights {
        assert!(
            executed <= h && h <= chain,
            "app at {h}, follower was at {executed}, chain at {chain}"
        );
    }
}

/// A node in front of a real one that flips a byte of the first transaction of every slice it
/// forwards: its slices carry valid certificates but fail the namespace proof.
mod tamper {
    use futures::StreamExt;
    use futures::stream::BoxStream;
    use ordo_client::api::sequencer_client::SequencerClient;
    use ordo_client::api::sequencer_server::Sequencer;
    use ordo_client::api::*;
    use ordo_types::wire::pb;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tonic::{Request, Response, Status, Streaming};

    pub struct Tamper {
        pub upstream: String,
        pub tampered: Arc<AtomicU64>,
    }

    fn no<T>() -> Result<T, Status> {
        Err(Status::unimplemented("not served by this test node"))
    }

    #[tonic::async_trait]
    impl Sequencer for Tamper {
        async fn submit_tx(
            &self,
            _: Request<SubmitTxRequest>,
        ) -> Result<Response<SubmitTxResponse>, Status> {
            no()
        }
        type SubmitTxStreamStream = BoxStream<'static, Result<SubmitTxResponse, Status>>;
        async fn submit_tx_stream(
            &self,
            _: Request<Streaming<SubmitTxRequest>>,
        ) -> Result<Response<Self::SubmitTxStreamStream>, Status> {
            no()
        }
        async fn get_transaction(
            &self,
            _: Request<GetTransactionRequest>,
        ) -> Result<Response<GetTransactionResponse>, Status> {
            no()
        }
        async fn get_batch(
            &self,
            _: Request<GetBatchRequest>,
        ) -> Result<Response<GetBatchResponse>, Status> {
            no()
        }
        async fn get_certificate(
            &self,
            _: Request<GetBatchRequest>,
        ) -> Result<Response<pb::Certificate>, Status> {
            no()
        }
        type StreamNamespaceStream = BoxStream<'static, Result<NamespaceSlice, Status>>;
        async fn stream_namespace(
            &self,
            r: Request<StreamNamespaceRequest>,
        ) -> Result<Response<Self::StreamNamespaceStream>, Status> {
            let channel = tonic::transport::Endpoint::from_shared(self.upstream.clone())
                .map_err(|e| Status::internal(e.to_string()))?
                .connect()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let mut up = SequencerClient::new(channel);
            let stream = up.stream_namespace(r.into_inner()).await?.into_inner();
            let tampered = self.tampered.clone();
            Ok(Response::new(
                stream
                    .map(move |item| {
                        let mut item = item?;
                        if let Some(pb::batch_tx::Kind::Ordinary(t)) =
                            item.txs.first_mut().and_then(|t| t.kind.as_mut())
                        {
                            let mut p = t.payload.to_vec();
                            p[0] ^= 1;
                            t.payload = p.into();
                            tampered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(item)
                    })
                    .boxed(),
            ))
        }
        async fn status(
            &self,
            _: Request<StatusRequest>,
        ) -> Result<Response<StatusResponse>, Status> {
            no()
        }
        async fn validator_set(
            &self,
            _: Request<ValidatorSetRequest>,
        ) -> Result<Response<ValidatorSetResponse>, Status> {
            no()
        }
    }
}

/// Records every slice it is given, then executes it on a builtin ledger.
#[derive(Debug)]
struct Recording {
    inner: ordo_exec::builtin::KvLedger,
    seen: std::sync::Arc<std::sync::Mutex<Vec<ordo_client::deliver::Slice>>>,
}

#[async_trait::async_trait]
impl ordo_client::deliver::Executor for Recording {
    fn describe(&self) -> String {
        "recording".into()
    }
    async fn resume(&mut self) -> Result<ordo_types::Height, ordo_client::deliver::ExecError> {
        self.inner.resume().await
    }
    async fn execute(
        &mut self,
        slice: &ordo_client::deliver::Slice,
    ) -> Result<ordo_client::deliver::Executed, ordo_client::deliver::ExecError> {
        self.seen.lock().unwrap().push(slice.clone());
        self.inner.execute(slice).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_slice_is_rejected_and_the_follower_moves_to_another_node() {
    use ordo_client::deliver::{Backoff, ClientSource, Cursor, DeliveryStatus};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let c = crate::cluster::Cluster::start(4, |_, _| {}).await;
    c.wait_height(2, Duration::from_secs(60)).await;
    let proxy = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let tampered = Arc::new(AtomicU64::new(0));
    let t = tamper::Tamper {
        upstream: format!("http://{}", c.rpc(0)),
        tampered: tampered.clone(),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ordo_client::api::sequencer_server::SequencerServer::new(t))
            .serve(proxy),
    );
    for i in 0..20u32 {
        crate::cluster::submit(c.rpc(i as usize % 4), NS, format!("k{i}=v{i}").as_bytes()).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut exec = Recording {
        inner: ordo_exec::builtin::KvLedger::new(dir.path().join("ledger")),
        seen: seen.clone(),
    };
    let g = crate::cluster::genesis(&c.homes[0]);
    let client =
        ordo_client::Client::new(&[format!("http://{proxy}"), format!("http://{}", c.rpc(1))])
            .unwrap();
    let mut source = ClientSource::new(
        client,
        g.genesis.chain_id,
        (*g.set.set).clone(),
        ordo_types::Namespace(NS),
    );
    let mut cursor = Cursor::open(&dir.path().join("cursor.log")).unwrap();
    let status = DeliveryStatus::new(ordo_types::Namespace(NS), "recording".into());
    let target = c.height(0) + 10;
    c.wait_height(target, Duration::from_secs(60)).await;
    let run = ordo_client::deliver::run(
        &mut exec,
        &mut source,
        &mut cursor,
        &status,
        Backoff::default(),
    );
    tokio::select! {
        e = run => panic!("delivery stopped: {e}"),
        () = async {
            while status.get().executed < target {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } => {}
        () = tokio::time::sleep(Duration::from_secs(60)) => panic!("not delivered: {:?}", status.get()),
    }
    assert!(
        tampered.load(Ordering::Relaxed) > 0,
        "the proxy never tampered"
    );
    // Every slice the executor got is the node's own, untouched.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, status.get().executed);
    let mut delivered = 0;
    for s in seen.iter() {
        let d = c.decided(0, s.height.0).unwrap();
        assert_eq!(s.hash, d.batch.hash());
        let want: Vec<_> = d
            .batch
            .txs
            .into_iter()
            .filter(|t| t.namespace() == ordo_types::Namespace(NS))
            .collect();
        assert_eq!(s.txs, want, "height {}", s.height.0);
        delivered += want.len();
    }
    assert_eq!(delivered, 20);
    c.stop_all().await;
}

/// The state roots a node's cursor recorded for namespace `NS`, by height (the last line of a
/// height wins: an app that came back empty is replayed from height 1). Heights recorded only
/// as seen (`-`: the app had them, their lines were lost to a `kill -9`) are left out.
fn cursor_roots(home: &ordo_node::home::Home) -> BTreeMap<u64, String> {
    std::fs::read_to_string(
        home.rollup_dir(ordo_types::Namespace(NS))
            .join("cursor.log"),
    )
    .unwrap()
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f[0].parse().unwrap(), f[2].to_string())
    })
    .filter(|(_, root)| root != "-")
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_executing_their_own_abci_apps_agree_across_kill_minus_nine() {
    let mut p = Processes::init(4);
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    for (i, h) in p.homes.iter().enumerate() {
        crate::cluster::edit_config(h, |c| {
            c.rollups = vec![ordo_node::config::RollupSection {
                namespace: NS,
                executor: format!("abci://127.0.0.1:{}", ports[i]),
            }];
        });
    }
    let app = |i: usize| {
        spawn_logged(
            Command::new(testnet_bin()).args([
                "kvstore",
                "--listen",
                &format!("127.0.0.1:{}", ports[i]),
            ]),
            &dir.path().join(format!("kvstore-{i}.log")),
        )
    };
    let mut apps: Vec<Proc> = (0..4).map(app).collect();
    for i in 0..4 {
        p.start(i);
    }
    let start = Instant::now();
    while p.height(3).await.unwrap_or(0) < 2 {
        assert!(start.elapsed() < Duration::from_secs(90), "no start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = [0, 1, 2, 3];
    load(&p, &all, 0..50).await;
    p.kill(1);
    load(&p, &[0, 2, 3], 50..80).await;
    p.start(1);
    kill(&mut apps[2]);
    load(&p, &[0, 2, 3], 80..110).await;
    apps[2] = app(2);
    // Node 1 takes submissions again once its API listens (a restart takes a while under load).
    let start = Instant::now();
    while p.height(1).await.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node 1 did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    load(&p, &all, 110..140).await;

    // Every node's app catches up with the chain, once it holds all 140.
    let start = Instant::now();
    let head = loop {
        let head = p.height(0).await.unwrap();
        if ordered(&p, 0, head).await.len() == 140 {
            break head;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not all ordered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for i in 0..4 {
        loop {
            let (_, v) = ordo_node::http::get_json(p.rpcs[i], &format!("/v1/rollup/{NS}"))
                .await
                .unwrap_or((0, Value::Null));
            if v["executed_height"].as_u64().unwrap_or(0) >= head {
                assert_eq!(v["stopped"], false, "{v}");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(90), "node {i}: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for port in &ports {
        check_app(&p, SocketAddr::from(([127, 0, 0, 1], *port)), head, head).await;
    }
    // A graceful stop writes out each node's cursor (a kill -9 could cut its last lines).
    for i in 0..4 {
        assert!(
            p.terminate(i, Duration::from_secs(20)),
            "node {i} did not stop cleanly"
        );
    }
    // The app hash at every height is the same on every node.
    let roots: Vec<BTreeMap<u64, String>> = p.homes.iter().map(cursor_roots).collect();
    // Node 0 never stopped: it has every height's root, and every other node agrees with it
    // at every height it recorded a root for (node 1's lines cut by its kill -9 came back as
    // seen, `-`; node 2's app was replayed from height 1).
    assert!(
        (1..=head).all(|h| roots[0].contains_key(&h)),
        "node 0 lacks heights"
    );
    for (i, r) in roots.iter().enumerate() {
        assert!(
            r.len() as u64 >= head / 2,
            "node {i} recorded only {} roots",
            r.len()
        );
        for (h, root) in r.range(..=head) {
            assert_eq!(Some(root), roots[0].get(h), "node {i} at height {h}");
        }
    }
    for a in &mut apps {
        kill(a);
    }
}
