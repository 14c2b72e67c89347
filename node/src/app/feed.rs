//! The committed-batch feed: after the fsynced decision write, the app publishes one
//! [`Committed`] event per height, and everything that acts on decided batches subscribes to it.
//!
//! Two kinds of subscriber, with one policy each:
//! - **Inline** ([`Inline`]): run by the app loop in registration order, before the engine is
//!   told the height is done. They must be in-memory and bounded in time (no I/O, no await):
//!   ordered acknowledgements and the namespace streams' height watch, pool pruning (the next
//!   proposal must not carry what was just ordered) and status.
//! - **Lagging** ([`Subscription`]): tasks of their own, fed through a bounded broadcast
//!   channel of [`FEED_CAPACITY`] events. A subscriber that falls behind by more than that is
//!   not waited for: it loses the overflow and reads the heights it missed back from the store,
//!   so it still sees every height, in order, exactly once. A decision never waits for one.
//!   The decision log and the L1 prune are such subscribers; executors and DA posting will be.

use crate::store::{Decided, Store, StoreError};
use ordo_types::tx::BatchTx;
use ordo_types::{BatchHeader, Certificate, Hash, Height, Namespace, TxId};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a lagging subscriber may fall behind before it reads from the store instead.
pub const FEED_CAPACITY: usize = 256;

/// One transaction of a committed batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedTx {
    pub id: TxId,
    pub namespace: Namespace,
    /// The inbox queue index, for a forced entry.
    pub forced: Option<u64>,
}

/// A batch durably stored with its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub height: Height,
    pub header: BatchHeader,
    /// The header's hash (the batch id).
    pub hash: Hash,
    pub certificate: Certificate,
    /// In body order: the index of a transaction here is its position in the batch body.
    pub txs: Vec<CommittedTx>,
    /// When this node published the event (Unix ms); for a height read back from the store by a
    /// lagging subscriber, when it was read.
    pub decided_at_ms: u64,
    /// Read back from the store rather than received live.
    pub replayed: bool,
}

impl Committed {
    /// The event of `d`, whose transaction ids (body order) are `ids`.
    pub fn new(d: &Decided, ids: &[TxId], decided_at_ms: u64) -> Committed {
        let txs = d
            .batch
            .txs
            .iter()
            .zip(ids)
            .map(|(t, id)| CommittedTx {
                id: *id,
                namespace: t.namespace(),
                forced: t.as_forced().map(|f| f.queue_index),
            })
            .collect();
        Committed {
            height: d.batch.header.height,
            header: d.batch.header,
            hash: d.batch.hash(),
            certificate: d.certificate.clone(),
            txs,
            decided_at_ms,
            replayed: false,
        }
    }

    /// The transaction ids, in body order.
    pub fn ids(&self) -> impl Iterator<Item = TxId> + '_ {
        self.txs.iter().map(|t| t.id)
    }
}

/// An inline subscriber: in-memory, never blocking (see the module doc).
pub type Inline = Box<dyn Fn(&Committed) + Send + Sync>;

/// The publishing side, owned by the app loop.
pub struct Feed {
    inline: Vec<(&'static str, Inline)>,
    tx: broadcast::Sender<Arc<Committed>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inline.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Feed")
            .field("inline", &names)
            .field("lagging", &self.tx.receiver_count())
            .finish()
    }
}

impl Feed {
    /// A feed and the handle lagging subscribers subscribe with.
    pub fn new(store: Arc<Store>) -> (Feed, FeedHandle) {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        let handle = FeedHandle {
            tx: tx.clone(),
            store,
        };
        (
            Feed {
                inline: Vec::new(),
                tx,
            },
            handle,
        )
    }

    /// Adds an inline subscriber, run after those added before it.
    pub fn inline(&mut self, name: &'static str, f: Inline) {
        self.inline.push((name, f));
    }

    /// Publishes the event of a height that is durably stored.
    pub fn publish(&self, c: Committed) {
        for (_, f) in &self.inline {
            f(&c);
        }
        // No lagging subscriber yet is fine: they read what they missed from the store.
        let _ = self.tx.send(Arc::new(c));
    }
}

