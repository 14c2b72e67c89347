//! One network namespace per node (and one for the L1), each with a veth pair on a shared
//! bridge and its own address, so `nft` rules inside a namespace can cut any pair while the host
//! keeps reaching every node over the bridge. Everything made here is removed on drop.

use anyhow::{Context as _, bail};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The table the runner owns in every namespace.
const TABLE: &str = "ordo_chaos";

/// The faults currently applied to one node's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Addresses whose packets this node drops on receipt.
    pub drop_from: BTreeSet<Ipv4Addr>,
    /// Addresses this node's packets to are dropped on sending.
    pub drop_to: BTreeSet<Ipv4Addr>,
    /// Percent of packets from other nodes dropped on receipt.
    pub loss: u8,
    /// Outgoing cap (kbit/s) on the node's interface.
    pub kbit: Option<u64>,
}

/// The namespaces of one testnet.
#[derive(Debug)]
pub struct Net {
    prefix: String,
    /// 10.`octet`.0.0/24.
    octet: u8,
    nodes: usize,
    made: Vec<String>,
    bridge: Option<String>,
    applied: Vec<Rules>,
}

pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// Names and addresses of the namespaces of one run. The L1 is slot `nodes`.
impl Net {
    /// Creates the bridge and `nodes + 1` namespaces (the last one for the L1). `slot` (0..50)
    /// keeps concurrent runs apart: it picks the names and the subnet.
    pub fn create(nodes: usize, slot: u8) -> anyhow::Result<Net> {
        let mut net = Net {
            prefix: format!("oc{slot}"),
            octet: 200 + slot % 50,
            nodes,
            made: vec![],
            bridge: None,
            applied: vec![Rules::default(); nodes + 1],
        };
        // A run killed before its cleanup leaves its names behind: take them back.
        net.remove_stale();
        let br = format!("{}-br", net.prefix);
        ip(&["link", "add", &br, "type", "bridge"])?;
        net.bridge = Some(br.clone());
        ip(&["addr", "add", &format!("{}/24", net.host()), "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        for i in 0..=nodes {
            let ns = net.ns(i);
            ip(&["netns", "add", &ns])?;
            net.made.push(ns.clone());
            let veth = format!("{}-v{i}", net.prefix);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &br, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", net.addr(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn remove_stale(&self) {
        let _ = ip(&["link", "del", &format!("{}-br", self.prefix)]);
        for i in 0..=self.nodes {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
    }

    /// The host's address on the bridge.
    pub fn host(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 1)
    }

    /// Node `i`'s address (`i == nodes`: the L1's).
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 10 + i as u8)
    }

    pub fn l1_addr(&self) -> Ipv4Addr {
        self.addr(self.nodes)
    }

    pub fn ns(&self, i: usize) -> String {
        if i == self.nodes {
            format!("{}-l1", self.prefix)
        } else {
            format!("{}-n{i}", self.prefix)
        }
    }

    pub fn l1_ns(&self) -> String {
        self.ns(self.nodes)
    }

    /// A command run inside node `i`'s namespace.
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(i), program]);
        c
    }

    /// Makes `want` the rules of every namespace, touching only those that change.
    pub fn apply(&mut self, want: &[Rules]) -> anyhow::Result<()> {
        for (i, r) in want.iter().enumerate().take(self.nodes + 1) {
            if self.applied.get(i) == Some(r) {
                continue;
            }
            self.nft(i, r)?;
            let old = self.applied.get(i).and_then(|r| r.kbit);
            if old != r.kbit {
                let ns = self.ns(i);
                match r.kbit {
                    Some(k) => {
                        let rate = format!("{k}kbit");
                        ip_tc(
                            &ns,
                            &[
                                "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", &rate,
                                "burst", "32kb", "latency", "400ms",
                            ],
                        )?;
                    }
                    None => ip_tc(&ns, &["qdisc", "del", "dev", "eth0", "root"])?,
                }
            }
            if let Some(slot) = self.applied.get_mut(i) {
                *slot = r.clone();
            }
        }
        Ok(())
    }

    fn nft(&self, i: usize, r: &Rules) -> anyhow::Result<()> {
        let set = |s: &BTreeSet<Ipv4Addr>| {
            s.iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut input = String::new();
        if !r.drop_from.is_empty() {
            input.push_str(&format!("    ip saddr {{ {} }} drop\n", set(&r.drop_from)));
        }
        if r.loss > 0 {
            // Traffic from the host (the runner's RPC polls and load) is spared.
            input.push_str(&format!(
                "    ip saddr != {} numgen random mod 100 < {} drop\n",
                self.host(),
                r.loss
            ));
        }
        let mut output = String::new();
        if !r.drop_to.is_empty() {
            output.push_str(&format!("    ip daddr {{ {} }} drop\n", set(&r.drop_to)));
        }
        // Declaring the table first makes the delete succeed when it does not exist yet.
        let script = format!(
            "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n{input}  }}\n  chain output {{\n    type filter hook output priority 0; policy accept;\n{output}  }}\n}}\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running nft")?;
        child
            .stdin
            .take()
            .context("nft stdin")?
            .write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "nft in {}: {}\n{script}",
                self.ns(i),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

fn ip_tc(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip")
        .args(["netns", "exec", ns, "tc"])
        .args(args))
    .map(|_| ())
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace removes its veth end (and so the pair), its rules and qdiscs.
        for ns in self.made.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("chaos: cleanup: {e}");
            }
        }
        if let Some(br) = self.bridge.take()
            && let Err(e) = ip(&["link", "del", &br])
        {
            eprintln!("chaos: cleanup: {e}");
        }
    }
}

/// Installs what the runner needs from Debian (`nftables`, `faketime`) when missing.
pub fn ensure_tools() -> anyhow::Result<()> {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut missing = vec![];
    if !have("nft") {
        missing.push("nftables");
    }
    if !have("faketime") {
        missing.push("faketime");
    }
    if !have("tc") || !have("ip") {
        missing.push("iproute2");
    }
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("chaos: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// libfaketime's preload library.
pub fn faketime_lib() -> anyhow::Result<String> {
    for p in [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ] {
        if std::path::Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    bail!("libfaketime.so.1 not found (install the faketime package)")
}
