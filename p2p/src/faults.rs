//! The fault layer: message delay, jitter, duplication and reordering for chaos tests, where
//! kernel `netem` is not available.
//!
//! It sits at the seam between malachite's consensus actor and its network actor, and shapes
//! what this node *receives*: every vote, proposal, proposal part, certificate and status
//! reaches consensus late by `delay ± jitter`, some are held back further (so later messages
//! overtake them), and some gossip messages arrive twice. Sync requests and responses are
//! delayed and reordered but never duplicated (libp2p request-response cannot deliver one
//! twice). Connection events pass at once. Setting the same faults on every node delays every
//! link; setting them on one node makes that node hear everything late.
//!
//! [`FaultKnob`] (the settings and a seeded generator) is always compiled, so a node can say
//! whether it has the layer; the actors that apply it exist only with the `faults` feature, so a
//! production build carries none of it.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most delay or jitter accepted: a minute.
pub const MAX_DELAY_MS: u32 = 60_000;
/// A held-back (reordered) message waits this much beyond `delay + jitter`.
pub const REORDER_HOLD_MS: u32 = 25;
/// Most messages held at once. Past it, messages are delivered at once (and counted), so a long
/// delay under heavy traffic cannot grow the node's memory without bound.
pub const MAX_HELD: u64 = 20_000;

/// What the layer does to each received message. All zero: nothing. (As JSON or TOML, every
/// field is optional and unknown ones are refused.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetFaults {
    /// Added to every shaped message.
    pub delay_ms: u32,
    /// Uniform in `[-jitter, +jitter]` on top of the delay (never below zero), so messages
    /// close together can swap.
    pub jitter_ms: u32,
    /// Share of gossip messages delivered a second time, after an independent delay.
    pub duplicate_percent: u8,
    /// Share of messages held back by an extra `delay + jitter + 25 ms`, so that those received
    /// after them are delivered first.
    pub reorder_percent: u8,
}

impl NetFaults {
    /// Refuses settings outside the ranges above.
    pub fn validate(&self) -> Result<(), String> {
        if self.delay_ms > MAX_DELAY_MS || self.jitter_ms > MAX_DELAY_MS {
            return Err(format!(
                "delay_ms and jitter_ms must be at most {MAX_DELAY_MS} (got {} and {})",
                self.delay_ms, self.jitter_ms
            ));
        }
        if self.duplicate_percent > 100 || self.reorder_percent > 100 {
            return Err(format!(
                "duplicate_percent and reorder_percent must be at most 100 (got {} and {})",
                self.duplicate_percent, self.reorder_percent
            ));
        }
        Ok(())
    }

    pub fn is_off(&self) -> bool {
        *self == NetFaults::default()
    }
}

/// What the layer has done since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Messages delivered late (each copy counts).
    pub delayed: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages held back to be overtaken.
    pub reordered: u64,
    /// Messages held right now, waiting for their delivery time.
    pub held: u64,
    /// Messages delivered at once because [`MAX_HELD`] were held already.
    pub overflowed: u64,
}

#[derive(Debug)]
struct KnobState {
    faults: NetFaults,
    rng: StdRng,
    stats: FaultStats,
}

/// The layer's settings, shared between the node's RPC (which changes them at run time) and
/// the actors (which read them per message). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FaultKnob {
    state: Arc<Mutex<KnobState>>,
}