/// Subscribes lagging subscribers to a [`Feed`].
#[derive(Clone, Debug)]
pub struct FeedHandle {
    tx: broadcast::Sender<Arc<Committed>>,
    store: Arc<Store>,
}

impl FeedHandle {
    /// Every committed height from `from` on (or from the lowest height still stored, if
    /// that is later), in order: first those already stored, then the live ones.
    pub fn subscribe(&self, from: Height) -> Result<Subscription, StoreError> {
        let rx = self.tx.subscribe();
        let earliest = self.store.earliest_height()?.map_or(1, |h| h.0);
        Ok(Subscription {
            rx,
            store: self.store.clone(),
            next: from.0.max(earliest).max(1),
            from_store: true,
        })
    }
}

/// A lagging subscriber's view of the feed.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Committed>>,
    store: Arc<Store>,
    next: u64,
    /// Whether the next height may already be in the store (so it is read from there).
    from_store: bool,
}

impl Subscription {
    /// The height the next event will be for.
    pub fn next_height(&self) -> Height {
        Height(self.next)
    }

    /// The next height's event; `None` once the feed is closed (the node is stopping).
    pub async fn next(&mut self) -> Result<Option<Arc<Committed>>, StoreError> {
        loop {
            if self.from_store {
                if let Some(c) = self.read_stored(Height(self.next))? {
                    self.next += 1;
                    return Ok(Some(Arc::new(c)));
                }
                self.from_store = false;
            }
            match self.rx.recv().await {
                Ok(c) if c.height.0 == self.next => {
                    self.next += 1;
                    return Ok(Some(c));
                }
                // Already delivered from the store.
                Ok(c) if c.height.0 < self.next => {}
                // A gap: the heights between are stored; read them from there.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.from_store = true,
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
    }

    fn read_stored(&self, h: Height) -> Result<Option<Committed>, StoreError> {
        let Some(d) = self.store.decided(h)? else {
            return Ok(None);
        };
        let ids: Vec<TxId> = d.batch.txs.iter().map(BatchTx::id).collect();
        let mut c = Committed::new(&d, &ids, crate::app::now_ms());
        c.replayed = true;
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gap in the live events (a lagging subscriber) is filled from the store: the
    /// subscriber sees every stored height once, in order.
    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_store_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = ordo_types::Limits::default();
        let store = Arc::new(Store::open(dir.path(), limits).expect("store"));
        let chain = crate::store::tests::chain(&store, 3 * FEED_CAPACITY as u64);
        let (feed, handle) = Feed::new(store.clone());
        let mut early = handle.subscribe(Height(1)).expect("subscribe");
        // Heights 1..=N are stored; only the last ones are published live, more than the
        // channel holds, so `early` lags.
        for d in chain.iter().skip(FEED_CAPACITY) {
            let ids: Vec<TxId> = d.batch.txs.iter().map(BatchTx::id).collect();
            feed.publish(Committed::new(d, &ids, 7));
        }
        let mut late = handle.subscribe(Height(5)).expect("subscribe");
        drop((feed, handle));
        for (sub, first) in [(&mut early, 1u64), (&mut late, 5)] {
            let mut seen = Vec::new();
            while let Some(c) = sub.next().await.expect("store") {
                seen.push(c.height.0);
            }
            let want: Vec<u64> = (first..=chain.len() as u64).collect();
            assert_eq!(seen, want);
        }
    }

    #[tokio::test]
    async fn inline_subscribers_run_in_order_before_publish_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Arc::new(Store::open(dir.path(), ordo_types::Limits::default()).expect("store"));
        let chain = crate::store::tests::chain(&store, 1);
        let (mut feed, _handle) = Feed::new(store);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        for name in ["acks", "pool", "status"] {
            let log = log.clone();
            feed.inline(
                name,
                Box::new(move |c| log.lock().unwrap().push((name, c.height.0))),
            );
        }
        let d = &chain[0];
        feed.publish(Committed::new(d, &[], 9));
        assert_eq!(
            *log.lock().unwrap(),
            vec![("acks", 1), ("pool", 1), ("status", 1)]
        );
    }
}
