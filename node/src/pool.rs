//! The first transaction path: a bounded FIFO pool of ordinary transactions submitted over RPC.
//! Transactions stay in the pool until a decided batch orders them, so a failed proposal loses
//! nothing. (The namespace-fair mempool replaces this with `ordo-mempool`.)

use ordo_types::tx::Transaction;
use ordo_types::{Limits, TxId};
use std::collections::{HashSet, VecDeque};

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the transaction is already in the pool")]
    Duplicate,
    #[error("the payload of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: u32 },
    #[error("the pool is full ({count} transactions, {bytes} bytes)")]
    Full { count: usize, bytes: usize },
}

/// A bounded pool.
#[derive(Debug)]
pub struct Pool {
    queue: VecDeque<(TxId, Transaction)>,
    ids: HashSet<TxId>,
    bytes: usize,
    max_txs: usize,
    max_bytes: usize,
    limits: Limits,
}

impl Pool {
    pub fn new(max_txs: usize, max_bytes: usize, limits: Limits) -> Pool {
        Pool {
            queue: VecDeque::new(),
            ids: HashSet::new(),
            bytes: 0,
            max_txs,
            max_bytes,
            limits,
        }
    }

    /// Admits `tx`, or says why not. Overflow policy: refuse new transactions when full.
    pub fn add(&mut self, tx: Transaction) -> Result<TxId, Rejected> {
        if tx.payload.len() > self.limits.max_tx_payload as usize {
            return Err(Rejected::TooLarge {
                len: tx.payload.len(),
                max: self.limits.max_tx_payload,
            });
        }
        let id = tx.id();
        if self.ids.contains(&id) {
            return Err(Rejected::Duplicate);
        }
        let size = tx.encoded_len();
        if self.queue.len() >= self.max_txs || self.bytes + size > self.max_bytes {
            return Err(Rejected::Full {
                count: self.queue.len(),
                bytes: self.bytes,
            });
        }
        self.bytes += size;
        self.ids.insert(id);
        self.queue.push_back((id, tx));
        Ok(id)
    }

    /// The oldest transactions that fit in `max_txs` and `max_bytes`, left in the pool.
    pub fn select(&self, max_txs: usize, max_bytes: u64) -> Vec<Transaction> {
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for (_, tx) in &self.queue {
            if out.len() >= max_txs || bytes + tx.encoded_len() as u64 > max_bytes {
                break;
            }
            bytes += tx.encoded_len() as u64;
            out.push(tx.clone());
        }
        out
    }

    /// Removes transactions a decided batch ordered.
    pub fn remove(&mut self, ordered: &HashSet<TxId>) {
        if ordered.is_empty() {
            return;
        }
        let mut bytes = self.bytes;
        self.queue.retain(|(id, tx)| {
            let keep = !ordered.contains(id);
            if !keep {
                bytes -= tx.encoded_len();
            }
            keep
        });
        self.bytes = bytes;
        self.ids.retain(|id| !ordered.contains(id));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::Namespace;

    fn tx(i: u8, len: usize) -> Transaction {
        let mut p = vec![0u8; len];
        p[0] = i;
        Transaction::new(Namespace(1), p)
    }

    #[test]
    fn admission_outcomes() {
        let limits = Limits {
            max_tx_payload: 10,
            ..Limits::default()
        };
        let mut p = Pool::new(2, 1000, limits);
        assert!(p.add(tx(1, 5)).is_ok());
        assert_eq!(p.add(tx(1, 5)), Err(Rejected::Duplicate));
        assert_eq!(
            p.add(tx(2, 11)),
            Err(Rejected::TooLarge { len: 11, max: 10 })
        );
        assert!(p.add(tx(2, 5)).is_ok());
        assert!(matches!(p.add(tx(3, 5)), Err(Rejected::Full { .. })));
    }

    #[test]
    fn select_keeps_and_remove_drops() {
        let mut p = Pool::new(10, 1000, Limits::default());
        let a = p.add(tx(1, 5)).unwrap();
        p.add(tx(2, 5)).unwrap();
        assert_eq!(p.select(1, 1000).len(), 1);
        assert_eq!(p.len(), 2);
        p.remove(&[a].into_iter().collect());
        assert_eq!(p.len(), 1);
        assert_eq!(p.select(10, 1000)[0].payload[0], 2);
        assert!(
            p.add(tx(1, 5)).is_ok(),
            "an ordered id leaves the pool's dedup set"
        );
    }
}
