//! The way in for transactions, shared by the gRPC and HTTP APIs and by gossip: admission to the
//! pool, hand-off to gossip, and waiting until a transaction is ordered.

use crate::app::Shared;
use crate::app::shared::lock;
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

/// Clients waiting for transactions to be ordered. Bounded by waiting clients (not by
/// distinct ids: many clients may wait for one id): past `max` a new wait is refused (the
/// client is told to retry), never queued without limit.
#[derive(Debug)]
pub struct Waiters {
    inner: Mutex<WaiterMap>,
    max: usize,
}

#[derive(Debug, Default)]
struct WaiterMap {
    by_id: HashMap<TxId, Vec<oneshot::Sender<Position>>>,
    /// Senders held across all ids.
    count: usize,
}

/// A registered wait; dropping it (answered, timed out or its client gone) forgets its sender.
#[derive(Debug)]
pub struct Wait<'a> {
    waiters: &'a Waiters,
    id: TxId,
    pub rx: oneshot::Receiver<Position>,
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.rx.close();
        self.waiters.prune(&self.id);
    }
}

impl Waiters {
    pub fn new(max: usize) -> Waiters {
        Waiters {
            inner: Mutex::new(WaiterMap::default()),
            max,
        }
    }

    /// Registers interest in `id`; `None` when too many clients wait already.
    pub fn register(&self, id: TxId) -> Option<Wait<'_>> {
        let mut m = lock(&self.inner);
        if m.count >= self.max {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        m.by_id.entry(id).or_default().push(tx);
        m.count += 1;
        Some(Wait {
            waiters: self,
            id,
            rx,
        })
    }

    /// Forgets waiters of `id` whose receiver is gone.
    fn prune(&self, id: &TxId) {
        let mut m = lock(&self.inner);
        let WaiterMap { by_id, count } = &mut *m;
        if let Some(v) = by_id.get_mut(id) {
            let before = v.len();
            v.retain(|s| !s.is_closed());
            *count -= before - v.len();
            if v.is_empty() {
                by_id.remove(id);
            }
        }
    }

    /// Wakes everyone waiting for the transactions of the batch at `height` (`ids` in body
    /// order). Called after the batch is durably stored.
    pub fn notify(&self, height: Height, ids: impl Iterator<Item = TxId>) {
        let mut m = lock(&self.inner);
        if m.by_id.is_empty() {
            return;
        }
        let WaiterMap { by_id, count } = &mut *m;
        for (i, id) in ids.enumerate() {
            if let Some(v) = by_id.remove(&id) {
                *count -= v.len();
                for s in v {
                    let _ = s.send((height, i as u32));
                }
            }
        }
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

/// Where a transaction is, as the APIs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    Ordered(Height, u32),
    /// In this node's pool.
    Pending,
    Unknown,
}

impl Shared {
    /// Where `id` is: ordered (from the index), pending in the pool, or unknown here.
    pub fn tx_state(&self, id: &TxId) -> Result<TxState, crate::store::StoreError> {
        if let Some((h, i)) = self.store.tx_position(id)? {
            return Ok(TxState::Ordered(h, i));
        }
        let pending = lock(&self.pool).contains(id);
        Ok(if pending {
            TxState::Pending
        } else {
            TxState::Unknown
        })
    }

    /// Admits `tx` to the pool and hands it to gossip.
    pub fn submit(&self, tx: Transaction) -> Submission {
        let encoding = tx.encode();
        let id = TxId::of_encoding(&encoding);
        self.submit_encoded(tx, encoding, id)
    }

    /// [`Shared::submit`] for a transaction already encoded and hashed.
    fn submit_encoded(&self, tx: Transaction, encoding: Vec<u8>, id: TxId) -> Submission {
        if let Ok(Some((h, i))) = self.store.tx_position(&id) {
            return Submission::Ordered(id, h, i);
        }
        let admitted = lock(&self.pool).admit_with_id(tx, id);
        match admitted {
            Ok(_) => {
                if let Some(g) = &self.gossip {
                    g.publish(encoding.into());
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
    /// A duplicate is waited for like a new transaction, so retrying is safe. When too many
    /// clients wait already, nothing is submitted (`Busy`), so the answer never hides an
    /// admission.
    pub async fn submit_and_wait(
        &self,
        tx: Transaction,
        wait: Duration,
    ) -> Result<(Submission, Result<Position, WaitError>), WaitError> {
        let encoding = tx.encode();
        let id = TxId::of_encoding(&encoding);
        // Registered before admission, so a decision in between is not missed; dropped (and
        // forgotten) on every way out, including a client that goes away while waiting.
        let mut w = self.waiters.register(id).ok_or(WaitError::Busy)?;
        let s = self.submit_encoded(tx, encoding, id);
        let r = match &s {
            Submission::Ordered(_, h, i) => Ok((*h, *i)),
            Submission::Rejected(..) => Err(WaitError::Timeout),
            Submission::Accepted(_) | Submission::Duplicate(_) => {
                match tokio::time::timeout(wait, &mut w.rx).await {
                    Ok(Ok(p)) => Ok(p),
                    // One last look: the batch may have been stored while the timer fired.
                    _ => match self.store.tx_position(&id) {
                        Ok(Some(p)) => Ok(p),
                        _ => Err(WaitError::Timeout),
                    },
                }
            }
        };
        Ok((s, r))
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
        // Decoded, hashed (from the received canonical bytes) and looked up before the pool is
        // locked, so API submissions do not wait on it.
        let decoded: Vec<(Transaction, TxId)> = txs
            .iter()
            .filter_map(|b| Some((Transaction::decode(b, &limits).ok()?, TxId::of_encoding(b))))
            .filter(|(_, id)| matches!(self.store.tx_position(id), Ok(None)))
            .collect();
        let mut p = lock(&self.pool);
        let mut admitted = 0usize;
        for (tx, id) in decoded {
            if p.admit_with_id(tx, id).is_ok() {
                admitted += 1;
            }
        }
        debug!(received = txs.len(), admitted, "gossip.admitted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::Hash;

    fn id(b: u8) -> TxId {
        TxId(Hash([b; 32]))
    }

    #[test]
    fn waiters_are_bounded_by_clients_and_freed_on_every_way_out() {
        let w = Waiters::new(3);
        // Many clients for one id count one each.
        let a = w.register(id(1)).unwrap();
        let b = w.register(id(1)).unwrap();
        let c = w.register(id(2)).unwrap();
        assert!(
            w.register(id(3)).is_none(),
            "the bound counts waiting clients"
        );
        // A client that goes away frees its slot.
        drop(b);
        let mut d = w.register(id(3)).unwrap();
        // An answer frees the slots of its id.
        w.notify(Height(7), [id(9), id(3)].into_iter());
        assert_eq!(d.rx.try_recv().unwrap(), (Height(7), 1));
        drop(d);
        let _e = w.register(id(4)).unwrap();
        assert!(w.register(id(5)).is_none());
        drop((a, c));
        // The wait registered here is dropped at once, so only `_e` is left.
        assert!(w.register(id(5)).is_some());
        assert_eq!(w.inner.lock().unwrap().count, 1);
    }
}
