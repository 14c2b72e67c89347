//! The forced-inclusion rule of DESIGN.md as a pure function: what forced entries a batch must
//! carry, given the parent's cursor, the batch's L1 reference, the inbox entries a validator
//! has read and the chain's parameters. Honest proposers build exactly [`required`]; validators
//! refuse anything else with [`check_forced`].
//!
//! The rule is deterministic so every honest validator reaches the same verdict:
//! - an entry is **due** when `l1_block + inclusion_delay <= l1_ref.number`;
//! - the batch carries the due entries from the parent's cursor on, in queue order, as many as
//!   fit in `budget_bytes` of canonical encodings (the first due entry always fits, so an entry
//!   larger than the budget cannot stall the queue) and at most `max_entries` of them, and
//!   nothing else forced;
//! - what does not fit is due first in the next batch (the cursor carries it over).
//!
//! Proposal validity applies it through [`crate::validity::L1Input`].

use ordo_types::ForcedTx;
use thiserror::Error;

/// The chain's forced-inclusion parameters (from genesis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForcedParams {
    /// L1 blocks an entry waits before it is due.
    pub inclusion_delay: u64,
    /// Most bytes (canonical encodings) of forced entries in one batch.
    pub budget_bytes: u64,
    /// Most forced entries in one batch (the chain's `max_batch_txs`).
    pub max_entries: u64,
}

/// What a validator has read of the L1 inbox.
#[derive(Clone, Copy, Debug)]
pub struct InboxView<'a> {
    /// The L1 block up to which the inbox has been read (inclusive).
    pub read_to: u64,
    /// The entries from the parent's cursor on, in queue order, read up to `read_to`.
    pub entries: &'a [ForcedTx],
}

/// Why the forced part of a batch is wrong, or cannot be judged yet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForcedError {
    /// The batch names an L1 block this validator has not read yet: wait, then judge.
    #[error("l1_ref {l1_number} is past the inbox read so far ({read_to})")]
    NotReadYet { l1_number: u64, read_to: u64 },
    /// The view does not start at the cursor or skips an index: a bug in the L1 source.
    #[error("inbox view has index {found} where {expected} was expected")]
    ViewGap { expected: u64, found: u64 },
    #[error("forced entry {queue_index} is due and missing")]
    MissingDue { queue_index: u64 },
    #[error("forced entry {queue_index} is not required here")]
    NotRequired { queue_index: u64 },
    #[error("forced entry {queue_index} differs from the L1 inbox")]
    Differs { queue_index: u64 },
}

/// The forced entries a batch at `l1_number` must carry after the parent's cursor
/// `parent_next`.
pub fn required<'a>(
    params: &ForcedParams,
    parent_next: u64,
    l1_number: u64,
    view: &InboxView<'a>,
) -> Result<&'a [ForcedTx], ForcedError> {
    if l1_number > view.read_to {
        return Err(ForcedError::NotReadYet {
            l1_number,
            read_to: view.read_to,
        });
    }
    let mut bytes = 0u64;
    let mut n = 0usize;
    for (i, e) in view.entries.iter().enumerate() {
        let expected = parent_next.checked_add(i as u64);
        if Some(e.queue_index) != expected {
            let expected = expected.unwrap_or(u64::MAX);
            return Err(ForcedError::ViewGap {
                expected,
                found: e.queue_index,
            });
        }
        if e.l1_block.saturating_add(params.inclusion_delay) > l1_number {
            break;
        }
        let size = e.encoded_len() as u64;
        if n > 0
            && (bytes.saturating_add(size) > params.budget_bytes || n as u64 >= params.max_entries)
        {
            break;
        }
        bytes += size;
        n += 1;
    }
    Ok(view.entries.get(..n).unwrap_or_default())
}

