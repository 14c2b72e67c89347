//! Delivery: a rollup's slice of every height, handed to its executor in height order, exactly
//! once, across a crash of either side (ADR 17).
//!
//! # The executor contract
//!
//! An [`Executor`] is the rollup's state machine behind some transport (an ABCI app, ordo's
//! execution gRPC API, an in-process ledger). The loop ([`run`]) relies on four rules:
//!
//! 1. **The executor owns the resume point.** [`Executor::resume`] (re)connects and returns the
//!    last height the executor has executed *and made durable* (0 for none). The loop delivers
//!    the height after it next, whatever it delivered before: an executor that lost state (a
//!    fresh in-memory app after a restart) is replayed from its own height, one that executed a
//!    height whose acknowledgement was lost is not given it again. This is the CometBFT
//!    handshake (`Info.last_block_height`).
//! 2. **A slice per height, empty ones too.** [`Executor::execute`] gets the slice at exactly
//!    `resume + 1`, then `+ 2`, and so on: the certified header, its certificate and the
//!    namespace's transactions in ordo's order (possibly none). It returns once that height is
//!    durable on the executor's side, with the rollup's state root (ABCI: the app hash).
//! 3. **Errors say what to do.** [`ExecError::Retry`]: the transport failed or the executor
//!    cannot take the slice now (down, restarting, out of order after its own crash). The loop
//!    backs off, calls `resume` again and carries on from what it answers; nothing is skipped.
//!    [`ExecError::Fatal`]: the executor rejects the chain itself (a protocol violation, a
//!    height ahead of the chain). The loop stops for this rollup and reports it; a person must
//!    look. Only the executor's own calls may block, and only this rollup's loop waits on them.
//! 4. **Cancellation is safe.** A call dropped half-way (the process killed) is settled by the
//!    next `resume`.
//!
//! The loop keeps a [`Cursor`]: the hash and state root of every height delivered, so that on
//! a restart the stream resumes with the parent hash pinned and a conflicting certified batch
//! at a height already seen stops delivery instead of being executed.

mod cursor;
mod source;

pub use cursor::{Cursor, CursorError, Delivered};
pub use source::ClientSource;

use crate::verify::VerifiedSlice;
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use ordo_types::{BatchHeader, BatchTx, Certificate, Hash, Height, Namespace};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

/// How final a slice is when it is delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Commitment {
    /// Ordered and final in ordo: the batch carries its certificate.
    #[default]
    Certified,
    /// Also confirmed on the data-availability layer.
    Available,
}

/// One height's slice of a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub height: Height,
    /// The header hash (the batch id the certificate signs).
    pub hash: Hash,
    pub header: BatchHeader,
    pub certificate: Certificate,
    /// The namespace's transactions at this height, in batch order.
    pub txs: Vec<BatchTx>,
    pub commitment: Commitment,
    /// When the delivering node stored the batch (Unix ms), if this slice comes from a
    /// validator's own feed live (not read back from its store): the start of the
    /// certified-to-executed latency in status.
    pub certified_ms: Option<u64>,
}

impl From<VerifiedSlice> for Slice {
    fn from(v: VerifiedSlice) -> Slice {
        Slice {
            height: v.height,
            hash: v.hash,
            header: v.header,
            certificate: v.certificate,
            txs: v.txs,
            commitment: v.commitment,
            certified_ms: None,
        }
    }
}

/// What an executor answers for a height it executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The rollup's state root after the height (opaque bytes; may be empty).
    pub state_root: Vec<u8>,
}

/// Why an executor call failed (see the module doc, rule 3).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ExecError {
    #[error("{0} (retrying)")]
    Retry(String),
    #[error("{0}")]
    Fatal(String),
}

/// A rollup's state machine (see the module doc for the contract).
#[async_trait]
pub trait Executor: Send + std::fmt::Debug {
    /// What to call it in logs and status (`abci://127.0.0.1:26658`, `builtin:kv`).
    fn describe(&self) -> String;

    /// (Re)connects and returns the last height executed and durable on the executor's side.
    async fn resume(&mut self) -> Result<Height, ExecError>;

