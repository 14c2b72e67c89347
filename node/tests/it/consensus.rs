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
    c.stop(3).await;
    let stopped_at = (0..3).map(|i| c.height(i)).max().unwrap();
    // The other three keep deciding.
    c.wait_height(stopped_at + 15, Duration::from_secs(60))
        .await;
    c.restart(3).await;
    let target = (0..3).map(|i| c.height(i)).max().unwrap() + 5;
    c.wait_height(target, Duration::from_secs(90)).await;
    check_agreement(&c, target);
    for h in &c.homes {
        check_no_equivocation(h);
    }
    c.stop_all().await;
}

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
