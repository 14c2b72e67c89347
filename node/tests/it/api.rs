//! The rollup API end to end: gRPC submission with both acknowledgement levels, transaction
//! gossip, the verified namespace stream through `ordo-client`, and bad input.

use crate::cluster::{CHAIN, Cluster, edit_config, genesis};
use futures::StreamExt;
use ordo_client::api::{GetTransactionRequest, StatusRequest, SubmitTxRequest, TxStatus};
use ordo_client::{Ack, Client, SliceVerifier, StreamEvent, TrustAnchor};
use ordo_types::{Height, Limits, Namespace};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tonic::Code;

fn url(c: &Cluster, i: usize) -> String {
    format!("http://{}", c.rpc(i))
}

// Uses a test double (`ordo_node::doubles`): only in a chaos build.
#[cfg(feature = "chaos")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_submitted_only_to_a_node_that_never_proposes_is_ordered() {
    // Node 0 proposes only empty batches: whatever reaches only its pool is ordered solely
    // because gossip carried it to another proposer.
    let c = Cluster::start(4, |i, h| {
        if i == 0 {
            edit_config(h, |c| c.testing.propose_empty_batches = true);
        }
    })
    .await;
    c.wait_height(2, Duration::from_secs(30)).await;
    let client = Client::new(&[url(&c, 0)]).unwrap();
    let me = c.nodes[0]
        .as_ref()
        .unwrap()
        .shared
        .status_now()
        .address
        .to_string();
    let mut positions = Vec::new();
    for k in 0..5u32 {
        let s = client
            .submit(
                Namespace(42),
                format!("only to node 0: {k}").into_bytes(),
                Ack::Ordered,
            )
            .await
            .unwrap();
        let (h, i) = s
            .position
            .expect("ordered acknowledgements carry a position");
        positions.push((h, i, s.id));
    }
    let highest = positions.iter().map(|(h, ..)| h.0).max().unwrap();
    c.wait_height(highest, Duration::from_secs(30)).await;
    for (h, i, id) in positions {
        let d = c
            .decided(1, h.0)
            .expect("the batch is stored on the other nodes too");
        assert_eq!(d.batch.txs[i as usize].id(), id);
        assert_ne!(
            d.batch.header.proposer.to_string(),
            me,
            "node 0 proposes only empty batches"
        );
    }
    let gossip = c.nodes[0].as_ref().unwrap().shared.gossip.as_ref().unwrap();
    assert!(
        gossip
            .stats
            .txs_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 5
    );
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollup_streams_its_verified_slice_of_every_height_across_nodes() {
    let c = Cluster::start(4, |_, _| {}).await;
    let g = genesis(&c.homes[0]);
    let anchor = TrustAnchor {
        chain_id: CHAIN,
        validator_set_hash: g.set.set.hash(),
    };
    // The first address is dead: the client moves on to the next node by itself.
    let dead = format!("http://127.0.0.1:{}", crate::cluster::free_base(1));
    let urls = vec![dead, url(&c, 1), url(&c, 2), url(&c, 3), url(&c, 0)];
    let client = Client::new(&urls).unwrap();
    let set = client.validator_set(&anchor).await.unwrap();

    // Two rollups submit to every node in turn (Client rotates), waiting for "ordered".
    let mut mine: BTreeMap<Vec<u8>, (Height, u32)> = BTreeMap::new();
    for k in 0..12u32 {
        let payload = format!("rollup-5 tx {k}").into_bytes();
        let s = client
            .submit(Namespace(5), payload.clone(), Ack::Ordered)
            .await
            .unwrap();
        mine.insert(payload, s.position.unwrap());
        client
            .submit(
                Namespace(6),
                format!("rollup-6 tx {k}").into_bytes(),
                Ack::Accepted,
            )
            .await
            .unwrap();
    }
    let last = mine.values().map(|(h, _)| h.0).max().unwrap();

    let verifier = SliceVerifier::new(CHAIN, set, Namespace(5), Height(1), Limits::default());
    let mut stream = Box::pin(client.stream_namespace(verifier));
    let mut seen: BTreeMap<Vec<u8>, (Height, u32)> = BTreeMap::new();
    let mut heights = BTreeSet::new();
    let mut node_failures = 0;
    while heights.len() < last as usize {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the stream keeps coming")
            .expect("the stream does not end");
        match item {
            Ok(slice) => {
                assert!(heights.insert(slice.height.0), "each height once");
                let d = c.decided(0, slice.height.0).unwrap();
                for t in &slice.txs {
                    let index = d.batch.txs.iter().position(|x| x == t).unwrap() as u32;
                    assert!(
                        seen.insert(t.payload().to_vec(), (slice.height, index))
                            .is_none()
                    );
                }
            }
            Err(StreamEvent::NodeFailed { .. }) => node_failures += 1,
            Err(e @ StreamEvent::Rejected { .. }) => panic!("an honest node was rejected: {e}"),
        }
    }
    assert_eq!(
        heights,
        (1..=last).collect::<BTreeSet<_>>(),
        "every height, empty ones too"
    );
    assert_eq!(
        seen, mine,
        "exactly the ordered transactions, where they were acknowledged"
    );
    assert!(node_failures >= 1, "the dead node was tried and skipped");
    c.stop_all().await;
}

