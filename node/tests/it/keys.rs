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
