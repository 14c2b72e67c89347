//! Real `ordo` processes: four nodes from `ordo testnet init`, one killed with `kill -9` and
//! restarted: no height regresses and no fork.

use crate::cluster::{Processes, check_no_equivocation};
use std::time::{Duration, Instant};

async fn wait(p: &Processes, nodes: &[usize], height: u64, timeout: Duration) -> Vec<u64> {
    let start = Instant::now();
    loop {
        let mut hs = Vec::new();
        for &i in nodes {
            hs.push(p.height(i).await.unwrap_or(0));
        }
        if hs.iter().all(|h| *h >= height) {
            return hs;
        }
        assert!(
            start.elapsed() < timeout,
            "heights {hs:?} did not reach {height}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_and_restart_keeps_heights_and_agreement() {
    let mut p = Processes::init(4);
    for i in 0..4 {
        p.start(i);
    }
    wait(&p, &[0, 1, 2, 3], 10, Duration::from_secs(90)).await;
    let before = p.height(2).await.unwrap();
    p.kill(2);
    let others = wait(&p, &[0, 1, 3], before + 15, Duration::from_secs(90)).await;
    p.start(2);
    let target = others.iter().max().unwrap() + 5;
    // It comes back at or above where it was, then catches up.
    let mut last = 0;
    let start = Instant::now();
    loop {
        if let Some(h) = p.height(2).await {
            assert!(
                h >= before,
                "height regressed from {before} to {h} after restart"
            );
            assert!(h >= last, "height went from {last} back to {h}");
            last = h;
            if h >= target {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "node 2 stuck at {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for h in 1..=target {
        let mut hashes = Vec::new();
        for i in 0..4 {
            hashes.push(
                p.batch_hash(i, h)
                    .await
                    .expect("every node serves every height"),
            );
        }
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "fork at height {h}: {hashes:?}"
        );
    }
    for h in &p.homes {
        check_no_equivocation(h);
    }
    // SIGTERM stops every node gracefully, with a zero exit status.
    for i in 0..4 {
        assert!(
            p.terminate(i, Duration::from_secs(15)),
            "node {i} did not stop cleanly on SIGTERM"
        );
    }
}

/// Every transaction acknowledged *ordered* is in the chain exactly once, at the position
/// acknowledged, after each node in turn was killed with `kill -9` (and restarted) while
/// clients kept submitting to all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_acknowledgements_survive_kill_minus_nine_of_every_node() {
    use ordo_client::{Ack, Client};
    use ordo_types::Namespace;
    use std::sync::Arc;

    let mut p = Processes::init(4);
    for i in 0..4 {
        p.start(i);
    }
    wait(&p, &[0, 1, 2, 3], 2, Duration::from_secs(90)).await;
    let urls: Vec<String> = p.rpcs.iter().map(|a| format!("http://{a}")).collect();
    let client = Arc::new(Client::new(&urls).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let (client, stop) = (client.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut k = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let payload = format!("writer {w} tx {k}").into_bytes();
                k += 1;
                match client
                    .submit(Namespace(1 + w % 3), payload, Ack::Ordered)
                    .await
                {
                    Ok(s) => acked.push((s.id, s.position.unwrap(), s.node)),
                    // Every node was tried while one was down and another slow: not an ack.
                    Err(e) => eprintln!("writer {w}: {e}"),
                }
            }
            acked
        }));
    }
    for victim in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        p.kill(victim);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        p.start(victim);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(acked.len() >= 50, "only {} acknowledgements", acked.len());
    let top = acked.iter().map(|(_, (h, _), _)| h.0).max().unwrap();
    wait(&p, &[0, 1, 2, 3], top, Duration::from_secs(90)).await;

    // Read every batch up to `top` from every node: each acknowledged id exactly once, where
    // it was acknowledged, and no transaction twice anywhere.
    for node in 0..4 {
        let mut stub = client.node(node).unwrap();
        let mut at = std::collections::HashMap::new();
        for h in 1..=top {
            let b = stub
                .get_batch(ordo_client::api::GetBatchRequest { height: h })
                .await
                .unwrap()
                .into_inner();
            let batch = ordo_types::Batch::from_proto(
                b.batch.unwrap().batch.unwrap(),
                &ordo_types::Limits::default(),
            )
            .unwrap();
            for (i, t) in batch.txs.iter().enumerate() {
                assert!(
                    at.insert(t.id(), (h, i as u32)).is_none(),
                    "node {node}: transaction {} ordered twice",
                    t.id()
                );
            }
        }
        for (id, (h, i), by) in &acked {
            assert_eq!(
                at.get(id),
                Some(&(h.0, *i)),
                "node {node}: {id} acknowledged ordered at ({h}, {i}) by {by}"
            );
        }
    }
    for h in &p.homes {
        check_no_equivocation(h);
    }
}

