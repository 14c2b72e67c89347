//! The checkers: pure functions from what a scenario left behind (every node's decision and
//! signature logs, the load generator's acknowledgements, the height samples, the forced entries
//! queued on the L1) to a verdict. They read files only, so a test can hand them logs with a
//! fork, a lost acknowledged transaction, a double signature or a stalled node.

use ordo_node::genesis::LoadedGenesis;
use ordo_types::{Certificate, Height};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// One line of a node's `data/decisions.log`.
#[derive(Clone, Debug, Deserialize)]
pub struct Decision {
    pub height: u64,
    pub round: u32,
    pub hash: String,
    pub certificate: String,
    /// The certificate's fixed encoding, hex.
    pub cert: String,
    #[serde(default)]
    pub l1_ref: u64,
    #[serde(default)]
    pub forced: Vec<u64>,
    #[serde(default)]
    pub tx_ids: Option<Vec<String>>,
    pub decided_at_ms: u64,
}

/// One line of a node's `data/signatures.log`.
#[derive(Clone, Debug, Deserialize)]
pub struct Signature {
    pub validator: String,
    pub height: u64,
    pub round: i64,
    pub step: String,
    pub value: Option<String>,
}

/// An *ordered* acknowledgement the load generator received.
#[derive(Clone, Debug, Deserialize)]
pub struct Ack {
    pub id: String,
    pub height: u64,
    pub index: u32,
    pub node: usize,
    pub at_ms: u64,
}

/// One poll of a node's `/status` (`height` none: it did not answer).
#[derive(Clone, Debug, Deserialize)]
pub struct Sample {
    pub t_ms: u64,
    pub node: usize,
    pub height: Option<u64>,
}

/// A forced entry the runner queued on the L1 (`at_ms`: when it was sent).
#[derive(Clone, Debug, Deserialize)]
pub struct ForcedEntry {
    pub queue_index: u64,
    pub l1_block: u64,
    pub at_ms: u64,
}

/// The scenario's phases, in unix milliseconds: faults run from `first_fault_ms` until
/// `heal_ms` (both `start_ms` for a scenario without faults).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeline {
    pub start_ms: u64,
    pub first_fault_ms: u64,
    pub heal_ms: u64,
    pub end_ms: u64,
}

/// What the scenario promises.
#[derive(Clone, Debug)]
pub struct Expect {
    /// Every node not exempt advances past the highest height seen at heal within this bound.
    pub liveness_ms: u64,
    /// False for a scenario without a quorum during its faults: nothing may be decided then.
    pub progress_during: bool,
    /// Every forced entry is ordered within this long of its sending to the L1.
    pub forced_deadline_ms: u64,
    /// Nodes whose keys are Byzantine by design (not held to "no equivocation").
    pub byzantine: BTreeSet<usize>,
    /// Nodes not held to the liveness bound (left stopped by the scenario).
    pub exempt: BTreeSet<usize>,
    /// Nodes running the equivocating double: their keys must be seen signing two values,
    /// or the scenario tested nothing.
    pub equivocators: BTreeSet<usize>,
    /// From [`SETTLE_MS`] after the heal to the end, the network decides at least this share
    /// (percent) of its heights per second before the first fault. 0: not checked.
    pub rate_recovery_percent: u32,
}

/// How long after the heal the steady rate is measured from.
pub const SETTLE_MS: u64 = 5_000;

impl Default for Expect {
    fn default() -> Self {
        Expect {
            liveness_ms: 20_000,
            progress_during: true,
            forced_deadline_ms: 20_000,
            byzantine: BTreeSet::new(),
            exempt: BTreeSet::new(),
            equivocators: BTreeSet::new(),
            rate_recovery_percent: 70,
        }
    }
}

/// Everything the checkers read.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Per node: its decisions and signatures, in log order.
    pub decisions: Vec<Vec<Decision>>,
    pub signatures: Vec<Vec<Signature>>,
    /// The validator address of each node's key.
    pub keys: Vec<String>,
    pub acks: Vec<Ack>,
    pub samples: Vec<Sample>,
    pub forced: Vec<ForcedEntry>,
    pub timeline: Timeline,
}

