//! Batch composition (DESIGN.md, data model): a batch body is the forced entries the
//! forced-inclusion rule requires, in queue order, followed by the pool's fair selection of
//! ordinary transactions in the room they leave: at most `max_batch_txs` transactions and
//! `max_batch_bytes` of canonical encodings in all.
//!
//! The forced entries come already bounded by the rule (`ordo_consensus::forced::required`
//! caps their count and bytes), and are kept whole even if they fill the batch: they are due,
//! and leaving one out would make the proposal invalid. The ordinary part never pushes the
//! batch past either limit.

use crate::pool::Mempool;
use ordo_types::Limits;
use ordo_types::tx::{BatchTx, ForcedTx, Transaction};

/// Where the ordinary transactions of a batch come from: at most `max_txs` transactions and
/// `max_bytes` of canonical encodings, in body order (grouped by namespace, ascending). The
/// selection removes nothing: a proposal that is not decided loses nothing.
pub trait Selection {
    fn select(&mut self, max_txs: usize, max_bytes: u64) -> Vec<Transaction>;
}

impl Selection for Mempool {
    fn select(&mut self, max_txs: usize, max_bytes: u64) -> Vec<Transaction> {
        Mempool::select(self, max_txs, max_bytes)
    }
}

/// A selection that never offers anything (a batch of forced entries only).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOrdinary;

impl Selection for NoOrdinary {
    fn select(&mut self, _max_txs: usize, _max_bytes: u64) -> Vec<Transaction> {
        Vec::new()
    }
}

/// The body of the next batch: `forced` first, then what `ordinary` offers in the room left.
pub fn compose(
    forced: Vec<ForcedTx>,
    ordinary: &mut impl Selection,
    limits: &Limits,
) -> Vec<BatchTx> {
    let forced_bytes: u64 = forced.iter().map(|f| f.encoded_len() as u64).sum();
    let room_txs = (limits.max_batch_txs as usize).saturating_sub(forced.len());
    let room_bytes = limits.max_batch_bytes.saturating_sub(forced_bytes);
    let mut body: Vec<BatchTx> = forced.into_iter().map(BatchTx::Forced).collect();
    if room_txs > 0 && room_bytes > 0 {
        body.extend(
            ordinary
                .select(room_txs, room_bytes)
                .into_iter()
                .map(BatchTx::Ordinary),
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MempoolConfig;
    use ordo_types::Namespace;
    use ordo_types::tx::ORDINARY_OVERHEAD;

    struct Case {
        case: &'static str,
        /// Payload sizes of the forced entries (queue indices 0, 1, ...).
        forced: Vec<usize>,
        /// (namespace, payload size) submitted to the pool, in order.
        pool: Vec<(u64, usize)>,
        limits: (u32, u64),
        /// The body: `F<queue index>` or `<namespace>:<payload size>`.
        expected: Vec<&'static str>,
    }

    fn forced_tx(i: u64, size: usize) -> ForcedTx {
        ForcedTx {
            queue_index: i,
            l1_block: 1,
            namespace: Namespace(99),
            sender: [0; 20],
            payload: vec![0xf0; size].into(),
        }
    }

    fn label(t: &BatchTx) -> String {
        match t {
            BatchTx::Forced(f) => format!("F{}", f.queue_index),
            BatchTx::Ordinary(t) => format!("{}:{}", t.namespace.0, t.payload.len()),
        }
    }

    /// Bytes of `n` ordinary transactions of `payload` bytes each.
    const fn ord(n: u64, payload: u64) -> u64 {
        n * (ORDINARY_OVERHEAD as u64 + payload)
    }

    #[test]
    fn forced_first_then_the_fair_selection_within_the_limits() {
        let forced_len = forced_tx(0, 10).encoded_len() as u64;
        let cases = [
            Case {
                case: "empty pool, nothing forced: an empty body",
                forced: vec![],
                pool: vec![],
                limits: (10, 10_000),
                expected: vec![],
            },
            Case {
                case: "forced only",
                forced: vec![10, 10],
                pool: vec![],
                limits: (10, 10_000),
                expected: vec!["F0", "F1"],
            },
            Case {
                case: "forced before ordinary; ordinary grouped by namespace ascending",
                forced: vec![10],
                pool: vec![(2, 5), (1, 5), (2, 6)],
                limits: (10, 10_000),
                expected: vec!["F0", "1:5", "2:5", "2:6"],
            },
            Case {
                case: "the forced entries use count room: two ordinary fit of four",
                forced: vec![10, 10],
                pool: vec![(1, 1), (1, 2), (1, 3), (1, 4)],
                limits: (4, 10_000),
                expected: vec!["F0", "F1", "1:1", "1:2"],
            },
            Case {
                case: "the forced entries use byte room: exactly one ordinary fits",
                forced: vec![10],
                pool: vec![(1, 7), (1, 7)],
                limits: (10, forced_len + ord(1, 7)),
                expected: vec!["F0", "1:7"],
            },
            Case {
                case: "forced entries filling the count: no ordinary",
                forced: vec![10, 10],
                pool: vec![(1, 1)],
                limits: (2, 10_000),
                expected: vec!["F0", "F1"],
            },
            Case {
                case: "forced entries past the byte limit are kept whole: no ordinary",
                forced: vec![100],
                pool: vec![(1, 1)],
                limits: (10, 50),
                expected: vec!["F0"],
            },
            Case {
                case: "no forced entries: ordinary up to the byte limit exactly",
                forced: vec![],
                pool: vec![(3, 10), (3, 10), (3, 10)],
                limits: (10, ord(2, 10)),
                expected: vec!["3:10", "3:10"],
            },
        ];
        for c in cases {
            let (max_batch_txs, max_batch_bytes) = c.limits;
            let limits = Limits {
                max_batch_txs,
                max_batch_bytes,
                ..Limits::default()
            };
            let mut pool = Mempool::new(MempoolConfig::default(), Limits::default());
            for (i, (ns, size)) in c.pool.iter().enumerate() {
                // Distinct payloads (filled with their position), so none is a duplicate.
                pool.admit(Transaction::new(Namespace(*ns), vec![i as u8; *size]))
                    .expect("admitted");
            }
            let forced = c
                .forced
                .iter()
                .enumerate()
                .map(|(i, s)| forced_tx(i as u64, *s))
                .collect();
            let body = compose(forced, &mut pool, &limits);
            let got: Vec<String> = body.iter().map(label).collect();
            assert_eq!(got, c.expected, "{}", c.case);
            assert_eq!(
                pool.len(),
                c.pool.len(),
                "{}: composing removes nothing",
                c.case
            );
        }
    }

    #[test]
    fn no_ordinary_offers_nothing() {
        let body = compose(vec![forced_tx(0, 1)], &mut NoOrdinary, &Limits::default());
        assert_eq!(body.iter().map(label).collect::<Vec<_>>(), vec!["F0"]);
    }
}
