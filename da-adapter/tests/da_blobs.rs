//! The DA backends against the real thing: certified batches posted as blob transactions to a
//! real anvil (EIP-4844 proofs at Cancun, EIP-7594 cell proofs at Osaka), reported available
//! only at the configured finality, read back byte for byte by a reader without a key, found
//! by scanning the L1; a transaction to the inbox that carries no frame is skipped. The local
//! backend: frames on disk, available once written.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use ordo_da_adapter::da::{
    BlobConfig, BlobProofs, Confirmation, DaBackend, DaError, EthereumBlobs, LocalDa, Receipt,
};
use ordo_da_adapter::l1::Finality;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY};
use ordo_types::bls::ValidatorSet;
use ordo_types::da::{Certified, Frame, assemble, decode_entries, next_tx, pack};
use ordo_types::fixtures;
use ordo_types::{ChainId, Height, Limits};

const CHAIN: ChainId = ChainId(77);
const INBOX: Address = Address::new([0xda; 20]);

fn validator_set() -> ValidatorSet {
    fixtures::validator_set()
}

fn certified(n: u64, per_height: impl Fn(u64) -> usize) -> Vec<Certified> {
    fixtures::certified_chain(CHAIN, n, per_height)
}

fn config(anvil: &Anvil, finality: Finality, proofs: BlobProofs) -> BlobConfig {
    BlobConfig {
        rpc: anvil.url.clone(),
        batch_inbox: INBOX,
        finality,
        max_blobs_per_tx: 6,
        max_fee_per_gas: 1_000_000_000_000,
        max_fee_per_blob_gas: 1_000_000_000_000,
        proofs,
        limits: Limits::default(),
        verify_blobs: true,
        beacon: None,
    }
}

