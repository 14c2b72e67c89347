//! The double-sign rule: a validator signs at most one value per (height, round, step).
//!
//! The node persists a [`SignState`] (fsynced) before any signature leaves the process, and asks
//! [`check`] before each new signature. Signing the same message again is allowed (it yields the
//! same bytes); signing a different value at a (height, round, step) already signed, or anything
//! at an earlier (height, round), is refused. The BLS attestation is recorded as part of the
//! precommit step, so it can never attest a value the precommit did not vote for.

use ordo_types::Hash;
use ordo_types::codec::{DecodeError, Reader};
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

    /// Decodes [`SignState::encode`] and nothing else. The state is what keeps a restarted
    /// validator from signing twice, so a damaged file must never read as some other (older,
    /// emptier) state: any length but [`STATE_LEN`] (a torn write or an appended tail), an
    /// unknown tag, or a hash under an unsigned or nil tag (which `encode` writes as zeros) is
    /// an error.
    pub fn decode(bytes: &[u8]) -> Result<SignState, DecodeError> {
        if bytes.len() != STATE_LEN {
            return Err(DecodeError::BadLength {
                field: "sign state",
                expected: STATE_LEN,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let height = r.u64("height")?;
        let round = r.u32("round")?;
        let mut signed = [None; 3];
        for s in &mut signed {
            let tag = r.u8("step tag")?;
            let h = Hash(r.array("step hash")?);
            *s = match tag {
                0 | 1 if h != Hash::ZERO => {
                    return Err(DecodeError::Invalid {
                        field: "sign state",
                        reason: format!("a hash under the unsigned or nil tag {tag}"),
                    });
                }
                0 => None,
                1 => Some(None),
                2 => Some(Some(h)),
                _ => {
                    return Err(DecodeError::UnknownTag {
                        field: "sign state step",
                        tag: tag.into(),
                    });
                }
            };
        }
        r.finish("sign state")?;
        Ok(SignState {
            height,
            round,
            signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(SignState::decode(&s.encode()), Ok(s));
    }

    /// A state with every tag in use: propose unsigned, a nil prevote, a value precommit.
    fn full_state() -> SignState {
        SignState {
            height: 0x0102_0304_0506_0708,
            round: 0x0a0b_0c0d,
            signed: [None, Some(None), Some(Some(Hash([0xee; 32])))],
        }
    }

    #[test]
    fn every_torn_or_extended_state_is_refused() {
        let bytes = full_state().encode();
        for n in 0..STATE_LEN {
            assert_eq!(
                SignState::decode(&bytes[..n]),
                Err(DecodeError::BadLength {
                    field: "sign state",
                    expected: STATE_LEN,
                    got: n,
                }),
                "cut at {n}"
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            SignState::decode(&long),
            Err(DecodeError::BadLength { got, .. }) if got == STATE_LEN + 1
        ));
    }

    #[test]
    fn damaged_tags_and_stray_hashes_are_refused() {
        // Offsets in the layout: height 0..8, round 8..12, then (tag, hash) at 12 + 33 * step.
        let tag_at = |step: usize| 12 + 33 * step;
        let damaged = |at: usize, byte: u8| {
            let mut b = full_state().encode();
            b[at] = byte;
            SignState::decode(&b)
        };
        for step in 0..3 {
            for tag in [3, 0x80, 0xff] {
                assert_eq!(
                    damaged(tag_at(step), tag),
                    Err(DecodeError::UnknownTag {
                        field: "sign state step",
                        tag: tag.into(),
                    }),
                    "step {step} tag {tag}"
                );
            }
        }
        // The unsigned propose and the nil prevote carry zero hashes; any other byte is damage.
        for (step, tag) in [(0, 0), (1, 1)] {
            for at in [tag_at(step) + 1, tag_at(step) + 32] {
                assert_eq!(
                    damaged(at, 1),
                    Err(DecodeError::Invalid {
                        field: "sign state",
                        reason: format!("a hash under the unsigned or nil tag {tag}"),
                    }),
                    "byte {at}"
                );
            }
        }
    }

    fn any_state() -> impl Strategy<Value = SignState> {
        let step = prop_oneof![
            Just(None),
            Just(Some(None)),
            any::<[u8; 32]>().prop_map(|h| Some(Some(Hash(h)))),
        ];
        (
            any::<u64>(),
            any::<u32>(),
            [step.clone(), step.clone(), step],
        )
            .prop_map(|(height, round, signed)| SignState {
                height,
                round,
                signed,
            })
    }

    /// Bytes of the state's length whose tags are mostly valid, so that the decoder gets past
    /// its length check and into the tag and hash checks.
    fn state_like_bytes() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(any::<u8>(), STATE_LEN),
            [0u8..4, 0u8..4, 0u8..4],
            prop::collection::vec(0..STATE_LEN, 0..3),
        )
            .prop_map(|(mut b, tags, zeros)| {
                for (step, tag) in tags.into_iter().enumerate() {
                    b[12 + 33 * step] = tag;
                    if tag < 2 {
                        b[13 + 33 * step..45 + 33 * step].fill(0);
                    }
                }
                for at in zeros {
                    b[at] ^= 0x01;
                }
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_state_round_trips(s in any_state()) {
            prop_assert_eq!(SignState::decode(&s.encode()), Ok(s));
        }

        /// Whatever decodes is exactly the encoding of the state it decodes to: no two byte
        /// strings read as the same state, so no damage goes unnoticed in the bytes checked.
        #[test]
        fn only_canonical_bytes_decode(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..2 * STATE_LEN),
                state_like_bytes(),
            ]
        ) {
            if let Ok(s) = SignState::decode(&bytes) {
                prop_assert_eq!(&s.encode()[..], &bytes[..]);
            }
        }
    }
}