/// Checks the forced entries of a batch (`forced`, in body order) against [`required`].
pub fn check_forced(
    params: &ForcedParams,
    parent_next: u64,
    l1_number: u64,
    view: &InboxView<'_>,
    forced: &[&ForcedTx],
) -> Result<(), ForcedError> {
    let want = required(params, parent_next, l1_number, view)?;
    for (i, w) in want.iter().enumerate() {
        match forced.get(i) {
            None => {
                return Err(ForcedError::MissingDue {
                    queue_index: w.queue_index,
                });
            }
            Some(got) if got.queue_index != w.queue_index => {
                return Err(ForcedError::MissingDue {
                    queue_index: w.queue_index,
                });
            }
            Some(got) if *got != w => {
                return Err(ForcedError::Differs {
                    queue_index: w.queue_index,
                });
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = forced.get(want.len()) {
        return Err(ForcedError::NotRequired {
            queue_index: extra.queue_index,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::Namespace;

    fn entry(queue_index: u64, l1_block: u64, size: usize) -> ForcedTx {
        ForcedTx {
            queue_index,
            l1_block,
            namespace: Namespace(1),
            sender: [7; 20],
            payload: vec![0xab; size].into(),
        }
    }

    const P: ForcedParams = ForcedParams {
        inclusion_delay: 5,
        budget_bytes: 1_000,
        max_entries: 1_000,
    };

    fn indices(es: &[ForcedTx]) -> Vec<u64> {
        es.iter().map(|e| e.queue_index).collect()
    }

    #[test]
    fn required_table() {
        let small = |i, b| entry(i, b, 10);
        let big = |i, b| entry(i, b, 600);
        // (what, cursor, l1_ref, read_to, entries, expected indices or error)
        type Case = (
            &'static str,
            u64,
            u64,
            u64,
            Vec<ForcedTx>,
            Result<Vec<u64>, ForcedError>,
        );
        let cases: Vec<Case> = vec![
            ("nothing queued", 0, 100, 100, vec![], Ok(vec![])),
            (
                "due and not due",
                0,
                100,
                100,
                vec![small(0, 90), small(1, 95), small(2, 96)],
                Ok(vec![0, 1]),
            ),
            (
                "exactly at the delay is due",
                3,
                100,
                100,
                vec![small(3, 95)],
                Ok(vec![3]),
            ),
            ("none due yet", 0, 100, 100, vec![small(0, 99)], Ok(vec![])),
            (
                "budget overflow carries over",
                0,
                100,
                100,
                vec![big(0, 10), big(1, 10), small(2, 10)],
                Ok(vec![0]),
            ),
            (
                "the first due entry fits whatever its size",
                0,
                100,
                100,
                vec![entry(0, 10, 5_000), small(1, 10)],
                Ok(vec![0]),
            ),
            (
                "the carried-over entry comes first next time",
                1,
                100,
                100,
                vec![big(1, 10), small(2, 10)],
                Ok(vec![1, 2]),
            ),
            (
                "l1_ref not read yet",
                0,
                101,
                100,
                vec![small(0, 10)],
                Err(ForcedError::NotReadYet {
                    l1_number: 101,
                    read_to: 100,
                }),
            ),
            (
                "a gap in the view",
                0,
                100,
                100,
                vec![small(0, 10), small(2, 10)],
                Err(ForcedError::ViewGap {
                    expected: 1,
                    found: 2,
                }),
            ),
            (
                "a view not starting at the cursor",
                4,
                100,
                100,
                vec![small(3, 10)],
                Err(ForcedError::ViewGap {
                    expected: 4,
                    found: 3,
                }),
            ),
        ];
        for (what, cursor, l1, read_to, entries, expected) in cases {
            let view = InboxView {
                read_to,
                entries: &entries,
            };
            let got = required(&P, cursor, l1, &view).map(indices);
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn check_table() {
        let entries = vec![entry(0, 10, 10), entry(1, 10, 10), entry(2, 99, 10)];
        let view = InboxView {
            read_to: 100,
            entries: &entries,
        };
        let mut tampered = entries[1].clone();
        tampered.payload = vec![0xcd; 10].into();
        let e = &entries;
        let cases: Vec<(&str, Vec<&ForcedTx>, Result<(), ForcedError>)> = vec![
            ("exactly the due entries", vec![&e[0], &e[1]], Ok(())),
            (
                "a censoring proposer leaves one out",
                vec![&e[0]],
                Err(ForcedError::MissingDue { queue_index: 1 }),
            ),
            (
                "leaves all out",
                vec![],
                Err(ForcedError::MissingDue { queue_index: 0 }),
            ),
            (
                "skips the first",
                vec![&e[1]],
                Err(ForcedError::MissingDue { queue_index: 0 }),
            ),
            (
                "includes one not yet due",
                vec![&e[0], &e[1], &e[2]],
                Err(ForcedError::NotRequired { queue_index: 2 }),
            ),
            (
                "changes an entry",
                vec![&e[0], &tampered],
                Err(ForcedError::Differs { queue_index: 1 }),
            ),
        ];
        for (what, forced, expected) in cases {
            assert_eq!(check_forced(&P, 0, 100, &view, &forced), expected, "{what}");
        }
    }

    #[test]
    fn the_count_bound_caps_the_entries_and_carries_the_rest() {
        let es: Vec<ForcedTx> = (0..5).map(|i| entry(i, 1, 1)).collect();
        let view = InboxView {
            read_to: 100,
            entries: &es,
        };
        let p = ForcedParams {
            max_entries: 2,
            ..P
        };
        let got = required(&p, 0, 100, &view).expect("required");
        assert_eq!(indices(got), [0, 1]);
        let rest = InboxView {
            read_to: 100,
            entries: &es[2..],
        };
        assert_eq!(
            indices(required(&p, 2, 100, &rest).expect("required")),
            [2, 3]
        );
    }
}