    /// Executes the slice at the height after the last one executed.
    async fn execute(&mut self, slice: &Slice) -> Result<Executed, ExecError>;

    /// Every height up to `height` (executed, with header hash `hash`) is now available on the
    /// DA layer. Called with a rising `height`, at most once per move of the DA head, only for
    /// heights already executed; after a restart the current head is sent again. The default
    /// ignores it.
    async fn available(&mut self, height: Height, hash: Hash) -> Result<(), ExecError> {
        let _ = (height, hash);
        Ok(())
    }
}

/// Where slices come from: a verified stream of ordo nodes, or a node's own committed feed.
pub trait SliceSource: Send {
    /// Every slice from `from` on, in height order. `parent`, when known, is the hash of the
    /// header at `from - 1`, which the first slice must name. An `Err` item is a problem the
    /// source works around itself (a node dropped for another); the stream goes on.
    fn open(&mut self, from: Height, parent: Option<Hash>) -> BoxStream<'static, SourceItem>;

    /// The DA head as the source knows it (every height up to it is available), if it knows:
    /// the loop tells the executor as it moves. `None` (the default): never told.
    fn available(&mut self) -> Option<watch::Receiver<u64>> {
        None
    }
}

/// A head that only rises, read every `every` by `read` (`None`: not known this time) in a
/// task of its own until every receiver is gone: what a [`SliceSource::available`] returns.
pub fn poll_head<F, Fut>(every: Duration, mut read: F) -> watch::Receiver<u64>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<u64>> + Send,
{
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        loop {
            if let Some(h) = read().await {
                tx.send_if_modified(|v| {
                    let moved = h > *v;
                    *v = (*v).max(h);
                    moved
                });
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = tx.closed() => return,
            }
        }
    });
    rx
}

/// One item of a [`SliceSource`] stream.
pub type SourceItem = Result<Slice, String>;

/// What a delivery loop reports, shared with status pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryState {
    pub namespace: Namespace,
    pub executor: String,
    /// The last height the executor executed (0 before the first).
    pub executed: u64,
    /// The state root the executor returned for `executed`.
    pub state_root: Vec<u8>,
    /// The highest height the source has offered.
    pub head: u64,
    /// The highest height the executor was told is available on the DA layer (0: none yet
    /// since the last connection).
    pub available: u64,
    /// The last problem (executor or source), with when it happened (Unix ms); cleared by the
    /// next height executed.
    pub last_error: Option<(u64, String)>,
    /// Delivery stopped on a fatal error.
    pub stopped: bool,
    /// Transactions executed since the loop started.
    pub txs: u64,
    /// Certified-to-executed milliseconds of the last [`LATENCY_WINDOW`] heights with
    /// transactions for the namespace that carried a certification time.
    pub latencies_ms: std::collections::VecDeque<u64>,
}

/// Heights the latency percentiles in [`DeliveryState`] cover.
pub const LATENCY_WINDOW: usize = 4_096;

impl DeliveryState {
    /// Heights offered and not executed yet.
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.executed)
    }

    /// `(p50, p99, heights)` of the certified-to-executed latency over the recent window.
    pub fn latency_ms(&self) -> Option<(u64, u64, usize)> {
        let mut v: Vec<u64> = self.latencies_ms.iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: usize| v.get((v.len() - 1) * q / 100).copied().unwrap_or(0);
        Some((at(50), at(99), v.len()))
    }
}

/// The handle status pages read a loop's state through.
#[derive(Clone, Debug, Default)]
pub struct DeliveryStatus(Arc<Mutex<DeliveryState>>);

impl DeliveryStatus {
    pub fn new(namespace: Namespace, executor: String) -> DeliveryStatus {
        DeliveryStatus(Arc::new(Mutex::new(DeliveryState {
            namespace,
            executor,
            ..DeliveryState::default()
        })))
    }

    pub fn get(&self) -> DeliveryState {
        self.lock().clone()
    }

    /// Raises the head to `h` (the source or the node knows of that height).
    pub fn saw(&self, h: Height) {
        let mut s = self.lock();
        s.head = s.head.max(h.0);
    }

