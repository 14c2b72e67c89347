//! The delivery loop against the builtin ledger, from a chain of real sealed batches.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use futures::StreamExt;
use futures::stream::BoxStream;
use ordo_client::deliver::{
    self, Backoff, Commitment, Cursor, DeliveryStatus, Executor, Slice, SliceSource, SourceItem,
};
use ordo_exec::builtin::KvLedger;
use ordo_types::bls::SignerBitmap;
use ordo_types::tx::{BatchTx, Transaction};
use ordo_types::{
    Address, Batch, BatchHeader, BlsSecretKey, Certificate, ChainId, Epoch, ForcedCursor, Hash,
    Height, L1Ref, Limits, Namespace, Round,
};
use std::time::Duration;

const NS: Namespace = Namespace(7);

/// Heights 1..=n, each with `h % 3` transactions of the namespace, linked by parent hash.
fn sealed(n: u64) -> Vec<Slice> {
    let mut parent = Hash::ZERO;
    (1..=n)
        .map(|h| {
            let header = BatchHeader {
                chain_id: ChainId(7),
                height: Height(h),
                parent_hash: parent,
                timestamp_ms: 1_000 + h,
                epoch: Epoch(0),
                validator_set_hash: Hash([1; 32]),
                l1_ref: L1Ref::default(),
                forced_cursor: ForcedCursor::default(),
                namespaces_root: Hash::ZERO,
                tx_count: 0,
                body_bytes: 0,
                proposer: Address([2; 20]),
                next_validator_set_hash: Hash([1; 32]),
            };
            let txs: Vec<BatchTx> = (0..h % 3)
                .map(|i| BatchTx::Ordinary(Transaction::new(NS, format!("k{i}=h{h}").into_bytes())))
                .collect();
            let b = Batch::seal(header, txs, 0, &Limits::default()).unwrap();
            parent = b.hash();
            Slice {
                height: Height(h),
                hash: b.hash(),
                header: b.header,
                certificate: Certificate {
                    height: Height(h),
                    round: Round(0),
                    batch_hash: b.hash(),
                    signers: SignerBitmap::new(4),
                    signature: BlsSecretKey::from_seed(&[9; 32]).sign(b"x"),
                },
                txs: b.txs,
                commitment: Commitment::Certified,
                certified_ms: None,
            }
        })
        .collect()
}

/// Serves the slices of `chain` from any height, then waits for ever (the chain's head).
struct VecSource {
    chain: Vec<Slice>,
    opened: Vec<(u64, Option<Hash>)>,
}

impl SliceSource for VecSource {
    fn open(&mut self, from: Height, parent: Option<Hash>) -> BoxStream<'static, SourceItem> {
        self.opened.push((from.0, parent));
        let items: Vec<SourceItem> = self
            .chain
            .iter()
            .filter(|s| s.height >= from)
            .cloned()
            .map(Ok)
            .collect();
        futures::stream::iter(items)
            .chain(futures::stream::pending())
            .boxed()
    }
}

