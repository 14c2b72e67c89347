//! The validator set following the L1 stake table, end to end on anvil (Prague): four genesis
//! validators register; a fifth node, outside the genesis set and outside their configured
//! peers, cannot connect, is refused by the table while not allow-listed, registers once
//! allow-listed, is admitted to both networks once derived, syncs from genesis, and joins
//! exactly at the epoch the derivation names, signing certificates from then on; a validator that requests its exit
//! leaves exactly at its boundary; load runs throughout and no height is skipped. Every
//! header names its epoch and its set, and every certificate verifies against that set, which
//! the test derives itself from the events it reads from the L1.

use crate::cluster::{CHAIN, Cluster, edit_config, edit_genesis};
use ordo_consensus::epoch;
use ordo_da_adapter::l1::deploy_inbox;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, funded_account};
use ordo_da_adapter::l1::stake::{self, Call, StakeTableParams};
use ordo_node::config::L1Section;
use ordo_node::genesis::{L1Genesis, StakeGenesis};
use ordo_node::home::{Home, Keys};
use ordo_types::{Address, Height, Limits, Namespace, Transaction, ValidatorSet};
use std::time::{Duration, Instant};

const E: u64 = 30;
const ETH: u128 = 1_000_000_000_000_000_000;
const FIFTH: usize = 4;
const LEAVER: usize = 0;

async fn anvil_rpc(rpc: &str, method: &'static str, params: serde_json::Value) {
    use alloy::providers::{Provider, RootProvider};
    let p: RootProvider = RootProvider::new_http(rpc.parse().unwrap());
    let _: serde_json::Value = p.raw_request(method.into(), params).await.unwrap();
}

/// A funded operator allow-listed by the owner, registered with `home`'s keys and `stake`.
async fn join(rpc: &str, table: stake::L1Address, home: &Home, stake_wei: u128) -> (String, u64) {
    let operator = funded_account(rpc, DEV_KEY, 100).await.unwrap();
    let allowed = Call::SetAllowListed {
        operator: stake::operator_of(&operator).unwrap(),
        allowed: true,
    };
    stake::call(rpc, DEV_KEY, table, allowed).await.unwrap();
    let r = ordo_node::validator::registration_of(home).unwrap();
    let block = stake::register(rpc, &operator, table, &r, stake_wei)
        .await
        .unwrap();
    (operator, block)
}

/// The set of every epoch the chain `headers` reached, derived from the L1 by the test itself.
async fn expected_sets(
    rpc: &str,
    s: &StakeGenesis,
    genesis: &ValidatorSet,
    l1_ref_of: impl Fn(u64) -> u64,
    top_epoch: u64,
) -> Vec<ValidatorSet> {
    let p = s.epoch_params();
    let head = ordo_da_adapter::l1::dev::block_number(rpc).await.unwrap();
    let events = stake::events(rpc, s.table.parse().unwrap(), s.table_block, head)
        .await
        .unwrap();
    let events = stake::epoch_events(&events);
    let mut sets = vec![genesis.clone(), genesis.clone()];
    for e in 2..=top_epoch {
        let cut = l1_ref_of(p.cutoff_height(e).unwrap());
        let d = epoch::derive(&events, cut, p.max_validators);
        let set = d.set.unwrap_or_else(|| sets.last().unwrap().clone());
        sets.push(set);
    }
    sets
}

fn address(home: &Home) -> Address {
    Keys::read(home).unwrap().address()
}

