//! `OrdoStakeTable` on a real anvil: permissioned registration, refusals with the contract's
//! own errors, `openRegistration`, exit and withdrawal after the unbonding delay, and the
//! proof of possession checked on chain where EIP-2537 is live (Prague) and left to the
//! validators where it is not (Cancun). The events read back are what was registered.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY, funded_account};
use ordo_da_adapter::l1::stake::{
    self, Call, Registration, StakeChange, StakeTable, StakeTableParams,
};
use ordo_types::bls::BlsSecretKey;

const ETH: u128 = 1_000_000_000_000_000_000;
const UNBONDING: u64 = 5;

fn address(key: &str) -> Address {
    key.trim_start_matches("0x")
        .parse::<PrivateKeySigner>()
        .unwrap()
        .address()
}

/// A registration for seed `n`; with `pop_of`, the proof of possession of another key.
fn registration(n: u8, pop_of: Option<u8>) -> Registration {
    let sk = BlsSecretKey::from_seed(&[n; 32]);
    let pop = BlsSecretKey::from_seed(&[pop_of.unwrap_or(n); 32]).proof_of_possession();
    Registration {
        bls_key: sk.public_key(),
        bls_pop: pop,
        consensus_key: [n; 32],
        peer_id: vec![0x00, 0x24, n],
        p2p_addresses: format!("/ip4/127.0.0.1/tcp/{}", 26_000 + u16::from(n)),
    }
}

/// The refusal in `e`'s message, by the name of the contract's error.
fn refusal(e: &ordo_da_adapter::l1::L1Error) -> String {
    let text = e.to_string();
    assert!(text.contains("refused by the stake table"), "{text}");
    text
}

async fn setup(hardfork: &str) -> (Anvil, StakeTable, [String; 3]) {
    let anvil = Anvil::spawn_fork(0, None, hardfork).await.unwrap();
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(funded_account(&anvil.url, DEV_KEY, 100).await.unwrap());
    }
    let keys: [String; 3] = keys.try_into().unwrap();
    let table = stake::deploy_stake_table(
        &anvil.url,
        DEV_KEY,
        &StakeTableParams {
            min_stake_wei: ETH,
            unbonding_blocks: UNBONDING,
            allow_list: vec![address(&keys[0])],
        },
    )
    .await
    .unwrap();
    (anvil, table, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissioned_then_open_with_the_proof_checked_on_chain_at_prague() {
    let (anvil, table, [a, b, c]) = setup("prague").await;
    let (rpc, t) = (anvil.url.as_str(), table.address);
    assert!(table.verifies_pop, "EIP-2537 is live at prague");

    // Permissioned: a stranger is refused; the allow-listed operator must meet the minimum and
    // prove possession of its BLS key.
    let e = stake::register(rpc, &b, t, &registration(2, None), ETH)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("NotAllowListed"), "{e}");
    let e = stake::register(rpc, &a, t, &registration(1, None), ETH / 2)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("StakeBelowMinimum"), "{e}");
    let e = stake::register(rpc, &a, t, &registration(1, Some(9)), ETH)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("BadProofOfPossession"), "{e}");
    let at = stake::register(rpc, &a, t, &registration(1, None), ETH)
        .await
        .unwrap();
    let entry = stake::entry(rpc, t, address(&a)).await.unwrap();
    assert_eq!(
        (entry.stake_wei, entry.registered_block, entry.exit_block),
        (U256::from(ETH), at, 0)
    );
    assert_eq!(
        entry.bls_key,
        registration(1, None).bls_key.to_bytes().to_vec()
    );
    let e = stake::register(rpc, &a, t, &registration(3, None), ETH)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("AlreadyRegistered"), "{e}");

    // Keys are never reused, by anyone.
    stake::call(
        rpc,
        DEV_KEY,
        t,
        Call::SetAllowListed {
            operator: address(&c),
            allowed: true,
        },
    )
    .await
    .unwrap();
    let mut dup = registration(4, None);
    dup.bls_key = registration(1, None).bls_key;
    dup.bls_pop = registration(1, None).bls_pop;
    let e = stake::register(rpc, &c, t, &dup, ETH).await.unwrap_err();
    assert!(refusal(&e).contains("DuplicateBlsKey"), "{e}");
    let mut dup = registration(4, None);
    dup.consensus_key = [1; 32];
    let e = stake::register(rpc, &c, t, &dup, ETH).await.unwrap_err();
    assert!(refusal(&e).contains("DuplicateConsensusKey"), "{e}");
    stake::register(rpc, &c, t, &registration(4, None), 2 * ETH)
        .await
        .unwrap();

    // Only the owner opens registration, once; then a stranger with the minimum joins.
    let e = stake::call(rpc, &b, t, Call::OpenRegistration)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("NotOwner"), "{e}");
    let e = stake::call(rpc, &b, t, Call::RequestExit)
        .await
        .unwrap_err();
    assert!(
        refusal(&e).contains("NotBonded"),
        "an exit before bonding: {e}"
    );
    stake::call(rpc, DEV_KEY, t, Call::OpenRegistration)
        .await
        .unwrap();
    let e = stake::call(rpc, DEV_KEY, t, Call::OpenRegistration)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("AlreadyOpen"), "{e}");
    let e = stake::register(rpc, &b, t, &registration(2, None), ETH - 1)
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("StakeBelowMinimum"), "{e}");
    stake::register(rpc, &b, t, &registration(2, None), ETH)
        .await
        .unwrap();
    assert!(stake::terms(rpc, t).await.unwrap().0, "open");
    // The keys accepted (seeds 1, 4, 2) meet both signs of y in the compressed encodings the
    // contract checks against the uncompressed points.
    let signs = |f: fn(&Registration) -> u8| {
        let s: Vec<bool> = [1, 4, 2]
            .map(|n| f(&registration(n, None)) & 0x20 != 0)
            .into();
        s.contains(&true) && s.contains(&false)
    };
    assert!(
        signs(|r| r.bls_key.to_bytes()[0]),
        "public keys of both signs"
    );
    assert!(signs(|r| r.bls_pop.to_bytes()[0]), "proofs of both signs");

    exit_and_withdraw(&anvil, t, &a).await;

    registered_in_order(rpc, &table, &[&a, &c, &b]).await;
}