async fn deliver_until(
    ledger: &mut KvLedger,
    source: &mut VecSource,
    cursor: &mut Cursor,
    status: &DeliveryStatus,
    height: u64,
) {
    let run = deliver::run(ledger, source, cursor, status, Backoff::default());
    tokio::select! {
        e = run => panic!("delivery stopped: {e}"),
        () = async {
            while status.get().executed < height {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => {}
    }
}

#[tokio::test]
async fn the_cursor_records_every_height_and_a_restart_resumes_with_the_parent_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let chain = sealed(30);
    let mut source = VecSource {
        chain: chain.clone(),
        opened: Vec::new(),
    };
    let status = DeliveryStatus::new(NS, "builtin:kv".into());
    {
        let mut ledger = KvLedger::new(dir.path().join("ledger.snapshot"));
        let mut cursor = Cursor::open(&dir.path().join("cursor.log")).unwrap();
        deliver_until(&mut ledger, &mut source, &mut cursor, &status, 30).await;
        // What the loop recorded is on disk while it runs, not only when it stops.
        let lines = std::fs::read_to_string(dir.path().join("cursor.log")).unwrap();
        assert_eq!(lines.lines().count(), 30);
        std::mem::forget(cursor);
        ledger.save().unwrap();
    }
    assert_eq!(source.opened, vec![(1, None)]);
    let mut ledger = KvLedger::new(dir.path().join("ledger.snapshot"));
    assert_eq!(ledger.resume().await.unwrap(), Height(30));
    let mut cursor = Cursor::open(&dir.path().join("cursor.log")).unwrap();
    assert_eq!(cursor.get(Height(30)).unwrap().hash, chain[29].hash);
    let status = DeliveryStatus::new(NS, "builtin:kv".into());
    let mut source = VecSource {
        chain: sealed(40),
        opened: Vec::new(),
    };
    deliver_until(&mut ledger, &mut source, &mut cursor, &status, 40).await;
    assert_eq!(source.opened, vec![(31, Some(chain[29].hash))]);
}

/// Serves tendermint-abci's kvstore app on a free loopback port from threads of this process.
fn kvstore() -> (tendermint_abci::KeyValueStoreApp, String) {
    let (app, driver) = tendermint_abci::KeyValueStoreApp::new();
    std::thread::spawn(move || drop(driver.run()));
    let server = tendermint_abci::ServerBuilder::default()
        .bind("127.0.0.1:0", app.clone())
        .unwrap();
    let addr = server.local_addr();
    std::thread::spawn(move || drop(server.listen()));
    (app, addr)
}

#[tokio::test]
async fn the_abci_handshake_delivers_what_the_app_has_not_committed() {
    use ordo_exec::AbciAddr;
    use ordo_exec::abci::AbciExecutor;
    let (app, addr) = kvstore();
    let chain = sealed(200);
    let mut abci = AbciExecutor::new(AbciAddr::Tcp(addr), ChainId(7));
    assert_eq!(abci.resume().await.unwrap(), Height(0));
    let t = std::time::Instant::now();
    for s in chain.iter().take(150) {
        abci.execute(s).await.unwrap();
    }
    eprintln!("150 heights in {:?}", t.elapsed());
    // A new connection (the loop restarted): Info says 150, so 151 is next.
    assert_eq!(abci.resume().await.unwrap(), Height(150));
    assert_eq!(app.get("k1").unwrap(), (150, Some("h149".into())));
}

/// Serves one connection of tendermint-abci's kvstore app: each answer written at once, or
/// (`hold`, like the Go ABCI server) held until a `Flush` asks for them.
fn serve_kvstore_conn<S: std::io::Read + std::io::Write>(
    mut s: S,
    app: &tendermint_abci::KeyValueStoreApp,
    hold: bool,
) {
    use prost::Message;
    use tendermint_abci::Application;
    use tendermint_proto::v0_38::abci::{Request, Response, request, response};
    let (mut buf, mut held) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n @ 1..) = s.read(&mut chunk) else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut rest = &buf[..];
        loop {
            let mut peek = rest;
            let Ok(req) = Request::decode_length_delimited(&mut peek) else {
                break;
            };
            rest = peek;
            let flush = matches!(req.value, Some(request::Value::Flush(_)));
            let value = match req.value.unwrap() {
                request::Value::Echo(r) => response::Value::Echo(app.echo(r)),
                request::Value::Flush(_) => response::Value::Flush(app.flush()),
                request::Value::Info(r) => response::Value::Info(app.info(r)),
                request::Value::InitChain(r) => response::Value::InitChain(app.init_chain(r)),
                request::Value::FinalizeBlock(r) => {
                    response::Value::FinalizeBlock(app.finalize_block(r))
                }
                request::Value::Commit(_) => response::Value::Commit(app.commit()),
                other => panic!("not served here: {other:?}"),
            };
            Response { value: Some(value) }
                .encode_length_delimited(&mut held)
                .unwrap();
            if (flush || !hold) && s.write_all(&std::mem::take(&mut held)).is_err() {
                return;
            }
        }
        buf = rest.to_vec();
    }
}

