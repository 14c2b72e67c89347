//! The validator set following the L1 stake table, end to end on anvil (Prague): four genesis
//! validators register; a fifth node, outside the genesis set and outside their configured
//! peers, cannot connect, is refused by the table while not allow-listed, registers once
//! allow-listed, is admitted to both networks once derived, syncs from genesis, and joins
//! exactly at the epoch the derivation names, signing certificates from then on; a validator that requests its exit
//! leaves exactly at its boundary; load runs throughout and no height is skipped. Every
//! header names its epoch and its set, and every certificate verifies against that set, which
//! the test derives itself from the events it reads from the L1. All five post to the L1 as
//! blobs, by a rotation over each epoch's set: the fifth posts its own ranges once it is in,
//! and a rollup rebuilds its namespace from the L1 alone across both set changes, deriving
//! each set itself.

use crate::cluster::{CHAIN, Cluster, edit_config, edit_genesis};
use ordo_consensus::epoch;
use ordo_da_adapter::l1::deploy_inbox;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, funded_account};
use ordo_da_adapter::l1::stake::{self, Call, StakeTableParams};
use ordo_node::config::{DaSection, L1Section};
use ordo_node::genesis::{DaGenesis, L1Genesis, StakeGenesis};
use ordo_node::home::{Home, Keys};
use ordo_types::bls::BlsSecretKey;
use ordo_types::{Address, Height, Limits, Namespace, Transaction, ValidatorSet};
use std::time::{Duration, Instant};

const E: u64 = 30;
const ETH: u128 = 1_000_000_000_000_000_000;
const FIFTH: usize = 4;
const LEAVER: usize = 0;
const INBOX: &str = "0x00000000000000000000000000000000000da7a5";
/// Six DA ranges per epoch: each of five members is the first poster of one in every epoch.
const RANGE: u64 = 5;

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

/// Five nodes on an anvil at `hardfork` with a stake table (1 ETH minimum): four genesis
/// validators registered in it (allow-listed, stakes of 1..=4 ETH, in order), and a fifth node
/// outside the genesis set and outside their configured peers (they admit it only once it is in
/// an epoch's set). With `da`, every node posts to the L1 as blobs. 1 s L1 blocks once the
/// nodes run.
struct Net {
    _anvil: Anvil,
    rpc: String,
    table: stake::StakeTable,
    stake: StakeGenesis,
    c: Cluster,
    /// The genesis validators' operator keys.
    operators: Vec<String>,
    /// The L1 block of the last genesis registration.
    registered_by: u64,
}

