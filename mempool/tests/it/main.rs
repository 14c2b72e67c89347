//! The mempool's rules: admission outcomes (table), fairness, order and limits (properties).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ordo_mempool::{Mempool, MempoolConfig, Rejection};
use ordo_types::tx::Transaction;
use ordo_types::{Limits, Namespace, TxId};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn tx(ns: u64, seq: u32, size: usize) -> Transaction {
    let mut p = vec![0u8; size.max(4)];
    p[..4].copy_from_slice(&seq.to_be_bytes());
    Transaction::new(Namespace(ns), p)
}

fn small() -> MempoolConfig {
    MempoolConfig {
        max_txs: 4,
        max_bytes: 10_000,
        max_namespace_bytes: 220,
        recent_ids: 10,
        quantum: 64,
        allowed_namespaces: None,
    }
}

// A table test: long by its table, not by its logic.
#[allow(clippy::too_many_lines)]
#[test]
fn admission_outcomes() {
    let limits = Limits {
        max_tx_payload: 100,
        ..Limits::default()
    };
    let restricted = MempoolConfig {
        allowed_namespaces: Some([Namespace(1), Namespace(2)].into_iter().collect()),
        ..small()
    };
    struct Case {
        case: &'static str,
        setup: Vec<Transaction>,
        config: MempoolConfig,
        input: Transaction,
        expected: Result<(), Rejection>,
    }
    let cases = vec![
        Case {
            case: "accepted",
            setup: vec![],
            config: small(),
            input: tx(1, 0, 10),
            expected: Ok(()),
        },
        Case {
            case: "duplicate",
            setup: vec![tx(1, 0, 10)],
            config: small(),
            input: tx(1, 0, 10),
            expected: Err(Rejection::Duplicate),
        },
        Case {
            case: "too large",
            setup: vec![],
            config: small(),
            input: tx(1, 0, 101),
            expected: Err(Rejection::TooLarge { len: 101, max: 100 }),
        },
        Case {
            case: "at the size limit",
            setup: vec![],
            config: small(),
            input: tx(1, 0, 100),
            expected: Ok(()),
        },
        Case {
            case: "empty payload",
            setup: vec![],
            config: small(),
            input: Transaction::new(Namespace(1), Vec::new()),
            expected: Err(Rejection::Malformed("the payload is empty".into())),
        },
        Case {
            case: "unknown namespace",
            setup: vec![],
            config: restricted.clone(),
            input: tx(3, 0, 10),
            expected: Err(Rejection::UnknownNamespace(Namespace(3))),
        },
        Case {
            case: "allowed namespace",
            setup: vec![],
            config: restricted,
            input: tx(2, 0, 10),
            expected: Ok(()),
        },
        Case {
            case: "namespace over quota",
            setup: vec![tx(1, 0, 90), tx(1, 1, 90)],
            config: small(),
            input: tx(1, 2, 20),
            expected: Err(Rejection::NamespaceOverQuota {
                namespace: Namespace(1),
                bytes: 206,
                quota: 220,
            }),
        },
        Case {
            case: "another namespace still fits",
            setup: vec![tx(1, 0, 90), tx(1, 1, 90)],
            config: small(),
            input: tx(2, 0, 20),
            expected: Ok(()),
        },
        Case {
            case: "pool full by count",
            setup: vec![tx(1, 0, 5), tx(2, 0, 5), tx(3, 0, 5), tx(4, 0, 5)],
            config: small(),
            input: tx(5, 0, 5),
            expected: Err(Rejection::PoolFull { txs: 4, bytes: 72 }),
        },
    ];
    for c in cases {
        let mut m = Mempool::new(c.config, limits);
        for t in c.setup {
            m.admit(t).unwrap();
        }
        let before = (m.len(), m.bytes());
        let got = m.admit(c.input).map(|_| ());
        assert_eq!(got, c.expected, "case: {}", c.case);
        if got.is_err() {
            assert_eq!(
                (m.len(), m.bytes()),
                before,
                "case {}: a refusal changed the pool",
                c.case
            );
        }
    }
}

#[test]
fn malformed_encodings_and_resubmission_of_ordered_transactions() {
    let mut m = Mempool::new(small(), Limits::default());
    assert!(matches!(
        m.admit_encoded(&[0x01, 0, 0]),
        Err(Rejection::Malformed(_))
    ));
    assert!(matches!(
        m.admit_encoded(&[0x07]),
        Err(Rejection::Malformed(_))
    ));
    let t = tx(1, 0, 10);
    let id = m.admit_encoded(&t.encode()).unwrap();
    m.commit([(Namespace(1), id)]);
    assert!(m.is_empty());
    assert_eq!(m.admit(t), Err(Rejection::AlreadyOrdered));
}

