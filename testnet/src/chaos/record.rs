//! What a scenario writes down while it runs: the JSON-lines files in its directory (several
//! tasks append to each), the wall-clock stamps on their lines, and the sampler of the nodes'
//! heights.

use super::cluster::heights;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A JSON-lines file several tasks append to.
#[derive(Clone)]
pub(super) struct Lines(Arc<Mutex<std::io::BufWriter<std::fs::File>>>);

impl Lines {
    fn create(path: &Path) -> anyhow::Result<Lines> {
        let f = std::fs::File::create(path).with_context(|| path.display().to_string())?;
        Ok(Lines(Arc::new(Mutex::new(std::io::BufWriter::new(f)))))
    }
    pub(super) fn push(&self, v: &Value) {
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{v}");
        }
    }
    fn flush(&self) {
        if let Ok(mut w) = self.0.lock() {
            let _ = w.flush();
        }
    }
}

/// The files a scenario writes in its directory (the checkers read them back).
pub(super) struct Logs {
    /// `samples.jsonl`: every node's height, every 200 ms.
    pub(super) samples: Lines,
    /// `acks.jsonl`: the load's ordered acknowledgements.
    pub(super) acks: Lines,
    /// `forced.jsonl`: the forced entries queued on the L1.
    pub(super) forced: Lines,
    /// `events.jsonl`: the faults played and what they did.
    pub(super) events: Lines,
}

impl Logs {
    pub(super) fn create(dir: &Path) -> anyhow::Result<Logs> {
        Ok(Logs {
            samples: Lines::create(&dir.join("samples.jsonl"))?,
            acks: Lines::create(&dir.join("acks.jsonl"))?,
            forced: Lines::create(&dir.join("forced.jsonl"))?,
            events: Lines::create(&dir.join("events.jsonl"))?,
        })
    }

    pub(super) fn flush(&self) {
        for w in [&self.samples, &self.acks, &self.forced, &self.events] {
            w.flush();
        }
    }
}

/// Polls every node's height every 200 ms until `stop`.
async fn sample(rpcs: Vec<SocketAddr>, out: Lines, stop: Arc<AtomicBool>) {
    while !stop.load(Relaxed) {
        let t = now_ms();
        let hs = heights(&rpcs).await;
        for (node, h) in hs.into_iter().enumerate() {
            out.push(&json!({"t_ms": t, "node": node, "height": h}));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The task that runs [`sample`], and the flag that stops it.
pub(super) struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub(super) fn start(rpcs: Vec<SocketAddr>, out: Lines) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(sample(rpcs, out, stop.clone()));
        Sampler { stop, task }
    }

    /// Stops the sampling and waits for its last round.
    pub(super) async fn stop(self) {
        self.stop.store(true, Relaxed);
        let _ = self.task.await;
    }
}