async fn net(hardfork: &str, da: bool) -> Net {
    // Set up on an instantly mining L1, then 1 s blocks once the nodes run.
    let anvil = Anvil::spawn_fork(0, None, hardfork).await.unwrap();
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
    let mut da_keys = Vec::new();
    for _ in 0..5 {
        da_keys.push(funded_account(&rpc, DEV_KEY, 100).await.unwrap());
    }
    let c = Cluster::start(5, |i, h| {
        let fifth_home = Home(h.0.parent().unwrap().join(format!("node-{FIFTH}")));
        let fifth = address(&fifth_home);
        let fifth_peer = Keys::read(&fifth_home).unwrap().peer_id();
        edit_genesis(h, |g| {
            g.validators.retain(|v| v.address != fifth);
            g.l1 = Some(l1.clone());
            g.stake = Some(stake_genesis.clone());
            g.da = da.then(|| DaGenesis {
                batch_inbox: INBOX.into(),
                start_block: table.block,
                range_heights: RANGE,
            });
        });
        let key = da_keys[i].as_bytes();
        ordo_node::keyfile::write_secret(&h.0.join("keys/l1.key"), key, false).unwrap();
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
            cfg.da = da.then(|| DaSection {
                backend: "ethereum-blobs".into(),
                rpc: rpc.clone(),
                key_file: Some("keys/l1.key".into()),
                finality: "latest-1".into(),
                poll_ms: 200,
                takeover_after_ms: 8_000,
                ..DaSection::default()
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
    Net {
        _anvil: anvil,
        rpc,
        table,
        stake: stake_genesis,
        c,
        operators,
        registered_by,
    }
}

impl Net {
    /// The L1 block of height `h`'s `l1_ref` (node 0).
    fn l1_ref(&self, h: u64) -> u64 {
        self.c.decided(0, h).unwrap().batch.header.l1_ref.number
    }

    /// The first epoch whose cut-off (decided by now) saw L1 block `block`.
    fn first_after(&self, block: u64) -> Option<u64> {
        let p = self.stake.epoch_params();
        let top = self.c.height(0);
        (2..)
            .take_while(|e| p.cutoff_height(*e).unwrap() <= top)
            .find(|e| self.l1_ref(p.cutoff_height(*e).unwrap()) >= block)
    }

    /// Waits for [`Net::first_after`] `block`.
    async fn epoch_after(&self, block: u64, what: &str) -> u64 {
        let start = Instant::now();
        loop {
            if let Some(e) = self.first_after(block) {
                return e;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no cut-off past {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The set of every epoch up to `top_epoch`, derived from the L1 by the test itself.
    async fn sets(&self, top_epoch: u64) -> Vec<ValidatorSet> {
        let genesis = crate::cluster::genesis(&self.c.homes[0])
            .set
            .set
            .as_ref()
            .clone();
        expected_sets(
            &self.rpc,
            &self.stake,
            &genesis,
            |h| self.l1_ref(h),
            top_epoch,
        )
        .await
    }
}

#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fifth_validator_joins_and_one_leaves_exactly_at_their_epoch_boundaries() {
    let net = net("prague", true).await;
    let Net {
        rpc,
        table,
        stake: stake_genesis,
        c,
        operators,
        registered_by,
        ..
    } = &net;
    let (rpc, table, stake_genesis, c) = (rpc.as_str(), table, stake_genesis, c);
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
    let all_four = net.epoch_after(*registered_by, "the registrations").await;

    // Not admitted by any validator, the fifth has not even synced.
    assert_eq!(
        c.height(FIFTH),
        0,
        "the fifth connected before it was admitted"
    );
    // The fifth: refused while not allow-listed, then allow-listed and registered.
    let stranger = funded_account(rpc, DEV_KEY, 100).await.unwrap();
    let r5 = ordo_node::validator::registration_of(&c.homes[FIFTH]).unwrap();
    let e = stake::register(rpc, &stranger, table.address, &r5, 3 * ETH)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NotAllowListed"), "{e}");
    let (_, joined_at) = join(rpc, table.address, &c.homes[FIFTH], 3 * ETH).await;
    // And a genesis validator asks to leave.
    let left_at = stake::call(rpc, &operators[LEAVER], table.address, Call::RequestExit)
        .await
        .unwrap();

    // Wait until both changes took effect, and a few heights more.
    let join_epoch = net.epoch_after(joined_at, "the join").await;
    let leave_epoch = net.epoch_after(left_at, "the exit").await;
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
    let sets = net.sets(p.epoch_of(top)).await;
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
    stream_across_epochs(c, &genesis, 1, top).await;
    // Started inside the join epoch, it first walks one header per earlier epoch.
    stream_across_epochs(c, &genesis, p.first_height(join_epoch) + 2, top).await;
    rebuilt_from_the_l1(c, rpc, stake_genesis, &genesis, (join_epoch, last_epoch)).await;

    // The API serves every epoch's set, and names what it knows for one not derived yet.
    for e in [0, all_four, join_epoch, leave_epoch] {
        let path = format!("/v1/validators?epoch={e}");
        let (code, v) = ordo_node::http::get_json(c.rpc(FIFTH), &path)
            .await
            .unwrap();
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["epoch_length"], E, "{v}");
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
    let Net { c, .. } = net;
    c.stop_all().await;
}

/// Streams namespace 7 from height `from` to `top` through the verifying client, anchored on
/// the genesis set; every item verifies (no node's item is rejected), in height order.
async fn stream_across_epochs(c: &Cluster, genesis: &ValidatorSet, from: u64, top: u64) {
    use futures::StreamExt;
    let urls: Vec<String> = (0..5).map(|i| format!("http://{}", c.rpc(i))).collect();
    let client = ordo_client::Client::new(&urls).unwrap();
    let anchor = ordo_client::TrustAnchor {
        chain_id: CHAIN,
        validator_set_hash: genesis.hash(),
    };
    let verifier = client
        .verifier_from(&anchor, Namespace(7), Height(from))
        .await
        .unwrap();
    let mut stream = Box::pin(client.stream_namespace(verifier));
    let mut expected = from;
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

/// Once the epochs of both changes are available on the L1: the fifth posted ranges of its own
/// epochs as their first poster, and a rollup rebuilds namespace 7 from the L1 alone from height
/// 1, and from inside the join epoch (walking one header per earlier epoch), deriving every set
/// from the stake table itself; each slice is the certified one.
async fn rebuilt_from_the_l1(
    c: &Cluster,
    rpc: &str,
    s: &StakeGenesis,
    genesis: &ValidatorSet,
    (join_epoch, last_epoch): (u64, u64),
) {
    let p = s.epoch_params();
    let to = p.last_height(last_epoch);
    let da = |i: usize| {
        let n = c.nodes[i].as_ref().unwrap();
        n.shared.da.as_ref().unwrap().lock().unwrap().clone()
    };
    let start = Instant::now();
    while (0..5).any(|i| da(i).available_height < to) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "heights up to {to} not available: {:?}",
            (0..5).map(da).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let fifth = da(FIFTH);
    assert!(
        fifth.frames_posted > fifth.takeover_frames,
        "the fifth posted no range of its own: {fifth:?}"
    );
    let l1 = ordo_client::l1::L1Da {
        rpc: rpc.to_string(),
        batch_inbox: INBOX.into(),
        start_block: s.table_block,
        finality: ordo_da_adapter::l1::Finality::Depth(1),
        beacon: None,
        stake: Some(ordo_client::l1::L1Stake {
            table: s.table.clone(),
            table_block: s.table_block,
            epoch_length: s.epoch_length,
            max_validators: s.max_validators,
        }),
    };
    let ns = Namespace(7);
    for from in [1, p.first_height(join_epoch) + 2] {
        let got = ordo_client::l1::namespace_from_l1(
            &l1,
            CHAIN,
            genesis,
            Limits::default(),
            ns,
            Height(from),
            Height(to),
        )
        .await
        .unwrap_or_else(|e| panic!("rebuilt from {from}: {e}"));
        assert_eq!(got.slices.len() as u64, to - from + 1, "from {from}");
        for v in &got.slices {
            let d = c.decided(0, v.height.0).unwrap();
            assert_eq!(v.hash, d.batch.hash(), "height {}", v.height.0);
            assert_eq!(v.txs, d.batch.slice(ns), "height {}", v.height.0);
        }
        assert!(got.slices.iter().any(|v| !v.txs.is_empty()), "from {from}");
    }
    // Derived by other rules (a cap of two validators), the sets are not the ones the chain
    // vouches for: nothing past the first change verifies.
    let mut other = l1.clone();
    if let Some(st) = other.stake.as_mut() {
        st.max_validators = 2;
    }
    let r = ordo_client::l1::namespace_from_l1(
        &other,
        CHAIN,
        genesis,
        Limits::default(),
        ns,
        Height(1),
        Height(to),
    )
    .await;
    assert!(
        matches!(
            &r,
            Err(ordo_client::l1::L1HistoryError::Verify {
                error: ordo_client::VerifyError::NotTheNextSet { .. },
                ..
            })
        ),
        "{r:?}"
    );
}

/// After the owner opens registration: a stranger, never allow-listed, is refused below the
/// minimum stake and registers with it; a registration whose proof of possession fails lands on
/// this L1 (Cancun: no EIP-2537, so the table cannot check proofs) but no validator counts it.
/// The stranger joins exactly at its derived boundary, syncs and signs. Then it exits: it leaves
/// the set at its boundary, and once it is in neither the current nor the next epoch's set the
/// validators drop its peer (it is not among their configured peers), so the chain stops
/// reaching it while the four go on.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_registration_opens_a_stranger_joins_a_bad_proof_counts_for_nothing_and_a_leaver_is_dropped()
 {
    let net = net("cancun", false).await;
    let (rpc, table, c) = (net.rpc.as_str(), net.table.address, &net.c);
    let p = net.stake.epoch_params();
    assert!(!net.table.verifies_pop, "Cancun has no BLS precompiles");
    stake::call(rpc, DEV_KEY, table, Call::OpenRegistration)
        .await
        .unwrap();
    let stranger = funded_account(rpc, DEV_KEY, 100).await.unwrap();
    let r = ordo_node::validator::registration_of(&c.homes[FIFTH]).unwrap();
    let e = stake::register(rpc, &stranger, table, &r, ETH / 2)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("StakeBelowMinimum"), "{e}");
    let joined_at = stake::register(rpc, &stranger, table, &r, ETH)
        .await
        .unwrap();
    // A forged registration: the proof of possession is of another BLS key.
    let forger = funded_account(rpc, DEV_KEY, 100).await.unwrap();
    let forged_ckey = *malachitebft_signing_ed25519::PrivateKey::from([79; 32])
        .public_key()
        .as_bytes();
    let peer = libp2p_identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let forged = stake::Registration {
        bls_key: BlsSecretKey::from_seed(&[77; 32]).public_key(),
        bls_pop: BlsSecretKey::from_seed(&[78; 32]).proof_of_possession(),
        consensus_key: forged_ckey,
        peer_id: peer.to_bytes(),
        p2p_addresses: format!("/ip4/127.0.0.1/tcp/9/p2p/{peer}"),
    };
    let forged_at = stake::register(rpc, &forger, table, &forged, 5 * ETH)
        .await
        .expect("without EIP-2537 the table takes the registration");

    let join = net
        .epoch_after(joined_at, "the stranger's registration")
        .await;
    let forged_epoch = net.epoch_after(forged_at, "the forged registration").await;
    c.wait_height(p.first_height(forged_epoch) + 2, Duration::from_secs(120))
        .await;
    let sets = net.sets(join.max(forged_epoch)).await;
    let fifth = address(&c.homes[FIFTH]);
    let forged_address = epoch::address_of(&forged_ckey);
    assert!(sets[join as usize - 1].index_of(&fifth).is_none());
    let set = &sets[join as usize];
    let i = set
        .index_of(&fifth)
        .expect("the stranger is in its epoch's set");
    assert_eq!(set.validators()[i.0 as usize].voting_power, 1_000_000_000);
    assert!(
        sets.iter().all(|s| s.index_of(&forged_address).is_none()),
        "a registration with a bad proof of possession counted"
    );
    // The derivation names why; the node serves the same set.
    let head = ordo_da_adapter::l1::dev::block_number(rpc).await.unwrap();
    let events = stake::events(rpc, table, net.stake.table_block, head)
        .await
        .unwrap();
    let cut = net.l1_ref(p.cutoff_height(forged_epoch).unwrap());
    let d = epoch::derive(&stake::epoch_events(&events), cut, p.max_validators);
    let forger_operator = stake::operator_of(&forger).unwrap().into_array();
    assert!(
        d.ignored
            .contains(&(forger_operator, epoch::Ignored::BadProofOfPossession)),
        "{:?}",
        d.ignored
    );
    let path = format!("/v1/validators?epoch={join}");
    let (code, v) = ordo_node::http::get_json(c.rpc(0), &path).await.unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["validator_set_hash"], set.hash().to_string());
    // The stranger syncs and signs certificates of its epochs.
    let start = Instant::now();
    let mut checked = p.first_height(join);
    let mut signed = 0;
    while signed == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the stranger signed no certificate up to height {checked}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let top = c.height(0);
        let sets = net.sets(p.epoch_of(top)).await;
        for h in checked..=top {
            let set = &sets[p.epoch_of(h) as usize];
            let d = c.decided(0, h).unwrap();
            d.certificate
                .verify_for(set, CHAIN, Height(h), &d.batch.hash())
                .unwrap();
            if let Some(i) = set.index_of(&fifth) {
                let signers = d.certificate.signers.indices(set.len()).unwrap();
                signed += usize::from(signers.contains(&i));
            }
        }
        checked = top + 1;
    }

    // It exits: gone from the set at its boundary, then dropped by every validator.
    let exit_at = stake::call(rpc, &stranger, table, Call::RequestExit)
        .await
        .unwrap();
    let gone = net.epoch_after(exit_at, "the exit").await;
    let four = [0, 1, 2, 3];
    c.wait_nodes(&four, p.first_height(gone) + 5, Duration::from_secs(120))
        .await;
    let sets = net.sets(gone).await;
    assert!(sets[gone as usize - 1].index_of(&fifth).is_some());
    assert!(sets[gone as usize].index_of(&fifth).is_none());
    let dropped_at = c.height(FIFTH);
    let others_at = c.height(0);
    c.wait_nodes(&four, others_at + 40, Duration::from_secs(60))
        .await;
    let later = c.height(FIFTH);
    eprintln!(
        "joined at epoch {join}, gone at {gone}; the stranger at {dropped_at} then {later}, the others past {}",
        others_at + 40
    );
    assert!(
        dropped_at >= p.last_height(gone - 1),
        "the stranger followed the chain through its last epoch ({dropped_at})"
    );
    assert!(
        later <= dropped_at + 2,
        "the validators still serve a peer no epoch admits: {dropped_at} -> {later}"
    );
    let Net { c, .. } = net;
    c.stop_all().await;
}
