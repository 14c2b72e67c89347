//! The durable double-sign guard: the rule of `ordo_consensus::guard`, with its state written to
//! `data/sign_state` (temp file, fsync, rename, fsync of the directory) before a signature is
//! released, and every new signature appended to the signature log (JSON lines, read by the
//! chaos checkers and tests).
//!
//! The state lives in its own file rather than in rocksdb so that the signer (owned by the
//! consensus engine) shares nothing with the node's database.
//!
//! Only a *missing* state file is a fresh validator. The file is only ever replaced whole by a
//! rename, so one that exists but does not decode (empty, torn, extended, damaged) is refused
//! with [`SignGuardError::Corrupt`]: starting from an empty state instead would let the
//! validator sign again what it already signed before the damage.

use ordo_consensus::guard::{Permit, STATE_LEN, SignRequest, SignState, Step, check};
use ordo_consensus::signing::{GuardError, SignGuard};
use ordo_types::DecodeError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the guard's files could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SignGuardError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: corrupt signing state ({len} bytes, a whole one is {STATE_LEN}): {reason}; \
         refusing to start rather than risk a double sign"
    )]
    Corrupt {
        path: PathBuf,
        len: usize,
        reason: DecodeError,
    },
}

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
    pub fn open(path: &Path, signer: String) -> Result<SignLog, SignGuardError> {
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
        // One write per line: a reader (the checkers read while nodes run) never sees half a
        // line followed by another.
        let _ = crate::app::shared::lock(&self.file).write_all(text.as_bytes());
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

fn io_err(path: &Path, source: std::io::Error) -> SignGuardError {
    SignGuardError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the persisted state: a missing file is the initial state; a file that exists but is not
/// exactly one encoded state (an empty one included) is [`SignGuardError::Corrupt`].
pub fn read_state(path: &Path) -> Result<SignState, SignGuardError> {
    match std::fs::read(path) {
        Ok(bytes) => SignState::decode(&bytes).map_err(|reason| SignGuardError::Corrupt {
            path: path.to_path_buf(),
            len: bytes.len(),
            reason,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SignState::default()),
        Err(e) => Err(io_err(path, e)),
    }
}

fn write_state(path: &Path, state: &SignState) -> Result<(), SignGuardError> {
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
    pub fn open(path: &Path, log: &Path, signer: String) -> Result<FileGuard, SignGuardError> {
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
        let mut state = crate::app::shared::lock(&self.state);
        match check(&state, req)? {
            Permit::Repeat => Ok(()),
            Permit::Record(next) => {
                write_state(&self.path, &next).map_err(|e| GuardError::Storage(e.to_string()))?;
                *state = next;
                // The log is for checkers; the fsynced state above is what protects.
                self.log.record(req);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_consensus::guard::Refusal;
    use ordo_types::Hash;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The seed of the garbage files; a failure names it with the sample.
    const SEED: u64 = 0x5151_6e5f_7374_6174;

    fn req(height: u64, round: u32, step: Step, value: Option<u8>) -> SignRequest {
        SignRequest {
            height,
            round,
            step,
            value: value.map(|v| Hash([v; 32])),
        }
    }

    struct Home {
        _dir: tempfile::TempDir,
        state: PathBuf,
        log: PathBuf,
    }

    fn home() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        Home {
            state: data.join("sign_state"),
            log: data.join("signatures.log"),
            _dir: dir,
        }
    }

    fn open(h: &Home) -> Result<FileGuard, SignGuardError> {
        FileGuard::open(&h.state, &h.log, "validator".into())
    }

    fn state_of(g: &FileGuard) -> SignState {
        *g.state.lock().unwrap()
    }

    /// What [`signed_file`] records: an unsigned propose, a nil prevote, a value precommit.
    const SIGNED: SignState = SignState {
        height: 5,
        round: 2,
        signed: [None, Some(None), Some(Some(Hash([9; 32])))],
    };

    /// A state file written by the guard itself, using every tag.
    fn signed_file(h: &Home) -> Vec<u8> {
        let g = open(h).unwrap();
        g.permit(&req(5, 2, Step::Prevote, None)).unwrap();
        g.permit(&req(5, 2, Step::Precommit, Some(9))).unwrap();
        let bytes = std::fs::read(&h.state).unwrap();
        assert_eq!(bytes, SIGNED.encode());
        bytes
    }

    /// Writes `bytes` as the state file and opens the guard, which must refuse it as corrupt and
    /// leave the file as it was (the operator decides; the guard never rewrites it).
    fn assert_refused(h: &Home, bytes: &[u8], what: &str) {
        std::fs::write(&h.state, bytes).unwrap();
        match open(h) {
            Err(SignGuardError::Corrupt { len, .. }) => assert_eq!(len, bytes.len(), "{what}"),
            Err(e) => panic!("{what}: refused, but not as corrupt: {e}"),
            Ok(g) => panic!("{what}: opened at {:?}", state_of(&g)),
        }
        assert_eq!(
            std::fs::read(&h.state).unwrap(),
            bytes,
            "{what}: file changed"
        );
    }

    #[test]
    fn a_missing_state_file_is_a_fresh_validator() {
        let h = home();
        let g = open(&h).unwrap();
        assert_eq!(state_of(&g), SignState::default());
        assert!(!h.state.exists(), "opening creates no state file");
        g.permit(&req(1, 0, Step::Prevote, Some(1))).unwrap();
        assert_eq!(
            read_state(&h.state).unwrap(),
            SignState {
                height: 1,
                round: 0,
                signed: [None, Some(Some(Hash([1; 32]))), None],
            }
        );
    }

    #[test]
    fn a_reopened_guard_refuses_a_double_sign() {
        let h = home();
        signed_file(&h);
        let g = open(&h).unwrap();
        assert_eq!(state_of(&g), SIGNED);
        assert!(matches!(
            g.permit(&req(5, 2, Step::Precommit, Some(8))),
            Err(GuardError::Refused(Refusal::Conflict { .. }))
        ));
        assert!(matches!(
            g.permit(&req(5, 2, Step::Prevote, Some(9))),
            Err(GuardError::Refused(Refusal::Conflict { .. }))
        ));
        assert!(matches!(
            g.permit(&req(5, 1, Step::Prevote, Some(9))),
            Err(GuardError::Refused(Refusal::Regression { .. }))
        ));
        g.permit(&req(5, 2, Step::Precommit, Some(9))).unwrap();
    }

    #[test]
    fn every_truncation_of_the_state_file_is_refused() {
        let h = home();
        let good = signed_file(&h);
        for n in 0..good.len() {
            assert_refused(&h, &good[..n], &format!("cut at {n}"));
        }
        std::fs::write(&h.state, &good).unwrap();
        assert_eq!(state_of(&open(&h).unwrap()), SIGNED);
    }

    #[test]
    fn damaged_state_files_are_refused() {
        let h = home();
        let good = signed_file(&h);
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            b
        };
        assert_refused(&h, &[good.clone(), vec![0]].concat(), "a byte appended");
        assert_refused(&h, &[good.clone(), good.clone()].concat(), "written twice");
        assert_refused(&h, &with(12, 3), "unknown propose tag");
        assert_refused(&h, &with(45, 0xff), "unknown prevote tag");
        assert_refused(&h, &with(78, 7), "unknown precommit tag");
        assert_refused(&h, &with(13, 1), "a hash under the unsigned propose");
        assert_refused(&h, &with(77, 1), "a hash under the nil prevote");
        assert_refused(&h, &[0xff; STATE_LEN], "all ones");
        assert_refused(&h, b"{\"height\": 5}\n", "some other file");
    }

    #[test]
    fn garbage_state_files_are_refused() {
        let h = home();
        let mut rng = StdRng::seed_from_u64(SEED);
        for sample in 0..400 {
            // Half of any length, half of exactly the state's length (past the length check).
            let len = if sample % 2 == 0 {
                rng.gen_range(1..=3 * STATE_LEN)
            } else {
                STATE_LEN
            };
            let mut bytes = vec![0u8; len];
            rng.fill(&mut bytes[..]);
            assert_refused(&h, &bytes, &format!("seed {SEED:#x} sample {sample}"));
        }
    }

    #[test]
    fn the_corrupt_error_names_the_file_and_the_damage() {
        let h = home();
        std::fs::write(&h.state, b"").unwrap();
        let e = open(&h).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: corrupt signing state (0 bytes, a whole one is {STATE_LEN}): sign state: \
                 expected {STATE_LEN} bytes, got 0; refusing to start rather than risk a double \
                 sign",
                h.state.display()
            )
        );
    }

    #[test]
    fn an_unreadable_state_is_refused() {
        let h = home();
        std::fs::create_dir_all(&h.state).unwrap();
        assert!(matches!(open(&h), Err(SignGuardError::Io { path, .. }) if path == h.state));
    }

    /// A crash inside `write_state` leaves at most a torn temporary file, which is never read:
    /// the last renamed state (or none, if no signature was ever released) stands.
    #[test]
    fn a_torn_temporary_file_is_ignored() {
        let h = home();
        let tmp = h.state.with_extension("tmp");
        std::fs::write(&tmp, &SIGNED.encode()[..40]).unwrap();
        assert_eq!(state_of(&open(&h).unwrap()), SignState::default());
        signed_file(&h);
        std::fs::write(&tmp, &SignState::default().encode()[..40]).unwrap();
        assert_eq!(state_of(&open(&h).unwrap()), SIGNED);
    }
}
