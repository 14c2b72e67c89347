//! The way in for transactions, shared by the gRPC and HTTP APIs and by gossip: admission to the
//! pool, hand-off to gossip, and waiting until a transaction is ordered.

use crate::app::Shared;
use ordo_mempool::Rejection;
use ordo_types::{Height, Transaction, TxId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::debug;

/// What became of a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// Admitted to the pool (and handed to gossip).
    Accepted(TxId),
    /// Already in the pool.
    Duplicate(TxId),
    /// Already in a certified batch.
    Ordered(TxId, Height, u32),
    /// Refused; nothing changed.
    Rejected(TxId, Rejection),
}

/// Where a transaction was ordered.
pub type Position = (Height, u32);

/// Clients waiting for transactions to be ordered. Bounded: past `max` waiters a new wait is
/// refused (the client is told to retry), never queued without limit.
#[derive(Debug)]
pub struct Waiters {
    inner: Mutex<HashMap<TxId, Vec<oneshot::Sender<Position>>>>,
    max: usize,
}

impl Waiters {
    pub fn new(max: usize) -> Waiters {
        Waiters {
            inner: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// Registers interest in `id`; `None` when too many clients wait already.
    pub fn register(&self, id: TxId) -> Option<oneshot::Receiver<Position>> {
        let mut m = self.inner.lock().ok()?;
        if m.len() >= self.max {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        m.entry(id).or_default().push(tx);
        Some(rx)
    }

    /// Forgets waiters of `id` whose receiver is gone (after a timeout or a client that left).
    pub fn prune(&self, id: &TxId) {
        if let Ok(mut m) = self.inner.lock()
            && let Some(v) = m.get_mut(id)
        {
            v.retain(|s| !s.is_closed());
            if v.is_empty() {
                m.remove(id);
            }
        }
    }

    /// Wakes everyone waiting for the transactions of the batch at `height` (`ids` in body
    /// order). Called after the batch is durably stored.
    pub fn notify(&self, height: Height, ids: &[TxId]) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        if m.is_empty() {
            return;
        }
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = m.remove(id) {
                for s in v {
                    let _ = s.send((height, i as u32));
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why waiting for the ordered acknowledgement ended without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    /// Not ordered within the time asked for; it may still be.
    Timeout,
    /// Too many clients are waiting on this node.
    Busy,
}

impl Shared {
    /// Admits `tx` to the pool and hands it to gossip.
    pub fn submit(&self, tx: Transaction) -> Submission {
        let id = tx.id();
        if let Ok(Some((h, i))) = self.store.tx_position(&id) {
            return Submission::Ordered(id, h, i);
        }
        let encoded = self.gossip.as_ref().map(|_| tx.encode());
        let admitted = match self.pool.lock() {
            Ok(mut p) => p.admit_with_id(tx, id),
            Err(_) => Err(Rejection::PoolFull { txs: 0, bytes: 0 }),
        };
        match admitted {
            Ok(_) => {
                if let (Some(g), Some(bytes)) = (&self.gossip, encoded) {
                    g.publish(bytes.into());
                }
                Submission::Accepted(id)
            }
            Err(Rejection::Duplicate) => Submission::Duplicate(id),
            // Ordered between the lookup above and admission: the store has it now.
            Err(Rejection::AlreadyOrdered) => match self.store.tx_position(&id) {
                Ok(Some((h, i))) => Submission::Ordered(id, h, i),
                _ => Submission::Rejected(id, Rejection::AlreadyOrdered),
            },
            Err(e) => Submission::Rejected(id, e),
        }
    }

    /// Submits `tx` and waits until it is in a batch stored on this node, at most `wait`.
    /// A duplicate is waited for like a new transaction, so retrying is safe.
    pub async fn submit_and_wait(
        &self,
        tx: Transaction,
        wait: Duration,
    ) -> (Submission, Result<Position, WaitError>) {
        let id = tx.id();
        // Registered before admission, so a decision in between is not missed.
        let Some(rx) = self.waiters.register(id) else {
            return (self.submit(tx), Err(WaitError::Busy));
        };
        let s = self.submit(tx);
        let r = match &s {
            Submission::Ordered(_, h, i) => Ok((*h, *i)),
            Submission::Rejected(..) => Err(WaitError::Timeout),
            Submission::Accepted(_) | Submission::Duplicate(_) => {
                match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(p)) => return (s, Ok(p)),
                    _ => Err(WaitError::Timeout),
                }
            }
        };
        self.waiters.prune(&id);
        if r == Err(WaitError::Timeout) && !matches!(s, Submission::Rejected(..)) {
            // One last look: the batch may have been stored while the timer fired.
            if let Ok(Some(p)) = self.store.tx_position(&id) {
                return (s, Ok(p));
            }
        }
        (s, r)
    }

    /// Admits transactions received by gossip. Duplicates and refusals are expected (the same
    /// transaction arrives from several peers) and dropped quietly.
    ///
    /// A transaction already in the index is dropped too: gossipsub may deliver a bundle again
    /// seconds later (to a node that just restarted, through IHAVE/IWANT), after its
    /// transactions were ordered, and the pool's memory of ordered ids does not survive a
    /// restart. Without this check the node would propose them a second time.
    pub fn admit_gossiped(&self, txs: &[bytes::Bytes]) {
        let limits = self.genesis.genesis.limits;
        // Decoded, hashed and looked up before the pool is locked, so API submissions do not
        // wait on it.
        let decoded: Vec<(Transaction, TxId)> = txs
            .iter()
            .filter_map(|b| Transaction::decode(b, &limits).ok())
            .map(|t| {
                let id = t.id();
                (t, id)
            })
            .filter(|(_, id)| matches!(self.store.tx_position(id), Ok(None)))
            .collect();
        let Ok(mut p) = self.pool.lock() else {
            return;
        };
        let mut admitted = 0usize;
        for (tx, id) in decoded {
            if p.admit_with_id(tx, id).is_ok() {
                admitted += 1;
            }
        }
        debug!(received = txs.len(), admitted, "gossip.admitted");
    }
}
