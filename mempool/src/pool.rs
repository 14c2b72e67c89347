//! The pool: per-namespace FIFO queues under global and per-namespace bounds.

use crate::recent::RecentIds;
use ordo_types::tx::Transaction;
use ordo_types::{DecodeError, Limits, Namespace, TxId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use thiserror::Error;

/// Bounds and policy of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most bytes held (canonical encodings).
    pub max_bytes: usize,
    /// Most bytes one namespace may hold: a flooding rollup fills its quota, not the pool.
    pub max_namespace_bytes: usize,
    /// How many recently ordered ids are remembered to refuse resubmissions.
    pub recent_ids: usize,
    /// Bytes each namespace may take per round of batch selection.
    pub quantum: usize,
    /// When set, only these namespaces are admitted.
    pub allowed_namespaces: Option<BTreeSet<Namespace>>,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 200_000,
            max_bytes: 128 * 1024 * 1024,
            max_namespace_bytes: 32 * 1024 * 1024,
            recent_ids: 500_000,
            quantum: 4 * 1024,
            allowed_namespaces: None,
        }
    }
}

/// Why a transaction was not admitted. Nothing else in the pool changes when one is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("the transaction is already in the pool")]
    Duplicate,
    #[error("the transaction was already ordered")]
    AlreadyOrdered,
    #[error("the payload of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: u32 },
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("namespace {0} is not served by this network")]
    UnknownNamespace(Namespace),
    #[error("namespace {namespace} holds {bytes} bytes, its quota is {quota}")]
    NamespaceOverQuota {
        namespace: Namespace,
        bytes: usize,
        quota: usize,
    },
    #[error("the pool is full ({txs} transactions, {bytes} bytes)")]
    PoolFull { txs: usize, bytes: usize },
}

#[derive(Debug, Default, Clone)]
struct Queue {
    txs: VecDeque<(TxId, Transaction)>,
    bytes: usize,
}

/// A validator's pool of ordinary transactions.
#[derive(Debug, Clone)]
pub struct Mempool {
    config: MempoolConfig,
    limits: Limits,
    queues: BTreeMap<Namespace, Queue>,
    ids: HashSet<TxId>,
    recent: RecentIds,
    txs: usize,
    bytes: usize,
    rotation: usize,
}

impl Mempool {
    pub fn new(config: MempoolConfig, limits: Limits) -> Mempool {
        Mempool {
            recent: RecentIds::new(config.recent_ids),
            config,
            limits,
            queues: BTreeMap::new(),
            ids: HashSet::new(),
            txs: 0,
            bytes: 0,
            rotation: 0,
        }
    }

    /// Admits `tx` or says why not.
    pub fn admit(&mut self, tx: Transaction) -> Result<TxId, Rejection> {
        let id = tx.id();
        self.admit_with_id(tx, id)
    }

    /// [`Mempool::admit`] for a caller that already hashed the id; `id` must be `tx.id()`.
    pub fn admit_with_id(&mut self, tx: Transaction, id: TxId) -> Result<TxId, Rejection> {
        if tx.payload.len() > self.limits.max_tx_payload as usize {
            return Err(Rejection::TooLarge {
                len: tx.payload.len(),
                max: self.limits.max_tx_payload,
            });
        }
        if tx.payload.is_empty() {
            return Err(Rejection::Malformed("the payload is empty".into()));
        }
        if let Some(allowed) = &self.config.allowed_namespaces
            && !allowed.contains(&tx.namespace)
        {
            return Err(Rejection::UnknownNamespace(tx.namespace));
        }
        if self.ids.contains(&id) {
            return Err(Rejection::Duplicate);
        }
        if self.recent.contains(&id) {
            return Err(Rejection::AlreadyOrdered);
        }
        let size = tx.encoded_len();
        let held = self.queues.get(&tx.namespace).map_or(0, |q| q.bytes);
        if held + size > self.config.max_namespace_bytes {
            return Err(Rejection::NamespaceOverQuota {
                namespace: tx.namespace,
                bytes: held,
                quota: self.config.max_namespace_bytes,
            });
        }
        if self.txs >= self.config.max_txs || self.bytes + size > self.config.max_bytes {
            return Err(Rejection::PoolFull {
                txs: self.txs,
                bytes: self.bytes,
            });
        }
        let q = self.queues.entry(tx.namespace).or_default();
        q.bytes += size;
        q.txs.push_back((id, tx));
        self.ids.insert(id);
        self.txs += 1;
        self.bytes += size;
        Ok(id)
    }

