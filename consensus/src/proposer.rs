//! Two proposer rules as pure functions: which L1 block an honest proposer names as `l1_ref`,
//! and which proposer a validator expects a proposal's header to name.
//!
//! **`l1_ref`** (DESIGN.md, forced inclusion): the proposer names its L1 head less a margin, so
//! that validators which polled the L1 a moment later have read it too; never a block behind
//! the parent's `l1_ref` (headers only move forward on L1), and the parent's when it knows no
//! L1 head (an unreachable L1 stalls only forced inclusion). When the proposer knows the head
//! but not the hash of the block `margin` below it, it names the head itself.
//!
//! **The expected proposer**: a fresh proposal of (height, round) must name the scheduled
//! proposer of that round. A re-proposal (its `valid_round` defined) carries the header built
//! in the round that first proposed it, so its proposer field need only name a member of the
//! set; so does a proposal restored from this validator's own storage after a restart, whose
//! origin round is no longer known.

use crate::context::{ConsHeight, ConsValidatorSet};
use crate::mc::Round;
use ordo_types::{Address, Hash, L1Ref};

/// The `l1_ref` an honest proposer names, given its parent's, the L1 head it has read (if
/// any), the margin, and its lookup of final block hashes.
pub fn choose_l1_ref(
    parent: L1Ref,
    head: Option<L1Ref>,
    margin: u64,
    hash_at: impl Fn(u64) -> Option<Hash>,
) -> L1Ref {
    let Some(head) = head else {
        return parent;
    };
    let n = head.number.saturating_sub(margin);
    let candidate = hash_at(n).map_or(head, |hash| L1Ref { number: n, hash });
    if candidate.number > parent.number {
        candidate
    } else {
        parent
    }
}

/// Where a proposal a validator judges comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Streamed for this round with no `valid_round`: built for this round.
    Fresh,
    /// Streamed with a defined `valid_round`: a batch first built in an earlier round.
    Reproposal,
    /// Read back from this validator's storage after a restart; its origin is not known.
    Restored,
}

impl Origin {
    /// The origin of a streamed proposal with this `valid_round` (`None`: restored).
    pub fn of(valid_round: Option<Round>) -> Origin {
        match valid_round {
            None => Origin::Restored,
            Some(vr) if vr.is_defined() => Origin::Reproposal,
            Some(_) => Origin::Fresh,
        }
    }
}

/// The proposer a batch's header must name to be valid at (`height`, `round`).
pub fn expected_proposer(
    set: &ConsValidatorSet,
    height: ConsHeight,
    round: Round,
    origin: Origin,
    header_proposer: Address,
) -> Address {
    let carried = origin != Origin::Fresh && set.set.index_of(&header_proposer).is_some();
    if carried {
        header_proposer
    } else {
        set.proposer(height, round).address.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::{BlsSecretKey, ConsensusKey, Validator, ValidatorSet};
    use std::collections::BTreeMap;

    fn r(number: u64, b: u8) -> L1Ref {
        L1Ref {
            number,
            hash: Hash([b; 32]),
        }
    }

    struct Case<I, E> {
        case: &'static str,
        input: I,
        expected: E,
    }

    #[test]
    fn l1_ref_is_the_head_less_the_margin_never_behind_the_parent() {
        // Final block hashes known to the proposer: blocks 95..=100 (hash byte = number).
        let known: BTreeMap<u64, Hash> = (95..=100).map(|n| (n, Hash([n as u8; 32]))).collect();
        let cases = [
            Case {
                case: "no L1 head known: the parent's",
                input: (r(90, 90), None, 1),
                expected: r(90, 90),
            },
            Case {
                case: "head 100, margin 1: block 99",
                input: (r(90, 90), Some(r(100, 100)), 1),
                expected: r(99, 99),
            },
            Case {
                case: "margin 0: the head itself",
                input: (r(90, 90), Some(r(100, 100)), 0),
                expected: r(100, 100),
            },
            Case {
                case: "hash below the head unknown: the head",
                input: (r(90, 90), Some(r(100, 100)), 10),
                expected: r(100, 100),
            },
            Case {
                case: "candidate equal to the parent: the parent",
                input: (r(99, 7), Some(r(100, 100)), 1),
                expected: r(99, 7),
            },
            Case {
                case: "head behind the parent (a lagging view): the parent",
                input: (r(120, 120), Some(r(100, 100)), 1),
                expected: r(120, 120),
            },
            Case {
                case: "margin past genesis: block 0 unknown, so the head",
                input: (r(0, 0), Some(r(100, 100)), 1_000),
                expected: r(100, 100),
            },
        ];
        for c in cases {
            let (parent, head, margin) = c.input;
            let got = choose_l1_ref(parent, head, margin, |n| known.get(&n).copied());
            assert_eq!(got, c.expected, "{}", c.case);
        }
    }

    fn set(n: u8) -> ConsValidatorSet {
        let validators = (0..n)
            .map(|i| {
                let bls = BlsSecretKey::from_seed(&[i + 1; 32]);
                let ed = malachitebft_signing_ed25519::PrivateKey::from([i + 1; 32]);
                Validator {
                    address: Address([i + 1; 20]),
                    voting_power: 1,
                    consensus_key: ConsensusKey(*ed.public_key().as_bytes()),
                    bls_key: bls.public_key(),
                    bls_pop: bls.proof_of_possession(),
                }
            })
            .collect();
        ConsValidatorSet::new(ValidatorSet::new(validators, 100).expect("set")).expect("cons set")
    }

    #[test]
    fn origin_of_valid_round() {
        assert_eq!(Origin::of(None), Origin::Restored);
        assert_eq!(Origin::of(Some(Round::Nil)), Origin::Fresh);
        assert_eq!(Origin::of(Some(Round::new(0))), Origin::Reproposal);
        assert_eq!(Origin::of(Some(Round::new(3))), Origin::Reproposal);
    }

    #[test]
    fn expected_proposer_is_scheduled_unless_carried_from_an_earlier_round() {
        let s = set(4);
        let scheduled = |h: u64, round: u32| s.proposer(ConsHeight(h), Round::new(round)).address.0;
        let member = s.validators()[3].address.0;
        let stranger = Address([0xee; 20]);
        assert_ne!(
            member,
            scheduled(5, 1),
            "the member is not the scheduled one"
        );
        let cases = [
            Case {
                case: "fresh, naming a member not scheduled: the scheduled one",
                input: (5, 1, Origin::Fresh, member),
                expected: scheduled(5, 1),
            },
            Case {
                case: "re-proposal naming a member: that member",
                input: (5, 1, Origin::Reproposal, member),
                expected: member,
            },
            Case {
                case: "restored naming a member: that member",
                input: (5, 1, Origin::Restored, member),
                expected: member,
            },
            Case {
                case: "re-proposal naming a stranger: the scheduled one",
                input: (5, 1, Origin::Reproposal, stranger),
                expected: scheduled(5, 1),
            },
            Case {
                case: "restored naming a stranger: the scheduled one",
                input: (7, 0, Origin::Restored, stranger),
                expected: scheduled(7, 0),
            },
        ];
        for c in cases {
            let (h, round, origin, named) = c.input;
            let got = expected_proposer(&s, ConsHeight(h), Round::new(round), origin, named);
            assert_eq!(got, c.expected, "{}", c.case);
        }
    }
}
