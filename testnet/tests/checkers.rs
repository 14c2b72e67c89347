//! The checkers catch what they claim: logs with a fork, a lost acknowledged transaction, a
//! double signature, a stalled node, a bad certificate, a late or missing forced entry, or a
//! decision during a split without quorum each fail; the same logs without the fault pass.

use ordo_testnet::chaos::check::{
    self, Ack, Decision, Evidence, Expect, ForcedEntry, Sample, Signature, Timeline,
};

fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

fn tx(n: u64) -> String {
    format!("0x{:064x}", 0xabc0_0000 + n)
}

fn decision(height: u64, at_ms: u64) -> Decision {
    Decision {
        height,
        round: 0,
        hash: hash(height),
        certificate: hash(1000 + height),
        cert: String::new(),
        l1_ref: height,
        forced: vec![],
        tx_ids: Some(vec![tx(2 * height), tx(2 * height + 1)]),
        decided_at_ms: at_ms,
    }
}

fn sig(validator: &str, height: u64, step: &str, value: Option<String>) -> Signature {
    Signature {
        validator: validator.into(),
        height,
        round: 0,
        step: step.into(),
        value,
    }
}

/// Four nodes that decided heights 1..=20, one a second from t = 1000 ms, each signing its
/// prevote and precommit; node 0 acknowledged two transactions of every height; every node
/// sampled each second; the faults ran from 5 s to 10 s.
fn healthy() -> Evidence {
    let keys: Vec<String> = (0..4).map(|i| format!("0x{i:040x}")).collect();
    let heights = 1..=20u64;
    let decisions: Vec<Vec<Decision>> = (0..4)
        .map(|n| heights.clone().map(|h| decision(h, h * 1000 + n)).collect())
        .collect();
    let signatures = keys
        .iter()
        .map(|k| {
            heights
                .clone()
                .flat_map(|h| ["prevote", "precommit"].map(|s| sig(k, h, s, Some(hash(h)))))
                .collect()
        })
        .collect();
    let acks = heights
        .clone()
        .flat_map(|h| {
            (0..2).map(move |i| Ack {
                id: tx(2 * h + i),
                height: h,
                index: i as u32,
                node: 0,
                at_ms: h * 1000 + 5,
            })
        })
        .collect();
    let samples = (1..=20u64)
        .flat_map(|t| {
            (0..4).map(move |node| Sample {
                t_ms: t * 1000 + 500,
                node,
                height: Some(t),
            })
        })
        .collect();
    Evidence {
        decisions,
        signatures,
        keys,
        acks,
        samples,
        forced: vec![],
        timeline: Timeline {
            start_ms: 0,
            first_fault_ms: 5_000,
            heal_ms: 10_000,
            end_ms: 21_000,
        },
    }
}

fn expect() -> Expect {
    Expect {
        liveness_ms: 3_000,
        ..Expect::default()
    }
}

#[test]
fn healthy_logs_pass_every_log_check() {
    let ev = healthy();
    assert!(check::agreement(&ev).ok, "{:?}", check::agreement(&ev));
    assert!(check::no_equivocation(&ev, &expect()).ok);
    let d = check::durability(&ev);
    assert!(d.ok, "{d:?}");
    assert!(d.detail.starts_with("40 ordered acknowledgements"), "{d:?}");
    assert!(check::no_regression(&ev).ok);
    let (live, recovery) = check::liveness(&ev, &expect(), 4);
    assert!(live.ok, "{live:?}");
    assert_eq!(recovery, Some(500));
}

#[test]
fn a_fork_fails_agreement() {
    let mut ev = healthy();
    ev.decisions[2][6].hash = hash(999);
    let out = check::agreement(&ev);
    assert!(!out.ok);
    assert!(out.detail.contains("fork at height 7"), "{out:?}");
    assert!(out.detail.contains("node 2"), "{out:?}");
}

#[test]
fn a_lost_acknowledged_transaction_fails_durability() {
    // The acknowledged transaction is not where the node said it was ordered.
    let mut ev = healthy();
    for node in &mut ev.decisions {
        node[3].tx_ids = Some(vec![tx(7)]);
    }
    let out = check::durability(&ev);
    assert!(!out.ok);
    assert!(out.detail.contains("nowhere in the chain"), "{out:?}");

    // An acknowledged height that no node logged.
    let mut ev = healthy();
    ev.acks.push(Ack {
        id: tx(9999),
        height: 55,
        index: 0,
        node: 1,
        at_ms: 0,
    });
    let out = check::durability(&ev);
    assert!(!out.ok);
    assert!(out.detail.contains("no node logged that height"), "{out:?}");

    // One transaction ordered twice.
    let mut ev = healthy();
    for node in &mut ev.decisions {
        node[9].tx_ids = Some(vec![tx(20), tx(4)]);
    }
    let out = check::durability(&ev);
    assert!(!out.ok);
    assert!(out.detail.contains("ordered at heights [2, 10]"), "{out:?}");
}

