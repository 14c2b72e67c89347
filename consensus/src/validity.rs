//! Proposal validity as a pure function of the proposal, its parent and the chain parameters.
//!
//! Every validator runs [`check_proposal`] on a fully received batch before it prevotes for it;
//! an honest proposer builds only batches that pass it. No clock is read here: the caller passes
//! its current time.

use ordo_types::{
    Address, Batch, BatchError, BatchTx, ChainId, Epoch, ForcedTx, Hash, Height, L1Ref, Limits,
};
use thiserror::Error;

use crate::forced::{ForcedError, ForcedParams, InboxView, check_forced};

/// What validity needs to know of the parent batch (or of genesis, for height 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    pub height: Height,
    pub hash: Hash,
    pub timestamp_ms: u64,
    pub l1_ref: L1Ref,
    /// The parent's `forced_cursor.next`: where this batch's forced entries must start.
    pub forced_next: u64,
}

/// The chain parameters and local view a proposal is judged against.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub chain_id: ChainId,
    pub epoch: Epoch,
    pub validator_set_hash: Hash,
    /// The hash of the next epoch's set, as this validator derived it.
    pub next_validator_set_hash: Hash,
    /// The proposer the schedule names for this height and round.
    pub proposer: Address,
    pub limits: &'a Limits,
    /// The validator's clock, in Unix milliseconds.
    pub now_ms: u64,
    /// How far ahead of `now_ms` a timestamp may be.
    pub max_future_skew_ms: u64,
    /// The forced-inclusion input, on a chain with an L1 inbox; `None` in static mode.
    pub l1: Option<L1Input<'a>>,
}

/// What a validator knows of the L1 when it judges a proposal on a chain with an inbox.
#[derive(Clone, Copy, Debug)]
pub struct L1Input<'a> {
    pub params: ForcedParams,
    /// The hash of block `l1_ref.number` as this validator read it, if it has.
    pub ref_hash: Option<Hash>,
    /// The inbox from the parent's cursor on.
    pub view: InboxView<'a>,
}

