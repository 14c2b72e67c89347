//! Key files: written 0600 and durable, refused when others may read them, and `ordo keys`.

use ordo_node::keyfile::{KeyFileError, read_bls_key, write_bls_key};
use ordo_types::BlsSecretKey;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn a_key_file_is_owner_only_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/bls.json");
    let sk = BlsSecretKey::from_seed(&[9; 32]);
    write_bls_key(&path, &sk, false).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(read_bls_key(&path).unwrap().public_key(), sk.public_key());
    assert!(matches!(
        write_bls_key(&path, &sk, false),
        Err(KeyFileError::Exists { .. })
    ));
    write_bls_key(&path, &BlsSecretKey::from_seed(&[8; 32]), true).unwrap();
    assert_ne!(read_bls_key(&path).unwrap().public_key(), sk.public_key());
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bls.json");
    write_bls_key(&path, &BlsSecretKey::from_seed(&[9; 32]), false).unwrap();
    for mode in [0o644, 0o604, 0o640] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match read_bls_key(&path) {
            Err(KeyFileError::TooOpen { mode: m, .. }) => assert_eq!(m, mode),
            other => panic!("mode {mode:o}: expected TooOpen, got {other:?}"),
        }
    }
}

#[test]
fn a_corrupt_or_huge_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bls.json");
    write_bls_key(&path, &BlsSecretKey::from_seed(&[9; 32]), false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("0x", "0y")).unwrap();
    assert!(matches!(read_bls_key(&path), Err(KeyFileError::Key { .. })));
    std::fs::write(&path, vec![b' '; 10_000]).unwrap();
    assert!(matches!(
        read_bls_key(&path),
        Err(KeyFileError::TooLarge { .. })
    ));
}

#[test]
fn ordo_keys_generate_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bls.json");
    let bin = env!("CARGO_BIN_EXE_ordo");
    let gen_out = Command::new(bin)
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(gen_out.status.success(), "{gen_out:?}");
    let shown = Command::new(bin)
        .args(["keys", "show"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{shown:?}");
    assert_eq!(gen_out.stdout, shown.stdout);
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let pk = ordo_types::BlsPublicKey::from_bytes(
        &hex::decode(v["public_key"].as_str().unwrap().trim_start_matches("0x")).unwrap(),
    )
    .unwrap();
    let pop = ordo_types::ProofOfPossession::from_bytes(
        &hex::decode(
            v["proof_of_possession"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(pop.verify(&pk));
    // A second generate without --force refuses, and says why.
    let again = Command::new(bin)
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let version = Command::new(bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("ordo "));
}

/// `ordo testnet add --da-key-file`: the new home posts with node-0's `[da]` and its own key
/// (copied 0600 into keys/l1.key); without the flag it has no `[da]`; a key file others can read
/// and a testnet that posts nowhere are refused naming the flag.
#[test]
fn testnet_add_gives_the_new_node_a_posting_key_only_when_asked() {
    use ordo_node::config::{Config, DaSection};
    use ordo_node::home::{Home, testnet_add, testnet_init};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let params = ordo_node::genesis::ChainParams::default();
    testnet_init(&out, 2, ordo_types::ChainId(7), 31_000, params, &[]).unwrap();
    let key = dir.path().join("da.key");
    ordo_node::keyfile::write_secret(&key, b"0x5de4", false).unwrap();
    let e = testnet_add(&out, 31_000, Some(&key))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--da-key-file") && e.contains("no [da]"), "{e}");

    let node0 = Home(out.join("node-0"));
    let mut cfg = Config::read(&node0.config()).unwrap();
    cfg.da = Some(DaSection {
        backend: "ethereum-blobs".into(),
        rpc: "http://127.0.0.1:8545".into(),
        key_file: Some("keys/l1.key".into()),
        ..DaSection::default()
    });
    std::fs::write(node0.config(), cfg.to_toml()).unwrap();
    let (plain, _) = testnet_add(&out, 31_000, None).unwrap();
    assert!(Config::read(&plain.config()).unwrap().da.is_none());
    assert!(!plain.0.join("keys/l1.key").exists());

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = testnet_add(&out, 31_000, Some(&key))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--da-key-file"), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (poster, _) = testnet_add(&out, 31_000, Some(&key)).unwrap();
    let da = Config::read(&poster.config()).unwrap().da.unwrap();
    assert_eq!(da.backend, "ethereum-blobs");
    assert_eq!(da.rpc, "http://127.0.0.1:8545");
    assert_eq!(da.key_file.as_deref(), Some("keys/l1.key"));
    let copied = poster.0.join("keys/l1.key");
    assert_eq!(std::fs::read(&copied).unwrap(), b"0x5de4");
    let mode = std::fs::metadata(&copied).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