#[test]
fn a_double_signature_fails_no_equivocation_unless_the_key_is_byzantine() {
    let mut ev = healthy();
    let key = ev.keys[1].clone();
    ev.signatures[1].push(sig(&key, 4, "prevote", Some(hash(77))));
    let out = check::no_equivocation(&ev, &expect());
    assert!(!out.ok);
    assert!(out.detail.contains("height 4 round 0 prevote"), "{out:?}");

    // A nil vote and a value vote for one step are two values too.
    let mut ev = healthy();
    ev.signatures[3].push(sig(&ev.keys[3].clone(), 9, "precommit", None));
    assert!(!check::no_equivocation(&ev, &expect()).ok);

    // Two nodes sharing a key: their logs are read together.
    let mut ev = healthy();
    let key = ev.keys[0].clone();
    ev.signatures[2].push(sig(&key, 12, "precommit", Some(hash(5))));
    assert!(!check::no_equivocation(&ev, &expect()).ok);
    let mut byz = expect();
    byz.byzantine.insert(0);
    let out = check::no_equivocation(&ev, &byz);
    assert!(out.ok, "{out:?}");
    assert!(
        out.detail
            .contains("Byzantine keys signed two values at 1 steps"),
        "{out:?}"
    );
}

#[test]
fn a_network_that_stays_slow_after_the_heal_fails_rate_recovery() {
    let ev = healthy();
    let out = check::rate_recovery(&ev, &expect());
    assert!(out.ok, "{out:?}");
    assert!(out.detail.contains("1.00 heights/s"), "{out:?}");
    // After the heal every node decides one height in four seconds: it passes liveness (it
    // moves) but not the rate.
    let mut ev = healthy();
    for s in ev.samples.iter_mut().filter(|s| s.t_ms > 10_000) {
        s.height = Some(10 + (s.t_ms / 1000 - 10) / 4);
    }
    let out = check::rate_recovery(&ev, &expect());
    assert!(!out.ok);
    assert!(out.detail.contains("0.17 heights/s"), "{out:?}");
    // A scenario that leaves a node stopped, or says so, is not held to it.
    let mut e = expect();
    e.exempt.insert(3);
    assert!(check::rate_recovery(&ev, &e).detail.contains("not checked"));
    let e = Expect {
        rate_recovery_percent: 0,
        ..expect()
    };
    assert!(check::rate_recovery(&ev, &e).ok);
}

#[test]
fn an_equivocating_double_that_never_equivocated_fails() {
    // Node 2 was told to equivocate but its log shows one value per step.
    let ev = healthy();
    let mut e = expect();
    e.byzantine.insert(2);
    e.equivocators.insert(2);
    let out = check::no_equivocation(&ev, &e);
    assert!(!out.ok);
    assert!(
        out.detail.contains("node 2 runs the equivocating double"),
        "{out:?}"
    );
    // With a second value at one step, it did its job, and honest keys stay clean.
    let mut ev = healthy();
    let key = ev.keys[2].clone();
    ev.signatures[2].push(sig(&key, 6, "prevote", Some(hash(99))));
    assert!(check::no_equivocation(&ev, &e).ok);
}

#[test]
fn a_stalled_node_fails_liveness() {
    // Node 3 stops at height 8 (reached at 8.5 s) and answers with that height to the end.
    let mut ev = healthy();
    for s in ev
        .samples
        .iter_mut()
        .filter(|s| s.node == 3 && s.t_ms > 8_500)
    {
        s.height = Some(8);
    }
    let (out, recovery) = check::liveness(&ev, &expect(), 4);
    assert!(!out.ok);
    assert!(
        out.detail.contains("node 3 did not pass height 9"),
        "{out:?}"
    );
    assert!(out.detail.contains("stuck at 8"), "{out:?}");
    assert_eq!(recovery, None);
    // Exempt (left stopped by the scenario), it is not held to the bound.
    let mut e = expect();
    e.exempt.insert(3);
    assert!(check::liveness(&ev, &e, 4).0.ok);

    // A node that recovers, but slower than the bound.
    let mut ev = healthy();
    for s in ev
        .samples
        .iter_mut()
        .filter(|s| s.node == 1 && (10_000..15_000).contains(&s.t_ms))
    {
        s.height = None;
    }
    let (out, _) = check::liveness(&ev, &expect(), 4);
    assert!(!out.ok);
    assert!(out.detail.contains("(it did after 5500 ms)"), "{out:?}");

    // A node that passes the heal target, then falls behind for good.
    let mut ev = healthy();
    for s in ev
        .samples
        .iter_mut()
        .filter(|s| s.node == 2 && s.t_ms > 12_000)
    {
        s.height = Some(12);
    }
    let (out, _) = check::liveness(&ev, &expect(), 4);
    assert!(!out.ok);
    assert!(out.detail.contains("node 2 ended at height 12"), "{out:?}");
}

