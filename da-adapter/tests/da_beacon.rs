//! Blobs read from a beacon node's blob sidecars API instead of the L1 endpoint. No beacon node
//! runs offline beside anvil, so the test serves the standard endpoints (`/eth/v1/beacon/genesis`,
//! `/eth/v1/config/spec`, `/eth/v1/beacon/blob_sidecars/{slot}`) from a real anvil's blocks and
//! blobs, with 12-second slots (anvil told to space its block timestamps by 12). The reader
//! finds a block's slot from its timestamp, picks the sidecars by versioned hash and checks every
//! blob against the L1 transaction: a tampered blob, a beacon node that has pruned the sidecars
//! and a beacon node on another chain are each refused with a clear error.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip4844::c_kzg;
use alloy::eips::eip4844::env_settings::EnvKzgSettings;
use alloy::primitives::Bytes;
use alloy::providers::{Provider, RootProvider};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ordo_da_adapter::da::{
    BlobConfig, BlobProofs, Confirmation, DaBackend, DaError, EthereumBlobs, Receipt,
};
use ordo_da_adapter::l1::Finality;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY};
use ordo_types::da::{Frame, next_tx};
use ordo_types::{ChainId, Limits, fixtures};
use serde_json::{Value, json};

const CHAIN: ChainId = ChainId(78);
const INBOX: alloy::primitives::Address = alloy::primitives::Address::new([0xdb; 20]);
const SLOT_SECS: u64 = 12;

/// What the stand-in beacon node answers.
const HONEST: u8 = 0;
/// Every blob with one byte changed, its commitment still the original's.
const TAMPERED: u8 = 1;
/// No sidecars (pruned, as a beacon node does after about 18 days).
const PRUNED: u8 = 2;

#[derive(Clone)]
struct Beacon {
    l1: RootProvider,
    genesis: Arc<AtomicU64>,
    mode: Arc<AtomicU8>,
}

fn config(anvil: &Anvil, beacon: Option<String>, verify_blobs: bool) -> BlobConfig {
    BlobConfig {
        rpc: anvil.url.clone(),
        batch_inbox: INBOX,
        finality: Finality::Depth(0),
        max_blobs_per_tx: 6,
        max_fee_per_gas: 1_000_000_000_000,
        max_fee_per_blob_gas: 1_000_000_000_000,
        proofs: BlobProofs::Eip4844,
        limits: Limits::default(),
        verify_blobs,
        beacon,
    }
}

async fn genesis(State(b): State<Beacon>) -> Json {
    Json(json!({ "data": {
        "genesis_time": b.genesis.load(Ordering::SeqCst).to_string(),
        "genesis_validators_root": format!("0x{}", "00".repeat(32)),
        "genesis_fork_version": "0x00000000",
    }}))
}

async fn spec() -> Json {
    Json(json!({ "data": { "SECONDS_PER_SLOT": SLOT_SECS.to_string(), "SLOTS_PER_EPOCH": "32" }}))
}

/// A JSON body (axum's `Json` extractor feature is not needed for answers this small).
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

/// The KZG commitment and proof of `blob`, on a thread with room for 128 KiB values in a
/// debug build.
fn commit(blob: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(move || {
            let s = EnvKzgSettings::Default.get();
            let b = c_kzg::Blob::from_bytes(&blob).unwrap();
            let c = s.blob_to_kzg_commitment(&b).unwrap();
            let p = s.compute_blob_kzg_proof(&b, &c.to_bytes()).unwrap();
            (
                c.to_bytes().as_slice().to_vec(),
                p.to_bytes().as_slice().to_vec(),
            )
        })
        .unwrap()
        .join()
        .unwrap()
}

async fn sidecars(State(b): State<Beacon>, Path(slot): Path<u64>) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "code": 404, "message": "Block not found" })),
        )
            .into_response()
    };
    let want = b.genesis.load(Ordering::SeqCst) + slot * SLOT_SECS;
    let head = b.l1.get_block_number().await.unwrap();
    let mut block = None;
    for n in (0..=head).rev() {
        let blk =
            b.l1.get_block_by_number(BlockNumberOrTag::Number(n))
                .full()
                .await
                .unwrap()
                .unwrap();
        if blk.header.timestamp <= want {
            block = (blk.header.timestamp == want).then_some(blk);
            break;
        }
    }
    let Some(block) = block else {
        return not_found();
    };
    let mode = b.mode.load(Ordering::SeqCst);
    let mut out = Vec::new();
    for tx in block.transactions.txns() {
        if mode == PRUNED {
            break;
        }
        if alloy::consensus::Transaction::blob_versioned_hashes(tx).is_none() {
            continue;
        }
        let blobs: Vec<Bytes> =
            b.l1.client()
                .request("anvil_getBlobsByTransactionHash", (*tx.inner.tx_hash(),))
                .await
                .unwrap();
        for blob in blobs {
            let mut blob = blob.to_vec();
            let (commitment, proof) = commit(blob.clone());
            if mode == TAMPERED {
                blob[1000] ^= 1;
            }
            out.push(json!({
                "index": out.len().to_string(),
                "blob": format!("0x{}", hex::encode(&blob)),
                "kzg_commitment": format!("0x{}", hex::encode(&commitment)),
                "kzg_proof": format!("0x{}", hex::encode(&proof)),
            }));
        }
    }
    Json(json!({ "data": out })).into_response()
}