/// One check's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub ok: bool,
    /// What was checked, or the first violations found.
    pub detail: String,
}

impl Outcome {
    fn new(name: &'static str, problems: Vec<String>, checked: String) -> Outcome {
        let ok = problems.is_empty();
        let detail = if ok {
            checked
        } else {
            let n = problems.len();
            let mut shown: Vec<String> = problems.into_iter().take(5).collect();
            if n > 5 {
                shown.push(format!("... and {} more", n - 5));
            }
            shown.join("; ")
        };
        Outcome { name, ok, detail }
    }

    pub fn to_json(&self) -> Value {
        json!({"check": self.name, "ok": self.ok, "detail": self.detail})
    }
}

/// Reads a JSON-lines file; a missing file is empty. A torn last line (a process killed in the
/// middle of a write) is skipped; a malformed line elsewhere is an error.
pub fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(v) => out.push(v),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => anyhow::bail!("{} line {}: {e}", path.display(), i + 1),
        }
    }
    Ok(out)
}

/// The decided chain as the nodes logged it: height → (hash, the nodes that logged it, the first
/// decision seen). Used by several checks; conflicting hashes are kept for agreement to report.
struct Chain<'a> {
    by_height: BTreeMap<u64, Vec<(usize, &'a Decision)>>,
}