/// Why a proposal is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidProposal {
    #[error("chain id {found}, expected {expected}")]
    ChainId { expected: ChainId, found: ChainId },
    #[error("height {found}, expected {expected}")]
    Height { expected: Height, found: Height },
    #[error("parent hash {found}, expected {expected}")]
    Parent { expected: Hash, found: Hash },
    #[error("timestamp {found} ms is before the parent's {parent} ms")]
    TimeBackwards { parent: u64, found: u64 },
    #[error("timestamp {found} ms is more than {skew} ms ahead of local time {now} ms")]
    TimeAhead { now: u64, skew: u64, found: u64 },
    #[error("epoch {found}, expected {expected}")]
    Epoch { expected: Epoch, found: Epoch },
    #[error("validator set hash {found}, expected {expected}")]
    ValidatorSet { expected: Hash, found: Hash },
    #[error("next validator set hash {found}, expected {expected}")]
    NextValidatorSet { expected: Hash, found: Hash },
    #[error("proposer {found}, expected {expected}")]
    Proposer { expected: Address, found: Address },
    #[error("l1_ref {found:?} goes behind the parent's {parent:?}")]
    L1RefBackwards { parent: L1Ref, found: L1Ref },
    #[error("forced cursor starts at {found}, the parent ended at {expected}")]
    ForcedCursor { expected: u64, found: u64 },
    #[error("forced transactions need an L1 source, and this chain runs without one")]
    ForcedWithoutL1,
    #[error("l1_ref names block {number} with hash {found}, the L1 has {expected}")]
    L1RefHash {
        number: u64,
        expected: Hash,
        found: Hash,
    },
    #[error("the hash of L1 block {number} is not known here yet")]
    L1HashUnknown { number: u64 },
    #[error("forced inclusion: {0}")]
    Forced(#[from] ForcedError),
    #[error("body: {0}")]
    Body(#[from] BatchError),
}

impl InvalidProposal {
    /// True when the verdict may change once this validator has read more of the L1: the
    /// caller waits once, at most `[l1] wait_ms`, and judges again (ADR 12: the wait is on the
    /// consensus path, bounded, and paid only by a validator whose L1 view lags).
    pub fn needs_more_l1(&self) -> bool {
        matches!(
            self,
            InvalidProposal::L1HashUnknown { .. }
                | InvalidProposal::Forced(ForcedError::NotReadYet { .. })
        )
    }
}

/// Checks `batch` as the proposal for `parent.height + 1`: [`check_header`], then the body
/// against the header ([`Batch::check_body`]).
pub fn check_proposal(
    rules: &Rules<'_>,
    parent: &Parent,
    batch: &Batch,
) -> Result<(), InvalidProposal> {
    check_header(rules, parent, batch)?;
    batch.check_body(rules.limits)?;
    Ok(())
}

/// Every rule of [`check_proposal`] but the body's match with the header, for a caller that has
/// already checked the body (building the namespaces tree is the costly part).
pub fn check_header(
    rules: &Rules<'_>,
    parent: &Parent,
    batch: &Batch,
) -> Result<(), InvalidProposal> {
    let h = &batch.header;
    if h.chain_id != rules.chain_id {
        return Err(InvalidProposal::ChainId {
            expected: rules.chain_id,
            found: h.chain_id,
        });
    }
    let expected = Height(parent.height.0.saturating_add(1));
    if h.height != expected {
        return Err(InvalidProposal::Height {
            expected,
            found: h.height,
        });
    }
    if h.parent_hash != parent.hash {
        return Err(InvalidProposal::Parent {
            expected: parent.hash,
            found: h.parent_hash,
        });
    }
    check_time(rules, parent, h.timestamp_ms)?;
    if h.epoch != rules.epoch {
        return Err(InvalidProposal::Epoch {
            expected: rules.epoch,
            found: h.epoch,
        });
    }
    if h.validator_set_hash != rules.validator_set_hash {
        return Err(InvalidProposal::ValidatorSet {
            expected: rules.validator_set_hash,
            found: h.validator_set_hash,
        });
    }
    if h.next_validator_set_hash != rules.next_validator_set_hash {
        return Err(InvalidProposal::NextValidatorSet {
            expected: rules.next_validator_set_hash,
            found: h.next_validator_set_hash,
        });
    }
    if h.proposer != rules.proposer {
        return Err(InvalidProposal::Proposer {
            expected: rules.proposer,
            found: h.proposer,
        });
    }
    match &rules.l1 {
        None => check_l1_static(parent, batch),
        Some(l1) => check_l1(l1, parent, batch),
    }
}

fn check_time(rules: &Rules<'_>, parent: &Parent, ts: u64) -> Result<(), InvalidProposal> {
    if ts < parent.timestamp_ms {
        return Err(InvalidProposal::TimeBackwards {
            parent: parent.timestamp_ms,
            found: ts,
        });
    }
    if ts > rules.now_ms.saturating_add(rules.max_future_skew_ms) {
        return Err(InvalidProposal::TimeAhead {
            now: rules.now_ms,
            skew: rules.max_future_skew_ms,
            found: ts,
        });
    }
    Ok(())
}

/// The L1 reference and cursor rules shared by both modes: `l1_ref` never goes behind the
/// parent's, and the forced entries start at the parent's cursor.
fn check_l1_common(parent: &Parent, batch: &Batch) -> Result<(), InvalidProposal> {
    let h = &batch.header;
    if h.l1_ref.number < parent.l1_ref.number
        || (h.l1_ref.number == parent.l1_ref.number && h.l1_ref.hash != parent.l1_ref.hash)
    {
        return Err(InvalidProposal::L1RefBackwards {
            parent: parent.l1_ref,
            found: h.l1_ref,
        });
    }
    if h.forced_cursor.first != parent.forced_next {
        return Err(InvalidProposal::ForcedCursor {
            expected: parent.forced_next,
            found: h.forced_cursor.first,
        });
    }
    Ok(())
}

/// Static mode (no L1 source): the L1 reference never moves and no forced entry is included.
fn check_l1_static(parent: &Parent, batch: &Batch) -> Result<(), InvalidProposal> {
    check_l1_common(parent, batch)?;
    if batch.txs.iter().any(|t| t.is_forced()) || batch.header.l1_ref != parent.l1_ref {
        return Err(InvalidProposal::ForcedWithoutL1);
    }
    Ok(())
}

/// With an L1 inbox (DESIGN.md, "Forced inclusion"): a new `l1_ref` must be a block this
/// validator has read, with the hash it read; the forced entries must be exactly those the
/// rule requires at `l1_ref` ([`crate::forced::required`]). Forced entries precede ordinary
/// ones and run consecutively from the cursor; the body check enforces that.
fn check_l1(l1: &L1Input<'_>, parent: &Parent, batch: &Batch) -> Result<(), InvalidProposal> {
    check_l1_common(parent, batch)?;
    let r = batch.header.l1_ref;
    if r != parent.l1_ref {
        if r.number > l1.view.read_to {
            return Err(ForcedError::NotReadYet {
                l1_number: r.number,
                read_to: l1.view.read_to,
            }
            .into());
        }
        match l1.ref_hash {
            None => return Err(InvalidProposal::L1HashUnknown { number: r.number }),
            Some(expected) if expected != r.hash => {
                return Err(InvalidProposal::L1RefHash {
                    number: r.number,
                    expected,
                    found: r.hash,
                });
            }
            Some(_) => {}
        }
    }
    let forced: Vec<&ForcedTx> = batch.txs.iter().map_while(BatchTx::as_forced).collect();
    check_forced(&l1.params, parent.forced_next, r.number, &l1.view, &forced)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::tx::{BatchTx, ForcedTx, Transaction};
    use ordo_types::{BatchHeader, ForcedCursor, Namespace};

    const NOW: u64 = 1_700_000_000_000;

    fn parent() -> Parent {
        Parent {
            height: Height(4),
            hash: Hash([4; 32]),
            timestamp_ms: NOW - 1000,
            l1_ref: L1Ref::default(),
            forced_next: 3,
        }
    }

    fn good() -> Batch {
        let header = BatchHeader {
            chain_id: ChainId(9),
            height: Height(5),
            parent_hash: Hash([4; 32]),
            timestamp_ms: NOW,
            epoch: Epoch(0),
            validator_set_hash: Hash([7; 32]),
            l1_ref: L1Ref::default(),
            forced_cursor: ForcedCursor::default(),
            namespaces_root: Hash::ZERO,
            tx_count: 0,
            body_bytes: 0,
            proposer: Address([1; 20]),
            next_validator_set_hash: Hash([7; 32]),
        };
        let txs = vec![BatchTx::Ordinary(Transaction::new(
            Namespace(1),
            b"x".to_vec(),
        ))];
        Batch::seal(header, txs, 3, &Limits::default()).unwrap()
    }

    fn rules(limits: &Limits) -> Rules<'_> {
        Rules {
            chain_id: ChainId(9),
            epoch: Epoch(0),
            validator_set_hash: Hash([7; 32]),
            proposer: Address([1; 20]),
            next_validator_set_hash: Hash([7; 32]),
            limits,
            now_ms: NOW,
            max_future_skew_ms: 500,
            l1: None,
        }
    }

    /// Applies `edit` and reseals the body-derived fields, so only the edited rule can fail.
    fn with(edit: impl FnOnce(&mut Batch)) -> Batch {
        let mut b = good();
        edit(&mut b);
        let next = b.header.forced_cursor.first;
        Batch::seal(b.header, b.txs.clone(), next, &Limits::default()).unwrap_or(b)
    }

    struct Case<I, E> {
        case: &'static str,
        input: I,
        expected: E,
    }

    fn l1_ref(number: u64, hash: u8) -> L1Ref {
        L1Ref {
            number,
            hash: Hash([hash; 32]),
        }
    }

    // A table test: long by its table, not by its logic.
    #[allow(clippy::too_many_lines)]
    #[test]
    fn the_rule_table() {
        let limits = Limits::default();
        let r = rules(&limits);
        let p = parent();
        let cases = [
            Case {
                case: "a good proposal",
                input: good(),
                expected: Ok(()),
            },
            Case {
                case: "equal timestamp",
                input: with(|b| b.header.timestamp_ms = NOW - 1000),
                expected: Ok(()),
            },
            Case {
                case: "wrong chain",
                input: with(|b| b.header.chain_id = ChainId(8)),
                expected: Err(InvalidProposal::ChainId {
                    expected: ChainId(9),
                    found: ChainId(8),
                }),
            },
            Case {
                case: "height skips",
                input: with(|b| b.header.height = Height(6)),
                expected: Err(InvalidProposal::Height {
                    expected: Height(5),
                    found: Height(6),
                }),
            },
            Case {
                case: "height repeats",
                input: with(|b| b.header.height = Height(4)),
                expected: Err(InvalidProposal::Height {
                    expected: Height(5),
                    found: Height(4),
                }),
            },
            Case {
                case: "wrong parent",
                input: with(|b| b.header.parent_hash = Hash([5; 32])),
                expected: Err(InvalidProposal::Parent {
                    expected: Hash([4; 32]),
                    found: Hash([5; 32]),
                }),
            },
            Case {
                case: "time backwards",
                input: with(|b| b.header.timestamp_ms = NOW - 1001),
                expected: Err(InvalidProposal::TimeBackwards {
                    parent: NOW - 1000,
                    found: NOW - 1001,
                }),
            },
            Case {
                case: "time too far ahead",
                input: with(|b| b.header.timestamp_ms = NOW + 501),
                expected: Err(InvalidProposal::TimeAhead {
                    now: NOW,
                    skew: 500,
                    found: NOW + 501,
                }),
            },
            Case {
                case: "time at the skew bound",
                input: with(|b| b.header.timestamp_ms = NOW + 500),
                expected: Ok(()),
            },
            Case {
                case: "wrong epoch",
                input: with(|b| b.header.epoch = Epoch(1)),
                expected: Err(InvalidProposal::Epoch {
                    expected: Epoch(0),
                    found: Epoch(1),
                }),
            },
            Case {
                case: "wrong set",
                input: with(|b| b.header.validator_set_hash = Hash([8; 32])),
                expected: Err(InvalidProposal::ValidatorSet {
                    expected: Hash([7; 32]),
                    found: Hash([8; 32]),
                }),
            },
            Case {
                case: "wrong next set",
                input: with(|b| b.header.next_validator_set_hash = Hash([9; 32])),
                expected: Err(InvalidProposal::NextValidatorSet {
                    expected: Hash([7; 32]),
                    found: Hash([9; 32]),
                }),
            },
            Case {
                case: "not the scheduled proposer",
                input: with(|b| b.header.proposer = Address([2; 20])),
                expected: Err(InvalidProposal::Proposer {
                    expected: Address([1; 20]),
                    found: Address([2; 20]),
                }),
            },
            Case {
                case: "cursor does not continue",
                input: with(|b| b.header.forced_cursor = ForcedCursor { first: 2, next: 2 }),
                expected: Err(InvalidProposal::ForcedCursor {
                    expected: 3,
                    found: 2,
                }),
            },
            Case {
                case: "forced entry without L1",
                input: with(|b| {
                    b.txs.insert(
                        0,
                        BatchTx::Forced(ForcedTx {
                            queue_index: 3,
                            l1_block: 1,
                            namespace: Namespace(1),
                            sender: [0; 20],
                            payload: b"f".to_vec().into(),
                        }),
                    )
                }),
                expected: Err(InvalidProposal::ForcedWithoutL1),
            },
            Case {
                case: "l1 ref moved without L1",
                input: with(|b| b.header.l1_ref.number = 1),
                expected: Err(InvalidProposal::ForcedWithoutL1),
            },
            Case {
                case: "root does not match body",
                input: {
                    let mut b = good();
                    b.header.namespaces_root = Hash([1; 32]);
                    b
                },
                // The body gives the root the honest seal computed.
                expected: Err(InvalidProposal::Body(BatchError::HeaderMismatch {
                    field: "namespaces_root",
                    header: format!("{:?}", Hash([1; 32])),
                    body: format!("{:?}", good().header.namespaces_root),
                })),
            },
            Case {
                case: "oversized payload",
                input: with(|b| {
                    b.txs[0] = BatchTx::Ordinary(Transaction::new(Namespace(1), vec![0; 200_000]))
                }),
                expected: Err(InvalidProposal::Body(BatchError::PayloadTooLarge {
                    len: 200_000,
                    max: 128 * 1024,
                })),
            },
        ];
        for c in cases {
            let got = check_proposal(&r, &p, &c.input);
            assert_eq!(got, c.expected, "{}", c.case);
        }
    }

    fn forced(queue_index: u64, l1_block: u64) -> ForcedTx {
        ForcedTx {
            queue_index,
            l1_block,
            namespace: Namespace(2),
            sender: [9; 20],
            payload: vec![queue_index as u8; 40].into(),
        }
    }

    /// A batch at `l1_ref` carrying `entries` (then one ordinary transaction).
    fn at_l1(number: u64, hash: u8, entries: &[ForcedTx]) -> Batch {
        with(|b| {
            b.header.l1_ref = L1Ref {
                number,
                hash: Hash([hash; 32]),
            };
            for (i, e) in entries.iter().enumerate() {
                b.txs.insert(i, BatchTx::Forced(e.clone()));
            }
        })
    }

    /// The forced-inclusion rule inside proposal validity: the parent is at L1 block 10 with
    /// cursor 3; the validator has read to block 20 (hash 0x14 at 20, 0x12 at 18); entries 3..7
    /// were queued at blocks 11, 12, 12, 15, 19; delay 4; budget two entries' worth.
    // A table test: long by its table, not by its logic.
    #[allow(clippy::too_many_lines)]
    #[test]
    fn the_forced_inclusion_table() {
        let limits = Limits::default();
        let mut p = parent();
        p.l1_ref = L1Ref {
            number: 10,
            hash: Hash([10; 32]),
        };
        let queue: Vec<ForcedTx> = [11, 12, 12, 15, 19]
            .iter()
            .enumerate()
            .map(|(i, b)| forced(3 + i as u64, *b))
            .collect();
        let size = queue[0].encoded_len() as u64;
        let input = |ref_hash: Option<u8>, read_to: u64| L1Input {
            params: ForcedParams {
                inclusion_delay: 4,
                budget_bytes: 2 * size,
                max_entries: 100,
            },
            ref_hash: ref_hash.map(|h| Hash([h; 32])),
            view: InboxView {
                read_to,
                entries: &queue,
            },
        };
        let q = |r: std::ops::Range<usize>| queue[r].to_vec();
        let cases = [
            Case {
                case: "same l1_ref, nothing due yet",
                input: (at_l1(10, 10, &[]), input(Some(10), 20)),
                expected: Ok(()),
            },
            Case {
                case: "l1_ref 16: entries 3, 4 due and in the budget",
                input: (at_l1(16, 16, &q(0..2)), input(Some(16), 20)),
                expected: Ok(()),
            },
            Case {
                case: "l1_ref 16: entry 5 is due too but over the budget",
                input: (at_l1(16, 16, &q(0..3)), input(Some(16), 20)),
                expected: Err(InvalidProposal::Forced(ForcedError::NotRequired {
                    queue_index: 5,
                })),
            },
            Case {
                case: "a due entry left out (censorship)",
                input: (at_l1(16, 16, &q(0..1)), input(Some(16), 20)),
                expected: Err(InvalidProposal::Forced(ForcedError::MissingDue {
                    queue_index: 4,
                })),
            },
            Case {
                case: "all due entries left out",
                input: (at_l1(16, 16, &[]), input(Some(16), 20)),
                expected: Err(InvalidProposal::Forced(ForcedError::MissingDue {
                    queue_index: 3,
                })),
            },
            Case {
                case: "an entry not yet due carried",
                input: (at_l1(15, 15, &q(0..2)), input(Some(15), 20)),
                expected: Err(InvalidProposal::Forced(ForcedError::NotRequired {
                    queue_index: 4,
                })),
            },
            Case {
                case: "a tampered entry",
                input: (
                    at_l1(
                        16,
                        16,
                        &[queue[0].clone(), {
                            let mut e = queue[1].clone();
                            e.payload = b"other".to_vec().into();
                            e
                        }],
                    ),
                    input(Some(16), 20),
                ),
                expected: Err(InvalidProposal::Forced(ForcedError::Differs {
                    queue_index: 4,
                })),
            },
            Case {
                case: "entries skipping the cursor",
                input: (
                    with(|b| {
                        b.header.l1_ref = l1_ref(16, 16);
                        b.txs.insert(0, BatchTx::Forced(queue[1].clone()));
                    }),
                    input(Some(16), 20),
                ),
                expected: Err(InvalidProposal::ForcedCursor {
                    expected: 3,
                    found: 4,
                }),
            },
            Case {
                case: "l1_ref hash differs from what was read",
                input: (at_l1(16, 99, &q(0..2)), input(Some(16), 20)),
                expected: Err(InvalidProposal::L1RefHash {
                    number: 16,
                    expected: Hash([16; 32]),
                    found: Hash([99; 32]),
                }),
            },
            Case {
                case: "l1_ref past what was read: wait",
                input: (at_l1(21, 21, &q(0..2)), input(None, 20)),
                expected: Err(InvalidProposal::Forced(ForcedError::NotReadYet {
                    l1_number: 21,
                    read_to: 20,
                })),
            },
            Case {
                case: "hash of l1_ref unknown: wait",
                input: (at_l1(16, 16, &q(0..2)), input(None, 20)),
                expected: Err(InvalidProposal::L1HashUnknown { number: 16 }),
            },
            Case {
                case: "l1_ref going backwards",
                input: (at_l1(9, 9, &[]), input(Some(9), 20)),
                expected: Err(InvalidProposal::L1RefBackwards {
                    parent: l1_ref(10, 10),
                    found: l1_ref(9, 9),
                }),
            },
            Case {
                case: "same number, another hash",
                input: (at_l1(10, 11, &[]), input(Some(10), 20)),
                expected: Err(InvalidProposal::L1RefBackwards {
                    parent: l1_ref(10, 10),
                    found: l1_ref(10, 11),
                }),
            },
        ];
        for c in cases {
            let (batch, l1) = c.input;
            let mut r = rules(&limits);
            r.l1 = Some(l1);
            let got = check_proposal(&r, &p, &batch);
            assert_eq!(got, c.expected, "{}", c.case);
        }
        // Which verdicts may change once more of the L1 is read.
        let mut r = rules(&limits);
        r.l1 = Some(input(None, 20));
        let wait =
            |b: &Batch, r: &Rules<'_>| check_proposal(r, &p, b).map_err(|e| e.needs_more_l1());
        assert_eq!(wait(&at_l1(21, 21, &[]), &r), Err(true));
        assert_eq!(wait(&at_l1(16, 16, &q(0..2)), &r), Err(true));
        r.l1 = Some(input(Some(16), 20));
        assert_eq!(wait(&at_l1(16, 16, &[]), &r), Err(false));
        // The carried-over entry comes first in the next batch.
        let mut child = p;
        child.height = Height(5);
        child.forced_next = 5;
        child.l1_ref = L1Ref {
            number: 16,
            hash: Hash([16; 32]),
        };
        let next = {
            let mut b = at_l1(16, 16, &q(2..3));
            b.header.height = Height(6);
            b
        };
        let mut r = rules(&limits);
        r.l1 = Some(L1Input {
            params: ForcedParams {
                inclusion_delay: 4,
                budget_bytes: 2 * size,
                max_entries: 100,
            },
            ref_hash: Some(Hash([16; 32])),
            view: InboxView {
                read_to: 20,
                entries: &queue[2..],
            },
        });
        child.hash = next.header.parent_hash;
        assert_eq!(check_proposal(&r, &child, &next), Ok(()));
    }
}
