//! The rollups a validator executes itself (`[[rollup]]` in its config): the delivery loop of
//! `ordo-client` run in-process for each, fed from the committed-batch feed (a lagging
//! subscriber: it reads what it missed from the store and never holds up a decision). A slow
//! or dead executor only makes its rollup lag; it is retried with backoff and nothing is
//! skipped (ADR 17).

use crate::app::{FeedHandle, Subscription};
use crate::config::RollupSection;
use crate::home::Home;
use crate::store::Store;
use futures::StreamExt;
use futures::stream::BoxStream;
use ordo_client::deliver::{
    self, Backoff, Commitment, Cursor, DeliveryStatus, Executor, Slice, SliceSource, SourceItem,
};
use ordo_exec::ExecutorSpec;
use ordo_exec::builtin::LedgerHandle;
use ordo_types::{ChainId, Hash, Height, Namespace};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

/// Slices buffered ahead of a slow executor, per rollup; past that the feed subscription
/// lags and later reads the heights back from the store.
const BUFFER: usize = 64;

/// What the APIs read of one rollup.
#[derive(Clone, Debug)]
pub struct RollupView {
    pub namespace: Namespace,
    pub status: DeliveryStatus,
    /// The builtin ledger's state, for its query routes.
    pub ledger: Option<LedgerHandle>,
}

/// A rollup opened at start, its loop not running yet.
#[derive(Debug)]
pub struct Rollup {
    pub view: RollupView,
    executor: Box<dyn Executor>,
}

/// Parses every `[[rollup]]` entry: an unknown scheme, an unparsable address or a namespace
/// named twice fails, naming the entry.
pub fn specs(rollups: &[RollupSection]) -> Result<Vec<(Namespace, ExecutorSpec)>, String> {
    let mut out: Vec<(Namespace, ExecutorSpec)> = Vec::with_capacity(rollups.len());
    for (i, r) in rollups.iter().enumerate() {
        if let Some(j) = out.iter().position(|(n, _)| n.0 == r.namespace) {
            return Err(format!(
                "rollup[{i}].namespace: {} is already rollup[{j}]'s",
                r.namespace
            ));
        }
        let spec = r
            .executor
            .parse()
            .map_err(|e| format!("rollup[{i}].executor: {e}"))?;
        out.push((Namespace(r.namespace), spec));
    }
    Ok(out)
}

/// Opens the executors of the config's rollups (nothing connects yet).
pub fn open(
    rollups: &[RollupSection],
    home: &Home,
    chain_id: ChainId,
) -> Result<Vec<Rollup>, String> {
    let mut out = Vec::new();
    for (namespace, spec) in specs(rollups)? {
        let opened = ordo_exec::open(&spec, chain_id, namespace, &home.rollup_dir(namespace));
        out.push(Rollup {
            view: RollupView {
                namespace,
                status: DeliveryStatus::new(namespace, spec.to_string()),
                ledger: opened.ledger,
            },
            executor: opened.executor,
        });
    }
    Ok(out)
}

/// Runs the delivery loop of `rollup` in its own task.
pub fn spawn(rollup: Rollup, home: &Home, shared: &crate::app::Shared) -> JoinHandle<()> {
    let Rollup { view, mut executor } = rollup;
    let (feed, store, da) = (shared.feed.clone(), shared.store.clone(), shared.da.clone());
    let path = home.rollup_dir(view.namespace).join("cursor.log");
    tokio::spawn(async move {
        let mut cursor = match Cursor::open(&path) {
            Ok(c) => c,
            Err(e) => {
                warn!(namespace = view.namespace.0, error = %e, "rollup.cursor");
                view.status.stopped_with(format!("cursor: {e}"));
                return;
            }
        };
        let mut source = FeedSource {
            feed,
            store,
            namespace: view.namespace,
            da,
        };
        let backoff = Backoff::default();
        deliver::run(
            executor.as_mut(),
            &mut source,
            &mut cursor,
            &view.status,
            backoff,
        )
        .await;
    })
}

/// A namespace's slices from this node's own committed batches.
struct FeedSource {
    feed: FeedHandle,
    store: Arc<Store>,
    namespace: Namespace,
    /// This node's DA status, with `[da]`.
    da: Option<crate::da::DaView>,
}

/// How often the in-node delivery loop looks at the DA head.
const AVAILABLE_POLL: Duration = Duration::from_millis(200);

impl SliceSource for FeedSource {
    /// This node's DA head (its own confirmation from the DA layer).
    fn available(&mut self) -> Option<tokio::sync::watch::Receiver<u64>> {
        let view = self.da.clone()?;
        Some(deliver::poll_head(AVAILABLE_POLL, move || {
            let h = view.lock().map_or(0, |s| s.available_height);
            std::future::ready(Some(h))
        }))
    }

