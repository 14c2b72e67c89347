//! The stake table from the command line, against a real anvil at Prague: `ordo l1 deploy
//! --stake-table` deploys it permissioned with the genesis validators' operators allow-listed
//! and writes the genesis `stake` section; `ordo validator register | add-stake | exit |
//! withdraw | status` act with a home's own keys; refusals name the contract's error; the
//! events read back derive the set the epoch rules say, with the homes' addresses.

use crate::cluster::{Processes, genesis, ordo_bin};
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, funded_account};
use ordo_node::home::{Home, Keys};
use std::process::{Command, Output};

const UNBONDING: u64 = 3;

fn ordo(args: &[&str], home: &Home, rpc: &str, key: Option<&str>) -> Output {
    let mut c = Command::new(ordo_bin());
    c.args(args).arg("--home").arg(&home.0).args(["--rpc", rpc]);
    if let Some(k) = key {
        c.args(["--key", k]);
    }
    c.env_remove("ORDO_L1_KEY").output().unwrap()
}

/// Runs `ordo validator ...` and answers the status it printed; panics if it failed.
fn ok(args: &[&str], home: &Home, rpc: &str) -> serde_json::Value {
    let out = ordo(args, home, rpc, None);
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `ordo validator ...`, expects a refusal, and answers its message.
fn refused(args: &[&str], home: &Home, rpc: &str, key: Option<&str>) -> String {
    let out = ordo(args, home, rpc, key);
    assert!(!out.status.success(), "{args:?} should be refused: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn mine(rpc: &str, blocks: u64) {
    use alloy::providers::{Provider, RootProvider};
    let p: RootProvider = RootProvider::new_http(rpc.parse().unwrap());
    let _: serde_json::Value = p.raw_request("anvil_mine".into(), (blocks,)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_register_exit_and_withdraw_from_the_command_line() {
    let anvil = Anvil::spawn_fork(0, None, "prague").await.unwrap();
    let rpc = anvil.url.as_str();
    let p = Processes::init(4);
    let mut deploy = Command::new(ordo_bin());
    deploy.args(["l1", "deploy", "--rpc", rpc, "--key", DEV_KEY]);
    for h in &p.homes {
        deploy.arg("--home").arg(&h.0);
    }
    let out = deploy
        .args([
            "--finality",
            "latest-1",
            "--stake-table",
            "--min-stake-ether",
            "1",
        ])
        .args([
            "--unbonding-blocks",
            &UNBONDING.to_string(),
            "--epoch-length",
            "20",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stake = genesis(&p.homes[0]).genesis.stake.unwrap();
    assert_eq!(printed["stake_table"].as_str(), Some(stake.table.as_str()));
    assert_eq!((stake.epoch_length, stake.max_validators), (20, 100));
    for h in &p.homes {
        assert_eq!(genesis(h).genesis.stake.as_ref(), Some(&stake));
        assert!(h.operator_key().exists());
    }
    let (h0, h1, h2) = (&p.homes[0], &p.homes[1], &p.homes[2]);

    let s = ok(&["validator", "status"], h0, rpc);
    assert_eq!(s["state"], "unregistered");
    assert_eq!(s["registration_open"], false);
    assert_eq!(s["unbonding_blocks"], UNBONDING);
    let e = refused(
        &["validator", "register", "--stake-ether", "0.5"],
        h0,
        rpc,
        None,
    );
    assert!(e.contains("StakeBelowMinimum"), "{e}");
    let s = ok(&["validator", "register", "--stake-ether", "32"], h0, rpc);
    assert_eq!(s["state"], "bonded");
    assert_eq!(s["stake_wei"], "32000000000000000000");
    assert_eq!(s["holds_this_homes_bls_key"], true);
    assert_eq!(s["address"], Keys::read(h0).unwrap().address().to_string());
    let e = refused(
        &["validator", "register", "--stake-ether", "32"],
        h0,
        rpc,
        None,
    );
    assert!(e.contains("AlreadyRegistered"), "{e}");
    let s = ok(&["validator", "add-stake", "--ether", "0.5"], h0, rpc);
    assert_eq!(s["stake_wei"], "32500000000000000000");

    // A stranger (funded, not allow-listed) is refused while the table is permissioned.
    let stranger = funded_account(rpc, DEV_KEY, 50).await.unwrap();
    let e = refused(
        &["validator", "register", "--stake-ether", "32"],
        &p.homes[3],
        rpc,
        Some(&stranger),
    );
    assert!(e.contains("NotAllowListed"), "{e}");

    ok(&["validator", "register", "--stake-ether", "2"], h1, rpc);
    ok(&["validator", "register", "--stake-ether", "1"], h2, rpc);
    let e = refused(&["validator", "withdraw"], h0, rpc, None);
    assert!(e.contains("NotExiting"), "{e}");
    let s = ok(&["validator", "exit"], h0, rpc);
    assert_eq!(s["state"], "exiting");
    let exit_block = s["exit_block"].as_u64().unwrap();
    assert_eq!(s["withdrawable_from_block"], exit_block + UNBONDING);
    let e = refused(&["validator", "withdraw"], h0, rpc, None);
    assert!(e.contains("StillUnbonding"), "{e}");
    mine(rpc, UNBONDING).await;
    let s = ok(&["validator", "withdraw"], h0, rpc);
    assert_eq!(s["state"], "withdrawn");

    events_derive_the_bonded_homes(rpc, &stake, &[h1, h2]).await;
}

/// The events, read back and derived by the epoch rules: the `bonded` homes are the set, by
/// stake, under the addresses their genesis entries have, with their peer ids.
async fn events_derive_the_bonded_homes(
    rpc: &str,
    stake: &ordo_node::genesis::StakeGenesis,
    bonded: &[&Home],
) {
    let h1 = bonded[0];
    // The events, read back and derived by the epoch rules: home 0 exited, homes 1 and 2 are
    // the set, by stake, under the addresses their genesis entries have.
    let table = stake.table.parse().unwrap();
    let head = ordo_da_adapter::l1::dev::block_number(rpc).await.unwrap();
    let events = ordo_da_adapter::l1::stake::events(rpc, table, stake.table_block, head)
        .await
        .unwrap();
    let derived = ordo_consensus::epoch::derive(
        &ordo_da_adapter::l1::stake::epoch_events(&events),
        head,
        stake.max_validators,
    );
    let set = derived.set.unwrap();
    let addresses: Vec<_> = set.validators().iter().map(|v| v.address).collect();
    let homes: Vec<_> = bonded
        .iter()
        .map(|h| Keys::read(h).unwrap().address())
        .collect();
    assert_eq!(addresses, homes);
    assert_eq!(
        set.validators()
            .iter()
            .map(|v| v.voting_power)
            .collect::<Vec<_>>(),
        vec![2_000_000_000, 1_000_000_000]
    );
    assert!(derived.ignored.is_empty(), "{:?}", derived.ignored);
    let peer = Keys::read(h1).unwrap().peer_id();
    assert!(
        derived.members[0]
            .p2p_addresses
            .contains(&format!("/p2p/{peer}")),
        "{:?}",
        derived.members[0]
    );
}

/// `--unbonding-epochs`: the table's delay is the epochs (plus two for the derivation lag) in
/// the L1's blocks, printed by the deploy; given with `--unbonding-blocks` it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbonding_delay_in_epochs_is_deployed_in_l1_blocks() {
    let anvil = Anvil::spawn_fork(0, None, "prague").await.unwrap();
    let rpc = anvil.url.as_str();
    // Ten blocks one second apart: the L1's block interval is 1 s.
    {
        use alloy::providers::{Provider, RootProvider};
        let p: RootProvider = RootProvider::new_http(rpc.parse().unwrap());
        let _: serde_json::Value = p.raw_request("anvil_mine".into(), (10, 1)).await.unwrap();
    }
    let p = Processes::init(1);
    let deploy = |extra: &[&str]| {
        Command::new(ordo_bin())
            .args(["l1", "deploy", "--rpc", rpc, "--key", DEV_KEY, "--home"])
            .arg(&p.homes[0].0)
            .args([
                "--finality",
                "latest-1",
                "--stake-table",
                "--epoch-length",
                "20",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = deploy(&["--unbonding-epochs", "2", "--unbonding-blocks", "9"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--unbonding-blocks"),
        "{out:?}"
    );
    let out = deploy(&["--unbonding-epochs", "2"]);
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // (2 + 2) epochs × 20 heights × 50 ms (the test homes' block time) = 4 s of 1 s blocks.
    let block_time_ms = genesis(&p.homes[0]).genesis.params.block_time_ms;
    assert_eq!(block_time_ms, 50);
    assert_eq!(printed["unbonding_blocks"], 4, "{printed}");
    let stake = genesis(&p.homes[0]).genesis.stake.unwrap();
    let (_, _, unbonding) = ordo_da_adapter::l1::stake::terms(rpc, stake.table.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(unbonding, 4);
}