/// A server that, like the Go ABCI server, holds its answers until a `Flush` asks for them.
fn buffering_kvstore() -> (tendermint_abci::KeyValueStoreApp, String) {
    let (app, driver) = tendermint_abci::KeyValueStoreApp::new();
    std::thread::spawn(move || drop(driver.run()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let served = app.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (s, app) = (stream.unwrap(), served.clone());
            std::thread::spawn(move || serve_kvstore_conn(s, &app, true));
        }
    });
    (app, addr)
}

#[tokio::test]
async fn the_abci_executor_speaks_over_a_unix_socket() {
    use ordo_exec::AbciAddr;
    use ordo_exec::abci::AbciExecutor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let (app, driver) = tendermint_abci::KeyValueStoreApp::new();
    std::thread::spawn(move || drop(driver.run()));
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let served = app.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (s, app) = (stream.unwrap(), served.clone());
            std::thread::spawn(move || serve_kvstore_conn(s, &app, false));
        }
    });
    let spec: ordo_exec::ExecutorSpec = format!("abci+unix://{}", path.display()).parse().unwrap();
    assert_eq!(
        spec,
        ordo_exec::ExecutorSpec::Abci(AbciAddr::Unix(path.clone()))
    );
    let mut abci = AbciExecutor::new(AbciAddr::Unix(path), ChainId(7));
    assert_eq!(abci.resume().await.unwrap(), Height(0));
    for s in &sealed(12) {
        abci.execute(s).await.unwrap();
    }
    assert_eq!(abci.resume().await.unwrap(), Height(12));
    assert_eq!(app.get("k1").unwrap(), (12, Some("h11".into())));
}

#[tokio::test]
async fn a_server_that_answers_only_on_flush_is_flushed() {
    use ordo_exec::AbciAddr;
    use ordo_exec::abci::AbciExecutor;
    let (app, addr) = buffering_kvstore();
    let chain = sealed(20);
    let mut abci = AbciExecutor::new(AbciAddr::Tcp(addr), ChainId(7));
    assert_eq!(abci.resume().await.unwrap(), Height(0));
    for s in &chain {
        abci.execute(s).await.unwrap();
    }
    assert_eq!(abci.resume().await.unwrap(), Height(20));
    assert_eq!(app.get("k0").unwrap(), (20, Some("h20".into())));
}

/// Serves the chain, leaving out `skip` the first time it is opened.
struct SkippingSource {
    chain: Vec<Slice>,
    skip: Option<u64>,
    opened: Vec<u64>,
}

impl SliceSource for SkippingSource {
    fn open(&mut self, from: Height, _parent: Option<Hash>) -> BoxStream<'static, SourceItem> {
        self.opened.push(from.0);
        let skip = self.skip.take();
        let items: Vec<SourceItem> = self
            .chain
            .iter()
            .filter(|s| s.height >= from && Some(s.height.0) != skip)
            .cloned()
            .map(Ok)
            .collect();
        futures::stream::iter(items)
            .chain(futures::stream::pending())
            .boxed()
    }
}

#[tokio::test]
async fn a_source_that_skips_a_height_is_reopened_and_nothing_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let chain = sealed(12);
    let mut source = SkippingSource {
        chain: chain.clone(),
        skip: Some(5),
        opened: Vec::new(),
    };
    let status = DeliveryStatus::new(NS, "builtin:kv".into());
    let mut ledger = KvLedger::new(dir.path().join("ledger.snapshot"));
    let mut cursor = Cursor::open(&dir.path().join("cursor.log")).unwrap();
    let run = deliver::run(
        &mut ledger,
        &mut source,
        &mut cursor,
        &status,
        Backoff::default(),
    );
    tokio::select! {
        e = run => panic!("delivery stopped: {e}"),
        () = async {
            while status.get().executed < 12 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => {}
    }
    // Heights 1..4, then 6 was refused and the source reopened at 5.
    assert_eq!(source.opened, vec![1, 5]);
    let mut straight = KvLedger::new(dir.path().join("other.snapshot"));
    straight.resume().await.unwrap();
    let mut root = Vec::new();
    for s in &chain {
        root = straight.execute(s).await.unwrap().state_root;
    }
    assert_eq!(status.get().state_root, root);
}