impl<'a> Chain<'a> {
    fn new(ev: &'a Evidence) -> Chain<'a> {
        let mut by_height: BTreeMap<u64, Vec<(usize, &Decision)>> = BTreeMap::new();
        for (node, ds) in ev.decisions.iter().enumerate() {
            for d in ds {
                by_height.entry(d.height).or_default().push((node, d));
            }
        }
        Chain { by_height }
    }

    /// The first logged decision of each height.
    fn canonical(&self) -> impl Iterator<Item = (u64, &'a Decision)> + '_ {
        self.by_height
            .iter()
            .filter_map(|(h, v)| v.first().map(|(_, d)| (*h, *d)))
    }

    /// When the first node logged `height` decided.
    fn first_decided_ms(&self, height: u64) -> Option<u64> {
        self.by_height
            .get(&height)
            .and_then(|v| v.iter().map(|(_, d)| d.decided_at_ms).min())
    }
}

/// Agreement: every node logged the same batch hash at every height it shares with another.
pub fn agreement(ev: &Evidence) -> Outcome {
    let chain = Chain::new(ev);
    let mut problems = vec![];
    for (h, v) in &chain.by_height {
        let hashes: BTreeSet<&str> = v.iter().map(|(_, d)| d.hash.as_str()).collect();
        if hashes.len() > 1 {
            let who: Vec<String> = v
                .iter()
                .map(|(n, d)| format!("node {n}: {}", short(&d.hash)))
                .collect();
            problems.push(format!("fork at height {h}: {}", who.join(", ")));
        }
    }
    let shared = chain.by_height.values().filter(|v| v.len() > 1).count();
    Outcome::new(
        "agreement",
        problems,
        format!(
            "{} heights decided, {shared} logged by more than one node, one hash each",
            chain.by_height.len()
        ),
    )
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Validity: every logged certificate decodes, is for its height and batch, carries more than
/// two thirds of the validator set's power in one aggregate signature, and hashes to the logged
/// certificate hash.
pub fn validity(ev: &Evidence, genesis: &LoadedGenesis) -> Outcome {
    let limits = genesis.genesis.limits;
    let chain_id = genesis.genesis.chain_id;
    let set = &genesis.set.set;
    let mut problems = vec![];
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (node, ds) in ev.decisions.iter().enumerate() {
        for d in ds {
            if !seen.insert((d.hash.as_str(), d.cert.as_str())) {
                continue;
            }
            let what = format!("node {node} height {}", d.height);
            let cert = match hex::decode(&d.cert)
                .map_err(|e| e.to_string())
                .and_then(|b| Certificate::decode(&b, &limits).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{what}: certificate does not decode: {e}"));
                    continue;
                }
            };
            let hash = match ordo_types::Hash::from_hex(&d.hash) {
                Some(h) => h,
                None => {
                    problems.push(format!("{what}: batch hash {} is malformed", d.hash));
                    continue;
                }
            };
            if let Err(e) = cert.verify_for(set, chain_id, Height(d.height), &hash) {
                problems.push(format!("{what}: {e}"));
            } else if cert.hash().to_string() != d.certificate {
                problems.push(format!(
                    "{what}: the certificate hash differs from the log's"
                ));
            }
        }
    }
    Outcome::new(
        "validity",
        problems,
        format!(
            "{} certificates verified against the genesis set",
            seen.len()
        ),
    )
}

/// No equivocation: no key outside `expect.byzantine` signed two different values (nil counts as
/// a value) for one (height, round, step). Logs of nodes sharing a key are read together.
pub fn no_equivocation(ev: &Evidence, expect: &Expect) -> Outcome {
    let byzantine: BTreeSet<&str> = expect
        .byzantine
        .iter()
        .filter_map(|n| ev.keys.get(*n).map(String::as_str))
        .collect();
    // (validator, height, round, step) → (the first node seen signing it, the value).
    type Step<'a> = (&'a str, u64, i64, &'a str);
    let mut signed: HashMap<Step<'_>, (usize, Option<&str>)> = HashMap::new();
    let mut problems = vec![];
    let mut count = 0usize;
    // Byzantine keys: (validator, height, round, step) → the values signed.
    let mut byz_signed: HashMap<Step<'_>, BTreeSet<Option<&str>>> = HashMap::new();
    for (node, sigs) in ev.signatures.iter().enumerate() {
        for s in sigs {
            if byzantine.contains(s.validator.as_str()) {
                byz_signed
                    .entry((s.validator.as_str(), s.height, s.round, s.step.as_str()))
                    .or_default()
                    .insert(s.value.as_deref());
                continue;
            }
            count += 1;
            let key = (s.validator.as_str(), s.height, s.round, s.step.as_str());
            match signed.get(&key) {
                Some((other, v)) if *v != s.value.as_deref() => problems.push(format!(
                    "validator {} signed two values for height {} round {} {}: {} (node {other}) and {} (node {node})",
                    short(&s.validator),
                    s.height,
                    s.round,
                    s.step,
                    v.map_or("nil", short),
                    s.value.as_deref().map_or("nil", short),
                )),
                Some(_) => {}
                None => {
                    signed.insert(key, (node, s.value.as_deref()));
                }
            }
        }
    }
    let doubled = |key: &str| {
        byz_signed
            .iter()
            .filter(|((v, ..), values)| *v == key && values.len() > 1)
            .count()
    };
    for &i in &expect.equivocators {
        if let Some(key) = ev.keys.get(i)
            && doubled(key) == 0
        {
            problems.push(format!(
                "node {i} runs the equivocating double, but its key {} never signed two values for one step: the scenario tested nothing",
                short(key)
            ));
        }
    }
    let byz_doubles: usize = byzantine.iter().map(|k| doubled(k)).sum();
    Outcome::new(
        "no_equivocation",
        problems,
        format!(
            "{count} signatures by {} honest keys, one value per step; Byzantine keys signed two values at {byz_doubles} steps",
            ev.keys
                .iter()
                .filter(|k| !byzantine.contains(k.as_str()))
                .collect::<BTreeSet<_>>()
                .len()
        ),
    )
}

/// Durability: every *ordered* acknowledgement names the height and position where the decided
/// chain holds that transaction, and no transaction is ordered twice.
pub fn durability(ev: &Evidence) -> Outcome {
    let chain = Chain::new(ev);
    let mut problems = vec![];
    let mut where_: HashMap<&str, Vec<u64>> = HashMap::new();
    for (h, d) in chain.canonical() {
        for id in d.tx_ids.iter().flatten() {
            where_.entry(id.as_str()).or_default().push(h);
        }
    }
    for (id, hs) in &where_ {
        if hs.len() > 1 {
            problems.push(format!(
                "transaction {} ordered at heights {hs:?}",
                short(id)
            ));
        }
    }
    for a in &ev.acks {
        let Some((_, d)) = chain.by_height.get(&a.height).and_then(|v| v.first()) else {
            problems.push(format!(
                "acknowledged transaction {} at height {} (by node {}): no node logged that height",
                short(&a.id),
                a.height,
                a.node
            ));
            continue;
        };
        let Some(ids) = &d.tx_ids else {
            problems.push(format!(
                "height {} was logged without transaction ids",
                a.height
            ));
            continue;
        };
        if ids.get(a.index as usize).map(String::as_str) != Some(a.id.as_str()) {
            problems.push(format!(
                "acknowledged transaction {} (height {} index {}, by node {}) is not there{}",
                short(&a.id),
                a.height,
                a.index,
                a.node,
                match where_.get(a.id.as_str()) {
                    Some(hs) => format!("; it is at heights {hs:?}"),
                    None => "; it is nowhere in the chain".into(),
                }
            ));
        }
    }
    Outcome::new(
        "durability",
        problems,
        format!(
            "{} ordered acknowledgements found where they were acknowledged; {} transactions each ordered once",
            ev.acks.len(),
            where_.len()
        ),
    )
}

/// No height regression: each node's decision log only goes up, and its reported height never
/// goes down (across restarts).
pub fn no_regression(ev: &Evidence) -> Outcome {
    let mut problems = vec![];
    for (node, ds) in ev.decisions.iter().enumerate() {
        let mut last: Option<&Decision> = None;
        for d in ds {
            if let Some(p) = last
                && (d.height < p.height || (d.height == p.height && d.hash != p.hash))
            {
                problems.push(format!(
                    "node {node} logged height {} after height {}",
                    d.height, p.height
                ));
            }
            last = Some(d);
        }
    }
    let mut reported: BTreeMap<usize, u64> = BTreeMap::new();
    for s in &ev.samples {
        let Some(h) = s.height else { continue };
        let prev = reported.entry(s.node).or_insert(h);
        if h < *prev {
            problems.push(format!(
                "node {} reported height {h} after height {prev}",
                s.node
            ));
        }
        *prev = (*prev).max(h);
    }
    Outcome::new(
        "no_regression",
        problems,
        format!(
            "{} decision log lines and {} height samples, never going down",
            ev.decisions.iter().map(Vec::len).sum::<usize>(),
            ev.samples.len()
        ),
    )
}

/// How far behind the network's head (in time) a node may end a scenario.
pub const END_LAG_MS: u64 = 5_000;

/// The highest height any node reported at or before `t_ms`.
fn max_height_at(samples: &[Sample], t_ms: u64) -> u64 {
    samples
        .iter()
        .filter(|s| s.t_ms <= t_ms)
        .filter_map(|s| s.height)
        .max()
        .unwrap_or(0)
}

/// Liveness: after the faults heal, every node not exempt reports a height above the highest
/// height seen at heal, within the bound. Returns the outcome and the recovery time (the slowest
/// node's), in milliseconds.
///
/// And at the end no node may be more than [`END_LAG_MS`] of the network's progress behind.
pub fn liveness(ev: &Evidence, expect: &Expect, nodes: usize) -> (Outcome, Option<u64>) {
    // Without faults the heal is the start, before the first sample: the first samples count.
    let first = ev.samples.iter().map(|s| s.t_ms).min().unwrap_or(0);
    let heal = ev.timeline.heal_ms.max(first);
    let target = max_height_at(&ev.samples, heal);
    let mut problems = vec![];
    let mut slowest: Option<u64> = Some(0);
    for node in (0..nodes).filter(|n| !expect.exempt.contains(n)) {
        let first = ev
            .samples
            .iter()
            .filter(|s| s.node == node && s.t_ms > heal)
            .find(|s| s.height.is_some_and(|h| h > target));
        match first {
            Some(s) if s.t_ms - heal <= expect.liveness_ms => {
                slowest = slowest.map(|m| m.max(s.t_ms - heal));
            }
            other => {
                let last = ev
                    .samples
                    .iter()
                    .filter(|s| s.node == node)
                    .filter_map(|s| s.height)
                    .max();
                problems.push(format!(
                    "node {node} did not pass height {target} within {} ms of the heal{}",
                    expect.liveness_ms,
                    match (other, last) {
                        (Some(s), _) => format!(" (it did after {} ms)", s.t_ms - heal),
                        (None, Some(h)) => format!(" (stuck at {h})"),
                        (None, None) => " (it never answered)".into(),
                    }
                ));
                slowest = None;
            }
        }
    }
    let end = ev.samples.iter().map(|s| s.t_ms).max().unwrap_or(0);
    let floor = max_height_at(&ev.samples, end.saturating_sub(END_LAG_MS));
    for node in (0..nodes).filter(|n| !expect.exempt.contains(n)) {
        let last = ev
            .samples
            .iter()
            .filter(|s| s.node == node)
            .filter_map(|s| s.height)
            .next_back();
        if last.is_none_or(|h| h < floor) {
            problems.push(format!(
                "node {node} ended at height {} while the network had passed {floor} {END_LAG_MS} ms before the end",
                last.map_or("none".into(), |h| h.to_string())
            ));
        }
    }
    let detail = format!(
        "every node passed height {target} within {} ms of the heal and kept up to the end (height {floor} or more)",
        slowest.unwrap_or(0)
    );
    (Outcome::new("liveness", problems, detail), slowest)
}

/// No progress during a split without quorum: nothing decided from 2 s after the first fault
/// (what was in flight may finish) until the heal.
pub fn quiet_during(ev: &Evidence) -> Outcome {
    let from = ev.timeline.first_fault_ms + 2_000;
    let to = ev.timeline.heal_ms;
    let chain = Chain::new(ev);
    let problems: Vec<String> = chain
        .by_height
        .keys()
        .filter_map(|h| chain.first_decided_ms(*h).map(|t| (*h, t)))
        .filter(|(_, t)| *t > from && *t < to)
        .map(|(h, t)| format!("height {h} decided {} ms into the split", t - from + 2_000))
        .collect();
    Outcome::new(
        "no_progress_without_quorum",
        problems,
        format!("nothing decided from {from} to {to}"),
    )
}

/// Censorship resistance: every forced entry queued on the L1 is ordered exactly once, by a
/// batch whose L1 reference makes it due, within the deadline of its sending to the L1.
pub fn forced_deadlines(ev: &Evidence, expect: &Expect, inclusion_delay: u64) -> Outcome {
    let chain = Chain::new(ev);
    let mut at: BTreeMap<u64, Vec<(u64, &Decision)>> = BTreeMap::new();
    for (h, d) in chain.canonical() {
        for q in &d.forced {
            at.entry(*q).or_default().push((h, d));
        }
    }
    let mut problems = vec![];
    let mut worst = 0u64;
    for f in &ev.forced {
        match at.get(&f.queue_index).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!(
                "forced entry {} (L1 block {}) was never ordered",
                f.queue_index, f.l1_block
            )),
            Some([(h, d)]) => {
                if d.l1_ref < f.l1_block + inclusion_delay {
                    problems.push(format!(
                        "forced entry {} ordered at height {h} before it was due (l1_ref {} < {} + {inclusion_delay})",
                        f.queue_index, d.l1_ref, f.l1_block
                    ));
                }
                let when = chain.first_decided_ms(*h).unwrap_or(d.decided_at_ms);
                let took = when.saturating_sub(f.at_ms);
                worst = worst.max(took);
                if took > expect.forced_deadline_ms {
                    problems.push(format!(
                        "forced entry {} ordered {took} ms after it was sent to the L1 (deadline {} ms)",
                        f.queue_index, expect.forced_deadline_ms
                    ));
                }
            }
            Some(many) => problems.push(format!(
                "forced entry {} ordered at several heights: {:?}",
                f.queue_index,
                many.iter().map(|(h, _)| *h).collect::<Vec<_>>()
            )),
        }
    }
    Outcome::new(
        "forced_inclusion",
        problems,
        format!(
            "{} forced entries ordered once each, the slowest {worst} ms after it was sent to the L1",
            ev.forced.len()
        ),
    )
}