impl FaultKnob {
    /// Off, with a generator seeded by `seed` (the same seed and message sequence give the
    /// same delays).
    pub fn new(seed: u64) -> FaultKnob {
        FaultKnob {
            state: Arc::new(Mutex::new(KnobState {
                faults: NetFaults::default(),
                rng: StdRng::seed_from_u64(seed),
                stats: FaultStats::default(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KnobState> {
        // The state is plain data, valid after any panic: take it back.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the settings (and the seed, when given). Applies to messages received from
    /// now on; those already held keep their delivery time.
    pub fn set(&self, faults: NetFaults, seed: Option<u64>) -> Result<(), String> {
        faults.validate()?;
        let mut s = self.lock();
        s.faults = faults;
        if let Some(seed) = seed {
            s.rng = StdRng::seed_from_u64(seed);
        }
        Ok(())
    }

    pub fn get(&self) -> (NetFaults, FaultStats) {
        let s = self.lock();
        (s.faults, s.stats)
    }

    /// One held message was delivered (or its shaper is gone).
    pub fn released(&self) {
        let mut s = self.lock();
        s.stats.held = s.stats.held.saturating_sub(1);
    }

    /// When to deliver one received message, from now: `None` when the layer is off or
    /// [`MAX_HELD`] messages are held already (deliver at once), else one delay, or two when
    /// the message is duplicated (`may_duplicate` false for messages that cannot arrive twice).
    /// Each non-zero delay counts as held until [`FaultKnob::released`].
    pub fn plan(&self, may_duplicate: bool) -> Option<Vec<Duration>> {
        let mut s = self.lock();
        if s.faults.is_off() {
            return None;
        }
        if s.stats.held >= MAX_HELD {
            s.stats.overflowed += 1;
            return None;
        }
        let f = s.faults;
        let copies = if may_duplicate && roll(&mut s.rng, f.duplicate_percent) {
            s.stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            let jitter = i64::from(f.jitter_ms);
            let offset = if jitter > 0 {
                s.rng.gen_range(-jitter..=jitter)
            } else {
                0
            };
            let mut ms = u64::try_from(i64::from(f.delay_ms) + offset).unwrap_or(0);
            if roll(&mut s.rng, f.reorder_percent) {
                s.stats.reordered += 1;
                ms += u64::from(f.delay_ms) + u64::from(f.jitter_ms) + u64::from(REORDER_HOLD_MS);
            }
            if ms > 0 {
                s.stats.delayed += 1;
                s.stats.held += 1;
            }
            out.push(Duration::from_millis(ms));
        }
        Some(out)
    }
}

fn roll(rng: &mut StdRng, percent: u8) -> bool {
    percent > 0 && rng.gen_range(0u8..100) < percent
}

#[cfg(feature = "faults")]
pub(crate) use layer::shaper;

#[cfg(feature = "faults")]
mod layer {
    use super::FaultKnob;
    use malachitebft_app_channel::app::engine::network::{NetworkEvent, Subscriber};
    use malachitebft_app_channel::app::types::core::Context;
    use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};

    /// A subscriber standing for `subscriber` that delivers its events per the knob; linked to
    /// `supervisor` (the network front).
    pub(crate) async fn shaper<Ctx: Context>(
        knob: FaultKnob,
        subscriber: Box<dyn Subscriber<NetworkEvent<Ctx>>>,
        supervisor: ActorCell,
    ) -> Result<Box<dyn Subscriber<NetworkEvent<Ctx>>>, SpawnErr> {
        let (shaper, _) = Actor::spawn_linked(
            None,
            Shaper::<Ctx> {
                knob,
                marker: std::marker::PhantomData,
            },
            subscriber,
            supervisor,
        )
        .await?;
        Ok(Box::new(shaper))
    }

    /// What a shaper handles: events from the real network, and held events falling due.
    enum ShaperMsg<Ctx: Context> {
        Received(NetworkEvent<Ctx>),
        Due(NetworkEvent<Ctx>),
    }

    impl<Ctx: Context> From<NetworkEvent<Ctx>> for ShaperMsg<Ctx> {
        fn from(e: NetworkEvent<Ctx>) -> Self {
            ShaperMsg::Received(e)
        }
    }

    /// Delivers one subscriber's events late, twice, or out of order, per the knob.
    struct Shaper<Ctx: Context> {
        knob: FaultKnob,
        marker: std::marker::PhantomData<fn() -> Ctx>,
    }

    /// Whether an event is a message (shaped) and whether it may arrive twice; connection
    /// events are neither.
    fn kind<Ctx: Context>(e: &NetworkEvent<Ctx>) -> Option<bool> {
        match e {
            NetworkEvent::Vote(..)
            | NetworkEvent::Proposal(..)
            | NetworkEvent::ProposalPart(..)
            | NetworkEvent::PolkaCertificate(..)
            | NetworkEvent::RoundCertificate(..)
            | NetworkEvent::Status(..) => Some(true),
            NetworkEvent::SyncRequest(..) | NetworkEvent::SyncResponse(..) => Some(false),
            _ => None,
        }
    }

    #[ractor::async_trait]
    impl<Ctx: Context> Actor for Shaper<Ctx> {
        type Msg = ShaperMsg<Ctx>;
        type State = Box<dyn Subscriber<NetworkEvent<Ctx>>>;
        type Arguments = Box<dyn Subscriber<NetworkEvent<Ctx>>>;

        async fn pre_start(
            &self,
            _myself: ActorRef<Self::Msg>,
            subscriber: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(subscriber)
        }

        async fn handle(
            &self,
            myself: ActorRef<Self::Msg>,
            msg: Self::Msg,
            subscriber: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            let event = match msg {
                ShaperMsg::Due(event) => {
                    self.knob.released();
                    subscriber.send(event);
                    return Ok(());
                }
                ShaperMsg::Received(event) => event,
            };
            let plan = kind(&event).and_then(|dup| self.knob.plan(dup));
            let Some(delays) = plan else {
                subscriber.send(event);
                return Ok(());
            };
            for delay in delays {
                if delay.is_zero() {
                    subscriber.send(event.clone());
                    continue;
                }
                let me = myself.clone();
                let event = event.clone();
                let knob = self.knob.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // The shaper is gone only when the node is stopping.
                    if me.cast(ShaperMsg::Due(event)).is_err() {
                        knob.released();
                    }
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: &[Duration]) -> Vec<u64> {
        d.iter().map(|d| d.as_millis() as u64).collect()
    }

    #[test]
    fn off_delivers_at_once() {
        let k = FaultKnob::new(1);
        assert_eq!(k.plan(true), None);
        assert_eq!(k.get().1, FaultStats::default());
    }

    #[test]
    fn delay_without_jitter_is_exact() {
        let k = FaultKnob::new(1);
        let f = NetFaults {
            delay_ms: 80,
            ..NetFaults::default()
        };
        k.set(f, None).unwrap();
        for _ in 0..50 {
            assert_eq!(ms(&k.plan(true).unwrap()), vec![80]);
        }
        assert_eq!(k.get().1.delayed, 50);
    }

    #[test]
    fn jitter_spans_its_range_and_never_goes_negative() {
        let k = FaultKnob::new(7);
        let f = NetFaults {
            delay_ms: 20,
            jitter_ms: 50,
            ..NetFaults::default()
        };
        k.set(f, None).unwrap();
        let draws: Vec<u64> = (0..2000)
            .flat_map(|_| ms(&k.plan(false).unwrap()))
            .collect();
        assert!(draws.iter().all(|&d| d <= 70), "above delay + jitter");
        // Below zero clamps to zero: about 30 of the 101 offsets land at or under -20.
        let zeros = draws.iter().filter(|&&d| d == 0).count();
        assert!(zeros > 2000 * 20 / 101, "{zeros} zero delays");
        assert!(draws.contains(&70) && draws.contains(&1));
    }

    #[test]
    fn duplicates_and_holds_back_at_the_set_rates() {
        let k = FaultKnob::new(42);
        let f = NetFaults {
            delay_ms: 10,
            jitter_ms: 0,
            duplicate_percent: 30,
            reorder_percent: 20,
        };
        k.set(f, None).unwrap();
        let n = 5000;
        let plans: Vec<Vec<u64>> = (0..n).map(|_| ms(&k.plan(true).unwrap())).collect();
        let twice = plans.iter().filter(|p| p.len() == 2).count();
        let held = plans
            .iter()
            .flatten()
            .filter(|&&d| d == 10 + 10 + 25)
            .count();
        let copies: usize = plans.iter().map(Vec::len).sum();
        assert!((1300..1700).contains(&twice), "{twice} duplicated of {n}");
        assert!(
            (copies * 16 / 100..copies * 24 / 100).contains(&held),
            "{held} held of {copies}"
        );
        assert!(plans.iter().flatten().all(|&d| d == 10 || d == 45));
        let stats = k.get().1;
        assert_eq!(stats.duplicated as usize, twice);
        assert_eq!(stats.reordered as usize, held);
    }

    #[test]
    fn past_the_held_cap_messages_go_at_once_until_some_are_released() {
        let k = FaultKnob::new(5);
        let f = NetFaults {
            delay_ms: 1_000,
            ..NetFaults::default()
        };
        k.set(f, None).unwrap();
        for _ in 0..MAX_HELD {
            assert_eq!(ms(&k.plan(false).unwrap()), vec![1_000]);
        }
        assert_eq!(k.get().1.held, MAX_HELD);
        assert_eq!(k.plan(false), None, "over the cap: delivered at once");
        assert_eq!(k.get().1.overflowed, 1);
        k.released();
        assert_eq!(ms(&k.plan(false).unwrap()), vec![1_000]);
        assert_eq!(k.get().1.held, MAX_HELD);
    }

    #[test]
    fn requests_are_never_duplicated() {
        let k = FaultKnob::new(3);
        let f = NetFaults {
            duplicate_percent: 100,
            ..NetFaults::default()
        };
        k.set(f, None).unwrap();
        assert_eq!(ms(&k.plan(false).unwrap()), vec![0]);
        assert_eq!(ms(&k.plan(true).unwrap()), vec![0, 0]);
    }

    #[test]
    fn same_seed_same_delays() {
        let f = NetFaults {
            delay_ms: 100,
            jitter_ms: 60,
            duplicate_percent: 10,
            reorder_percent: 10,
        };
        let run = |seed| {
            let k = FaultKnob::new(0);
            k.set(f, Some(seed)).unwrap();
            (0..200).map(|_| k.plan(true).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let k = FaultKnob::new(0);
        for bad in [
            NetFaults {
                delay_ms: MAX_DELAY_MS + 1,
                ..NetFaults::default()
            },
            NetFaults {
                duplicate_percent: 101,
                ..NetFaults::default()
            },
        ] {
            assert!(k.set(bad, None).is_err());
        }
        assert!(k.get().0.is_off(), "a refused setting changes nothing");
    }
}