/// Runs `ordo ARGS` to completion off the async runtime; returns (success, stdout, stderr).
async fn ordo(args: Vec<String>) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::cluster::ordo_bin())
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ordo tx submit --rpc <rpc> --namespace 1 --payload <payload> --wait <extra>`: (success,
/// stdout, stderr).
async fn submit_wait(
    rpc: std::net::SocketAddr,
    payload: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let rpc = format!("http://{rpc}");
    let args = [
        "tx",
        "submit",
        "--rpc",
        &rpc,
        "--namespace",
        "1",
        "--payload",
        payload,
        "--wait",
    ];
    ordo(args.iter().chain(extra).map(|a| a.to_string()).collect()).await
}

/// `ordo tx submit --wait` (what `testnet/localnet.sh submit` runs) returns only once the
/// transaction is ordered and prints where: a pending transaction also answers 200 on
/// `/v1/tx/{id}`, which once made it print `"status":"pending"` at once. Without a quorum it
/// fails after `--timeout` with the last status seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_submit_wait_returns_once_ordered_with_its_height() {
    let mut p = Processes::init(4);
    for i in 0..4 {
        p.start(i);
    }
    wait(&p, &[0, 1, 2, 3], 2, Duration::from_secs(90)).await;
    for (k, payload) in ["c0ffee", "0xf00d", "beef01"].into_iter().enumerate() {
        let node = k % 4;
        let (ok, stdout, stderr) = submit_wait(p.rpcs[node], payload, &[]).await;
        assert!(ok, "ordo tx submit --wait failed: {stderr}");
        let line = stdout.trim();
        assert_eq!(line.lines().count(), 1, "one JSON line expected: {stdout}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["status"], "ordered",
            "--wait returned before ordering: {line}"
        );
        let height = v["height"]
            .as_u64()
            .unwrap_or_else(|| panic!("no height: {line}"));
        let index = v["index"]
            .as_u64()
            .unwrap_or_else(|| panic!("no index: {line}")) as usize;
        assert!(height >= 1, "{line}");
        // The node reports the same position, and the batch at that height holds the payload there.
        let id = v["id"].as_str().unwrap();
        let (code, tx) = ordo_node::http::get_json(p.rpcs[node], &format!("/v1/tx/{id}"))
            .await
            .unwrap();
        assert_eq!(code, 200, "{tx}");
        assert_eq!(
            (tx["status"].as_str(), tx["height"].as_u64()),
            (Some("ordered"), Some(height))
        );
        let (code, b) = ordo_node::http::get_json(p.rpcs[node], &format!("/v1/batch/{height}"))
            .await
            .unwrap();
        assert_eq!(code, 200, "{b}");
        let want = format!("0x{}", payload.trim_start_matches("0x"));
        assert_eq!(
            b["txs"][index]["payload"],
            want.as_str(),
            "batch {height}: {b}"
        );
    }

    // No quorum (three of four stopped): node 0 keeps the transaction pending; --wait gives up
    // after --timeout with a clear error instead of claiming anything.
    for i in 1..4 {
        p.kill(i);
    }
    let start = Instant::now();
    let (ok, stdout, stderr) = submit_wait(p.rpcs[0], "dead01", &["--timeout", "2"]).await;
    assert!(!ok, "ordered without a quorum? {stdout}");
    assert!(
        stderr.contains("not ordered within 2 s") && stderr.contains("pending"),
        "unclear timeout error: {stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "--timeout 2 took {:?}",
        start.elapsed()
    );
}
