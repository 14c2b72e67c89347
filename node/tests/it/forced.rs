//! Forced inclusion end to end, against a real anvil L1: entries queued on the inbox are
//! ordered by their deadline, in queue order, before ordinary transactions and exactly once,
//! even while one validator censors and another lags behind the L1; an unreachable L1 stalls
//! only forced inclusion.

use crate::cluster::{CHAIN, Cluster, check_agreement, edit_config, edit_genesis, genesis};
use futures::StreamExt;
use ordo_client::{Client, SliceVerifier, StreamEvent, TrustAnchor};
use ordo_consensus::forced::{InboxView, required};
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, DEV_KEY_2};
use ordo_da_adapter::l1::{Deployed, deploy_inbox, enqueue};
use ordo_node::config::L1Section;
use ordo_node::genesis::L1Genesis;
use ordo_node::store::Decided;
use ordo_types::tx::BatchTx;
use ordo_types::{ForcedTx, Height, Limits, Namespace, Transaction};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DELAY: u64 = 2;

fn l1_genesis(d: &Deployed) -> L1Genesis {
    L1Genesis {
        l1_chain_id: d.l1_chain_id,
        inbox: format!("{:#x}", d.address),
        inbox_block: d.block,
        inclusion_delay: DELAY,
        forced_budget_bytes: 64 * 1024,
    }
}

/// anvil with 1 s blocks and the inbox deployed.
async fn dev_l1() -> (Anvil, Deployed, L1Genesis) {
    let anvil = Anvil::spawn(Some(1)).await.unwrap();
    let d = deploy_inbox(&anvil.url, DEV_KEY, Limits::default().max_tx_payload, 0)
        .await
        .unwrap();
    let l1 = l1_genesis(&d);
    (anvil, d, l1)
}

fn l1_section(rpc: Vec<String>, poll_ms: u64) -> L1Section {
    L1Section {
        rpc,
        finality: "latest-1".into(),
        poll_ms,
        request_timeout_ms: 1_000,
        ..L1Section::default()
    }
}

/// Checks the rule over a whole chain from the full inbox: every batch carries exactly the
/// entries required at its `l1_ref` from its parent's cursor, first in its body. Returns, per
/// queue index, the height that ordered it.
fn check_forced_rule(
    batches: &[Decided],
    inbox: &[ForcedTx],
    l1: &L1Genesis,
) -> BTreeMap<u64, u64> {
    let params = l1.forced_params(&Limits::default());
    let mut cursor = 0u64;
    let mut ordered = BTreeMap::new();
    for d in batches {
        let b = &d.batch;
        let due = required(
            &params,
            cursor,
            b.header.l1_ref.number,
            &InboxView {
                read_to: u64::MAX,
                entries: &inbox[cursor as usize..],
            },
        )
        .unwrap();
        let forced: Vec<&ForcedTx> = b.txs.iter().filter_map(BatchTx::as_forced).collect();
        assert_eq!(
            forced,
            due.iter().collect::<Vec<_>>(),
            "height {}: the forced entries are exactly those due at l1_ref {}",
            b.header.height.0,
            b.header.l1_ref.number
        );
        let first_ordinary = b
            .txs
            .iter()
            .position(|t| !t.is_forced())
            .unwrap_or(b.txs.len());
        assert!(
            b.txs[first_ordinary..].iter().all(|t| !t.is_forced()),
            "forced entries come before ordinary transactions"
        );
        for f in forced {
            assert!(
                ordered.insert(f.queue_index, b.header.height.0).is_none(),
                "ordered once"
            );
        }
        cursor = b.header.forced_cursor.next;
    }
    ordered
}

fn l1_status(c: &Cluster, i: usize) -> ordo_da_adapter::l1::source::L1Status {
    c.nodes[i]
        .as_ref()
        .unwrap()
        .shared
        .l1
        .as_ref()
        .unwrap()
        .status()
}

