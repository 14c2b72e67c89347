//! Table tests of the epoch arithmetic and the set derivation.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::bls::keys::BlsSecretKey;

const ETH: u128 = 1_000_000_000_000_000_000;

fn operator(i: u8) -> [u8; 20] {
    [i; 20]
}

/// Operator `i`'s ed25519 consensus key.
fn ckey(i: u8) -> [u8; 32] {
    ed25519_consensus::SigningKey::from([i; 32])
        .verification_key()
        .to_bytes()
}

/// 32 bytes that are not an ed25519 public key.
fn not_a_point() -> [u8; 32] {
    (0..=255u8)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k
        })
        .find(|k| ed25519_consensus::VerificationKey::try_from(*k).is_err())
        .unwrap()
}

/// Operator `i`'s registration with its own keys (seeded by `i`) and `stake_wei`.
fn reg(i: u8, stake_wei: u128) -> Registration {
    let sk = BlsSecretKey::from_seed(&[i; 32]);
    Registration {
        operator: operator(i),
        stake_wei,
        bls_key: sk.public_key().to_bytes().to_vec(),
        bls_pop: sk.proof_of_possession().to_bytes().to_vec(),
        consensus_key: ckey(i),
        peer_id: vec![i; 38],
        p2p_addresses: format!("/ip4/127.0.0.{i}/tcp/26656"),
    }
}

fn at(l1_block: u64, log_index: u64, change: Change) -> Event {
    Event {
        l1_block,
        log_index,
        change,
    }
}

fn registered(l1_block: u64, r: Registration) -> Event {
    at(l1_block, 0, Change::Registered(r))
}

fn added(l1_block: u64, i: u8, stake_wei: u128) -> Event {
    let operator = operator(i);
    at(
        l1_block,
        0,
        Change::StakeAdded {
            operator,
            stake_wei,
        },
    )
}

fn exit(l1_block: u64, log_index: u64, i: u8) -> Event {
    let operator = operator(i);
    at(l1_block, log_index, Change::ExitRequested { operator })
}

/// The operators of the derived set in index order, with their powers.
fn members(d: &Derived) -> Vec<(u8, u64)> {
    let set = d.set.as_ref().unwrap();
    d.members
        .iter()
        .zip(set.validators())
        .map(|(m, v)| {
            assert_eq!(m.address, v.address, "members follow the set's index order");
            (m.operator[0], v.voting_power)
        })
        .collect()
}

#[test]
fn epochs_cover_heights_and_cut_off_two_epochs_back() {
    let p = EpochParams {
        epoch_length: 10,
        max_validators: 4,
    };
    // (height, epoch)
    for (h, e) in [
        (0, 0),
        (1, 0),
        (10, 0),
        (11, 1),
        (20, 1),
        (21, 2),
        (101, 10),
    ] {
        assert_eq!(p.epoch_of(h), e, "height {h}");
    }
    assert_eq!((p.first_height(0), p.last_height(0)), (1, 10));
    assert_eq!((p.first_height(3), p.last_height(3)), (31, 40));
    // Epochs 0 and 1 run the genesis set; epoch e's set is decided by the l1_ref of the last
    // height of epoch e-2.
    assert_eq!(p.cutoff_height(0), None);
    assert_eq!(p.cutoff_height(1), None);
    assert_eq!(p.cutoff_height(2), Some(10));
    assert_eq!(p.cutoff_height(5), Some(40));
    let one = EpochParams {
        epoch_length: 1,
        max_validators: 1,
    };
    assert_eq!((one.epoch_of(1), one.epoch_of(2)), (0, 1));
    assert_eq!(one.cutoff_height(2), Some(1));
}

struct Case {
    name: &'static str,
    events: Vec<Event>,
    max: u32,
    /// (operator, power) in index order.
    want: Vec<(u8, u64)>,
}

/// Derives each case at cut-off block 10.
fn run(cases: Vec<Case>) {
    for c in cases {
        let d = derive(&c.events, 10, c.max);
        assert_eq!(members(&d), c.want, "{}", c.name);
        assert!(
            d.set.as_ref().unwrap().len() <= c.max as usize,
            "{}",
            c.name
        );
    }
}

