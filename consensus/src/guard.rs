//! The double-sign rule: a validator signs at most one value per (height, round, step).
//!
//! The node persists a [`SignState`] (fsynced) before any signature leaves the process, and asks
//! [`check`] before each new signature. Signing the same message again is allowed (it yields the
//! same bytes); signing a different value at a (height, round, step) already signed, or anything
//! at an earlier (height, round), is refused. The BLS attestation is recorded as part of the
//! precommit step, so it can never attest a value the precommit did not vote for.

use ordo_types::Hash;
use thiserror::Error;

/// What is being signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Propose = 0,
    Prevote = 1,
    Precommit = 2,
}

/// A signature request: the value is `None` for a nil vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignRequest {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    pub value: Option<Hash>,
}

/// What has been signed at the highest (height, round) so far: for each step, the value signed
/// (the outer `Option` says whether the step was signed at all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignState {
    pub height: u64,
    pub round: u32,
    pub signed: [Option<Option<Hash>>; 3],
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error(
        "already signed at height {last_height} round {last_round}; refusing height {height} round {round}"
    )]
    Regression {
        last_height: u64,
        last_round: u32,
        height: u64,
        round: u32,
    },
    #[error("already signed {step:?} for another value at height {height} round {round}")]
    Conflict { height: u64, round: u32, step: Step },
}

/// The outcome of a permitted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// The same message was signed before: nothing new to persist.
    Repeat,
    /// A new signature: persist this state before releasing it.
    Record(SignState),
}

/// Decides whether `req` may be signed after `state`.
pub fn check(state: &SignState, req: &SignRequest) -> Result<Permit, Refusal> {
    let step = req.step as usize;
    match (req.height, req.round).cmp(&(state.height, state.round)) {
        std::cmp::Ordering::Less => Err(Refusal::Regression {
            last_height: state.height,
            last_round: state.round,
            height: req.height,
            round: req.round,
        }),
        std::cmp::Ordering::Greater => {
            let mut signed = [None; 3];
            if let Some(s) = signed.get_mut(step) {
                *s = Some(req.value);
            }
            Ok(Permit::Record(SignState {
                height: req.height,
                round: req.round,
                signed,
            }))
        }
        std::cmp::Ordering::Equal => match state.signed.get(step).copied().flatten() {
            Some(v) if v == req.value => Ok(Permit::Repeat),
            Some(_) => Err(Refusal::Conflict {
                height: req.height,
                round: req.round,
                step: req.step,
            }),
            None => {
                let mut next = *state;
                if let Some(s) = next.signed.get_mut(step) {
                    *s = Some(req.value);
                }
                Ok(Permit::Record(next))
            }
        },
    }
}

/// Length of an encoded [`SignState`].
pub const STATE_LEN: usize = 8 + 4 + 3 * 33;

impl SignState {
    /// `height u64 ‖ round u32 ‖ (tag u8 ‖ hash [32])×3`, tag 0 = unsigned, 1 = nil, 2 = value.
    pub fn encode(&self) -> [u8; STATE_LEN] {
        let mut out = Vec::with_capacity(STATE_LEN);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.round.to_be_bytes());
        for s in &self.signed {
            let (tag, h) = match s {
                None => (0u8, Hash::ZERO),
                Some(None) => (1, Hash::ZERO),
                Some(Some(h)) => (2, *h),
            };
            out.push(tag);
            out.extend_from_slice(&h.0);
        }
        out.try_into().expect("the layout is STATE_LEN bytes")
    }

    /// Decodes [`SignState::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<SignState> {
        let mut r = ordo_types::codec::Reader::new(bytes);
        let height = r.u64("height").ok()?;
        let round = r.u32("round").ok()?;
        let mut signed = [None; 3];
        for s in &mut signed {
            let tag = r.u8("tag").ok()?;
            let h = Hash(r.array("hash").ok()?);
            *s = match tag {
                0 => None,
                1 => Some(None),
                2 => Some(Some(h)),
                _ => return None,
            };
        }
        r.finish("sign state").ok()?;
        Some(SignState {
            height,
            round,
            signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(height: u64, round: u32, step: Step, value: Option<u8>) -> SignRequest {
        SignRequest {
            height,
            round,
            step,
            value: value.map(|v| Hash([v; 32])),
        }
    }

    fn apply(state: &mut SignState, r: SignRequest) -> Result<Permit, Refusal> {
        let p = check(state, &r)?;
        if let Permit::Record(s) = p {
            *state = s;
        }
        Ok(p)
    }

    #[test]
    fn the_rule_table() {
        struct Case {
            case: &'static str,
            input: Vec<SignRequest>,
            expected: Result<(), &'static str>,
        }
        use Step::*;
        let cases = vec![
            Case {
                case: "a normal round",
                input: vec![
                    req(1, 0, Propose, Some(1)),
                    req(1, 0, Prevote, Some(1)),
                    req(1, 0, Precommit, Some(1)),
                ],
                expected: Ok(()),
            },
            Case {
                case: "repeat of the same vote",
                input: vec![req(1, 0, Prevote, Some(1)), req(1, 0, Prevote, Some(1))],
                expected: Ok(()),
            },
            Case {
                case: "second prevote for another value",
                input: vec![req(1, 0, Prevote, Some(1)), req(1, 0, Prevote, Some(2))],
                expected: Err("conflict"),
            },
            Case {
                case: "nil then value precommit",
                input: vec![req(1, 0, Precommit, None), req(1, 0, Precommit, Some(2))],
                expected: Err("conflict"),
            },
            Case {
                case: "a later round may vote another value",
                input: vec![req(1, 0, Prevote, Some(1)), req(1, 1, Prevote, Some(2))],
                expected: Ok(()),
            },
            Case {
                case: "back to an earlier round",
                input: vec![req(1, 1, Prevote, Some(1)), req(1, 0, Precommit, Some(1))],
                expected: Err("regression"),
            },
            Case {
                case: "back to an earlier height",
                input: vec![req(5, 0, Prevote, Some(1)), req(4, 9, Prevote, Some(1))],
                expected: Err("regression"),
            },
        ];
        for c in cases {
            let mut s = SignState::default();
            let mut got = Ok(());
            for r in c.input {
                if let Err(e) = apply(&mut s, r) {
                    got = Err(match e {
                        Refusal::Conflict { .. } => "conflict",
                        Refusal::Regression { .. } => "regression",
                    });
                    break;
                }
            }
            assert_eq!(got, c.expected, "case: {}", c.case);
        }
    }

    #[test]
    fn state_round_trips() {
        let mut s = SignState::default();
        apply(&mut s, req(7, 2, Step::Prevote, None)).unwrap();
        apply(&mut s, req(7, 2, Step::Precommit, Some(9))).unwrap();
        assert_eq!(SignState::decode(&s.encode()), Some(s));
        assert_eq!(SignState::decode(&s.encode()[1..]), None);
    }
}
