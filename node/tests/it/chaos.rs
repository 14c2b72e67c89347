//! The chaos build's test doubles (`--features ordo-node/chaos`): the fault layer between
//! consensus and libp2p, and the equivocating validator.

use crate::cluster::{Cluster, check_agreement, check_no_equivocation, edit_config, signed_values};
use ordo_node::http::{get_json, post_json};
use serde_json::{Value, json};
use std::time::Duration;

async fn set_faults(c: &Cluster, body: Value) {
    for i in 0..c.nodes.len() {
        let path = format!("/testing/net-faults?seed={i}");
        let (code, v) = post_json(c.rpc(i), &path, &body).await.unwrap();
        assert_eq!(code, 200, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_layer_delays_duplicates_and_reorders_what_consensus_receives() {
    let c = Cluster::start(4, |_, _| {}).await;
    c.wait_height(3, Duration::from_secs(60)).await;

    // Bad settings are refused and change nothing.
    let (code, v) = post_json(
        c.rpc(0),
        "/testing/net-faults",
        &json!({"reorder_percent": 101}),
    )
    .await
    .unwrap();
    assert_eq!(code, 400, "{v}");
    let (code, v) = post_json(c.rpc(0), "/testing/net-faults", &json!({"delay": 5}))
        .await
        .unwrap();
    assert_eq!(code, 400, "an unknown field: {v}");

    // A fixed 300 ms on every message: a height needs the proposal, then the prevotes, then
    // the precommits, one after another, so consecutive batches are at least 900 ms apart.
    set_faults(&c, json!({"delay_ms": 300})).await;
    // Height `from` may have been under way (some of its messages delivered at once) while
    // the nodes were being set; every message of the heights after it is delayed.
    let from = (0..4).map(|i| c.height(i)).max().unwrap() + 1;
    c.wait_height(from + 7, Duration::from_secs(120)).await;
    for h in from + 2..=from + 7 {
        let (a, b) = (c.decided(0, h - 1).unwrap(), c.decided(0, h).unwrap());
        let gap = b.batch.header.timestamp_ms - a.batch.header.timestamp_ms;
        assert!(gap >= 850, "heights {} and {h} only {gap} ms apart", h - 1);
    }

    // Jitter, duplicates and held-back messages: consensus still decides, and agrees.
    set_faults(
        &c,
        json!({"delay_ms": 40, "jitter_ms": 40, "duplicate_percent": 25, "reorder_percent": 25}),
    )
    .await;
    let from = (0..4).map(|i| c.height(i)).max().unwrap();
    c.wait_height(from + 10, Duration::from_secs(120)).await;
    for i in 0..4 {
        let (code, v) = get_json(c.rpc(i), "/testing/net-faults").await.unwrap();
        assert_eq!(code, 200);
        assert_eq!(v["duplicate_percent"], 25);
        for counter in ["delayed", "duplicated", "reordered"] {
            assert!(v["stats"][counter].as_u64().unwrap() > 0, "node {i}: {v}");
        }
    }

    // Off again: back to full speed, nothing lost.
    set_faults(&c, json!({})).await;
    let from = (0..4).map(|i| c.height(i)).max().unwrap();
    c.wait_height(from + 5, Duration::from_secs(60)).await;
    check_agreement(&c, from + 5);
    // Every held message was delivered (and released from the cap).
    for i in 0..4 {
        let (_, v) = get_json(c.rpc(i), "/testing/net-faults").await.unwrap();
        assert_eq!(v["stats"]["held"], 0, "node {i}: {v}");
        assert_eq!(v["stats"]["overflowed"], 0, "node {i}: {v}");
    }
    for h in &c.homes {
        check_no_equivocation(h);
    }
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_signs_two_values_and_the_others_still_agree() {
    let c = Cluster::start(4, |i, h| {
        if i == 3 {
            edit_config(h, |cfg| cfg.testing.equivocate = true);
        }
    })
    .await;
    c.wait_height(12, Duration::from_secs(120)).await;
    check_agreement(&c, 12);
    for h in &c.homes[..3] {
        check_no_equivocation(h);
    }
    let doubles = signed_values(&c.homes[3])
        .0
        .values()
        .filter(|v| v.len() > 1)
        .count();
    assert!(
        doubles >= 12,
        "the double signed two values at only {doubles} steps"
    );
    c.stop_all().await;
}
