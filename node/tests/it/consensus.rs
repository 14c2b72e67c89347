//! Four validators in one process, on loopback, with real malachite and libp2p.

use crate::cluster::{Cluster, check_agreement, check_no_equivocation, edit_config, submit};
use ordo_types::Height;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_decide_fifty_heights_with_verified_certificates() {
    let c = Cluster::start(4, |_, _| {}).await;
    c.wait_height(3, Duration::from_secs(60)).await;
    let mut ids = Vec::new();
    for i in 0..12u8 {
        ids.push(submit(c.rpc(i as usize % 4), u64::from(i % 3), &[i; 32]).await);
    }
    c.wait_height(52, Duration::from_secs(120)).await;
    let batches = check_agreement(&c, 50);
    // Every submitted transaction is ordered exactly once, wherever it was submitted.
    let ordered: Vec<String> = batches
        .iter()
        .flat_map(|d| d.batch.txs.iter().map(|t| t.id().to_string()))
        .collect();
    for id in &ids {
        assert_eq!(ordered.iter().filter(|o| *o == id).count(), 1, "tx {id}");
    }
    // Each node's position index answers for them.
    let (code, v) = ordo_node::http::get_json(c.rpc(2), &format!("/v1/tx/{}", ids[0]))
        .await
        .unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "ordered");
    for h in &c.homes {
        assert!(check_no_equivocation(h) > 0);
    }
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_validator_restarts_from_disk_and_catches_up_without_conflicting_signatures() {
    let mut c = Cluster::start(4, |_, _| {}).await;
    c.wait_height(5, Duration::from_secs(60)).await;
    let own = c.height(3);
    c.stop(3).await;
    let stopped_at = (0..3).map(|i| c.height(i)).max().unwrap();
    // A crash tore its consensus WAL inside the header: it must still start.
    let wal = c.homes[3].wal();
    let torn = std::fs::metadata(&wal)
        .map(|m| m.len() > 5)
        .unwrap_or(false);
    if torn {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(5)
            .unwrap();
    }
    // The other three keep deciding.
    c.wait_height(stopped_at + 15, Duration::from_secs(60))
        .await;
    c.restart(3).await;
    // It starts from its own disk: no height below what it had stored, before any sync.
    let restarted = c.nodes[3].as_ref().unwrap().shared.status_now().height().0;
    assert!(
        restarted >= own,
        "restarted at {restarted}, had stored {own}"
    );
    let target = (0..3).map(|i| c.height(i)).max().unwrap() + 5;
    c.wait_height(target, Duration::from_secs(90)).await;
    check_agreement(&c, target);
    for h in &c.homes {
        check_no_equivocation(h);
    }
    if torn {
        let kept = std::fs::read_dir(wal.parent().unwrap())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().contains(".damaged-")
            })
            .count();
        assert_eq!(kept, 1, "the torn WAL is kept aside once");
    }
    // Its decision log (written behind the decisions) holds every height once, in order, across
    // the stop and the restart.
    let start = std::time::Instant::now();
    loop {
        let log = std::fs::read_to_string(c.homes[3].decision_log()).unwrap();
        let heights: Vec<u64> = log
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["height"].as_u64().unwrap()
            })
            .collect();
        let want: Vec<u64> = (1..=heights.len() as u64).collect();
        assert_eq!(heights, want);
        if heights.len() as u64 >= target {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the log stays behind"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.stop_all().await;
}

// Uses a test double (`ordo_node::doubles`): only in a chaos build.
#[cfg(feature = "chaos")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_an_invalid_proposer_are_never_decided() {
    let c = Cluster::start(4, |i, h| {
        if i == 0 {
            edit_config(h, |cfg| cfg.testing.propose_invalid_batches = true);
        }
    })
    .await;
    c.wait_height(24, Duration::from_secs(120)).await;
    let batches = check_agreement(&c, 24);
    let bad_addr = ordo_node::home::Keys::read(&c.homes[0]).unwrap().address();
    assert!(
        batches.iter().all(|d| d.batch.header.proposer != bad_addr),
        "a batch of the invalid proposer was decided"
    );
    // Its turns moved on to a later round rather than stalling.
    assert!(batches.iter().any(|d| d.certificate.round.0 > 0));
    assert!(c.decided(1, 24).unwrap().batch.header.height == Height(24));
    c.stop_all().await;
}
