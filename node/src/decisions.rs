//! `data/decisions.log`: one JSON line per decided height (height, round, batch hash,
//! certificate, `l1_ref`, forced queue indices, and with `testing.log_tx_ids` every transaction
//! id), which the chaos checkers and operators read.
//!
//! It is a lagging subscriber of the committed-batch feed: it never holds up a decision. At
//! start it resumes after the last height the log holds, reading any height it missed (a crash
//! between the store write and the log line) back from the store, so the log has every height
//! once, in order. Write errors are logged and the line retried with the next event; the file
//! is rotated to `decisions.log.1` (replacing an older one) past [`MAX_LOG_BYTES`].

use crate::app::{Committed, Subscription};
use ordo_types::Height;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tracing::{error, warn};

/// Size past which the log is rotated.
pub const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;
/// Longest line looked for when finding the last height (a line with every id of a full batch).
const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The decision log writer.
#[derive(Debug)]
pub struct DecisionLog {
    path: PathBuf,
    file: std::fs::File,
    bytes: u64,
    log_tx_ids: bool,
    max_bytes: u64,
}

impl DecisionLog {
    /// Opens (or creates) the log at `path` for appending; returns it and the height after the
    /// last one it holds.
    pub fn open(path: &Path, log_tx_ids: bool) -> Result<(DecisionLog, Height), LogError> {
        let io = |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (last, complete) = last_height(&mut file).map_err(io)?;
        let mut bytes = file.metadata().map_err(io)?.len();
        if complete < bytes {
            // A line torn by a crash mid-write: cut it, its height is written again.
            warn!(path = %path.display(), torn_bytes = bytes - complete, "decisions.torn_line_cut");
            file.set_len(complete).map_err(io)?;
            bytes = complete;
        }
        // Just rotated (no line here yet): the last height is the rotated file's, or every
        // height would be written again from the store.
        let last = match last {
            Some(h) => Some(h),
            None => match std::fs::File::open(rotated(path)) {
                Ok(mut old) => last_height(&mut old).map_err(io)?.0,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(e)),
            },
        };
        let log = DecisionLog {
            path: path.to_path_buf(),
            file,
            bytes,
            log_tx_ids,
            max_bytes: MAX_LOG_BYTES,
        };
        Ok((log, Height(last.map_or(1, |h| h + 1))))
    }

    /// The line of `c`.
    pub fn line(&self, c: &Committed) -> String {
        let forced: Vec<u64> = c.txs.iter().filter_map(|t| t.forced).collect();
        let mut line = serde_json::json!({
            "height": c.height.0,
            "round": c.certificate.round.0,
            "hash": c.hash.to_string(),
            "certificate": c.certificate.hash().to_string(),
            "cert": hex::encode(c.certificate.encode()),
            "txs": c.txs.len(),
            "l1_ref": c.header.l1_ref.number,
            "forced": forced,
            "decided_at_ms": c.decided_at_ms,
        });
        if let Some(obj) = line.as_object_mut() {
            if c.replayed {
                obj.insert("replayed".into(), true.into());
            }
            if self.log_tx_ids {
                obj.insert("tx_ids".into(), c.ids().map(|i| i.to_string()).collect());
            }
        }
        let mut s = line.to_string();
        s.push('\n');
        s
    }

    /// Appends the line of `c`, rotating first if the log is full.
    pub fn append(&mut self, c: &Committed) -> std::io::Result<()> {
        let line = self.line(c);
        if self.bytes.saturating_add(line.len() as u64) > self.max_bytes && self.bytes > 0 {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.path, rotated(&self.path))?;
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.bytes = 0;
        warn!(path = %self.path.display(), "decisions.rotated");
        Ok(())
    }

    /// Writes every committed height `sub` delivers, until the feed closes.
    pub async fn run(mut self, mut sub: Subscription) {
        let mut failing = false;
        loop {
            let c = match sub.next().await {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    error!(error = %e, "decisions.read_failed");
                    return;
                }
            };
            // A failed line is retried until it is written: the log keeps every height.
            loop {
                match self.append(&c) {
                    Ok(()) => break,
                    Err(e) => {
                        if !failing {
                            error!(path = %self.path.display(), error = %e, "decisions.write_failed");
                        }
                        failing = true;
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
            failing = false;
        }
    }
}

/// Where the log goes when it is rotated: `<path>.1`.
fn rotated(path: &Path) -> PathBuf {
    let mut old = path.to_path_buf().into_os_string();
    old.push(".1");
    PathBuf::from(old)
}

/// The height of the last complete line of the log, if any, and where complete lines end.
fn last_height(file: &mut std::fs::File) -> std::io::Result<(Option<u64>, u64)> {
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(MAX_LINE_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(len - start).read_to_end(&mut tail)?;
    let Some(end) = tail.iter().rposition(|b| *b == b'\n') else {
        // No line end at all: the whole file is one torn line, or (past the window) one
        // longer than any line written, which is left alone.
        return Ok((None, if start == 0 { 0 } else { len }));
    };
    let complete = tail.get(..end).unwrap_or_default();
    let line = complete.rsplit(|b| *b == b'\n').next().unwrap_or_default();
    let height = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("height")?.as_u64());
    Ok((height, start + end as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Feed;
    use crate::store::Store;
    use std::sync::Arc;

    fn heights(path: &Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["height"]
                    .as_u64()
                    .expect("height")
            })
            .collect()
    }

    /// After a crash that lost the last lines (and tore one), the log resumes after its last
    /// complete line and fills the missed heights from the store: every height once, in order.
    #[tokio::test]
    async fn resumes_after_its_last_line_and_fills_the_gap_from_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("db"), Default::default()).expect("db"));
        let chain = crate::store::tests::chain(&store, 6);
        let path = dir.path().join("decisions.log");
        {
            let (mut log, from) = DecisionLog::open(&path, true).expect("open");
            assert_eq!(from, Height(1));
            for d in &chain[..3] {
                let ids: Vec<_> = d.batch.txs.iter().map(|t| t.id()).collect();
                log.append(&Committed::new(d, &ids, 5)).expect("append");
            }
        }
        // A torn fourth line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open")
            .write_all(b"{\"height\":4,\"rou")
            .expect("tear");
        let (log, from) = DecisionLog::open(&path, true).expect("reopen");
        assert_eq!(from, Height(4), "resumes after the last complete line");
        let (feed, handle) = Feed::new(store);
        let task = tokio::spawn(log.run(handle.subscribe(from).expect("subscribe")));
        drop((feed, handle));
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the writer stops when the feed closes")
            .expect("no panic");
        let text = std::fs::read_to_string(&path).expect("read");
        // The torn fragment is cut; the missed heights follow, each on its own line.
        assert_eq!(heights(&path), vec![1, 2, 3, 4, 5, 6]);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[2].get("replayed"), None);
        assert_eq!(lines[3]["replayed"], true);
        assert_eq!(lines[5]["tx_ids"].as_array().map(Vec::len), Some(2));
        let (_, from) = DecisionLog::open(&path, false).expect("reopen");
        assert_eq!(from, Height(7));
    }

    #[test]
    fn rotates_past_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db"), Default::default()).expect("db");
        let chain = crate::store::tests::chain(&store, 5);
        let path = dir.path().join("decisions.log");
        let (mut log, _) = DecisionLog::open(&path, false).expect("open");
        let one = log.line(&Committed::new(&chain[0], &[], 1)).len() as u64;
        log.max_bytes = 2 * one + 10;
        for d in &chain {
            let ids: Vec<_> = d.batch.txs.iter().map(|t| t.id()).collect();
            log.append(&Committed::new(d, &ids, 1)).expect("append");
        }
        assert_eq!(heights(&rotated(&path)), vec![3, 4]);
        assert_eq!(heights(&path), vec![5]);
        drop(log);
        // Reopened after a rotation that no line followed yet: it resumes after the rotated
        // file's last height, not from height 1.
        std::fs::write(&path, b"").expect("empty");
        let (_, from) = DecisionLog::open(&path, false).expect("reopen");
        assert_eq!(from, Height(5));
    }
}