/// Heights per second across the network (the highest height any node reported) in
/// `[from, to]`.
pub fn rate(samples: &[Sample], from: u64, to: u64) -> Option<f64> {
    if to <= from + 500 {
        return None;
    }
    let a = max_height_at(samples, from);
    let b = max_height_at(samples, to);
    Some((b.saturating_sub(a)) as f64 * 1000.0 / (to - from) as f64)
}

/// Throughput recovery: from [`SETTLE_MS`] after the heal to the end, heights per second are at
/// least `rate_recovery_percent` of the rate before the first fault. Skipped (passing, and
/// saying why) without a rate before the faults, with too short a tail, or with exempt nodes
/// (a node left stopped takes its proposer turns with it).
pub fn rate_recovery(ev: &Evidence, expect: &Expect) -> Outcome {
    let t = ev.timeline;
    let name = "rate_recovery";
    let skip = |why: &str| Outcome::new(name, vec![], format!("not checked: {why}"));
    if expect.rate_recovery_percent == 0 {
        return skip("the scenario does not expect it");
    }
    if !expect.exempt.is_empty() {
        return skip("nodes are left stopped");
    }
    let Some(before) = rate(&ev.samples, t.start_ms, t.first_fault_ms) else {
        return skip("no rate before the first fault");
    };
    let from = t.heal_ms + SETTLE_MS;
    if t.end_ms < from + SETTLE_MS {
        return skip("less than 5 s of steady run after the heal");
    }
    let after = rate(&ev.samples, from, t.end_ms).unwrap_or(0.0);
    let floor = before * f64::from(expect.rate_recovery_percent) / 100.0;
    let detail = format!(
        "{after:.2} heights/s from {SETTLE_MS} ms after the heal, against {before:.2} before the faults (at least {}% needed)",
        expect.rate_recovery_percent
    );
    let problems = if after < floor {
        vec![detail.clone()]
    } else {
        vec![]
    };
    Outcome::new(name, problems, detail)
}