#[test]
fn the_set_is_the_top_stakes_with_ties_to_the_earlier_registration() {
    run(vec![
        Case {
            name: "power is stake in gwei, ordered by power",
            events: vec![registered(5, reg(1, ETH)), registered(6, reg(2, 3 * ETH))],
            max: 4,
            want: vec![(2, 3_000_000_000), (1, 1_000_000_000)],
        },
        Case {
            name: "the cap keeps the largest stakes",
            events: vec![
                registered(5, reg(1, ETH)),
                registered(5, reg(2, 4 * ETH)),
                registered(6, reg(3, 2 * ETH)),
                registered(7, reg(4, 3 * ETH)),
            ],
            max: 2,
            want: vec![(2, 4_000_000_000), (4, 3_000_000_000)],
        },
        Case {
            name: "a tie at the cap goes to the earlier registration (block)",
            events: vec![
                registered(9, reg(1, ETH)),
                registered(8, reg(2, ETH)),
                registered(7, reg(3, 2 * ETH)),
            ],
            max: 2,
            want: vec![(3, 2_000_000_000), (2, 1_000_000_000)],
        },
        Case {
            name: "a tie in one block goes to the lower log index",
            events: vec![
                at(8, 3, Change::Registered(reg(1, ETH))),
                at(8, 1, Change::Registered(reg(2, ETH))),
            ],
            max: 1,
            want: vec![(2, 1_000_000_000)],
        },
    ]);
}

#[test]
fn stake_changes_and_exits_count_up_to_the_cut_off() {
    run(vec![
        Case {
            name: "stake added inside the epoch counts",
            events: vec![
                registered(5, reg(1, 2 * ETH)),
                registered(6, reg(2, ETH)),
                added(7, 2, 2 * ETH),
            ],
            max: 1,
            want: vec![(2, 3_000_000_000)],
        },
        Case {
            name: "an exit request removes the validator",
            events: vec![
                registered(5, reg(1, ETH)),
                registered(6, reg(2, ETH)),
                exit(7, 0, 1),
            ],
            max: 4,
            want: vec![(2, 1_000_000_000)],
        },
        Case {
            name: "stake added after an exit request does not bring it back",
            events: vec![
                registered(5, reg(1, ETH)),
                registered(6, reg(2, ETH)),
                exit(7, 0, 1),
                added(8, 1, ETH),
            ],
            max: 4,
            want: vec![(2, 1_000_000_000)],
        },
        Case {
            name: "stake added by a stranger changes nothing",
            events: vec![registered(5, reg(1, ETH)), added(8, 9, ETH)],
            max: 4,
            want: vec![(1, 1_000_000_000)],
        },
        Case {
            name: "events after the cut-off are not read",
            events: vec![
                registered(5, reg(1, ETH)),
                registered(11, reg(2, 5 * ETH)),
                exit(11, 1, 1),
                added(12, 1, ETH),
            ],
            max: 4,
            want: vec![(1, 1_000_000_000)],
        },
        Case {
            name: "a stake below 1 gwei has no power",
            events: vec![
                registered(5, reg(1, ETH)),
                registered(6, reg(2, 999_999_999)),
            ],
            max: 4,
            want: vec![(1, 1_000_000_000)],
        },
    ]);
}