/// The table's events, read back: `operators` registered in this order, every event in L1
/// order, the last one a withdrawal.
async fn registered_in_order(rpc: &str, table: &StakeTable, operators: &[&String]) {
    let t = table.address;
    let head = RootProvider::<alloy::network::Ethereum>::new_http(rpc.parse().unwrap())
        .get_block_number()
        .await
        .unwrap();
    let events = stake::events(rpc, t, table.block, head).await.unwrap();
    let registered: Vec<Address> = events
        .iter()
        .filter_map(|e| match &e.change {
            StakeChange::Registered { operator, .. } => Some(*operator),
            _ => None,
        })
        .collect();
    assert_eq!(
        registered,
        operators.iter().map(|k| address(k)).collect::<Vec<_>>()
    );
    assert!(
        events
            .windows(2)
            .all(|w| (w[0].l1_block, w[0].log_index) < (w[1].l1_block, w[1].log_index))
    );
    assert!(matches!(
        events.last().unwrap().change,
        StakeChange::Withdrawn { .. }
    ));
}

/// `a` requests exit, cannot withdraw before the unbonding delay, then gets its stake back.
async fn exit_and_withdraw(anvil: &Anvil, t: Address, a: &str) {
    let rpc = anvil.url.as_str();
    let e = stake::call(rpc, a, t, Call::Withdraw).await.unwrap_err();
    assert!(refusal(&e).contains("NotExiting"), "{e}");
    let exit = stake::call(rpc, a, t, Call::RequestExit).await.unwrap();
    let e = stake::call(rpc, a, t, Call::RequestExit).await.unwrap_err();
    assert!(refusal(&e).contains("NotBonded"), "{e}");
    let e = stake::call(rpc, a, t, Call::AddStake { wei: ETH })
        .await
        .unwrap_err();
    assert!(refusal(&e).contains("NotBonded"), "{e}");
    let e = stake::call(rpc, a, t, Call::Withdraw).await.unwrap_err();
    assert!(
        refusal(&e).contains(&format!("untilBlock: {}", exit + UNBONDING)),
        "{e}"
    );
    let l1 = RootProvider::<alloy::network::Ethereum>::new_http(rpc.parse().unwrap());
    let _: serde_json::Value = l1
        .client()
        .request("anvil_mine", (UNBONDING,))
        .await
        .unwrap();
    let before = l1.get_balance(address(a)).await.unwrap();
    stake::call(rpc, a, t, Call::Withdraw).await.unwrap();
    let after = l1.get_balance(address(a)).await.unwrap();
    assert!(
        after > before + U256::from(ETH * 99 / 100),
        "the stake came back: {before} -> {after}"
    );
    let e = stake::call(rpc, a, t, Call::Withdraw).await.unwrap_err();
    assert!(refusal(&e).contains("AlreadyWithdrawn"), "{e}");
    let entry = stake::entry(rpc, t, address(a)).await.unwrap();
    assert!(entry.withdrawn && entry.stake_wei.is_zero());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_eip_2537_the_proof_is_left_to_the_validators() {
    let (anvil, table, [a, _, _]) = setup("cancun").await;
    assert!(!table.verifies_pop, "no BLS precompiles at cancun");
    let bad = registration(1, Some(9));
    stake::register(&anvil.url, &a, table.address, &bad, ETH)
        .await
        .unwrap();
    let head = RootProvider::<alloy::network::Ethereum>::new_http(anvil.url.parse().unwrap())
        .get_block_number()
        .await
        .unwrap();
    let events = stake::events(&anvil.url, table.address, table.block, head)
        .await
        .unwrap();
    let Some(StakeChange::Registered {
        bls_key, bls_pop, ..
    }) = events
        .iter()
        .map(|e| e.change.clone())
        .find(|c| matches!(c, StakeChange::Registered { .. }))
    else {
        panic!("no Registered event: {events:?}")
    };
    // The event carries what was sent; a validator's check finds the proof bad.
    let key = ordo_types::bls::BlsPublicKey::from_bytes(&bls_key).unwrap();
    let pop = ordo_types::bls::ProofOfPossession::from_bytes(&bls_pop).unwrap();
    assert_eq!(key, bad.bls_key);
    assert!(!pop.verify(&key));
    assert!(registration(1, None).bls_pop.verify(&key));
}
