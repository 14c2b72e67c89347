//! Secret key files on disk. A key file is created with mode 0600, written beside its target and
//! renamed into place, fsynced with its directory before it is reported written, and refused on
//! load if anyone but its owner may read it.

use ordo_types::bls::keys::MAX_KEY_FILE_LEN;
use ordo_types::{BlsError, BlsKeyFile, BlsSecretKey};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a key file could not be written or read.
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },
    #[error(
        "{path} has mode {mode:o}: a secret key must be readable by its owner only (chmod 600)"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is {len} bytes, larger than any key file ({max} bytes)")]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: BlsError },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` to `path` with mode 0600, durably. Refuses to replace a file unless `force`.
pub fn write_secret(path: &Path, contents: &[u8], force: bool) -> Result<(), KeyFileError> {
    if path.exists() && !force {
        return Err(KeyFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    // Write beside the target, then rename, so a crash never leaves half a key.
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let dir = dir.unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Reads a secret file, refusing files that group or others may access.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let mut f = File::open(path).map_err(io(path))?;
    let meta = f.metadata().map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
            max: MAX_KEY_FILE_LEN,
        });
    }
    let mut text = Zeroizing::new(Vec::new());
    Read::by_ref(&mut f)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut text)
        .map_err(io(path))?;
    Ok(text)
}

/// Writes `sk` as a BLS key file.
pub fn write_bls_key(path: &Path, sk: &BlsSecretKey, force: bool) -> Result<(), KeyFileError> {
    write_secret(path, BlsKeyFile::new(sk).to_json().as_bytes(), force)
}

/// Reads a BLS key file.
pub fn read_bls_key(path: &Path) -> Result<BlsSecretKey, KeyFileError> {
    let text = read_secret(path)?;
    BlsKeyFile::from_json(&text).map_err(|source| KeyFileError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// A 32-byte secret of a named kind (ed25519 consensus key, libp2p node key) as JSON:
/// `{"kind": …, "public": …, "secret_key": "0x…"}`. `public` is informative (public key or
/// peer id) and checked on load by the caller.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    pub kind: String,
    pub public: String,
    secret_key: String,
}

impl std::fmt::Debug for SeedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedFile")
            .field("kind", &self.kind)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Drop for SeedFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}

/// Writes a 32-byte secret of `kind`.
pub fn write_seed(
    path: &Path,
    kind: &str,
    public: String,
    secret: &[u8; 32],
    force: bool,
) -> Result<(), KeyFileError> {
    let file = SeedFile {
        kind: kind.to_string(),
        public,
        secret_key: format!("0x{}", hex::encode(secret)),
    };
    let json = Zeroizing::new(serde_json::to_string_pretty(&file).expect("a seed file serializes"));
    write_secret(path, json.as_bytes(), force)
}

/// Reads a 32-byte secret of `kind`; returns it with the file's `public` field.
pub fn read_seed(path: &Path, kind: &str) -> Result<(Zeroizing<[u8; 32]>, String), KeyFileError> {
    let invalid = |reason: String| KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = read_secret(path)?;
    let file: SeedFile = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
    if file.kind != kind {
        return Err(invalid(format!(
            "kind is {:?}, expected {kind:?}",
            file.kind
        )));
    }
    let raw = Zeroizing::new(
        hex::decode(file.secret_key.trim_start_matches("0x"))
            .map_err(|e| invalid(format!("secret_key: {e}")))?,
    );
    let secret: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| invalid("secret_key must be 32 bytes".into()))?;
    Ok((Zeroizing::new(secret), file.public.clone()))
}