    fn open(&mut self, from: Height, _parent: Option<Hash>) -> BoxStream<'static, SourceItem> {
        let (tx, rx) = mpsc::channel(BUFFER);
        let (feed, store, namespace) = (self.feed.clone(), self.store.clone(), self.namespace);
        tokio::spawn(async move {
            let mut pause = Backoff::default().first;
            let mut sub = loop {
                match feed.subscribe(from) {
                    Ok(s) => break s,
                    Err(e) => {
                        if tx.send(Err(format!("the store: {e}"))).await.is_err() {
                            return;
                        }
                        pause = wait(pause).await;
                    }
                }
            };
            feed_slices(&mut sub, &store, namespace, &tx).await;
        });
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }
}

/// Turns feed events into the namespace's slices until the feed closes or the loop goes.
async fn feed_slices(
    sub: &mut Subscription,
    store: &Store,
    namespace: Namespace,
    out: &mpsc::Sender<SourceItem>,
) {
    loop {
        // The loop may go away (stopped, or reopening elsewhere) while no height comes.
        let next = tokio::select! {
            n = sub.next() => n,
            () = out.closed() => return,
        };
        let c = match next {
            Ok(Some(c)) => c,
            Ok(None) => return,
            // The subscription did not move: ask it again after a pause.
            Err(e) => {
                if out.send(Err(format!("the store: {e}"))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Backoff::default().first).await;
                continue;
            }
        };
        // The same height until it is read: a height is never passed over.
        let mut pause = Backoff::default().first;
        let slice = loop {
            match slice_of(&c, store, namespace) {
                Ok(s) => break s,
                Err(e) => {
                    if out.send(Err(e)).await.is_err() {
                        return;
                    }
                    pause = wait(pause).await;
                }
            }
        };
        if out.send(Ok(slice)).await.is_err() {
            return;
        }
    }
}

/// Sleeps `pause`; returns the next, doubled up to the loop's maximum.
pub(crate) async fn wait(pause: std::time::Duration) -> std::time::Duration {
    tokio::time::sleep(pause).await;
    (pause * 2).min(Backoff::default().max)
}

fn slice_of(
    c: &crate::app::Committed,
    store: &Store,
    namespace: Namespace,
) -> Result<Slice, String> {
    // Only a height with the namespace's transactions is read back for their bytes.
    let txs = if c.txs.iter().any(|t| t.namespace == namespace) {
        let d = store
            .decided(c.height)
            .map_err(|e| format!("the store: {e}"))?
            .ok_or_else(|| format!("height {} is not in the store", c.height.0))?;
        d.batch
            .txs
            .into_iter()
            .filter(|t| t.namespace() == namespace)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Slice {
        height: c.height,
        hash: c.hash,
        header: c.header,
        certificate: c.certificate.clone(),
        txs,
        commitment: Commitment::Certified,
        certified_ms: (!c.replayed).then_some(c.decided_at_ms),
    })
}

/// The `rollups` array of `GET /status`: each rollup's executed height, state root and lag
/// behind this node's `height`.
pub fn status_json(views: &[RollupView], height: u64) -> serde_json::Value {
    views
        .iter()
        .map(|v| {
            let s = v.status.get();
            serde_json::json!({
                "namespace": v.namespace.0,
                "executor": s.executor,
                "executed_height": s.executed,
                "available_told": s.available,
                "state_root": format!("0x{}", hex::encode(&s.state_root)),
                "lag": height.saturating_sub(s.executed),
                "last_error": s.last_error.as_ref().map(|(_, e)| e),
                "last_error_ms": s.last_error.as_ref().map(|(t, _)| t),
                "stopped": s.stopped,
                "txs": s.txs,
                "delivery_ms": s.latency_ms().map(|(p50, p99, n)| serde_json::json!({
                    "p50": p50, "p99": p99, "heights": n,
                })),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(namespace: u64, executor: &str) -> RollupSection {
        RollupSection {
            namespace,
            executor: executor.into(),
        }
    }

    #[test]
    fn bad_entries_fail_naming_the_option() {
        let cases = [
            (
                vec![r(7, "builtin:kv"), r(7, "abci://127.0.0.1:1")],
                "rollup[1].namespace: 7 is already rollup[0]'s",
            ),
            (
                vec![r(7, "builtin:kv"), r(8, "ftp://x:1")],
                "rollup[1].executor: unknown executor \"ftp://x:1\": expected builtin:kv, \
                 abci://host:port, abci+unix:///path or grpc://host:port",
            ),
            (
                vec![r(7, "abci://127.0.0.1")],
                "rollup[0].executor: \"abci://127.0.0.1\": expected host:port",
            ),
        ];
        for (rollups, want) in cases {
            assert_eq!(specs(&rollups).err().as_deref(), Some(want));
        }
        assert_eq!(
            specs(&[r(7, "builtin:kv"), r(8, "abci+unix:///run/a.sock")]).map(|v| v.len()),
            Ok(2)
        );
    }
}
