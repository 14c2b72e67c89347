//! Byzantine test doubles, for the in-process tests and the chaos runner only. They exist in a
//! build with the `chaos` feature; a default build (the validator binary operators run)
//! refuses, at start, a config that asks for any of them.
//!
//! - `testing.propose_invalid_batches`: proposals whose header claims one transaction more than
//!   the body has.
//! - `testing.propose_empty_batches`: proposals with the forced entries only, never the pool,
//!   so what is submitted to this node is ordered only if gossip carries it to another proposer.
//! - `testing.censor_forced`: proposals that name the newest L1 block and leave out every
//!   forced entry; invalid whenever an entry is due.
//! - `testing.equivocate` ([`equivocate`]): a second, conflicting signature for every vote and
//!   proposal.
//!
//! The app calls the hooks of [`Doubles`] at the points a double changes; in a default build
//! they are empty and the honest path is all there is.

#[cfg(feature = "chaos")]
pub mod equivocate;

use crate::config::TestingSection;
use ordo_mempool::Mempool;
use ordo_types::tx::BatchTx;
use ordo_types::{Batch, ForcedTx, L1Ref, Limits};

/// A config asked for a double this build does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "config.toml sets testing.{0}, a test double: it needs an ordo built with \
     `--features ordo-node/chaos`, and is never for a real validator"
)]
pub struct DoubleRefused(pub &'static str);

/// The doubles a config switches on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Doubles {
    #[cfg(feature = "chaos")]
    on: TestingSection,
}

/// The doubles `t` sets, by name.
fn requested(t: &TestingSection) -> impl Iterator<Item = &'static str> {
    [
        ("propose_invalid_batches", t.propose_invalid_batches),
        ("propose_empty_batches", t.propose_empty_batches),
        ("censor_forced", t.censor_forced),
        ("equivocate", t.equivocate),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
}

impl Doubles {
    /// The doubles of `t`; in a default build, an error if it sets any.
    pub fn new(t: &TestingSection) -> Result<Doubles, DoubleRefused> {
        #[cfg(not(feature = "chaos"))]
        if let Some(name) = requested(t).next() {
            return Err(DoubleRefused(name));
        }
        for name in requested(t) {
            tracing::warn!(double = name, "testing: a test double is on");
        }
        Ok(Doubles {
            #[cfg(feature = "chaos")]
            on: *t,
        })
    }

    /// The body of this node's next batch: `ordo_mempool::compose`, without the pool when
    /// proposing empty batches.
    pub fn compose(
        &self,
        forced: Vec<ForcedTx>,
        pool: &mut Mempool,
        limits: &Limits,
    ) -> Vec<BatchTx> {
        #[cfg(feature = "chaos")]
        if self.on.propose_empty_batches {
            return ordo_mempool::compose(forced, &mut ordo_mempool::NoOrdinary, limits);
        }
        ordo_mempool::compose(forced, pool, limits)
    }

    /// Spoils a sealed batch when proposing invalid batches.
    pub fn tamper(&self, _batch: &mut Batch) {
        #[cfg(feature = "chaos")]
        if self.on.propose_invalid_batches {
            _batch.header.tx_count += 1;
            tracing::warn!(
                height = _batch.header.height.0,
                "testing: proposing an invalid batch"
            );
        }
    }

    /// The proposer's (`l1_ref`, forced entries), or, when censoring, the newest L1 block
    /// (past the parent's) and none of them.
    pub fn censor(
        &self,
        _height: u64,
        _parent: L1Ref,
        _head: Option<L1Ref>,
        honest: (L1Ref, Vec<ForcedTx>),
    ) -> (L1Ref, Vec<ForcedTx>) {
        #[cfg(feature = "chaos")]
        if self.on.censor_forced {
            let newest = _head.filter(|h| h.number > _parent.number);
            if !honest.1.is_empty() {
                tracing::warn!(
                    height = _height,
                    left_out = honest.1.len(),
                    "testing: censoring forced entries"
                );
            }
            return (newest.unwrap_or(honest.0), Vec::new());
        }
        honest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_build_refuses_every_double_and_a_chaos_build_takes_it() {
        type SetDouble = fn(&mut TestingSection);
        let cases: [(&str, SetDouble); 4] = [
            ("propose_invalid_batches", |t| {
                t.propose_invalid_batches = true
            }),
            ("propose_empty_batches", |t| t.propose_empty_batches = true),
            ("censor_forced", |t| t.censor_forced = true),
            ("equivocate", |t| t.equivocate = true),
        ];
        for (name, set) in cases {
            let mut t = TestingSection::default();
            set(&mut t);
            let got = Doubles::new(&t).map(|_| ());
            if cfg!(feature = "chaos") {
                assert_eq!(got, Ok(()), "{name}");
            } else {
                assert_eq!(got, Err(DoubleRefused(name)), "{name}");
            }
        }
        // Not a double: the checkers' transaction ids in the decision log.
        let t = TestingSection {
            log_tx_ids: true,
            ..TestingSection::default()
        };
        assert!(Doubles::new(&t).is_ok());
    }
}
