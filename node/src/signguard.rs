//! The durable double-sign guard: the rule of `ordo_consensus::guard`, with its state written to
//! `data/sign_state` (temp file, fsync, rename, fsync of the directory) before a signature is
//! released, and every new signature appended to the signature log (JSON lines, read by the
//! chaos checkers and tests).
//!
//! The state lives in its own file rather than in rocksdb so that the signer (owned by the
//! consensus engine) shares nothing with the node's database.

use ordo_consensus::guard::{Permit, STATE_LEN, SignRequest, SignState, Step, check};
use ordo_consensus::signing::{GuardError, SignGuard};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The guard of one validator.
#[derive(Debug)]
pub struct FileGuard {
    path: PathBuf,
    state: Mutex<SignState>,
    log: std::sync::Arc<SignLog>,
}

/// The signature log: one JSON line per signature released, naming the validator.
#[derive(Debug)]
pub struct SignLog {
    file: Mutex<File>,
    /// The signing validator's address, written on every line.
    signer: String,
}

impl SignLog {
    /// Opens `path` for appending (creating it and its directory).
    pub fn open(path: &Path, signer: String) -> Result<SignLog, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        Ok(SignLog {
            file: Mutex::new(file),
            signer,
        })
    }

    /// Appends one line. The log is for checkers; a failed write is not an error.
    fn record(&self, req: &SignRequest) {
        let line = serde_json::json!({
            "validator": self.signer,
            "height": req.height,
            "round": req.round,
            "step": step_name(req.step),
            "value": req.value.map(|h| h.to_string()),
        });
        let mut text = line.to_string();
        text.push('\n');
        if let Ok(mut log) = self.file.lock() {
            // One write per line: a reader (the checkers read while nodes run) never sees half
            // a line followed by another.
            let _ = log.write_all(text.as_bytes());
        }
    }
}

/// A guard that refuses nothing and logs every signature: the signer of the equivocating
/// validator double (`testing.equivocate`), whose second, conflicting signatures must reach the
/// signature log for the checkers to see them. Only in a build with the `chaos` feature.
#[cfg(feature = "chaos")]
#[derive(Debug)]
pub struct RecordOnly(pub std::sync::Arc<SignLog>);

#[cfg(feature = "chaos")]
impl SignGuard for RecordOnly {
    fn permit(&self, req: &SignRequest) -> Result<(), GuardError> {
        self.0.record(req);
        Ok(())
    }
}

fn io_err(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Reads the persisted state; a missing file is the initial state, a corrupt one an error.
pub fn read_state(path: &Path) -> Result<SignState, String> {
    match std::fs::read(path) {
        Ok(bytes) => SignState::decode(&bytes).ok_or_else(|| {
            format!(
                "{}: corrupt signing state ({} bytes, expected {STATE_LEN})",
                path.display(),
                bytes.len()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SignState::default()),
        Err(e) => Err(io_err(path, e)),
    }
}

fn write_state(path: &Path, state: &SignState) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(&state.encode()).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

impl FileGuard {
    /// Loads the state at `path`; `log` is appended to, each line naming `signer`.
    pub fn open(path: &Path, log: &Path, signer: String) -> Result<FileGuard, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let state = read_state(path)?;
        Ok(FileGuard {
            path: path.to_path_buf(),
            state: Mutex::new(state),
            log: std::sync::Arc::new(SignLog::open(log, signer)?),
        })
    }

    /// The signature log this guard appends to (shared with the equivocating double, so that
    /// the two write whole lines in turn).
    pub fn log(&self) -> std::sync::Arc<SignLog> {
        self.log.clone()
    }
}

fn step_name(s: Step) -> &'static str {
    match s {
        Step::Propose => "propose",
        Step::Prevote => "prevote",
        Step::Precommit => "precommit",
    }
}

impl SignGuard for FileGuard {
    fn permit(&self, req: &SignRequest) -> Result<(), GuardError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| GuardError::Storage("guard lock poisoned".into()))?;
        match check(&state, req)? {
            Permit::Repeat => Ok(()),
            Permit::Record(next) => {
                write_state(&self.path, &next).map_err(GuardError::Storage)?;
                *state = next;
                // The log is for checkers; the fsynced state above is what protects.
                self.log.record(req);
                Ok(())
            }
        }
    }
}