/// Serves the beacon API on a loopback port; returns its URL.
async fn serve(b: Beacon) -> String {
    let app = axum::Router::new()
        .route("/eth/v1/beacon/genesis", get(genesis))
        .route("/eth/v1/config/spec", get(spec))
        .route("/eth/v1/beacon/blob_sidecars/{slot}", get(sidecars))
        .with_state(b);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Posts `n` certified heights in whole transactions and waits until each is in a block.
async fn post(poster: &EthereumBlobs, n: u64) -> (Vec<Frame>, Vec<Receipt>) {
    let batches = fixtures::certified_chain(CHAIN, n, |h| 100 + (h as usize * 13) % 60);
    let (mut carry, mut next) = (Vec::new(), 0);
    let (mut frames, mut receipts) = (Vec::new(), Vec::new());
    while let Some((tx, taken)) = next_tx(
        CHAIN,
        &mut carry,
        &batches[next..],
        poster.max_blobs(),
        true,
    ) {
        next += taken;
        receipts.extend(poster.submit_many(&tx).await.unwrap());
        frames.extend(tx);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for r in &receipts {
        while poster.confirm(r).await.unwrap() == Confirmation::Pending {
            assert!(Instant::now() < deadline, "{r:?} not mined");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    (frames, receipts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_read_from_a_beacon_node_and_checked_against_the_l1() {
    let anvil = Anvil::spawn_fork(0, Some(1), "cancun").await.unwrap();
    let l1: RootProvider = RootProvider::new_http(anvil.url.parse().unwrap());
    // From the next block on, timestamps step by one slot: the beacon genesis is the head's.
    let _: Value = l1
        .client()
        .request("anvil_setBlockTimestampInterval", (SLOT_SECS,))
        .await
        .unwrap();
    let head = l1
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap();
    let start = head.header.number + 1;
    let state = Beacon {
        l1: l1.clone(),
        genesis: Arc::new(AtomicU64::new(head.header.timestamp)),
        mode: Arc::new(AtomicU8::new(HONEST)),
    };
    let url = serve(state.clone()).await;

    let poster = EthereumBlobs::new(config(&anvil, None, true), Some(DEV_KEY)).unwrap();
    let (frames, receipts) = post(&poster, 30).await;
    let ordo_da_adapter::da::Locator::EthereumBlobs { tx_hash, .. } = &receipts[0].locator else {
        unreachable!()
    };
    let tx = l1
        .get_transaction_by_hash(tx_hash.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let blobs = alloy::consensus::Transaction::blob_versioned_hashes(&tx)
        .unwrap()
        .len();
    assert!(
        blobs >= 2,
        "several blobs in a transaction, so the sidecars are picked by versioned hash ({blobs})"
    );

    // Honest: the frames come back from the beacon node, equal to what was posted. The
    // watcher's setting (no KZG check) is overridden for a beacon source.
    let reader = EthereumBlobs::new(config(&anvil, Some(url.clone()), false), None).unwrap();
    let mut fetched = Vec::new();
    for r in &receipts {
        fetched.push(reader.fetch(r).await.unwrap());
    }
    assert_eq!(fetched, frames);
    let last = l1.get_block_number().await.unwrap();
    let scanned = reader.scan(start, last).await.unwrap();
    let found: Vec<Frame> = scanned.into_iter().map(|p| p.frame).collect();
    assert_eq!(
        found, frames,
        "a scan through the beacon node finds every frame"
    );

    // A tampered blob is refused, though its sidecar names the right commitment.
    state.mode.store(TAMPERED, Ordering::SeqCst);
    match reader.fetch(&receipts[0]).await {
        Err(DaError::Fatal(e)) => assert!(e.contains("does not match versioned hash"), "{e}"),
        other => panic!("a tampered blob was not refused: {other:?}"),
    }
    let (posted, skipped) = reader.scan_all(start, last).await.unwrap();
    assert!(posted.is_empty() && !skipped.is_empty(), "{skipped:?}");

    // Sidecars pruned: a retryable error that says so.
    state.mode.store(PRUNED, Ordering::SeqCst);
    match reader.fetch(&receipts[0]).await {
        Err(DaError::Retry(e)) => assert!(e.contains("no sidecar for versioned hash"), "{e}"),
        other => panic!("pruned sidecars: {other:?}"),
    }

    // A beacon node whose slots do not line up with the L1's blocks (another chain).
    state.mode.store(HONEST, Ordering::SeqCst);
    state.genesis.fetch_add(5, Ordering::SeqCst);
    let elsewhere = EthereumBlobs::new(config(&anvil, Some(url), true), None).unwrap();
    match elsewhere.fetch(&receipts[0]).await {
        Err(DaError::Fatal(e)) => assert!(e.contains("not the start of a slot"), "{e}"),
        other => panic!("a beacon node of another chain: {other:?}"),
    }

    // A bad URL is refused when the backend is built.
    let e =
        EthereumBlobs::new(config(&anvil, Some("localhost:5052".into()), true), None).unwrap_err();
    assert!(e.to_string().contains("expected http://"), "{e}");
}