// Uses a test double (`ordo_node::doubles`): only in a chaos build.
#[cfg(feature = "chaos")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_its_exact_error_and_nothing_else_is_dropped() {
    // One validator that never proposes its pool, with a pool of 4 transactions and two
    // namespaces: the pool fills and stays full.
    let c = Cluster::start(1, |_, h| {
        edit_config(h, |c| {
            c.testing.propose_empty_batches = true;
            c.mempool.max_txs = 4;
            c.mempool.allowed_namespaces = Some([Namespace(1), Namespace(2)].into());
        })
    })
    .await;
    c.wait_height(1, Duration::from_secs(30)).await;
    let mut node = Client::new(&[url(&c, 0)]).unwrap().node(0).unwrap();
    let req = |ns: u64, payload: Vec<u8>| SubmitTxRequest {
        namespace: ns,
        payload: payload.into(),
        ..SubmitTxRequest::default()
    };
    let mut accepted = Vec::new();
    for k in 0..4u8 {
        let r = node
            .submit_tx(req(1 + u64::from(k % 2), vec![k; 10]))
            .await
            .unwrap();
        accepted.push(r.into_inner().id);
    }
    let limits = genesis(&c.homes[0]).genesis.limits;
    let cases: Vec<(&str, SubmitTxRequest, Code, &str)> = vec![
        (
            "empty payload",
            req(1, vec![]),
            Code::InvalidArgument,
            "empty",
        ),
        (
            "oversize",
            req(1, vec![0; limits.max_tx_payload as usize + 1]),
            Code::OutOfRange,
            "exceeds the limit",
        ),
        (
            "unknown namespace",
            req(3, vec![1]),
            Code::InvalidArgument,
            "namespace 3",
        ),
        (
            "pool full",
            req(2, vec![9; 10]),
            Code::Unavailable,
            "pool is full",
        ),
    ];
    for (what, r, code, reason) in cases {
        let e = node.submit_tx(r).await.unwrap_err();
        assert_eq!(e.code(), code, "{what}: {e:?}");
        assert!(e.message().contains(reason), "{what}: {:?}", e.message());
    }
    // A resubmission is not an error.
    let again = node
        .submit_tx(req(1, vec![0; 10]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, ordo_client::api::Outcome::Duplicate as i32);
    // Malformed ids get a clear status too.
    let e = node
        .get_transaction(GetTransactionRequest {
            id: vec![1, 2, 3].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Everything accepted is still there, and the node still serves.
    for id in accepted {
        let r = node
            .get_transaction(GetTransactionRequest { id })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, TxStatus::Pending as i32);
    }
    let st = node.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(st.pool_size, 4);
    let (code, _) = ordo_node::http::get_json(c.rpc(0), "/health")
        .await
        .unwrap();
    assert_eq!(code, 200);
    c.stop_all().await;
}