    /// Decodes a canonical encoding from outside, then admits it.
    pub fn admit_encoded(&mut self, bytes: &[u8]) -> Result<TxId, Rejection> {
        let tx = Transaction::decode(bytes, &self.limits)
            .map_err(|e: DecodeError| Rejection::Malformed(e.to_string()))?;
        self.admit(tx)
    }

    /// The transactions of the next batch: deficit round robin by bytes across namespaces
    /// (starting one namespace further each call), FIFO inside each, at most `max_txs` and
    /// `max_bytes` of encodings; grouped by namespace in ascending order. Nothing is removed.
    pub fn select(&mut self, max_txs: usize, max_bytes: u64) -> Vec<Transaction> {
        struct Lane<'q> {
            queue: &'q Queue,
            taken: usize,
            deficit: u64,
            active: bool,
        }
        let n = self.queues.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.rotation % n;
        self.rotation = self.rotation.wrapping_add(1);
        // Lanes in ascending namespace order; rounds visit them starting at `start`.
        let mut lanes: Vec<Lane<'_>> = self
            .queues
            .values()
            .map(|queue| Lane {
                queue,
                taken: 0,
                deficit: 0,
                active: true,
            })
            .collect();
        let quantum = self.config.quantum.max(1) as u64;
        let (mut bytes, mut count) = (0u64, 0usize);
        // Active lanes in visiting order; finished lanes leave it, so a round costs what is
        // still active, not every namespace in the pool.
        let mut order: Vec<usize> = (start..n).chain(0..start).collect();
        while !order.is_empty() {
            // Rounds in which no lane could send anything are skipped at once: each lane gets
            // the quantum of those rounds (what the skipped rounds would have given it).
            let idle_rounds = order
                .iter()
                .filter_map(|&i| {
                    let l = lanes.get(i)?;
                    let (_, tx) = l.queue.txs.get(l.taken)?;
                    Some((tx.encoded_len() as u64).saturating_sub(l.deficit + quantum))
                })
                .min()
                .unwrap_or(0)
                / quantum;
            for &i in &order {
                let Some(lane) = lanes.get_mut(i) else {
                    continue;
                };
                lane.deficit += (idle_rounds + 1) * quantum;
                while let Some((_, tx)) = lane.queue.txs.get(lane.taken) {
                    let size = tx.encoded_len() as u64;
                    if count >= max_txs || bytes + size > max_bytes {
                        // This namespace's next transaction no longer fits the batch.
                        lane.active = false;
                        break;
                    }
                    if size > lane.deficit {
                        break;
                    }
                    lane.deficit -= size;
                    bytes += size;
                    count += 1;
                    lane.taken += 1;
                }
                if lane.taken >= lane.queue.txs.len() {
                    lane.active = false;
                }
            }
            order.retain(|&i| lanes.get(i).is_some_and(|l| l.active));
        }
        lanes
            .iter()
            .flat_map(|l| l.queue.txs.iter().take(l.taken).map(|(_, tx)| tx.clone()))
            .collect()
    }

    /// Removes what a decided batch ordered, and remembers every ordered id (also of
    /// transactions this pool never held) so that resubmissions are refused.
    pub fn commit(&mut self, ordered: impl IntoIterator<Item = (Namespace, TxId)>) {
        let mut by_ns: HashMap<Namespace, HashSet<TxId>> = HashMap::new();
        for (ns, id) in ordered {
            self.recent.insert(id);
            if self.ids.remove(&id) {
                by_ns.entry(ns).or_default().insert(id);
            }
        }
        for (ns, gone) in by_ns {
            let Some(q) = self.queues.get_mut(&ns) else {
                continue;
            };
            let mut freed = 0;
            q.txs.retain(|(id, tx)| {
                let keep = !gone.contains(id);
                if !keep {
                    freed += tx.encoded_len();
                }
                keep
            });
            let removed = gone.len();
            q.bytes -= freed;
            self.bytes -= freed;
            self.txs -= removed;
            if q.txs.is_empty() {
                self.queues.remove(&ns);
            }
        }
    }

    /// Whether `id` is waiting in the pool.
    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains(id)
    }

    /// Whether `id` was ordered recently (within the remembered window).
    pub fn was_ordered(&self, id: &TxId) -> bool {
        self.recent.contains(id)
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.txs
    }

    pub fn is_empty(&self) -> bool {
        self.txs == 0
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes waiting in one namespace.
    pub fn namespace_bytes(&self, ns: Namespace) -> usize {
        self.queues.get(&ns).map_or(0, |q| q.bytes)
    }
}