    fn lock(&self) -> MutexGuard<'_, DeliveryState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks delivery stopped for `reason` (a loop that could not start, say).
    pub fn stopped_with(&self, reason: impl std::fmt::Display) {
        let mut s = self.lock();
        s.stopped = true;
        s.last_error = Some((now_ms(), reason.to_string()));
    }

    fn error(&self, e: impl std::fmt::Display) {
        self.lock().last_error = Some((now_ms(), e.to_string()));
    }
}

/// How the loop paces its retries.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Why delivery stopped for good.
#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error("executor {executor}: {reason}")]
    Executor { executor: String, reason: String },
    #[error("cursor: {0}")]
    Cursor(#[from] CursorError),
    #[error(
        "two certified batches at height {height}: {recorded} delivered before, {offered} now; \
         delivery stops"
    )]
    Conflict {
        height: Height,
        recorded: Hash,
        offered: Hash,
    },
    #[error("the source ended")]
    SourceEnded,
}

/// Delivers `source`'s slices to `executor` until a fatal error (see the module doc). Returns
/// only on one; a dead executor or source is retried with `backoff` for ever.
pub async fn run(
    executor: &mut dyn Executor,
    source: &mut dyn SliceSource,
    cursor: &mut Cursor,
    status: &DeliveryStatus,
    backoff: Backoff,
) -> DeliveryError {
    let e = match deliver(executor, source, cursor, status, backoff).await {
        Ok(never) => match never {},
        Err(e) => e,
    };
    warn!(namespace = status.get().namespace.0, error = %e, "deliver.stopped");
    status.stopped_with(&e);
    e
}

enum Never {}

async fn deliver(
    executor: &mut dyn Executor,
    source: &mut dyn SliceSource,
    cursor: &mut Cursor,
    status: &DeliveryStatus,
    backoff: Backoff,
) -> Result<Never, DeliveryError> {
    let mut pause = backoff.first;
    let mut available = source.available();
    loop {
        let executed = match executor.resume().await {
            Ok(h) => h,
            Err(ExecError::Retry(reason)) => {
                status.error(format!("executor: {reason}"));
                warn!(
                    executor = executor.describe(),
                    reason, "deliver.executor_down"
                );
                cursor.sync()?;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(backoff.max);
                continue;
            }
            Err(ExecError::Fatal(reason)) => return Err(fatal(executor, reason)),
        };
        status.lock().executed = executed.0;
        // Start where the cursor can pin the parent: heights the executor already has are
        // verified and recorded, not delivered.
        let (from, parent) = cursor.resume_from(executed);
        info!(
            executor = executor.describe(),
            executed = executed.0,
            from = from.0,
            "deliver.resume"
        );
        let mut stream = source.open(from, parent);
        // Told again after each (re)connection: the executor may have restarted.
        status.lock().available = 0;
        match pump(
            executor,
            &mut stream,
            &mut available,
            executed,
            cursor,
            status,
        )
        .await?
        {
            Pumped::Progress => pause = backoff.first,
            Pumped::Stalled => {}
        }
        cursor.sync()?;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(backoff.max);
    }
}

enum Pumped {
    /// At least one height was executed before the executor failed.
    Progress,
    Stalled,
}

