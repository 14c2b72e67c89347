//! Proposal validity as a pure function of the proposal, its parent and the chain parameters.
//!
//! Every validator runs [`check_proposal`] on a fully received batch before it prevotes for it;
//! an honest proposer builds only batches that pass it. No clock is read here: the caller passes
//! its current time.

use ordo_types::{Address, Batch, BatchError, ChainId, Epoch, Hash, Height, L1Ref, Limits};
use thiserror::Error;

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
    /// The proposer the schedule names for this height and round.
    pub proposer: Address,
    pub limits: &'a Limits,
    /// The validator's clock, in Unix milliseconds.
    pub now_ms: u64,
    /// How far ahead of `now_ms` a timestamp may be.
    pub max_future_skew_ms: u64,
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
    #[error("proposer {found}, expected {expected}")]
    Proposer { expected: Address, found: Address },
    #[error("l1_ref {found:?} goes behind the parent's {parent:?}")]
    L1RefBackwards { parent: L1Ref, found: L1Ref },
    #[error("forced cursor starts at {found}, the parent ended at {expected}")]
    ForcedCursor { expected: u64, found: u64 },
    #[error("forced transactions need an L1 source, and this chain runs without one")]
    ForcedWithoutL1,
    #[error("body: {0}")]
    Body(#[from] BatchError),
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
    if h.proposer != rules.proposer {
        return Err(InvalidProposal::Proposer {
            expected: rules.proposer,
            found: h.proposer,
        });
    }
    check_l1(parent, batch)
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

/// Static mode (no L1 source): the L1 reference never moves and no forced entry is included.
fn check_l1(parent: &Parent, batch: &Batch) -> Result<(), InvalidProposal> {
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
    if batch.txs.iter().any(|t| t.is_forced()) || h.l1_ref != parent.l1_ref {
        return Err(InvalidProposal::ForcedWithoutL1);
    }
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
            limits,
            now_ms: NOW,
            max_future_skew_ms: 500,
        }
    }

    /// Applies `edit` and reseals the body-derived fields, so only the edited rule can fail.
    fn with(edit: impl FnOnce(&mut Batch)) -> Batch {
        let mut b = good();
        edit(&mut b);
        let next = b.header.forced_cursor.first;
        Batch::seal(b.header, b.txs.clone(), next, &Limits::default()).unwrap_or(b)
    }

    #[test]
    fn the_rule_table() {
        let limits = Limits::default();
        let r = rules(&limits);
        let p = parent();
        let cases: Vec<(&str, Batch, Result<(), &str>)> = vec![
            ("a good proposal", good(), Ok(())),
            (
                "equal timestamp",
                with(|b| b.header.timestamp_ms = NOW - 1000),
                Ok(()),
            ),
            (
                "wrong chain",
                with(|b| b.header.chain_id = ChainId(8)),
                Err("ChainId"),
            ),
            (
                "height skips",
                with(|b| b.header.height = Height(6)),
                Err("Height"),
            ),
            (
                "height repeats",
                with(|b| b.header.height = Height(4)),
                Err("Height"),
            ),
            (
                "wrong parent",
                with(|b| b.header.parent_hash = Hash([5; 32])),
                Err("Parent"),
            ),
            (
                "time backwards",
                with(|b| b.header.timestamp_ms = NOW - 1001),
                Err("TimeBackwards"),
            ),
            (
                "time too far ahead",
                with(|b| b.header.timestamp_ms = NOW + 501),
                Err("TimeAhead"),
            ),
            (
                "time at the skew bound",
                with(|b| b.header.timestamp_ms = NOW + 500),
                Ok(()),
            ),
            (
                "wrong epoch",
                with(|b| b.header.epoch = Epoch(1)),
                Err("Epoch"),
            ),
            (
                "wrong set",
                with(|b| b.header.validator_set_hash = Hash([8; 32])),
                Err("ValidatorSet"),
            ),
            (
                "not the scheduled proposer",
                with(|b| b.header.proposer = Address([2; 20])),
                Err("Proposer"),
            ),
            (
                "cursor does not continue",
                with(|b| b.header.forced_cursor = ForcedCursor { first: 2, next: 2 }),
                Err("ForcedCursor"),
            ),
            (
                "forced entry without L1",
                with(|b| {
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
                Err("ForcedWithoutL1"),
            ),
            (
                "l1 ref moved without L1",
                with(|b| b.header.l1_ref.number = 1),
                Err("ForcedWithoutL1"),
            ),
            (
                "root does not match body",
                {
                    let mut b = good();
                    b.header.namespaces_root = Hash([1; 32]);
                    b
                },
                Err("Body"),
            ),
            (
                "oversized payload",
                with(|b| {
                    b.txs[0] = BatchTx::Ordinary(Transaction::new(Namespace(1), vec![0; 200_000]))
                }),
                Err("Body"),
            ),
        ];
        for (case, batch, expected) in cases {
            let got = check_proposal(&r, &p, &batch).map_err(|e| {
                let d = format!("{e:?}");
                d.split(['(', ' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            assert_eq!(got, expected.map_err(String::from), "case: {case}");
        }
    }
}