/// Sends SIGSTOP or SIGCONT to `pid`.
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Waits until node `i` has ordered every entry of `inbox`.
async fn wait_ordered(c: &Cluster, i: usize, inbox: &[ForcedTx], timeout: Duration) {
    let start = Instant::now();
    let store = &c.nodes[i].as_ref().unwrap().shared.store;
    loop {
        let missing: Vec<u64> = inbox
            .iter()
            .filter(|e| store.tx_position(&e.id()).unwrap().is_none())
            .map(|e| e.queue_index)
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "entries {missing:?} not ordered within {timeout:?} (node {i} at height {})",
            c.height(i)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until node 0 ordered all of `inbox` and every node reached its height; checks
/// agreement, the rule over every decided batch, and that each entry (queue indices 0..n) was
/// ordered exactly once. Returns the batches and the height of each entry.
async fn all_ordered(
    c: &Cluster,
    inbox: &[ForcedTx],
    l1: &L1Genesis,
    timeout: Duration,
) -> (Vec<Decided>, BTreeMap<u64, u64>) {
    wait_ordered(c, 0, inbox, timeout).await;
    let top = c.height(0);
    c.wait_height(top, Duration::from_secs(60)).await;
    let batches = check_agreement(c, top);
    let ordered = check_forced_rule(&batches, inbox, l1);
    assert_eq!(
        ordered.keys().copied().collect::<Vec<_>>(),
        (0..inbox.len() as u64).collect::<Vec<_>>()
    );
    (batches, ordered)
}

// Uses a test double (`ordo_node::doubles`): only in a chaos build.
#[cfg(feature = "chaos")]
// One scenario, step by step with its checks; its helpers are above.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forced_entries_are_ordered_by_their_deadline_while_one_validator_censors_and_one_lags() {
    let (anvil, d, l1) = dev_l1().await;
    let dead = format!("http://127.0.0.1:{}", crate::cluster::free_base(1));
    const CENSOR: usize = 1;
    const LAGGING: usize = 3;
    let c = Cluster::start(4, |i, h| {
        edit_genesis(h, |g| g.l1 = Some(l1.clone()));
        edit_config(h, |cfg| {
            cfg.l1 = Some(match i {
                // Reads the L1 every 3 s, through a dead endpoint first.
                LAGGING => l1_section(vec![dead.clone(), anvil.url.clone()], 3_000),
                _ => l1_section(vec![anvil.url.clone()], 200),
            });
            cfg.testing.censor_forced = i == CENSOR;
        })
    })
    .await;
    c.wait_height(3, Duration::from_secs(60)).await;

    // Ordinary traffic all along, and eight forced entries from two L1 accounts.
    let node0 = c.nodes[0].as_ref().unwrap().shared.clone();
    let traffic = tokio::spawn(async move {
        for k in 0..400u32 {
            node0.submit(Transaction::new(
                Namespace(7),
                format!("ordinary {k}").into_bytes(),
            ));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut inbox = Vec::new();
    for k in 0..8u64 {
        let key = if k % 2 == 0 { DEV_KEY } else { DEV_KEY_2 };
        let ns = 40 + k % 2;
        let e = enqueue(
            &anvil.url,
            key,
            d.address,
            ns,
            format!("forced {k}").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(e.forced.queue_index, k);
        inbox.push(e.forced);
    }
    // Every node agrees (the lagging one caught up) and every entry is ordered once.
    let (batches, ordered) = all_ordered(&c, &inbox, &l1, Duration::from_secs(90)).await;
    traffic.abort();
    // In queue order across heights.
    let heights: Vec<u64> = ordered.values().copied().collect();
    assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");
    // Each entry was ordered by the first batch whose l1_ref made it due: the deadline.
    for e in &inbox {
        let h = ordered[&e.queue_index];
        let first_due = batches
            .iter()
            .find(|d| d.batch.header.l1_ref.number >= e.l1_block + DELAY)
            .unwrap();
        assert_eq!(
            h, first_due.batch.header.height.0,
            "entry {}",
            e.queue_index
        );
    }
    // The censor proposed and was refused; its refused proposals never decided (the rule
    // check above holds for every decided batch).
    let refusals: u64 = (0..4)
        .filter(|i| *i != CENSOR)
        .map(|i| {
            c.nodes[i]
                .as_ref()
                .unwrap()
                .shared
                .status_now()
                .forced_refusals
        })
        .sum();
    assert!(
        refusals > 0,
        "the honest validators refused censoring proposals"
    );
    let ordinary = batches
        .iter()
        .flat_map(|d| d.batch.txs.iter())
        .filter(|t| !t.is_forced())
        .count();
    assert!(ordinary > 0, "ordinary transactions were ordered alongside");
    let lagging = l1_status(&c, LAGGING);
    assert!(
        lagging.read_to.is_some(),
        "the lagging validator failed over: {lagging:?}"
    );
    eprintln!("censoring proposals refused: {refusals}");

    // Rollup 40 sees its forced entries in its verified stream, with proofs.
    let g = genesis(&c.homes[0]);
    let client = Client::new(&[format!("http://{}", c.rpc(2))]).unwrap();
    let set = client
        .validator_set(&TrustAnchor {
            chain_id: CHAIN,
            validator_set_hash: g.set.set.hash(),
        })
        .await
        .unwrap();
    let verifier = SliceVerifier::new(CHAIN, set, Namespace(40), Height(1), Limits::default());
    let mut stream = Box::pin(client.stream_namespace(verifier));
    let last = ordered[&6];
    let mut seen = Vec::new();
    loop {
        let slice = match tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(s) => s,
            Err(e @ StreamEvent::Rejected { .. }) => panic!("{e}"),
            Err(_) => continue,
        };
        seen.extend(
            slice
                .txs
                .iter()
                .filter_map(BatchTx::as_forced)
                .map(|f| f.queue_index),
        );
        if slice.height.0 >= last {
            break;
        }
    }
    assert_eq!(
        seen,
        [0, 2, 4, 6],
        "rollup 40's forced entries, verified, in order"
    );
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_l1_stalls_only_forced_inclusion() {
    let (anvil, d, l1) = dev_l1().await;
    let c = Cluster::start(4, |_, h| {
        edit_genesis(h, |g| g.l1 = Some(l1.clone()));
        edit_config(h, |cfg| {
            cfg.l1 = Some(l1_section(vec![anvil.url.clone()], 200))
        });
    })
    .await;
    c.wait_height(2, Duration::from_secs(60)).await;
    let mut inbox = Vec::new();
    let first = enqueue(&anvil.url, DEV_KEY, d.address, 5, b"before")
        .await
        .unwrap();
    inbox.push(first.forced);
    wait_ordered(&c, 0, &inbox, Duration::from_secs(60)).await;
    // Queued just before the L1 stops: not final yet, so not read yet.
    let late = enqueue(&anvil.url, DEV_KEY, d.address, 5, b"just before the stop")
        .await
        .unwrap();
    inbox.push(late.forced);

    signal(anvil.pid(), "-STOP");
    let stopped_at = c.height(0);
    // Ten heights while the L1 cannot answer (at least 6 s, so the source sees it fail). How
    // long they take depends on the machine's load, not on the L1: wait for them, bounded.
    let since = std::time::Instant::now();
    while (c.height(0) < stopped_at + 10 || since.elapsed() < Duration::from_secs(6))
        && since.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = c.height(0) - stopped_at;
    let st = l1_status(&c, 0);
    signal(anvil.pid(), "-CONT");
    assert!(
        during >= 10,
        "ordering went on while the L1 was unreachable ({during} heights)"
    );
    assert!(
        st.last_error.is_some(),
        "the source saw the L1 fail: {st:?}"
    );

    for k in 0..3u64 {
        let e = enqueue(
            &anvil.url,
            DEV_KEY_2,
            d.address,
            6,
            format!("after {k}").as_bytes(),
        )
        .await
        .unwrap();
        inbox.push(e.forced);
    }
    all_ordered(&c, &inbox, &l1, Duration::from_secs(60)).await;
    c.stop_all().await;
}

/// Every validator holds at most one unordered entry in memory: a burst of entries still gets
/// ordered, each by its deadline, because at the cap a source reads on to the due horizon of the
/// entry it holds (its block + inclusion delay + ref margin). Without that, every source would
/// stop at the first entry, which could then never become due, and forced inclusion would stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_entries_is_ordered_by_its_deadlines_when_every_validator_holds_one_at_a_time() {
    let (anvil, d, l1) = dev_l1().await;
    let c = Cluster::start(4, |_, h| {
        edit_genesis(h, |g| g.l1 = Some(l1.clone()));
        edit_config(h, |cfg| {
            cfg.l1 = Some(L1Section {
                max_pending_entries: 1,
                ..l1_section(vec![anvil.url.clone()], 200)
            });
        })
    })
    .await;
    c.wait_height(3, Duration::from_secs(60)).await;
    let mut inbox = Vec::new();
    for k in 0..6u64 {
        let e = enqueue(
            &anvil.url,
            DEV_KEY,
            d.address,
            40,
            format!("burst {k}").as_bytes(),
        )
        .await
        .unwrap();
        inbox.push(e.forced);
    }
    let (batches, ordered) = all_ordered(&c, &inbox, &l1, Duration::from_secs(90)).await;
    for e in &inbox {
        let first_due = batches
            .iter()
            .find(|d| d.batch.header.l1_ref.number >= e.l1_block + DELAY)
            .unwrap();
        assert_eq!(
            ordered[&e.queue_index], first_due.batch.header.height.0,
            "entry {} ordered by its deadline",
            e.queue_index
        );
    }
}