/// Feeds the executor from one opened stream until the executor asks for a retry.
async fn pump(
    executor: &mut dyn Executor,
    stream: &mut BoxStream<'static, SourceItem>,
    available: &mut Option<watch::Receiver<u64>>,
    mut executed: Height,
    cursor: &mut Cursor,
    status: &DeliveryStatus,
) -> Result<Pumped, DeliveryError> {
    let mut progress = Pumped::Stalled;
    loop {
        if let Some(a) = available.as_mut() {
            let head = *a.borrow_and_update();
            match tell_available(executor, cursor, status, head, executed).await {
                Ok(()) => {}
                Err(ExecError::Retry(reason)) => {
                    status.error(format!("executor: {reason}"));
                    return Ok(progress);
                }
                Err(ExecError::Fatal(reason)) => return Err(fatal(executor, reason)),
            }
        }
        // Make what was recorded durable whenever the stream has nothing ready.
        let item = match futures::poll!(stream.next()) {
            std::task::Poll::Ready(item) => item,
            std::task::Poll::Pending => {
                cursor.sync()?;
                match available.as_mut() {
                    Some(a) => tokio::select! {
                        item = stream.next() => item,
                        changed = a.changed() => {
                            if changed.is_err() {
                                *available = None;
                            }
                            continue;
                        }
                    },
                    None => stream.next().await,
                }
            }
        };
        let slice = match item {
            None => return Err(DeliveryError::SourceEnded),
            Some(Err(reason)) => {
                status.error(format!("source: {reason}"));
                continue;
            }
            Some(Ok(slice)) => slice,
        };
        status.saw(slice.height);
        if let Some(recorded) = cursor.hash_at(slice.height)
            && recorded != slice.hash
        {
            return Err(DeliveryError::Conflict {
                height: slice.height,
                recorded,
                offered: slice.hash,
            });
        }
        if slice.height <= executed {
            // The executor has it: record the hash for the parent chain, do not deliver.
            cursor.record(Delivered::seen(slice.height, slice.hash))?;
            continue;
        }
        if slice.height.0 != executed.0 + 1 {
            // A source that skipped a height: the executor gets only the next one, so reopen
            // the source from where the executor is.
            status.error(format!(
                "source: height {} offered when {} is next; reopening",
                slice.height.0,
                executed.0 + 1
            ));
            return Ok(progress);
        }
        match executor.execute(&slice).await {
            Ok(x) => {
                cursor.record(Delivered {
                    height: slice.height,
                    hash: slice.hash,
                    state_root: Some(x.state_root.clone()),
                })?;
                executed = slice.height;
                progress = Pumped::Progress;
                let mut s = status.lock();
                s.executed = executed.0;
                s.state_root = x.state_root;
                s.last_error = None;
                s.txs += slice.txs.len() as u64;
                if let (Some(at), false) = (slice.certified_ms, slice.txs.is_empty()) {
                    if s.latencies_ms.len() >= LATENCY_WINDOW {
                        s.latencies_ms.pop_front();
                    }
                    s.latencies_ms.push_back(now_ms().saturating_sub(at));
                }
            }
            Err(ExecError::Retry(reason)) => {
                status.error(format!("executor: {reason}"));
                warn!(
                    executor = executor.describe(),
                    height = slice.height.0,
                    reason,
                    "deliver.retry"
                );
                return Ok(progress);
            }
            Err(ExecError::Fatal(reason)) => return Err(fatal(executor, reason)),
        }
    }
}

/// Tells the executor the DA head, capped at what it executed, if that moved past what it was
/// last told.
async fn tell_available(
    executor: &mut dyn Executor,
    cursor: &Cursor,
    status: &DeliveryStatus,
    head: u64,
    executed: Height,
) -> Result<(), ExecError> {
    let target = head.min(executed.0);
    if target <= status.lock().available {
        return Ok(());
    }
    let Some(hash) = cursor.hash_at(Height(target)) else {
        return Ok(());
    };
    executor.available(Height(target), hash).await?;
    status.lock().available = target;
    Ok(())
}

fn fatal(executor: &dyn Executor, reason: String) -> DeliveryError {
    DeliveryError::Executor {
        executor: executor.describe(),
        reason,
    }
}

/// Syncs a file to disk off the async runtime's worker threads (inline when there is no
/// runtime), one sync at a time: a sync asked for while one runs is skipped, and the next one
/// covers what it would have. For the periodic syncs of logs whose writes already reached the
/// kernel (so a killed process loses nothing); what they add is survival of a power loss, and
/// an fsync held on a worker thread would delay everything scheduled there.
#[derive(Clone, Debug, Default)]
pub struct BackgroundSync(Arc<std::sync::atomic::AtomicBool>);

impl BackgroundSync {
    pub fn sync(&self, f: &std::fs::File) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return f.sync_data();
        };
        if self.0.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let (f, running) = (f.try_clone()?, self.0.clone());
        rt.spawn_blocking(move || {
            if let Err(e) = f.sync_data() {
                warn!(error = %e, "deliver.sync_failed");
            }
            running.store(false, Ordering::Release);
        });
        Ok(())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
