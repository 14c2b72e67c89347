//! Golden vectors, checked in under `types/tests/vectors/`. They pin the hashing layouts of
//! docs/ENCODING.md: a change to any of them is a consensus-breaking change and must be
//! deliberate. `ORDO_BLESS_VECTORS=1 cargo test -p ordo-types --test it vectors` rewrites them.
//! `check_vectors.py` recomputes the same values from the documented layouts alone, in Python.

use crate::common::{CHAIN, body, forced, header, set, sk_at, tx};
use ordo_types::bls::{Certificate, attestation_message};
use ordo_types::tx::BatchTx;
use ordo_types::{Batch, BatchHeader, Hash, Height, Limits, NamespaceTree, Round, ValidatorIndex};
use serde_json::{Value, json};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Compares `value` with the checked-in file, or rewrites it when blessing.
fn golden(name: &str, value: Value) {
    let path = dir().join(name);
    let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
    if std::env::var_os("ORDO_BLESS_VECTORS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with ORDO_BLESS_VECTORS=1)", path.display()));
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        stored, value,
        "{name} differs from the checked-in golden vector"
    );
}

fn headers() -> Vec<BatchHeader> {
    let mut extreme = header(u64::MAX);
    extreme.chain_id = ordo_types::ChainId(u64::MAX);
    extreme.timestamp_ms = u64::MAX;
    extreme.epoch = ordo_types::Epoch(u64::MAX);
    extreme.tx_count = u32::MAX;
    extreme.body_bytes = u64::MAX;
    extreme.forced_cursor = ordo_types::ForcedCursor {
        first: u64::MAX - 1,
        next: u64::MAX,
    };
    let sealed = Batch::seal(header(9), body(), 10, &Limits::default())
        .unwrap()
        .header;
    let mut zero = header(0);
    zero.parent_hash = Hash::ZERO;
    vec![zero, header(1), sealed, extreme]
}

#[test]
fn header_layout_and_hash() {
    let cases: Vec<Value> = headers()
        .iter()
        .map(|h| {
            assert_eq!(BatchHeader::from_bytes(&h.to_bytes()).unwrap(), *h);
            json!({
                "header": h,
                "layout": hex::encode(h.to_bytes()),
                "hash": h.hash().to_string(),
            })
        })
        .collect();
    golden("header.json", Value::Array(cases));
}

fn bodies() -> Vec<Vec<BatchTx>> {
    vec![
        vec![],
        vec![tx(1, b"")],
        vec![tx(1, b"a"), tx(1, b"b"), tx(1, b"c")],
        body(),
        (0..7).map(|i| tx(i, &[i as u8; 3])).collect(),
        vec![forced(0, 3, b"only forced")],
    ]
}

#[test]
fn transaction_ids_and_namespace_roots() {
    let cases: Vec<Value> = bodies()
        .iter()
        .map(|b| {
            let tree = NamespaceTree::build(b);
            json!({
                "txs": b.iter().map(|t| json!({
                    "encoding": hex::encode(t.encode()),
                    "id": t.id().to_string(),
                })).collect::<Vec<_>>(),
                "leaves": tree.leaves(),
                "namespaces_root": tree.root().to_string(),
            })
        })
        .collect();
    golden("namespace_tree.json", Value::Array(cases));
}

#[test]
fn certificate_from_deterministic_keys() {
    let s = set(&[1, 1, 1, 1]);
    let batch = Hash([0xab; 32]);
    let msg = attestation_message(CHAIN, Height(12), Round(3), &batch);
    let votes: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| (ValidatorIndex(i), sk_at(&s, i as usize).sign(&msg)))
        .collect();
    let cert = Certificate::aggregate(&s, CHAIN, Height(12), Round(3), batch, &votes)
        .unwrap()
        .certificate;
    golden(
        "certificate.json",
        json!({
            "chain_id": CHAIN,
            "validators": s.validators(),
            "validator_set_hash": s.hash().to_string(),
            "message": hex::encode(&msg),
            "certificate": hex::encode(cert.encode()),
        }),
    );
}

#[test]
fn a_da_frame_and_its_blob() {
    use ordo_types::da::{Certified, pack};
    let s = set(&[1, 1, 1, 1]);
    let mut parent = Hash::ZERO;
    let entries: Vec<Certified> = [vec![tx(1, b"a"), tx(2, b"bc")], body()]
        .into_iter()
        .enumerate()
        .map(|(i, txs)| {
            let mut h = header(i as u64 + 1);
            h.parent_hash = parent;
            let forced_next = if i == 0 { 0 } else { 12 };
            let batch = Batch::seal(h, txs, forced_next, &Limits::default()).unwrap();
            parent = batch.hash();
            let height = batch.header.height;
            let msg = attestation_message(CHAIN, height, Round(0), &batch.hash());
            let votes: Vec<_> = [0, 1, 2]
                .iter()
                .map(|&v| (ValidatorIndex(v), sk_at(&s, v as usize).sign(&msg)))
                .collect();
            let certificate =
                Certificate::aggregate(&s, CHAIN, height, Round(0), batch.hash(), &votes)
                    .unwrap()
                    .certificate;
            Certified { batch, certificate }
        })
        .collect();
    let frames = pack(CHAIN, &entries, 1 << 20);
    assert_eq!(frames.len(), 1);
    let frame = frames[0].encode();
    let blob = &frames[0].to_blobs()[0];
    let used = frame.len().div_ceil(31) * 32;
    golden(
        "frame.json",
        json!({
            "chain_id": CHAIN,
            "entries": entries.iter().map(|c| json!({
                "header": hex::encode(c.batch.header.to_bytes()),
                "txs": c.batch.txs.iter().map(|t| hex::encode(t.encode())).collect::<Vec<_>>(),
                "certificate": hex::encode(c.certificate.encode()),
            })).collect::<Vec<_>>(),
            "frame": hex::encode(&frame),
            "blob_prefix": hex::encode(&blob[..used]),
        }),
    );
}

#[test]
fn an_independent_python_implementation_agrees() {
    let out = std::process::Command::new("python3")
        .arg(dir().join("check_vectors.py"))
        .output()
        .expect("python3 runs the cross-language check");
    assert!(
        out.status.success(),
        "check_vectors.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
