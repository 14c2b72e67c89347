//! DA end to end against a real anvil: four validators post their certified batches as blob
//! transactions by rotation; every height becomes available, and the bytes a reader without
//! any ordo node fetches back from the L1 are the certified batches, and a rollup rebuilds and
//! verifies its namespace from the L1 with every node stopped. A stopped poster's ranges are
//! taken over.

use crate::cluster::{Cluster, edit_config, edit_genesis, genesis, submit};
use ordo_da_adapter::da::{BlobConfig, BlobProofs, EthereumBlobs};
use ordo_da_adapter::l1::Finality;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, funded_account};
use ordo_node::config::DaSection;
use ordo_node::da::DaStatus;
use ordo_node::genesis::DaGenesis;
use ordo_node::home::Keys;
use ordo_types::da::{Certified, Frame, Gather, Gathered, assemble, decode_entries};
use ordo_types::{Height, Limits};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const INBOX: &str = "0x00000000000000000000000000000000000da7a1";
const RANGE: u64 = 8;

fn da_status(c: &Cluster, i: usize) -> DaStatus {
    let n = c.nodes[i].as_ref().unwrap();
    n.shared.da.as_ref().unwrap().lock().unwrap().clone()
}

/// A cluster of four validators posting to `anvil`, each with a funded account of its own.
async fn posting_cluster(anvil: &Anvil) -> Cluster {
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(funded_account(&anvil.url, DEV_KEY, 100).await.unwrap());
    }
    let url = anvil.url.clone();
    Cluster::start(4, |i, h| {
        edit_genesis(h, |g| {
            g.da = Some(DaGenesis {
                batch_inbox: INBOX.into(),
                start_block: 0,
                range_heights: RANGE,
            });
        });
        ordo_node::keyfile::write_secret(&h.0.join("keys/l1.key"), keys[i].as_bytes(), false)
            .unwrap();
        edit_config(h, |cfg| {
            cfg.da = Some(DaSection {
                backend: "ethereum-blobs".into(),
                rpc: url.clone(),
                key_file: Some("keys/l1.key".into()),
                finality: "latest-2".into(),
                poll_ms: 200,
                takeover_after_ms: 6_000,
                ..DaSection::default()
            });
        });
    })
    .await
}

/// Every frame on the L1 to the inbox, read by a reader with no key and no ordo node, grouped
/// into ranges and decoded: per height, the certified batch and the L1 block and poster.
async fn read_l1(anvil: &Anvil) -> BTreeMap<u64, (Certified, u64, String)> {
    let reader = EthereumBlobs::new(
        BlobConfig {
            rpc: anvil.url.clone(),
            batch_inbox: INBOX.parse().unwrap(),
            finality: Finality::Depth(2),
            max_blobs_per_tx: 6,
            max_fee_per_gas: u128::MAX,
            max_fee_per_blob_gas: u128::MAX,
            proofs: BlobProofs::Eip4844,
            limits: Limits::default(),
            verify_blobs: true,
            beacon: None,
        },
        None,
    )
    .unwrap();
    let head = reader.latest_block().await.unwrap();
    let mut out = BTreeMap::new();
    let mut parts = Gather::new(64);
    for p in reader.scan(0, head).await.unwrap() {
        let Gathered::Whole(group, ()) = parts.add(&p.sender, p.frame.clone(), ()) else {
            continue;
        };
        let data = assemble(&group).unwrap();
        let g = &group[0];
        for c in decode_entries(g.chain_id, g.first, g.last, &data, &Limits::default()).unwrap() {
            out.entry(c.height().0)
                .or_insert((c, p.l1_block, p.sender.to_string()));
        }
    }
    out
}

