//! The chaos runner (tier 2 of `TESTING.md`): scenarios from TOML manifests, played against real
//! `ordo` processes in network namespaces with faults from the OS, then judged by the checkers.
//!
//! - [`manifest`]: the scenario format.
//! - [`net`]: the namespaces, `nft` rules and traffic caps.
//! - [`run`]: one scenario from start to verdict, played with `cluster` (the node processes
//!   and anvil), `workload` (the load and forced entries), `faults` (the fault actions) and
//!   `record` (the files a run writes).
//! - [`check`]: the checkers, pure functions of the logs.

pub mod check;
mod cluster;
mod faults;
pub mod manifest;
pub mod net;
mod record;
pub mod run;
mod workload;

use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Runs the manifests named (or, with `all`/`ci`, those in `scenarios`), one fresh testnet
/// each, printing each verdict as one JSON line; true when every scenario passed.
pub fn run_many(
    files: &[PathBuf],
    all: bool,
    ci: bool,
    scenarios: &Path,
    opts: &run::RunOptions,
    out: Option<&Path>,
) -> anyhow::Result<bool> {
    let mut list: Vec<manifest::Manifest> = files
        .iter()
        .map(|f| manifest::Manifest::read(f))
        .collect::<Result<_, _>>()?;
    if all || ci {
        let mut found: Vec<PathBuf> = std::fs::read_dir(scenarios)
            .with_context(|| scenarios.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        found.sort();
        for f in found {
            let m = manifest::Manifest::read(&f)?;
            if all || m.ci {
                list.push(m);
            }
        }
    }
    if list.is_empty() {
        anyhow::bail!("no scenario to run: name manifests, or pass --all or --ci");
    }
    net::ensure_tools()?;
    if !opts.anvil.exists() && list.iter().any(|m| m.l1) {
        anyhow::bail!(
            "{} not found: run testnet/install-deps.sh (it installs anvil from npm)",
            opts.anvil.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut sink = match out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| p.display().to_string())?,
        ),
        None => None,
    };
    let mut failed = vec![];
    let started = std::time::Instant::now();
    for m in &list {
        let t = std::time::Instant::now();
        let r = rt.block_on(async {
            tokio::select! {
                r = run::scenario(m, opts) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            }
        });
        let line = match r {
            Ok(v) => {
                if !v.ok {
                    failed.push(m.name.clone());
                }
                v.json
            }
            Err(e) => {
                failed.push(m.name.clone());
                serde_json::json!({"scenario": m.name, "seed": m.seed, "ok": false,
                    "error": format!("{e:#}")})
            }
        };
        println!("{line}");
        if let Some(f) = &mut sink {
            writeln!(f, "{line}")?;
        }
        eprintln!(
            "chaos[{}] {} in {:.0} s",
            m.name,
            if line["ok"] == true {
                "PASSED"
            } else {
                "FAILED"
            },
            t.elapsed().as_secs_f64()
        );
        if line.get("error").is_some() && line["error"] == "interrupted" {
            break;
        }
    }
    eprintln!(
        "chaos: {} of {} scenarios passed in {:.0} s{}",
        list.len() - failed.len(),
        list.len(),
        started.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", failed.join(", "))
        }
    );
    Ok(failed.is_empty())
}
