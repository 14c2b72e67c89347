//! Scenario manifests (TOML): the testnet, its load, a timed fault schedule, the seed and what
//! the checkers hold it to. See `docs/CHAOS.md` for the format.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds the flapping schedule and the load's payloads.
    #[serde(default = "one")]
    pub seed: u64,
    /// Part of the subset `.ci/run` runs.
    #[serde(default)]
    pub ci: bool,
    #[serde(default = "four")]
    pub nodes: usize,
    /// Seconds from the start of load to the end of the scenario.
    pub duration_s: u64,
    /// Start anvil, deploy the inbox and queue forced entries.
    #[serde(default = "yes")]
    pub l1: bool,
    #[serde(default)]
    pub setup: Setup,
    #[serde(default)]
    pub load: Load,
    #[serde(default)]
    pub expect: ExpectSpec,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
}

fn one() -> u64 {
    1
}
fn four() -> usize {
    4
}
fn yes() -> bool {
    true
}

/// How nodes start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Nodes not started with the others (a `start` fault brings them in).
    #[serde(default)]
    pub late: Vec<usize>,
    /// Nodes that leave due forced entries out of their proposals (a censoring double).
    #[serde(default)]
    pub censor: Vec<usize>,
    /// `[a, b]`: node `b` runs with node `a`'s keys (a duplicated validator key).
    #[serde(default)]
    pub same_key: Option<[usize; 2]>,
    /// Nodes whose `data` directory is a tmpfs of `tmpfs_mb` megabytes.
    #[serde(default)]
    pub tmpfs: Vec<usize>,
    #[serde(default = "tmpfs_mb")]
    pub tmpfs_mb: u64,
    /// Nodes that sign a second, conflicting vote and proposal at every step (the equivocating
    /// validator double, `testing.equivocate`). They must be listed in `expect.byzantine`.
    #[serde(default)]
    pub equivocate: Vec<usize>,
}

fn tmpfs_mb() -> u64 {
    64
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            late: vec![],
            censor: vec![],
            same_key: None,
            tmpfs: vec![],
            tmpfs_mb: tmpfs_mb(),
            equivocate: vec![],
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Ordinary transactions per second across all nodes, each awaited until *ordered*.
    #[serde(default = "rate")]
    pub rate: f64,
    #[serde(default = "size")]
    pub size: usize,
    /// Seconds between two forced entries queued on the L1 (0: none).
    #[serde(default = "forced_every")]
    pub forced_every_s: f64,
}

fn rate() -> f64 {
    40.0
}
fn size() -> usize {
    200
}
fn forced_every() -> f64 {
    4.0
}