#[test]
fn a_height_regression_fails() {
    let mut ev = healthy();
    ev.samples.push(Sample {
        t_ms: 30_000,
        node: 1,
        height: Some(3),
    });
    let out = check::no_regression(&ev);
    assert!(!out.ok);
    assert!(
        out.detail
            .contains("node 1 reported height 3 after height 20"),
        "{out:?}"
    );

    let mut ev = healthy();
    ev.decisions[0].push(decision(5, 40_000));
    assert!(!check::no_regression(&ev).ok);
}

#[test]
fn a_decision_during_a_split_without_quorum_fails() {
    let ev = healthy();
    // Heights 7..=9 were decided inside the split (5 s + 2 s grace to 10 s).
    let out = check::quiet_during(&ev);
    assert!(!out.ok);
    assert!(out.detail.contains("height 8"), "{out:?}");
    let mut ev = healthy();
    for node in &mut ev.decisions {
        node.retain(|d| !(7_000..10_000).contains(&d.decided_at_ms));
    }
    assert!(check::quiet_during(&ev).ok);
}

#[test]
fn late_missing_early_or_doubled_forced_entries_fail() {
    let mut ev = healthy();
    for node in &mut ev.decisions {
        node[5].forced = vec![0];
        node[10].forced = vec![1];
    }
    // Entry 0 at L1 block 3 is due at l1_ref 5; height 6 has l1_ref 6: in time, and due.
    ev.forced = vec![
        ForcedEntry {
            queue_index: 0,
            l1_block: 3,
            at_ms: 3_000,
        },
        ForcedEntry {
            queue_index: 1,
            l1_block: 8,
            at_ms: 8_000,
        },
    ];
    let ok = check::forced_deadlines(&ev, &expect(), 2);
    assert!(ok.ok, "{ok:?}");
    // Entry 1 ordered at 11 s, sent at 8 s: past a 2 s deadline.
    let tight = Expect {
        forced_deadline_ms: 2_000,
        ..expect()
    };
    let out = check::forced_deadlines(&ev, &tight, 2);
    assert!(!out.ok);
    assert!(
        out.detail.contains("forced entry 1 ordered 3000 ms"),
        "{out:?}"
    );
    // Ordered before it was due.
    let out = check::forced_deadlines(&ev, &expect(), 4);
    assert!(out.detail.contains("before it was due"), "{out:?}");
    // Never ordered.
    let mut missing = ev.clone();
    missing.forced.push(ForcedEntry {
        queue_index: 2,
        l1_block: 9,
        at_ms: 9_000,
    });
    let out = check::forced_deadlines(&missing, &expect(), 2);
    assert!(
        out.detail
            .contains("forced entry 2 (L1 block 9) was never ordered")
    );
    // Ordered twice.
    for node in &mut ev.decisions {
        node[12].forced = vec![1];
    }
    let out = check::forced_deadlines(&ev, &expect(), 2);
    assert!(
        out.detail.contains("ordered at several heights: [11, 13]"),
        "{out:?}"
    );
}