/// Every check, and the figures.
pub fn run_all(ev: &Evidence, expect: &Expect, genesis: &LoadedGenesis) -> (Vec<Outcome>, Value) {
    let nodes = ev.decisions.len();
    let (live, recovery) = liveness(ev, expect, nodes);
    let mut checks = vec![
        agreement(ev),
        validity(ev, genesis),
        no_equivocation(ev, expect),
        durability(ev),
        no_regression(ev),
        live,
        rate_recovery(ev, expect),
    ];
    if !expect.progress_during {
        checks.push(quiet_during(ev));
    }
    if let Some(l1) = &genesis.genesis.l1 {
        checks.push(forced_deadlines(ev, expect, l1.inclusion_delay));
    }
    let t = ev.timeline;
    let round2 = |x: Option<f64>| x.map(|v| (v * 100.0).round() / 100.0);
    let figures = json!({
        "heights_per_s": {
            "before": round2(rate(&ev.samples, t.start_ms, t.first_fault_ms)),
            "during": round2(rate(&ev.samples, t.first_fault_ms, t.heal_ms)),
            "after": round2(rate(&ev.samples, t.heal_ms, t.end_ms)),
        },
        "recovery_ms": recovery,
        "final_height": max_height_at(&ev.samples, u64::MAX),
        "ordered_acks": ev.acks.len(),
        "forced_entries": ev.forced.len(),
    });
    (checks, figures)
}