impl Default for Load {
    fn default() -> Self {
        Load {
            rate: rate(),
            size: size(),
            forced_every_s: forced_every(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    #[serde(default = "liveness")]
    pub liveness_s: f64,
    #[serde(default = "yes")]
    pub progress_during: bool,
    #[serde(default = "deadline")]
    pub forced_deadline_s: f64,
    #[serde(default)]
    pub byzantine: Vec<usize>,
    /// Nodes the scenario leaves stopped.
    #[serde(default)]
    pub exempt: Vec<usize>,
    /// Heights per second from 5 s after the heal, as a share of the rate before the faults
    /// (0: not checked).
    #[serde(default = "rate_recovery")]
    pub rate_recovery_percent: u32,
}

fn rate_recovery() -> u32 {
    70
}

fn liveness() -> f64 {
    20.0
}
fn deadline() -> f64 {
    20.0
}

impl Default for ExpectSpec {
    fn default() -> Self {
        ExpectSpec {
            liveness_s: liveness(),
            progress_during: true,
            forced_deadline_s: deadline(),
            byzantine: vec![],
            exempt: vec![],
            rate_recovery_percent: rate_recovery(),
        }
    }
}

/// One scheduled fault, `at_s` seconds after the load starts.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct Fault {
    pub at_s: f64,
    pub action: Action,
}

impl TryFrom<toml::Table> for Fault {
    type Error = String;

    // Read by hand: `flatten` would let unknown fields of the action through.
    fn try_from(mut t: toml::Table) -> Result<Fault, String> {
        let at_s = match t.remove("at_s") {
            Some(toml::Value::Float(f)) => f,
            Some(toml::Value::Integer(i)) => i as f64,
            Some(v) => return Err(format!("at_s: expected seconds, found {v}")),
            None => return Err("a fault needs at_s".into()),
        };
        let action = Action::deserialize(t).map_err(|e| e.to_string())?;
        Ok(Fault { at_s, action })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `kill -9` (or `signal = "TERM"` for a graceful stop).
    Kill {
        nodes: Vec<usize>,
        #[serde(default = "sigkill")]
        signal: String,
    },
    Start {
        nodes: Vec<usize>,
    },
    /// A graceful stop (SIGTERM), then a start.
    Restart {
        nodes: Vec<usize>,
    },
    /// `SIGSTOP`.
    Pause {
        nodes: Vec<usize>,
    },
    /// `SIGCONT`.
    Resume {
        nodes: Vec<usize>,
    },
    /// Cut every pair of nodes in different groups, both ways.
    Partition {
        groups: Vec<Vec<usize>>,
    },
    /// Cut these pairs, both ways (e.g. a bridge: 0–2 cut, 1 reaching both).
    Cut {
        pairs: Vec<[usize; 2]>,
    },
    /// Packets from `from` to `to` are dropped; the other way passes.
    OneWay {
        from: Vec<usize>,
        to: Vec<usize>,
    },
    /// Cut these nodes from the L1.
    CutL1 {
        nodes: Vec<usize>,
    },
    /// Each node drops this share of the packets it receives from other nodes.
    Loss {
        percent: u8,
    },
    /// A token-bucket cap on the nodes' outgoing traffic.
    Bandwidth {
        nodes: Vec<usize>,
        kbit: u64,
    },
    /// Random partitions, one every `period_ms`, drawn from the manifest's seed, until `until_s`;
    /// then everything heals.
    Flap {
        until_s: f64,
        period_ms: u64,
    },
    /// Restart the nodes with their wall clock shifted by `offset_s` seconds (libfaketime);
    /// 0 restarts them on the true clock.
    Skew {
        nodes: Vec<usize>,
        offset_s: i64,
    },
    /// Cut the proposer of the next height from every other node.
    IsolateProposer {},
    /// Cut the stopped nodes' consensus WAL down to its first `keep` bytes (a torn write). A
    /// `keep` inside the 12-byte header tears it whatever the node was doing when it stopped
    /// (its WAL is never shorter than the header), so the node must recover (`node/src/wal.rs`).
    TearWal {
        nodes: Vec<usize>,
        keep: u64,
    },
    /// Fill the nodes' `data` tmpfs (see `setup.tmpfs`) to the last byte.
    FillDisk {
        nodes: Vec<usize>,
    },
    /// Remove what `fill_disk` wrote.
    FreeDisk {
        nodes: Vec<usize>,
    },
    /// The in-node fault layer on these nodes (every node when `nodes` is empty), set to
    /// `faults = { delay_ms, jitter_ms, duplicate_percent, reorder_percent }`: what each node
    /// receives arrives `delay_ms ± jitter_ms` late, `duplicate_percent` of gossip messages
    /// twice, `reorder_percent` held back behind later ones. All zero turns it off.
    Delay {
        #[serde(default)]
        nodes: Vec<usize>,
        faults: ordo_p2p::faults::NetFaults,
    },
    /// Remove every network fault (nft rules, traffic caps and the fault layer). (A struct
    /// variant, so that stray fields are refused.)
    Heal {},
}

fn sigkill() -> String {
    "KILL".into()
}

impl Manifest {
    pub fn read(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let m: Manifest =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        m.validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=16).contains(&self.nodes) {
            return Err(format!("nodes = {}: between 1 and 16", self.nodes));
        }
        let n = self.nodes;
        let check = |what: &str, v: &[usize]| -> Result<(), String> {
            match v.iter().find(|i| **i >= n) {
                Some(i) => Err(format!("{what}: node {i} does not exist ({n} nodes)")),
                None => Ok(()),
            }
        };
        check("setup.late", &self.setup.late)?;
        check("setup.censor", &self.setup.censor)?;
        check("setup.tmpfs", &self.setup.tmpfs)?;
        check("setup.equivocate", &self.setup.equivocate)?;
        if let Some(i) = self
            .setup
            .equivocate
            .iter()
            .find(|i| !self.expect.byzantine.contains(i))
        {
            return Err(format!(
                "setup.equivocate: node {i} must also be in expect.byzantine"
            ));
        }
        check("expect.byzantine", &self.expect.byzantine)?;
        check("expect.exempt", &self.expect.exempt)?;
        if let Some(p) = self.setup.same_key {
            check("setup.same_key", &p)?;
        }
        let mut last = 0.0;
        for f in &self.faults {
            if f.at_s < last {
                return Err("faults must be listed in time order".into());
            }
            if f.at_s > self.duration_s as f64 {
                return Err(format!("a fault at {} s is past duration_s", f.at_s));
            }
            last = f.at_s;
            match &f.action {
                Action::Kill { nodes, signal } => {
                    check("kill", nodes)?;
                    if !["KILL", "TERM"].contains(&signal.as_str()) {
                        return Err(format!("kill: signal {signal:?}: KILL or TERM"));
                    }
                }
                Action::Start { nodes }
                | Action::Restart { nodes }
                | Action::Pause { nodes }
                | Action::Resume { nodes }
                | Action::CutL1 { nodes }
                | Action::Bandwidth { nodes, .. }
                | Action::Skew { nodes, .. }
                | Action::TearWal { nodes, .. } => check("fault", nodes)?,
                Action::FillDisk { nodes } | Action::FreeDisk { nodes } => {
                    check("fault", nodes)?;
                    if let Some(i) = nodes.iter().find(|i| !self.setup.tmpfs.contains(i)) {
                        return Err(format!(
                            "fill_disk/free_disk: node {i} is not in setup.tmpfs"
                        ));
                    }
                }
                Action::Partition { groups } => {
                    let all: Vec<usize> = groups.iter().flatten().copied().collect();
                    check("partition", &all)?;
                    if all.iter().collect::<BTreeSet<_>>().len() != all.len() {
                        return Err("partition: a node is in two groups".into());
                    }
                }
                Action::Cut { pairs } => check("cut", &pairs.concat())?,
                Action::OneWay { from, to } => {
                    check("one_way", from)?;
                    check("one_way", to)?;
                }
                Action::Delay { nodes, faults } => {
                    check("delay", nodes)?;
                    faults.validate().map_err(|e| format!("delay: {e}"))?;
                }
                Action::Loss { percent } if *percent > 100 => {
                    return Err("loss: percent above 100".into());
                }
                Action::Flap { until_s, .. } if *until_s > self.duration_s as f64 => {
                    return Err("flap: until_s is past duration_s".into());
                }
                // A flap splits the nodes in two non-empty sides.
                Action::Flap { .. } if self.nodes < 2 => {
                    return Err(format!(
                        "flap: needs at least 2 nodes, the scenario has {}",
                        self.nodes
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
