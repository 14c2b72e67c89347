//! Body order and header consistency, table-driven.

use crate::common::{body, forced, header, tx};
use ordo_types::batch::summarize;
use ordo_types::tx::BatchTx;
use ordo_types::{Batch, BatchError, Limits, Namespace};

fn sealed() -> Batch {
    Batch::seal(header(5), body(), 10, &Limits::default()).unwrap()
}

#[test]
fn a_sealed_batch_checks_and_its_header_commits_to_the_body() {
    let b = sealed();
    assert_eq!(b.check_body(&Limits::default()), Ok(()));
    assert_eq!(b.header.tx_count, 8);
    assert_eq!(b.header.forced_cursor.first, 10);
    assert_eq!(b.header.forced_cursor.next, 12);
    let bytes: usize = b.txs.iter().map(BatchTx::encoded_len).sum();
    assert_eq!(b.header.body_bytes, bytes as u64);
    assert_eq!(b.slice(Namespace(5)).len(), 3);
    assert_eq!(b.namespace_tree().root(), b.header.namespaces_root);
}

#[test]
fn an_empty_body_carries_the_parent_cursor() {
    let b = Batch::seal(header(5), vec![], 77, &Limits::default()).unwrap();
    assert_eq!(b.header.forced_cursor.first, 77);
    assert_eq!(b.header.forced_cursor.next, 77);
    assert_eq!(b.check_body(&Limits::default()), Ok(()));
}

#[test]
fn body_order_rules() {
    struct Case {
        case: &'static str,
        input: Vec<BatchTx>,
        expected: Result<(), BatchError>,
    }
    let cases = [
        Case {
            case: "forced then namespaces ascending",
            input: body(),
            expected: Ok(()),
        },
        Case {
            case: "forced after ordinary",
            input: vec![tx(1, b"a"), forced(0, 1, b"f")],
            expected: Err(BatchError::ForcedAfterOrdinary { position: 1 }),
        },
        Case {
            case: "forced queue gap",
            input: vec![forced(3, 1, b"f"), forced(5, 1, b"g")],
            expected: Err(BatchError::ForcedOutOfOrder {
                expected: 4,
                found: 5,
            }),
        },
        Case {
            case: "forced queue reordered",
            input: vec![forced(4, 1, b"f"), forced(3, 1, b"g")],
            expected: Err(BatchError::ForcedOutOfOrder {
                expected: 5,
                found: 3,
            }),
        },
        Case {
            case: "forced entry repeated",
            input: vec![forced(4, 1, b"f"), forced(4, 1, b"f")],
            expected: Err(BatchError::ForcedOutOfOrder {
                expected: 5,
                found: 4,
            }),
        },
        Case {
            case: "namespaces descending",
            input: vec![tx(2, b"a"), tx(1, b"b")],
            expected: Err(BatchError::NamespacesOutOfOrder {
                previous: Namespace(2),
                namespace: Namespace(1),
            }),
        },
        Case {
            case: "a namespace split in two groups",
            input: vec![tx(1, b"a"), tx(2, b"b"), tx(1, b"c")],
            expected: Err(BatchError::NamespacesOutOfOrder {
                previous: Namespace(2),
                namespace: Namespace(1),
            }),
        },
        Case {
            case: "forced entries of any namespace order",
            input: vec![forced(0, 9, b"f"), forced(1, 1, b"g"), tx(0, b"a")],
            expected: Ok(()),
        },
    ];
    for c in cases {
        let got = summarize(&c.input, &Limits::default()).map(|_| ());
        assert_eq!(got, c.expected, "case: {}", c.case);
    }
}

#[test]
fn batch_limits() {
    let limits = Limits {
        max_tx_payload: 4,
        max_batch_txs: 2,
        max_batch_bytes: 40,
        ..Limits::default()
    };
    assert_eq!(
        summarize(&[tx(1, b"12345")], &limits),
        Err(BatchError::PayloadTooLarge { len: 5, max: 4 })
    );
    assert_eq!(
        summarize(&[tx(1, b"a"), tx(1, b"b"), tx(1, b"c")], &limits),
        Err(BatchError::TooManyTxs { count: 3, max: 2 })
    );
    assert!(summarize(&[tx(1, b"abcd"), tx(1, b"abcd")], &limits).is_ok());
    let tight = Limits {
        max_batch_bytes: 33,
        ..limits
    };
    assert_eq!(
        summarize(&[tx(1, b"abcd"), tx(1, b"abcd")], &tight),
        Err(BatchError::TooManyBytes { bytes: 34, max: 33 })
    );
}

#[test]
fn a_header_that_disagrees_with_its_body_is_refused() {
    let good = sealed();
    let mut edits: Vec<(&str, Batch)> = Vec::new();
    let mut b = good.clone();
    b.header.tx_count += 1;
    edits.push(("tx_count", b));
    let mut b = good.clone();
    b.header.body_bytes -= 1;
    edits.push(("body_bytes", b));
    let mut b = good.clone();
    b.header.namespaces_root.0[3] ^= 1;
    edits.push(("namespaces_root", b));
    let mut b = good.clone();
    b.header.forced_cursor.next += 1;
    edits.push(("forced_cursor.next", b));
    let mut b = good.clone();
    b.header.forced_cursor.first -= 1;
    edits.push(("forced_cursor.first", b));
    let mut b = good.clone();
    b.txs.pop();
    edits.push(("tx_count", b));
    let mut b = good.clone();
    b.txs[3] = tx(1, b"A2");
    edits.push(("namespaces_root", b));
    for (field, b) in edits {
        match b.check_body(&Limits::default()) {
            Err(BatchError::HeaderMismatch { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a mismatch, got {other:?}"),
        }
    }
}
