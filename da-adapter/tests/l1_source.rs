//! The L1 source against a real anvil: reads the inbox in bounded ranges, fails over between
//! endpoints, persists what it read across a restart, prunes, and halts on a rewritten block.

use std::time::Duration;

use alloy::providers::{Provider, RootProvider};
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, DEV_KEY_2};
use ordo_da_adapter::l1::{Cap, Finality, L1Config, L1Reader, deploy_inbox, enqueue, spawn_source};
use ordo_types::{Limits, Namespace};

fn config(
    anvil: &Anvil,
    rpc: Vec<String>,
    inbox: alloy::primitives::Address,
    start: u64,
) -> L1Config {
    let _ = anvil;
    L1Config {
        rpc,
        inbox,
        start_block: start,
        l1_chain_id: Some(31337),
        finality: Finality::Depth(0),
        poll: Duration::from_millis(100),
        max_range: 2,
        request_timeout: Duration::from_secs(2),
        cap: Cap::default(),
        due_after: 0,
    }
}

async fn read_to(reader: &L1Reader, block: u64) {
    assert!(
        reader.wait_for(block, Duration::from_secs(20)).await,
        "the source reached block {block}: {:?}",
        reader.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_entry_in_order_with_failover_and_resumes_from_rocksdb() {
    let anvil = Anvil::spawn(None).await.expect("anvil");
    let limits = Limits::default();
    let d = deploy_inbox(&anvil.url, DEV_KEY, limits.max_tx_payload, 0)
        .await
        .expect("deploy");
    assert_eq!(d.l1_chain_id, 31337);
    // Seven entries from two senders, each in its own block (anvil mines per transaction).
    let mut queued = Vec::new();
    for i in 0..7u64 {
        let key = if i % 2 == 0 { DEV_KEY } else { DEV_KEY_2 };
        let e = enqueue(
            &anvil.url,
            key,
            d.address,
            10 + i % 3,
            format!("forced-{i}").as_bytes(),
        )
        .await
        .expect("enqueue");
        assert_eq!(e.forced.queue_index, i);
        assert_eq!(e.forced.namespace, Namespace(10 + i % 3));
        queued.push(e.forced);
    }
    let last_block = queued.last().expect("entries").l1_block;

    // The first endpoint is dead: the source moves on to the second.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = "http://127.0.0.1:9".to_string();
    let cfg = config(
        &anvil,
        vec![dead.clone(), anvil.url.clone()],
        d.address,
        d.block,
    );
    let (reader, task) =
        spawn_source(cfg.clone(), limits, &dir.path().join("l1"), 0).expect("source");
    read_to(&reader, last_block).await;
    let view = reader.view(0, u64::MAX, 100);
    assert_eq!(
        view.entries, queued,
        "every entry, in queue order, as queued"
    );
    let head = view.read_to.expect("read");
    let chain: RootProvider = RootProvider::new_http(anvil.url.parse().expect("url"));
    let block = chain
        .get_block_by_number(head.number.into())
        .await
        .expect("rpc")
        .expect("block");
    assert_eq!(
        head.hash.0, block.header.hash.0,
        "the head's hash is the L1's"
    );
    // Every block of the caught-up ranges has its hash.
    for e in &queued {
        assert!(
            reader.hash_at(e.l1_block).is_some(),
            "hash of block {}",
            e.l1_block
        );
    }
    assert_eq!(reader.view(3, u64::MAX, 2).entries, queued[3..5].to_vec());
    // Only entries queued by a block can be due by it: the view stops at the first later one.
    assert_eq!(
        reader.view(1, queued[3].l1_block, 100).entries,
        queued[1..4].to_vec()
    );

    // Pruning forgets ordered entries; views from the cursor are unchanged.
    reader.prune(4, 0);
    assert_eq!(reader.view(4, u64::MAX, 100).entries, queued[4..].to_vec());
    assert_eq!(reader.status().pending_entries, 3);
    task.abort();
    let _ = task.await;
    drop(reader);

    // Restarted with only a dead endpoint: everything read is there from rocksdb.
    let cfg_dead = config(&anvil, vec![dead], d.address, d.block);
    let (reader, task) =
        spawn_source(cfg_dead, limits, &dir.path().join("l1"), 4).expect("restart");
    assert_eq!(reader.head(), Some(head));
    assert_eq!(reader.view(4, u64::MAX, 100).entries, queued[4..].to_vec());
    task.abort();
    let _ = task.await;
    drop(reader);

    // Restarted against the L1 again: new entries continue the queue.
    let (reader, task) = spawn_source(cfg, limits, &dir.path().join("l1"), 4).expect("restart");
    let e = enqueue(&anvil.url, DEV_KEY, d.address, 1, b"after restart")
        .await
        .expect("enqueue");
    read_to(&reader, e.forced.l1_block).await;
    let view = reader.view(4, u64::MAX, 100);
    assert_eq!(view.entries.len(), 4);
    assert_eq!(view.entries[3], e.forced);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_final_block_halts_the_source() {
    let anvil = Anvil::spawn(None).await.expect("anvil");
    let limits = Limits::default();
    let d = deploy_inbox(&anvil.url, DEV_KEY, limits.max_tx_payload, 0)
        .await
        .expect("deploy");
    let chain: RootProvider = RootProvider::new_http(anvil.url.parse().expect("url"));
    let snapshot: alloy::primitives::U256 = chain
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("snapshot");
    let e = enqueue(&anvil.url, DEV_KEY, d.address, 1, b"soon rewritten")
        .await
        .expect("enqueue");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&anvil, vec![anvil.url.clone()], d.address, d.block);
    let (reader, _task) = spawn_source(cfg, limits, &dir.path().join("l1"), 0).expect("source");
    read_to(&reader, e.forced.l1_block).await;
    // The L1 rewrites history below what was read as final.
    let _: bool = chain
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("revert");
    enqueue(&anvil.url, DEV_KEY_2, d.address, 2, b"another history")
        .await
        .expect("enqueue");
    let _: String = chain
        .raw_request("evm_mine".into(), ())
        .await
        .expect("mine");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reader.status().halted.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            reader.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let halted = reader.status().halted.expect("halted");
    assert!(halted.contains("was read with hash"), "{halted}");
    // What was read stays as read: nothing of the other history leaks in.
    assert_eq!(reader.view(0, u64::MAX, 10).entries, vec![e.forced]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_ahead_pauses_at_the_cap_and_resumes_as_entries_are_ordered() {
    let anvil = Anvil::spawn(None).await.expect("anvil");
    let limits = Limits::default();
    let d = deploy_inbox(&anvil.url, DEV_KEY, limits.max_tx_payload, 0)
        .await
        .expect("deploy");
    let mut queued = Vec::new();
    for i in 0..6u64 {
        let e = enqueue(
            &anvil.url,
            DEV_KEY,
            d.address,
            3,
            format!("capped-{i}").as_bytes(),
        )
        .await
        .expect("enqueue");
        queued.push(e.forced);
    }
    let last_block = queued.last().expect("entries").l1_block;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&anvil, vec![anvil.url.clone()], d.address, d.block);
    cfg.cap = Cap {
        entries: 2,
        bytes: 1 << 20,
    };
    let (reader, task) = spawn_source(cfg, limits, &dir.path().join("l1"), 0).expect("source");

    // Two entries held (each in its own block): reading stops there, with more on the L1.
    let paused_at = |reader: &L1Reader, held: usize| {
        let reader = reader.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let st = reader.status();
                if st.paused && st.pending_entries == held {
                    return st;
                }
                assert!(std::time::Instant::now() < deadline, "{st:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let st = paused_at(&reader, 2).await;
    assert_eq!(st.next_index, 2);
    assert_eq!(
        st.read_to.map(|r| r.number),
        Some(queued[1].l1_block),
        "read up to the block of the last entry that fits, not past it"
    );
    assert_eq!(reader.view(0, u64::MAX, 100).entries, queued[..2].to_vec());
    assert_eq!(st.pending_bytes, 2 * "capped-0".len() as u64);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        reader.status().next_index,
        2,
        "still paused: nothing was ordered"
    );

    // Ordering entries frees room: reading resumes, two at a time, to the end.
    reader.prune(2, 0);
    let st = paused_at(&reader, 2).await;
    assert_eq!(st.next_index, 4);
    assert_eq!(reader.view(2, u64::MAX, 100).entries, queued[2..4].to_vec());
    reader.prune(4, 0);
    read_to(&reader, last_block).await;
    assert_eq!(reader.view(4, u64::MAX, 100).entries, queued[4..].to_vec());
    let st = reader.status();
    assert!(
        !st.paused,
        "caught up with the L1 at the cap is not a pause: {st:?}"
    );
    task.abort();
    let _ = task.await;
    drop(reader);

    // Entries become due only `due_after` blocks after their own: at the cap the source still
    // reads that far past the oldest it holds (here three more entries, one block each), or it
    // would hold entries that can never be ordered, and never read again.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&anvil, vec![anvil.url.clone()], d.address, d.block);
    cfg.cap = Cap {
        entries: 2,
        bytes: 1 << 20,
    };
    cfg.due_after = 3;
    let (reader, task) = spawn_source(cfg, limits, &dir.path().join("l1"), 0).expect("source");
    let st = paused_at(&reader, 4).await;
    assert_eq!(
        st.read_to.map(|r| r.number),
        Some(queued[0].l1_block + 3),
        "read up to the oldest held entry's due horizon"
    );
    assert_eq!(reader.view(0, u64::MAX, 100).entries, queued[..4].to_vec());
    reader.prune(1, 0);
    let st = paused_at(&reader, 4).await;
    assert_eq!(st.read_to.map(|r| r.number), Some(queued[1].l1_block + 3));
    task.abort();
}
