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