/// Every commitment the API gives of node `i`'s heights `1..=top` agrees with its DA head:
/// `GetBatch` says available (with a receipt covering the height, checked by `receipt_ok`) up to
/// the head read before the call and certified past the head read after it; an available-only
/// stream sends nothing past the head, each slice marked available.
async fn commitments_agree(
    c: &Cluster,
    i: usize,
    top: u64,
    receipt_ok: impl Fn(&ordo_client::api::DaReceipt) -> bool,
) {
    use ordo_client::api::{CommitmentLevel, GetBatchRequest, StreamNamespaceRequest};
    let client = ordo_client::Client::new(&[format!("http://{}", c.rpc(i))]).unwrap();
    let mut stub = client.node(0).unwrap();
    let (mut available, mut certified) = (0, 0);
    for h in 1..=top {
        let before = da_status(c, i).available_height;
        let r = stub
            .get_batch(GetBatchRequest { height: h })
            .await
            .unwrap()
            .into_inner();
        let after = da_status(c, i).available_height;
        let cm = r.commitment.unwrap();
        if cm.level == CommitmentLevel::Available as i32 {
            assert!(h <= after, "height {h} available past the head {after}");
            let receipt = cm
                .receipt
                .unwrap_or_else(|| panic!("height {h}: no receipt"));
            assert!(
                receipt.first_height <= h && h <= receipt.last_height && receipt_ok(&receipt),
                "height {h}: {receipt:?}"
            );
            available += 1;
        } else {
            assert!(h > before, "height {h} certified below the head {before}");
            certified += 1;
        }
    }
    assert!(available > 0, "no height reported available");
    let mut stream = stub
        .stream_namespace(StreamNamespaceRequest {
            namespace: 1,
            from_height: 1,
            level: CommitmentLevel::Available as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    while let Ok(Ok(Some(item))) =
        tokio::time::timeout(Duration::from_secs(2), stream.message()).await
    {
        let h = item.header.unwrap().height;
        let head = da_status(c, i).available_height;
        assert!(
            h <= head,
            "an available-only stream sent {h} past the head {head}"
        );
        let level = item.commitment.unwrap().level;
        assert_eq!(level, CommitmentLevel::Available as i32, "height {h}");
        seen += 1;
        if seen >= available {
            break;
        }
    }
    assert!(
        seen >= available.min(1),
        "the available-only stream sent nothing"
    );
    println!("commitments of node {i}: {available} available, {certified} certified");
}

async fn wait_available(c: &Cluster, nodes: &[usize], height: u64, secs: u64) {
    let start = Instant::now();
    loop {
        let av: Vec<u64> = nodes
            .iter()
            .map(|i| da_status(c, *i).available_height)
            .collect();
        if av.iter().all(|a| *a >= height) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "available heights {av:?} did not reach {height} in {secs} s; statuses: {:?}",
            nodes.iter().map(|i| da_status(c, *i)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certified_batches_become_available_as_blobs_posted_by_rotation() {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let c = posting_cluster(&anvil).await;
    // Some load, so frames carry transactions.
    for i in 0..120u32 {
        let payload = format!("da load {i:04} {}", "x".repeat(300));
        submit(
            c.rpc(i as usize % 4),
            1 + u64::from(i % 3),
            payload.as_bytes(),
        )
        .await;
    }
    let target = 6 * RANGE;
    wait_available(&c, &[0, 1, 2, 3], target, 90).await;
    let statuses: Vec<DaStatus> = (0..4).map(|i| da_status(&c, i)).collect();
    let on_l1 = read_l1(&anvil).await;
    let set = genesis(&c.homes[0]).set.set;
    let chain = genesis(&c.homes[0]).genesis.chain_id;
    let mut posters = BTreeSet::new();
    for h in 1..=target {
        let (got, _, sender) = on_l1
            .get(&h)
            .unwrap_or_else(|| panic!("height {h} is not on the L1"));
        let ours = c.decided(0, h).unwrap();
        assert_eq!(
            got.batch, ours.batch,
            "height {h}: the batch on the L1 is ours"
        );
        let mut a = Vec::new();
        let mut b = Vec::new();
        got.batch.txs.iter().for_each(|t| a.extend(t.encode()));
        ours.batch.txs.iter().for_each(|t| b.extend(t.encode()));
        assert_eq!(a, b, "height {h}: body byte for byte");
        got.certificate
            .verify_for(&set, chain, Height(h), &ours.batch.hash())
            .unwrap();
        posters.insert(sender.clone());
    }
    assert!(
        posters.len() >= 3,
        "ranges are posted by rotation: posters {posters:?}"
    );
    // Every watcher sees the same frames: one node's count is the network's.
    let dups: u64 = statuses
        .iter()
        .map(|s| s.duplicate_frames)
        .max()
        .unwrap_or(0);
    let takeovers: u64 = statuses.iter().map(|s| s.takeover_frames).sum();
    println!(
        "statuses {statuses:?}; {} heights on L1; duplicates {dups}, takeovers {takeovers}",
        on_l1.len()
    );
    // No poster is down: a takeover happens only when a range's poster lands it later than the
    // takeover timeout (a slow machine); each costs one duplicate frame at most per range.
    assert!(
        takeovers <= target / RANGE,
        "at most one takeover per range: {takeovers}"
    );
    assert!(
        dups <= takeovers,
        "a duplicate only from a takeover: {dups} > {takeovers}"
    );
    let top = c.height(0);
    commitments_agree(&c, 0, top, |r| {
        r.l1_block > 0 && r.tx_hash.len() == 32 && r.l1_block_hash.len() == 32
    })
    .await;
    // With every ordo node stopped, a rollup rebuilds namespace 2 from the L1 alone and
    // verifies each height; the slices are the ones the validators certified.
    let ns = ordo_types::Namespace(2);
    let expected: Vec<_> = (1..=target)
        .map(|h| c.decided(0, h).unwrap().batch)
        .collect();
    let limits = genesis(&c.homes[0]).genesis.limits;
    c.stop_all().await;
    let da = ordo_client::l1::L1Da {
        rpc: anvil.url.clone(),
        batch_inbox: INBOX.into(),
        start_block: 0,
        finality: Finality::Depth(2),
        beacon: None,
        stake: None,
    };
    let rebuilt =
        ordo_client::l1::namespace_from_l1(&da, chain, &set, limits, ns, Height(1), Height(target))
            .await
            .unwrap();
    assert_eq!(rebuilt.slices.len() as u64, target);
    for (s, b) in rebuilt.slices.iter().zip(&expected) {
        assert_eq!(s.hash, b.hash(), "height {}", s.height.0);
        assert_eq!(s.txs, b.slice(ns), "height {}", s.height.0);
    }
    assert!(
        rebuilt.slices.iter().any(|s| !s.txs.is_empty()),
        "the load reached namespace 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_posters_ranges_are_taken_over() {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let mut c = posting_cluster(&anvil).await;
    c.wait_height(3, Duration::from_secs(30)).await;
    // The validator at set index 1 posts ranges 1, 5, 9, ...; stop it.
    let set = genesis(&c.homes[0]).set.set;
    let victim = (0..4)
        .find(|i| {
            let a = Keys::read(&c.homes[*i]).unwrap().address();
            set.index_of(&a).map(|x| x.0) == Some(1)
        })
        .unwrap();
    c.stop(victim).await;
    let live: Vec<usize> = (0..4).filter(|i| *i != victim).collect();
    let target = 7 * RANGE;
    wait_available(&c, &live, target, 120).await;
    let on_l1 = read_l1(&anvil).await;
    for h in 1..=target {
        assert!(on_l1.contains_key(&h), "height {h} missing from the L1");
    }
    let takeovers: u64 = live.iter().map(|i| da_status(&c, *i).takeover_frames).sum();
    assert!(takeovers > 0, "the stopped poster's ranges were taken over");
    c.stop_all().await;
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

/// Heights per second node 0 decides over `span`.
async fn rate(c: &Cluster, span: Duration) -> f64 {
    let (h0, t0) = (c.height(0), Instant::now());
    tokio::time::sleep(span).await;
    (c.height(0) - h0) as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_outage_of_30_s_stalls_only_available_which_then_catches_up_with_no_gap() {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let c = posting_cluster(&anvil).await;
    wait_available(&c, &[0, 1, 2, 3], RANGE, 90).await;
    let before = rate(&c, Duration::from_secs(5)).await;
    // The L1 stops answering (its process paused: connections open, no replies).
    signal(anvil.pid(), "STOP");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled: Vec<u64> = (0..4).map(|i| da_status(&c, i).available_height).collect();
    let during = rate(&c, Duration::from_secs(28)).await;
    let after: Vec<u64> = (0..4).map(|i| da_status(&c, i).available_height).collect();
    let certified = c.height(0);
    signal(anvil.pid(), "CONT");
    println!(
        "heights/s {before:.1} before, {during:.1} during the outage; available {stalled:?} -> {after:?} at certified {certified}"
    );
    assert_eq!(stalled, after, "available moved while the L1 was down");
    assert!(
        certified > after.iter().max().unwrap() + 5 * RANGE,
        "consensus went on without the L1: certified {certified}, available {after:?}"
    );
    // Consensus keeps its rate (a stall would show as a rate near zero; not a speed target).
    assert!(
        during >= before * 0.5,
        "{during:.1} heights/s during the outage, {before:.1} before"
    );
    // The L1 is back: available catches up past what was certified during the outage, and
    // every height is on the L1.
    wait_available(&c, &[0, 1, 2, 3], certified, 120).await;
    let on_l1 = read_l1(&anvil).await;
    for h in 1..=certified {
        let (got, ..) = on_l1
            .get(&h)
            .unwrap_or_else(|| panic!("height {h} is not on the L1"));
        assert_eq!(got.batch, c.decided(0, h).unwrap().batch, "height {h}");
    }
    c.stop_all().await;
}

#[tokio::test]
async fn a_bad_da_option_fails_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (homes, _) = crate::cluster::init(dir.path(), 1);
    let h = &homes[0];
    let cases: Vec<(DaSection, bool, &str)> = vec![
        (
            DaSection {
                backend: "s3".into(),
                ..DaSection::default()
            },
            true,
            "da.backend",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                ..DaSection::default()
            },
            false,
            "genesis",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                ..DaSection::default()
            },
            true,
            "da.rpc",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                rpc: "http://127.0.0.1:9".into(),
                proofs: "kzg".into(),
                ..DaSection::default()
            },
            true,
            "da.proofs",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                rpc: "http://127.0.0.1:9".into(),
                beacon_url: "127.0.0.1:5052".into(),
                ..DaSection::default()
            },
            true,
            "da.beacon_url",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                rpc: "http://127.0.0.1:9".into(),
                ..DaSection::default()
            },
            true,
            "key_file or key_env",
        ),
        (
            DaSection {
                backend: "ethereum-blobs".into(),
                rpc: "http://127.0.0.1:9".into(),
                key_env: Some("ORDO_TEST_UNSET_DA_KEY".into()),
                ..DaSection::default()
            },
            true,
            "da.key_env",
        ),
    ];
    for (section, with_genesis, named) in cases {
        edit_genesis(h, |g| {
            g.da = with_genesis.then(|| DaGenesis {
                batch_inbox: INBOX.into(),
                start_block: 0,
                range_heights: RANGE,
            });
        });
        edit_config(h, |c| c.da = Some(section.clone()));
        match ordo_node::node::start(h.clone()).await {
            Ok(n) => {
                n.stop().await;
                panic!("{section:?} was accepted");
            }
            Err(e) => assert!(e.to_string().contains(named), "{named}: {e}"),
        }
    }
}

/// The frames under a local backend's directory, in height order, decoded into batches.
fn local_frames(home: &ordo_node::home::Home) -> BTreeMap<u64, Certified> {
    let mut names: Vec<_> = std::fs::read_dir(home.da_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "frame"))
        .collect();
    names.sort();
    let frames: Vec<Frame> = names
        .iter()
        .map(|p| Frame::decode(&std::fs::read(p).unwrap(), &Limits::default()).unwrap())
        .collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while let Some(f) = frames.get(i) {
        let group = &frames[i..i + usize::from(f.parts)];
        let data = assemble(group).unwrap();
        for c in decode_entries(f.chain_id, f.first, f.last, &data, &Limits::default()).unwrap() {
            assert!(
                out.insert(c.height().0, c).is_none(),
                "one frame per height"
            );
        }
        i += group.len();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_backend_writes_every_height_and_resumes_after_a_restart() {
    let mut c = Cluster::start(4, |_, h| {
        edit_config(h, |cfg| {
            cfg.da = Some(DaSection {
                backend: "local".into(),
                ..DaSection::default()
            });
        });
    })
    .await;
    for i in 0..40u32 {
        submit(c.rpc(i as usize % 4), 1, format!("local da {i}").as_bytes()).await;
    }
    wait_available(&c, &[0, 1, 2, 3], 20, 60).await;
    c.stop(0).await;
    c.restart(0).await;
    let before = c.height(1);
    wait_available(&c, &[0], before + 5, 60).await;
    let upto = da_status(&c, 0).available_height;
    let frames = local_frames(&c.homes[0]);
    for h in 1..=upto {
        let got = frames
            .get(&h)
            .unwrap_or_else(|| panic!("height {h} has no frame"));
        assert_eq!(got.batch, c.decided(0, h).unwrap().batch, "height {h}");
    }
    let top = c.height(0);
    commitments_agree(&c, 0, top, |r| r.file.ends_with(".frame")).await;
    c.stop_all().await;
}

/// The DA status of validator process `i`, from its `/status`.
async fn process_da(p: &crate::cluster::Processes, i: usize) -> Option<serde_json::Value> {
    let (code, v) = ordo_node::http::get_json(p.rpcs[i], "/status").await.ok()?;
    (code == 200).then(|| v["da"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poster_killed_with_kill_9_mid_range_is_taken_over_with_no_height_missing() {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let mut p = crate::cluster::Processes::init(4);
    // Set up as the localnet is: `ordo l1 deploy --da-blobs` writes the genesis `da` section
    // and funds a posting key per validator.
    let mut deploy = std::process::Command::new(crate::cluster::ordo_bin());
    deploy.args(["l1", "deploy", "--rpc", &anvil.url, "--key", DEV_KEY]);
    for h in &p.homes {
        deploy.arg("--home").arg(&h.0);
    }
    let out = deploy
        .args(["--finality", "latest-1", "--poll-ms", "250", "--da-blobs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inbox = printed["batch_inbox"].as_str().unwrap().to_string();
    assert_eq!(inbox, ordo_node::l1::batch_inbox_of(77));
    for h in &p.homes {
        assert_eq!(genesis(h).genesis.da.unwrap().batch_inbox, inbox);
        edit_config(h, |c| {
            let da = c.da.as_mut().unwrap();
            da.takeover_after_ms = 6_000;
            da.poll_ms = 200;
        });
    }
    let range = genesis(&p.homes[0]).genesis.da.unwrap().range_heights;
    for i in 0..4 {
        p.start(i);
    }
    // The validator at set index 1 posts ranges 1, 5, 9, ...: killed while range 1 (heights
    // range+1 ..= 2*range) is being certified, before it could post it.
    let set = genesis(&p.homes[0]).set.set;
    let victim = (0..4)
        .find(|i| {
            let a = Keys::read(&p.homes[*i]).unwrap().address();
            set.index_of(&a).map(|x| x.0) == Some(1)
        })
        .unwrap();
    let start = Instant::now();
    while p.height(victim).await.unwrap_or(0) < range + range / 2 {
        assert!(start.elapsed() < Duration::from_secs(90), "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.kill(victim);
    let live: Vec<usize> = (0..4).filter(|i| *i != victim).collect();
    let target = 6 * range;
    let start = Instant::now();
    let statuses = loop {
        let mut s = Vec::new();
        for i in &live {
            s.push(process_da(&p, *i).await.unwrap_or_default());
        }
        if s.iter()
            .all(|d| d["available_height"].as_u64().unwrap_or(0) >= target)
        {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "available did not reach {target}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Every height on the L1, and it is the certified batch; the dead poster's ranges were
    // taken over; duplicates within the bound (at most n - 1 = 3 extra copies per range).
    let da = ordo_client::l1::L1Da {
        rpc: anvil.url.clone(),
        batch_inbox: inbox,
        start_block: 0,
        finality: Finality::Depth(1),
        beacon: None,
        stake: None,
    };
    let chain = genesis(&p.homes[0]).genesis;
    let rebuilt = ordo_client::l1::namespace_from_l1(
        &da,
        chain.chain_id,
        &set,
        chain.limits,
        ordo_types::Namespace(1),
        Height(1),
        Height(target),
    )
    .await
    .unwrap();
    assert_eq!(rebuilt.slices.len() as u64, target);
    let takeovers: u64 = statuses
        .iter()
        .map(|s| s["takeover_frames"].as_u64().unwrap())
        .sum();
    let dups = statuses
        .iter()
        .map(|s| s["duplicate_frames"].as_u64().unwrap())
        .max()
        .unwrap();
    println!("takeovers {takeovers}, duplicates {dups}: {statuses:?}");
    assert!(takeovers > 0, "the killed poster's ranges were taken over");
    assert!(
        dups <= 3 * (target / range),
        "duplicates {dups} over the bound of 3 per range"
    );
    for i in live {
        p.kill(i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_reorg_under_the_frames_is_rescanned_and_every_height_lands() {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let c = posting_cluster(&anvil).await;
    wait_available(&c, &[0, 1, 2, 3], 2 * RANGE, 90).await;
    // Replace the last 2 L1 blocks (the ones above the validators' finality, latest-2): the
    // frames in them, seen but not yet final, are gone from the canonical chain.
    use alloy::providers::Provider as _;
    let l1 = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(
        anvil.url.parse().unwrap(),
    );
    let reader = EthereumBlobs::new(
        BlobConfig::reader(
            &anvil.url,
            INBOX.parse().unwrap(),
            Finality::Depth(2),
            Limits::default(),
        ),
        None,
    )
    .unwrap();
    // Wait for a frame in the top two blocks, so the reorg takes frames out.
    let start = Instant::now();
    let (head, hashes) = loop {
        let head = l1.get_block_number().await.unwrap();
        if !reader.scan(head - 1, head).await.unwrap().is_empty() {
            let mut hashes = Vec::new();
            for n in head - 1..=head {
                hashes.push(reader.block_hash(n).await.unwrap());
            }
            break (head, hashes);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no frame lands");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _: serde_json::Value = l1
        .client()
        .request("anvil_reorg", (2u64, Vec::<serde_json::Value>::new()))
        .await
        .unwrap();
    let mut after = Vec::new();
    for n in head - 1..=head {
        after.push(reader.block_hash(n).await.unwrap());
    }
    assert_ne!(hashes, after, "blocks {}..={head} were replaced", head - 1);
    let certified = c.height(0);
    println!(
        "reorged blocks {}..={head} (which held frames) at certified height {certified}",
        head - 1
    );
    // Every height certified by then becomes available again from frames on the new chain.
    wait_available(&c, &[0, 1, 2, 3], certified + RANGE, 120).await;
    let on_l1 = read_l1(&anvil).await;
    for h in 1..=certified {
        let (got, ..) = on_l1
            .get(&h)
            .unwrap_or_else(|| panic!("height {h} is not on the L1 after the reorg"));
        assert_eq!(got.batch, c.decided(0, h).unwrap().batch, "height {h}");
    }
    c.stop_all().await;
}