/// Polls `confirm` for `r` until it is available, checking every answer against the L1 head
/// read just before (`h0`) and just after (`h1`) the call: available at block `b` only if
/// `h1 >= b + depth`, included (not yet available) only if `h0 < b + depth`. Returns the block
/// and whether a not-yet-available state was seen first.
async fn until_available(
    anvil: &Anvil,
    reader: &EthereumBlobs,
    r: &Receipt,
    depth: u64,
    secs: u64,
) -> (u64, bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut waited = false;
    loop {
        let h0 = anvil_head(anvil).await;
        let c = reader.confirm(r).await.unwrap();
        let h1 = anvil_head(anvil).await;
        match c {
            Confirmation::Available { l1_block } => {
                assert!(
                    h1 >= l1_block + depth,
                    "available at {l1_block} with head {h1}"
                );
                return (l1_block, waited);
            }
            Confirmation::Included { l1_block } => {
                assert!(
                    h0 < l1_block + depth,
                    "only included at {l1_block} with head {h0}"
                );
                waited = true;
            }
            Confirmation::Pending => waited = true,
            Confirmation::Dropped => panic!("dropped: {r:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "{r:?}: still {c:?} after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The certified batches a set of frames carries, decoded and checked in order (one poster, so
/// the parts of a split batch follow each other).
fn decode_all(frames: &[Frame]) -> Vec<Certified> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(f) = frames.get(i) {
        let group = &frames[i..i + usize::from(f.parts)];
        let data = assemble(group).unwrap();
        out.extend(decode_entries(f.chain_id, f.first, f.last, &data, &Limits::default()).unwrap());
        i += group.len();
    }
    out
}

fn encodings(c: &[Certified]) -> Vec<Vec<u8>> {
    c.iter()
        .map(|c| {
            let mut v = Vec::new();
            c.encode_into(&mut v);
            v
        })
        .collect()
}

/// Streams `batches` through `poster` as a validator does (docs/DA.md): ten heights at a
/// time, a transaction whenever they fill whole blobs, the rest once all are in. Returns the
/// frames in order and one receipt per frame (frames in one transaction share it).
async fn post_all(poster: &EthereumBlobs, batches: &[Certified]) -> (Vec<Frame>, Vec<Receipt>) {
    let (mut carry, mut next) = (Vec::new(), 0);
    let (mut frames, mut receipts) = (Vec::new(), Vec::new());
    let ends: Vec<usize> = (10..=batches.len())
        .step_by(10)
        .chain([batches.len()])
        .collect();
    for (i, &end) in ends.iter().enumerate() {
        let flush = i + 1 == ends.len();
        while let Some((tx, taken)) = next_tx(
            CHAIN,
            &mut carry,
            &batches[next..end],
            poster.max_blobs(),
            flush,
        ) {
            next += taken;
            receipts.extend(poster.submit_many(&tx).await.unwrap());
            frames.extend(tx);
        }
    }
    assert!(carry.is_empty() && next == batches.len());
    (frames, receipts)
}

/// Waits until every transaction of `receipts` is in a block, replacing one still pending after
/// 5 s with the same nonce and doubled fees, as a validator's poster does after `bump_after_ms`:
/// anvil leaves a blob transaction that did not fit a block's blob limit in its pool, unmined,
/// until it is replaced.
async fn settle(poster: &EthereumBlobs, frames: &[Frame], receipts: &mut [Receipt]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut sent = Instant::now();
    let mut bump = 0;
    loop {
        let mut pending = Vec::new();
        let mut i = 0;
        while i < receipts.len() {
            let n = receipts[i..]
                .iter()
                .take_while(|r| r.locator == receipts[i].locator)
                .count();
            if poster.confirm(&receipts[i]).await.unwrap() == Confirmation::Pending {
                pending.push((i, n));
            }
            i += n;
        }
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} transactions still pending",
            pending.len()
        );
        if sent.elapsed() > Duration::from_secs(5) {
            bump += 1;
            for (i, n) in pending {
                let ordo_da_adapter::da::Locator::EthereumBlobs { nonce, .. } = receipts[i].locator
                else {
                    unreachable!()
                };
                let again = poster
                    .submit_with(&frames[i..i + n], Some(nonce), bump)
                    .await
                    .unwrap();
                receipts[i..i + n].clone_from_slice(&again);
            }
            sent = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The distinct blob transactions of `receipts`.
fn txs_of(receipts: &[Receipt]) -> usize {
    let mut txs: Vec<_> = receipts
        .iter()
        .map(|r| match &r.locator {
            ordo_da_adapter::da::Locator::EthereumBlobs { tx_hash, .. } => tx_hash.clone(),
            ordo_da_adapter::da::Locator::Local { file } => file.clone(),
        })
        .collect();
    txs.dedup();
    txs.len()
}

async fn round_trip(hardfork: &str, proofs: BlobProofs) {
    let anvil = Anvil::spawn_fork(0, Some(1), hardfork).await.unwrap();
    let depth = 4;
    let finality = Finality::Depth(depth);
    let poster = EthereumBlobs::new(config(&anvil, finality, proofs), Some(DEV_KEY)).unwrap();
    let reader = EthereumBlobs::new(config(&anvil, finality, proofs), None).unwrap();
    let start = anvil_head(&anvil).await;
    // 120 heights: mostly small, one of about 600 kB (five blobs alone), and enough bytes
    // overall for several frames.
    let batches = certified(120, |h| {
        if h == 60 {
            2_900
        } else {
            (h as usize * 37) % 400
        }
    });
    let (frames, mut receipts) = post_all(&poster, &batches).await;
    let txs = txs_of(&receipts);
    assert!(
        txs >= 3 && frames.len() > txs,
        "{} frames in {txs} txs",
        frames.len()
    );
    assert!(
        frames.iter().any(|f| f.parts > 1 && f.first != Height(60)),
        "a batch is split to fill a blob"
    );
    settle(&poster, &frames, &mut receipts).await;
    // Available only at the finality depth. The last frame, asked first and right after its
    // inclusion, is seen not yet available (the earlier ones may have reached the depth while
    // later frames were being proved, on a slow machine).
    let (last_block, waited) =
        until_available(&anvil, &reader, receipts.last().unwrap(), depth, 60).await;
    assert!(waited, "the last frame was available at once");
    let mut blocks = Vec::new();
    for r in &receipts[..receipts.len() - 1] {
        blocks.push(until_available(&anvil, &reader, r, depth, 60).await.0);
    }
    blocks.push(last_block);
    // Read back by a reader without a key, frame by frame and by scanning the L1.
    let mut fetched = Vec::new();
    for r in &receipts {
        fetched.push(reader.fetch(r).await.unwrap());
    }
    assert_eq!(fetched, frames);
    let back = decode_all(&fetched);
    assert_eq!(encodings(&back), encodings(&batches), "byte for byte");
    let set = validator_set();
    for c in &back {
        c.certificate
            .verify_for(&set, CHAIN, c.batch.header.height, &c.batch.hash())
            .unwrap();
    }
    let last = *blocks.iter().max().unwrap();
    let scanned = reader.scan(start, last).await.unwrap();
    let found: Vec<Frame> = scanned.iter().map(|p| p.frame.clone()).collect();
    assert_eq!(found, frames, "the scan finds every frame, in order");
    assert!(scanned.iter().all(|p| Some(p.sender) == poster.poster()));
    println!(
        "{hardfork}: {} heights in {} frames, {txs} blob transactions, L1 blocks {:?}",
        batches.len(),
        frames.len(),
        (blocks.first(), blocks.last())
    );
}

async fn anvil_head(anvil: &Anvil) -> u64 {
    alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(anvil.url.parse().unwrap())
        .get_block_number()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certified_batches_round_trip_through_blobs_at_cancun() {
    round_trip("cancun", BlobProofs::Eip4844).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certified_batches_round_trip_through_cell_proofs_at_osaka() {
    round_trip("osaka", BlobProofs::Eip7594).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_transaction_without_a_frame_is_skipped_and_refused() {
    let anvil = Anvil::spawn_fork(0, None, "cancun").await.unwrap();
    let cfg = config(&anvil, Finality::Depth(0), BlobProofs::Eip4844);
    let reader = EthereumBlobs::new(cfg.clone(), None).unwrap();
    // Someone sends a blob of garbage to the inbox, then a frame follows.
    let signer: alloy::signers::local::PrivateKeySigner = DEV_KEY[2..].parse().unwrap();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(anvil.url.parse().unwrap());
    // Built on a thread with room for a 128 KiB blob and the KZG prover's stack.
    let sidecar = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            let mut blob = vec![alloy::eips::eip4844::Blob::ZERO];
            blob[0].0[1..9].copy_from_slice(b"not ordo");
            alloy::eips::eip4844::BlobTransactionSidecar::try_from_blobs_with_settings(
                blob,
                alloy::eips::eip4844::env_settings::EnvKzgSettings::Default.get(),
            )
            .unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    let mut tx = TransactionRequest::default()
        .with_to(INBOX)
        .with_gas_limit(21_000)
        .max_fee_per_blob_gas(1_000_000_000);
    tx.sidecar = Some(sidecar.into());
    tx.populate_blob_hashes();
    let junk_hash = p
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
        .transaction_hash;
    let poster = EthereumBlobs::new(cfg, Some(DEV_KEY)).unwrap();
    let batches = certified(3, |h| h as usize);
    let (frames, receipts) = post_all(&poster, &batches).await;
    let (l1_block, _) = until_available(&anvil, &reader, &receipts[0], 0, 30).await;
    let found = reader.scan(1, l1_block).await.unwrap();
    assert_eq!(found.len(), 1, "only the frame: {found:?}");
    assert_eq!(found[0].frame, frames[0]);
    match reader.fetch_tx(junk_hash).await {
        Err(DaError::Fatal(e)) => assert!(e.contains("frame"), "{e}"),
        other => panic!("junk blob accepted: {other:?}"),
    }
    // A receipt whose heights do not match the frame the transaction holds is refused.
    let mut wrong = receipts[0].clone();
    wrong.first = Height(2);
    assert!(matches!(reader.fetch(&wrong).await, Err(DaError::Fatal(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fees_above_the_cap_are_retried_not_paid() {
    let anvil = Anvil::spawn_fork(0, None, "cancun").await.unwrap();
    let mut cfg = config(&anvil, Finality::Depth(0), BlobProofs::Eip4844);
    cfg.max_fee_per_blob_gas = 0;
    let poster = EthereumBlobs::new(cfg, Some(DEV_KEY)).unwrap();
    let frames = pack(CHAIN, &certified(1, |_| 1), poster.frame_capacity());
    match poster.submit(&frames[0]).await {
        Err(DaError::Retry(e)) => assert!(e.contains("max_fee_per_blob_gas"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_local_backend_keeps_frames_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalDa::open(dir.path(), Limits::default()).unwrap();
    let batches = certified(40, |h| h as usize % 7);
    let frames = pack(CHAIN, &batches, 8_000);
    assert!(frames.len() > 1);
    let mut receipts = Vec::new();
    for f in &frames {
        let r = local.submit(f).await.unwrap();
        assert!(matches!(
            local.confirm(&r).await.unwrap(),
            Confirmation::Available { .. }
        ));
        receipts.push(r);
    }
    // Reopened, it reads the same frames back.
    let again = LocalDa::open(dir.path(), Limits::default()).unwrap();
    let mut back = Vec::new();
    for r in &receipts {
        back.push(again.fetch(r).await.unwrap());
    }
    assert_eq!(encodings(&decode_all(&back)), encodings(&batches));
    // A receipt cannot name a file outside the directory.
    let mut escape = receipts[0].clone();
    escape.locator = ordo_da_adapter::da::Locator::Local {
        file: "../etc/passwd".into(),
    };
    assert!(matches!(local.fetch(&escape).await, Err(DaError::Fatal(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_blob_transaction_is_replaced_with_higher_fees() {
    let anvil = Anvil::spawn_fork(0, None, "cancun").await.unwrap();
    let rpc = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(
        anvil.url.parse().unwrap(),
    );
    let _: () = rpc
        .client()
        .request("evm_setAutomine", (false,))
        .await
        .unwrap();
    let cfg = config(&anvil, Finality::Depth(0), BlobProofs::Eip4844);
    let poster = EthereumBlobs::new(cfg, Some(DEV_KEY)).unwrap();
    let frames = pack(
        CHAIN,
        &certified(4, |h| h as usize),
        poster.frame_capacity(),
    );
    let stuck = poster.submit(&frames[0]).await.unwrap();
    assert_eq!(poster.confirm(&stuck).await.unwrap(), Confirmation::Pending);
    let ordo_da_adapter::da::Locator::EthereumBlobs { nonce, .. } = stuck.locator.clone() else {
        unreachable!()
    };
    // The same frame, same nonce, fees doubled: the pool takes it in place of the first.
    let bumped = poster
        .submit_with(&frames[..1], Some(nonce), 1)
        .await
        .unwrap()
        .remove(0);
    assert_ne!(bumped.locator, stuck.locator);
    let _: String = rpc.client().request("evm_mine", ()).await.unwrap();
    let (block, _) = until_available(&anvil, &poster, &bumped, 0, 10).await;
    assert!(block >= 1);
    assert_eq!(poster.confirm(&stuck).await.unwrap(), Confirmation::Dropped);
    assert_eq!(poster.fetch(&bumped).await.unwrap(), frames[0]);
}