#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fifth_validator_joins_and_one_leaves_exactly_at_their_epoch_boundaries() {
    // Set up on an instantly mining L1, then 1 s blocks once the nodes run.
    let anvil = Anvil::spawn_fork(0, None, "prague").await.unwrap();
    let rpc = anvil.url.clone();
    let inbox = deploy_inbox(&rpc, DEV_KEY, Limits::default().max_tx_payload, 0)
        .await
        .unwrap();
    let params = StakeTableParams {
        min_stake_wei: ETH,
        unbonding_blocks: 5,
        allow_list: Vec::new(),
    };
    let table = stake::deploy_stake_table(&rpc, DEV_KEY, &params)
        .await
        .unwrap();
    let l1 = L1Genesis {
        l1_chain_id: inbox.l1_chain_id,
        inbox: format!("{:#x}", inbox.address),
        inbox_block: inbox.block,
        inclusion_delay: 2,
        forced_budget_bytes: 64 * 1024,
    };
    let stake_genesis = StakeGenesis {
        table: format!("{:#x}", table.address),
        table_block: table.block,
        epoch_length: E,
        max_validators: 8,
    };
    let c = Cluster::start(5, |i, h| {
        // Four genesis validators; node 4 is outside the genesis set, and outside their
        // configured peers: they admit it only once it is in an epoch's set.
        let fifth_home = Home(h.0.parent().unwrap().join(format!("node-{FIFTH}")));
        let fifth = address(&fifth_home);
        let fifth_peer = Keys::read(&fifth_home).unwrap().peer_id();
        edit_genesis(h, |g| {
            g.validators.retain(|v| v.address != fifth);
            g.l1 = Some(l1.clone());
            g.stake = Some(stake_genesis.clone());
        });
        edit_config(h, |cfg| {
            if i != FIFTH {
                cfg.p2p
                    .persistent_peers
                    .retain(|p| !p.ends_with(&fifth_peer));
                if let Some(g) = cfg.gossip.as_mut() {
                    g.peers.retain(|p| !p.ends_with(&fifth_peer));
                }
            }
            cfg.l1 = Some(L1Section {
                rpc: vec![rpc.clone()],
                finality: "latest-1".into(),
                poll_ms: 100,
                request_timeout_ms: 1_000,
                ..L1Section::default()
            });
        });
    })
    .await;
    // Genesis validators register like anyone (ADR 20), with stakes of 1..=4 ETH. Until a
    // cut-off sees a registration, derived epochs keep the genesis set.
    let mut operators = Vec::new();
    let mut registered_by = 0;
    for (i, h) in c.homes.iter().take(FIFTH).enumerate() {
        let (key, block) = join(&rpc, table.address, h, (i as u128 + 1) * ETH).await;
        operators.push(key);
        registered_by = block;
    }
    anvil_rpc(&rpc, "evm_setIntervalMining", serde_json::json!([1])).await;

    // Load on every genesis validator all along.
    let shared: Vec<_> = (0..FIFTH)
        .map(|i| c.nodes[i].as_ref().unwrap().shared.clone())
        .collect();
    let load = tokio::spawn(async move {
        for k in 0..3_000u32 {
            let s = &shared[k as usize % shared.len()];
            let _ = s.submit(Transaction::new(
                Namespace(7),
                format!("tx {k}").into_bytes(),
            ));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // Wait until a cut-off saw the four registrations: the fifth comes after.
    let p = stake_genesis.epoch_params();
    let l1_ref = |h: u64| c.decided(0, h).unwrap().batch.header.l1_ref.number;
    let first_after = |block: u64| {
        let top = c.height(0);
        (2..)
            .take_while(|e| p.cutoff_height(*e).unwrap() <= top)
            .find(|e| l1_ref(p.cutoff_height(*e).unwrap()) >= block)
    };
    let start = Instant::now();
    let all_four = loop {
        if let Some(e) = first_after(registered_by) {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no cut-off past the registrations"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Not admitted by any validator, the fifth has not even synced.
    assert_eq!(
        c.height(FIFTH),
        0,
        "the fifth connected before it was admitted"
    );
    // The fifth: refused while not allow-listed, then allow-listed and registered.
    let stranger = funded_account(&rpc, DEV_KEY, 100).await.unwrap();
    let r5 = ordo_node::validator::registration_of(&c.homes[FIFTH]).unwrap();
    let e = stake::register(&rpc, &stranger, table.address, &r5, 3 * ETH)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NotAllowListed"), "{e}");
    let (_, joined_at) = join(&rpc, table.address, &c.homes[FIFTH], 3 * ETH).await;
    // And a genesis validator asks to leave.
    let left_at = stake::call(&rpc, &operators[LEAVER], table.address, Call::RequestExit)
        .await
        .unwrap();

    // Wait until both changes took effect, and a few heights more.
    let start = Instant::now();
    let (join_epoch, leave_epoch) = loop {
        if let (Some(j), Some(l)) = (first_after(joined_at), first_after(left_at)) {
            break (j, l);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no cut-off past the changes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let last_epoch = join_epoch.max(leave_epoch);
    eprintln!(
        "four from epoch {all_four}, the fifth joins at {join_epoch}, one leaves at {leave_epoch}"
    );
    // Admitted one epoch before its own, the fifth syncs from genesis meanwhile.
    let top = p.last_height(last_epoch) + 5;
    c.wait_height(top, Duration::from_secs(120)).await;
    load.abort();

    // Every node, the fifth too, holds every height; each header names its epoch and the set
    // the test derives; each certificate verifies against that set.
    let genesis = crate::cluster::genesis(&c.homes[0])
        .set
        .set
        .as_ref()
        .clone();
    let sets = expected_sets(&rpc, &stake_genesis, &genesis, l1_ref, p.epoch_of(top)).await;
    let fifth = address(&c.homes[FIFTH]);
    let leaver = address(&c.homes[LEAVER]);
    let mut fifth_signed = 0;
    for h in 1..=top {
        let d = c
            .decided(0, h)
            .unwrap_or_else(|| panic!("height {h} missing"));
        for i in 1..5 {
            assert_eq!(
                c.decided(i, h).unwrap().batch.hash(),
                d.batch.hash(),
                "node {i} at {h}"
            );
        }
        let e = p.epoch_of(h);
        let set = &sets[e as usize];
        assert_eq!(d.batch.header.epoch.0, e, "height {h}");
        assert_eq!(
            d.batch.header.validator_set_hash,
            set.hash(),
            "height {h} (epoch {e})"
        );
        d.certificate
            .verify_for(set, CHAIN, Height(h), &d.batch.hash())
            .unwrap_or_else(|err| panic!("certificate of height {h}: {err}"));
        if let Some(i) = set.index_of(&fifth) {
            let signers = d.certificate.signers.indices(set.len()).unwrap();
            fifth_signed += usize::from(signers.contains(&i));
        }
    }
    let has = |e: u64, a: &Address| sets[e as usize].index_of(a).is_some();
    // The first epoch whose cut-off saw every genesis registration has the four validators,
    // power = stake in gwei; derived epochs before it kept the genesis set or had part of it.
    assert!(all_four < join_epoch);
    let powers: Vec<u64> = sets[all_four as usize]
        .validators()
        .iter()
        .map(|v| v.voting_power)
        .collect();
    assert_eq!(
        powers,
        vec![4_000_000_000, 3_000_000_000, 2_000_000_000, 1_000_000_000]
    );
    assert!(!has(join_epoch - 1, &fifth) && has(join_epoch, &fifth));
    assert!(has(leave_epoch - 1, &leaver) && !has(leave_epoch, &leaver));
    assert!(
        fifth_signed > 0,
        "the fifth validator signed no certificate of its epochs"
    );
    // A rollup's client, anchored on the genesis set, streams its namespace from height 1
    // across every set change, each set taken only because the previous one vouched for it.
    stream_across_epochs(&c, &genesis, top).await;

    // The API serves every epoch's set, and names what it knows for one not derived yet.
    for e in [0, all_four, join_epoch, leave_epoch] {
        let path = format!("/v1/validators?epoch={e}");
        let (code, v) = ordo_node::http::get_json(c.rpc(FIFTH), &path)
            .await
            .unwrap();
        assert_eq!(code, 200, "{v}");
        assert_eq!(
            v["validator_set_hash"],
            sets[e as usize].hash().to_string(),
            "epoch {e}"
        );
    }
    let far = format!("/v1/validators?epoch={}", last_epoch + 50);
    let (code, v) = ordo_node::http::get_json(c.rpc(0), &far).await.unwrap();
    assert_eq!(code, 404, "{v}");
    assert!(v.to_string().contains("known up to epoch"), "{v}");
    c.stop_all().await;
}

/// Streams namespace 7 from height 1 to `top` through the verifying client, anchored on the
/// genesis set; every item verifies (no node's item is rejected), in height order.
async fn stream_across_epochs(c: &Cluster, genesis: &ValidatorSet, top: u64) {
    use futures::StreamExt;
    let urls: Vec<String> = (0..5).map(|i| format!("http://{}", c.rpc(i))).collect();
    let client = ordo_client::Client::new(&urls).unwrap();
    let anchor = ordo_client::TrustAnchor {
        chain_id: CHAIN,
        validator_set_hash: genesis.hash(),
    };
    let set = client.validator_set(&anchor).await.unwrap();
    let verifier =
        ordo_client::SliceVerifier::new(CHAIN, set, Namespace(7), Height(1), Limits::default());
    let mut stream = Box::pin(client.stream_namespace(verifier));
    let mut expected = 1;
    let mut txs = 0;
    while expected <= top {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the stream went silent")
            .expect("the stream ended");
        match item {
            Ok(v) => {
                assert_eq!(v.height.0, expected);
                txs += v.txs.len();
                expected += 1;
            }
            Err(ordo_client::StreamEvent::Rejected {
                node,
                height,
                error,
            }) => {
                panic!("{node} at {height}: {error}")
            }
            Err(e) => eprintln!("stream: {e}"),
        }
    }
    assert!(txs > 0, "no transaction of namespace 7 came through");
}