#[test]
fn real_certificates_pass_validity_and_bad_ones_fail() {
    use ordo_types::bls::{Certificate, SignerBitmap, attestation_message};
    use ordo_types::{ChainId, Hash, Height, Round};
    let dir = std::env::temp_dir().join(format!("ordo-checkers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let homes = ordo_node::home::testnet_init(
        &dir,
        4,
        ChainId(1),
        40000,
        ordo_node::genesis::ChainParams::default(),
        &[],
    )
    .unwrap();
    let genesis = ordo_node::genesis::Genesis::read(&homes[0].0.genesis()).unwrap();
    let set = &genesis.set.set;
    // Heights 1..=3, each certified by validators of nodes 0, 1 and 2 (a quorum of four).
    let certify = |height: u64| {
        let batch = Hash([height as u8; 32]);
        let msg = attestation_message(ChainId(1), Height(height), Round(0), &batch);
        let votes: Vec<_> = homes[..3]
            .iter()
            .map(|(_, k)| (set.index_of(&k.address()).unwrap(), k.bls.sign(&msg)))
            .collect();
        let cert = Certificate::aggregate(set, ChainId(1), Height(height), Round(0), batch, &votes)
            .unwrap()
            .certificate;
        Decision {
            hash: batch.to_string(),
            certificate: cert.hash().to_string(),
            cert: hex::encode(cert.encode()),
            ..decision(height, height * 1000)
        }
    };
    let good = Evidence {
        decisions: vec![(1..=3).map(certify).collect()],
        ..Evidence::default()
    };
    let out = check::validity(&good, &genesis);
    assert!(out.ok, "{out:?}");
    assert!(out.detail.starts_with("3 certificates verified"), "{out:?}");

    let bad = |f: &dyn Fn(&mut Decision)| {
        let mut ev = good.clone();
        f(&mut ev.decisions[0][1]);
        let out = check::validity(&ev, &genesis);
        assert!(!out.ok);
        assert!(out.detail.starts_with("node 0 height 2: "), "{out:?}");
        out.detail
    };
    assert!(bad(&|d| d.cert = "zz".into()).contains("certificate does not decode"));
    // Signed for another batch than the one decided.
    assert!(bad(&|d| d.hash = Hash([9; 32]).to_string()).contains("the certificate is for batch"));
    // Height 1's certificate logged for height 2.
    let one = good.decisions[0][0].cert.clone();
    assert!(bad(&|d| d.cert = one.clone()).contains("the certificate is for height 1, not 2"));
    // Two signers of four named: under the quorum.
    let under = |d: &mut Decision| {
        let bytes = hex::decode(&d.cert).unwrap();
        let mut c = Certificate::decode(&bytes, &genesis.genesis.limits).unwrap();
        let mut two = SignerBitmap::new(4);
        for i in c.signers.indices(4).unwrap().into_iter().take(2) {
            two.set(i);
        }
        c.signers = two;
        d.cert = hex::encode(c.encode());
    };
    assert!(bad(&under).contains("signers hold 2 of 4 voting power"));
    // The certificate is sound but not the one whose hash the node logged.
    assert!(bad(&|d| d.certificate = Hash([1; 32]).to_string()).contains("hash differs"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_last_log_line_is_skipped_and_a_torn_middle_line_is_an_error() {
    let dir = std::env::temp_dir().join(format!("ordo-checkers-lines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("samples.jsonl");
    std::fs::write(&p, "{\"t_ms\":1,\"node\":0,\"height\":3}\n{\"t_ms\":2,\"no").unwrap();
    let v: Vec<Sample> = check::read_lines(&p).unwrap();
    assert_eq!(v.len(), 1);
    std::fs::write(
        &p,
        "{\"t_ms\":1,\"no\n{\"t_ms\":2,\"node\":0,\"height\":3}\n",
    )
    .unwrap();
    assert!(check::read_lines::<Sample>(&p).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_shipped_manifest_parses_and_a_bad_one_is_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            ordo_testnet::chaos::manifest::Manifest::read(&p).unwrap();
            n += 1;
        }
    }
    assert!(n >= 7, "{n} manifests");
    let bad = std::env::temp_dir().join(format!("ordo-bad-manifest-{}.toml", std::process::id()));
    for (text, why) in [
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='kill'\nnodes=[4]\n",
            "node 4 does not exist",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='explode'\n",
            "unknown variant",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='heal'\nnodes=[1]\n",
            "unknown field",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=5\naction='heal'\n[[fault]]\nat_s=2\naction='heal'\n",
            "time order",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='delay'\nfaults={delay_ms=10, duplicate_percent=150}\n",
            "at most 100",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='delay'\nfaults={delay=10}\n",
            "unknown field",
        ),
        (
            "name='x'\nduration_s=10\n[setup]\nequivocate=[3]\n",
            "must also be in expect.byzantine",
        ),
        (
            "name='x'\nduration_s=10\n[[fault]]\nat_s=1\naction='tear_wal'\nnodes=[1]\nbytes=7\n",
            "unknown field",
        ),
        (
            "name='x'\nnodes=1\nduration_s=10\n[[fault]]\nat_s=1\naction='flap'\nuntil_s=5.0\nperiod_ms=1000\n",
            "flap: needs at least 2 nodes, the scenario has 1",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let e = ordo_testnet::chaos::manifest::Manifest::read(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{e}");
    }
    std::fs::remove_file(&bad).unwrap();
}