#[test]
fn selection_keeps_transactions_until_they_are_committed() {
    let mut m = Mempool::new(MempoolConfig::default(), Limits::default());
    let ids: Vec<TxId> = (0..10)
        .map(|i| m.admit(tx(i % 3, i as u32, 50)).unwrap())
        .collect();
    let first = m.select(100, 1 << 20);
    assert_eq!(first.len(), 10);
    // The proposal failed: the next selection offers the same transactions.
    let again = m.select(100, 1 << 20);
    assert_eq!(again.len(), 10);
    // A decision orders four of them: they leave, the rest stay.
    let ordered: Vec<_> = first
        .iter()
        .take(4)
        .map(|t| (t.namespace, t.id()))
        .collect();
    m.commit(ordered.clone());
    assert_eq!(m.len(), 6);
    for (_, id) in &ordered {
        assert!(!m.contains(id) && m.was_ordered(id));
    }
    assert_eq!(ids.iter().filter(|id| m.contains(id)).count(), 6);
}

/// Transactions of each namespace (count, size), submitted namespace by namespace.
fn load() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0usize..300, 10usize..400), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every namespace gets at least its share of a batch (capacity over the namespaces that
    /// have transactions, less one quantum and one transaction of slack), or all it has;
    /// selection is FIFO inside a namespace, in body order, and within the limits.
    #[test]
    fn selection_is_fair_ordered_and_bounded(
        demand in load(),
        flood in 0usize..3000,
        capacity in 2_000u64..60_000,
        max_txs in 10usize..2000,
    ) {
        let config = MempoolConfig { max_namespace_bytes: usize::MAX / 2, ..MempoolConfig::default() };
        let mut m = Mempool::new(config.clone(), Limits::default());
        let mut want: BTreeMap<u64, Vec<Transaction>> = BTreeMap::new();
        // Namespace 0 floods.
        for i in 0..flood {
            let t = tx(0, i as u32, 100);
            m.admit(t.clone()).unwrap();
            want.entry(0).or_default().push(t);
        }
        for (k, (count, size)) in demand.iter().enumerate() {
            for i in 0..*count {
                let t = tx(k as u64 + 1, i as u32, *size);
                m.admit(t.clone()).unwrap();
                want.entry(k as u64 + 1).or_default().push(t);
            }
        }
        let batch = m.select(max_txs, capacity);
        let bytes: u64 = batch.iter().map(|t| t.encoded_len() as u64).sum();
        prop_assert!(bytes <= capacity && batch.len() <= max_txs);
        // Body order: grouped by namespace, ascending; FIFO inside.
        prop_assert!(batch.windows(2).all(|w| w[0].namespace <= w[1].namespace));
        let mut got: BTreeMap<u64, Vec<Transaction>> = BTreeMap::new();
        for t in &batch {
            got.entry(t.namespace.0).or_default().push(t.clone());
        }
        for (ns, g) in &got {
            prop_assert_eq!(&want[ns][..g.len()], &g[..], "namespace {} not FIFO", ns);
        }
        // Fair shares by bytes when the batch is bounded by bytes.
        let active = want.len() as u64;
        let largest = 400 + 13;
        let share = (capacity / active).saturating_sub(config.quantum as u64 + largest);
        if batch.len() < max_txs {
            for (ns, w) in &want {
                let demand: u64 = w.iter().map(|t| t.encoded_len() as u64).sum();
                let given: u64 = got.get(ns).map_or(0, |g| g.iter().map(|t| t.encoded_len() as u64).sum());
                prop_assert!(
                    given >= demand.min(share),
                    "namespace {} got {} bytes of {} wanted, fair share {}", ns, given, demand, share
                );
            }
        }
    }

    /// Committing any subset removes exactly it; accounting stays exact.
    #[test]
    fn commit_removes_exactly_what_was_ordered(n in 1usize..200, pick in prop::collection::vec(any::<bool>(), 200)) {
        let mut m = Mempool::new(MempoolConfig::default(), Limits::default());
        let txs: Vec<Transaction> = (0..n).map(|i| tx(i as u64 % 5, i as u32, 30 + i % 50)).collect();
        for t in &txs {
            m.admit(t.clone()).unwrap();
        }
        let ordered: Vec<_> = txs.iter().zip(&pick).filter(|(_, p)| **p).map(|(t, _)| (t.namespace, t.id())).collect();
        m.commit(ordered.clone());
        let left: Vec<&Transaction> = txs.iter().zip(&pick).filter(|(_, p)| !**p).map(|(t, _)| t).collect();
        prop_assert_eq!(m.len(), left.len());
        prop_assert_eq!(m.bytes(), left.iter().map(|t| t.encoded_len()).sum::<usize>());
        let all = m.select(usize::MAX, u64::MAX);
        prop_assert_eq!(all.len(), left.len());
    }
}
