//! Secret key files on disk. A key file is created with mode 0600, fsynced with its directory
//! before it is reported written, and refused on load if anyone but its owner may read it.

use ordo_types::bls::keys::MAX_KEY_FILE_LEN;
use ordo_types::{BlsError, BlsKeyFile, BlsSecretKey};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `sk` to `path` with mode 0600. Refuses to replace an existing file unless `force`.
pub fn write_bls_key(path: &Path, sk: &BlsSecretKey, force: bool) -> Result<(), KeyFileError> {
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
    let json = BlsKeyFile::new(sk).to_json();
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io(&tmp))?;
    f.write_all(json.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let dir = dir.unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Reads a BLS key file, refusing files that group or others may access.
pub fn read_bls_key(path: &Path) -> Result<BlsSecretKey, KeyFileError> {
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
    let mut text = zeroize::Zeroizing::new(Vec::new());
    std::io::Read::by_ref(&mut f)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut text)
        .map_err(io(path))?;
    BlsKeyFile::from_json(&text).map_err(|source| KeyFileError::Key {
        path: path.to_path_buf(),
        source,
    })
}