#[test]
fn registrations_that_do_not_count_are_ignored_with_the_reason() {
    let mut bad_pop = reg(2, ETH);
    bad_pop.bls_pop = reg(3, ETH).bls_pop;
    let mut bad_key = reg(4, ETH);
    bad_key.bls_key = vec![0xff; 48];
    let mut bls_reused = reg(5, ETH);
    bls_reused.bls_key = reg(1, ETH).bls_key;
    bls_reused.bls_pop = reg(1, ETH).bls_pop;
    let mut cons_reused = reg(6, ETH);
    cons_reused.consensus_key = ckey(1);
    let mut bad_cons = reg(8, ETH);
    bad_cons.consensus_key = not_a_point();
    let again = reg(1, 9 * ETH);
    let events = vec![
        registered(1, reg(1, ETH)),
        registered(2, bad_pop),
        registered(3, bad_key),
        registered(4, bls_reused),
        registered(5, cons_reused),
        registered(6, again),
        registered(7, reg(7, 0)),
        registered(8, bad_cons),
    ];
    let d = derive(&events, 10, 8);
    assert_eq!(members(&d), vec![(1, 1_000_000_000)]);
    let why: Vec<(u8, Ignored)> = d.ignored.iter().map(|(o, w)| (o[0], w.clone())).collect();
    assert_eq!(
        why,
        vec![
            (2, Ignored::BadProofOfPossession),
            (4, Ignored::BadBlsKey),
            (5, Ignored::BlsKeyReused),
            (6, Ignored::ConsensusKeyReused),
            (1, Ignored::OperatorRegistered),
            (7, Ignored::NoPower),
            (8, Ignored::BadConsensusKey),
        ]
    );
}

#[test]
fn a_withdrawn_operator_stays_out_and_its_keys_stay_spent() {
    let mut fresh_keys_same_operator = reg(8, ETH);
    fresh_keys_same_operator.operator = operator(1);
    let mut same_keys_new_operator = reg(1, ETH);
    same_keys_new_operator.operator = operator(9);
    let events = vec![
        registered(1, reg(1, ETH)),
        registered(1, reg(2, ETH)),
        exit(2, 0, 1),
        at(
            4,
            0,
            Change::Withdrawn {
                operator: operator(1),
            },
        ),
        registered(5, fresh_keys_same_operator),
        registered(6, same_keys_new_operator),
    ];
    let d = derive(&events, 10, 8);
    assert_eq!(members(&d), vec![(2, 1_000_000_000)]);
    let why: Vec<Ignored> = d.ignored.iter().map(|(_, w)| w.clone()).collect();
    assert_eq!(
        why,
        vec![Ignored::OperatorRegistered, Ignored::BlsKeyReused]
    );
}

#[test]
fn no_qualifying_registration_derives_no_set() {
    let events = vec![registered(1, reg(1, ETH)), exit(2, 0, 1)];
    for (events, cutoff) in [(events.clone(), 10), (Vec::new(), 10), (events, 0)] {
        let d = derive(&events, cutoff, 4);
        assert_eq!(d.set, None);
        assert!(d.members.is_empty());
    }
    // Before the exit, the one registration is the set.
    let d = derive(&[registered(1, reg(1, ETH))], 1, 4);
    assert_eq!(members(&d), vec![(1, 1_000_000_000)]);
}

#[test]
fn the_derivation_is_independent_of_the_order_events_are_given_in() {
    let mut events = vec![
        registered(3, reg(1, 2 * ETH)),
        registered(4, reg(2, ETH)),
        added(5, 2, 2 * ETH),
        exit(6, 0, 1),
        registered(6, reg(3, ETH)),
    ];
    let forward = derive(&events, 10, 4);
    events.reverse();
    let backward = derive(&events, 10, 4);
    assert_eq!(forward, backward);
    assert_eq!(
        members(&forward),
        vec![(2, 3_000_000_000), (3, 1_000_000_000)]
    );
    // Set hashes are what headers carry: equal sets, equal hashes.
    assert_eq!(forward.set.unwrap().hash(), backward.set.unwrap().hash());
}

#[test]
fn power_is_capped_so_the_total_cannot_overflow() {
    let whale = u128::MAX / 2;
    let d = derive(
        &[registered(1, reg(1, whale)), registered(2, reg(2, whale))],
        10,
        2,
    );
    let set = d.set.unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.total_power() <= u64::MAX / 3);
}

#[test]
fn the_address_is_the_genesis_address_of_the_consensus_key() {
    let d = derive(&[registered(1, reg(1, ETH))], 10, 4);
    let expected = sha256(&[b"ordo.address.v1", &ckey(1)]);
    assert_eq!(d.members[0].address.0, expected.0[..20]);
    assert_eq!(d.set.unwrap().validators()[0].address, address_of(&ckey(1)));
}
