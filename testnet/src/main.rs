//! `ordo-testnet`: drives a running local testnet from outside.
// `serde_json::Value` indexing yields `Null` instead of panicking, and the remaining slices
// are bounded by the lengths they are cut from.
#![allow(clippy::indexing_slicing)]

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ordo_testnet::bench::{BenchParams, run};
use ordo_testnet::forced_bench::{self, ForcedBenchParams};
use ordo_testnet::load::{self, LoadParams};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "ordo-testnet", version, about = "ordo local testnet tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Consensus benchmark: heights/s, submit-to-certified latency, CPU and memory per node.
    Bench {
        /// Comma-separated RPC addresses (http://127.0.0.1:27001,...); node 0 is watched.
        #[arg(long)]
        rpc: String,
        /// Comma-separated node process ids, for CPU and memory figures.
        #[arg(long, default_value = "")]
        pids: String,
        /// Transactions per second; 0 means idle, measured with one probe transaction a second.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Payload bytes per transaction.
        #[arg(long, default_value_t = 250)]
        size: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Submit each transaction to every node instead of one node in turn.
        #[arg(long)]
        fanout: bool,
    },
    /// Load generator: submits at a fixed rate over the gRPC bulk stream to every node given,
    /// prints progress each second and a final JSON line: submitted, accepted and ordered
    /// transactions per second and submit-to-ordered latency percentiles.
    Load {
        /// Comma-separated node addresses (http://127.0.0.1:27001,...); node 0's namespace
        /// streams tell when transactions are ordered.
        #[arg(long)]
        rpc: String,
        /// Transactions per second, across all nodes.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Payload bytes per transaction.
        #[arg(long, default_value_t = 250)]
        size: usize,
        /// K namespaces, used in turn: --first-namespace .. + K - 1.
        #[arg(long, default_value_t = 4)]
        namespaces: u64,
        /// The first namespace used.
        #[arg(long, default_value_t = 1)]
        first_namespace: u64,
        /// Text payloads, `<run><seq>=<filler>` in hex, which key-value executors (the
        /// builtin ledger, the ABCI kvstore) take as one key each.
        #[arg(long)]
        text: bool,
        /// Seconds to submit for.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Seconds to wait afterwards for accepted transactions to be ordered.
        #[arg(long, default_value_t = 15)]
        drain: u64,
    },
    /// The live view of a running testnet: a light load, a demo rollup following one namespace
    /// with verified proofs, and a status line per node (height, tx/s, finality p50, peers, L1
    /// head), redrawn every second until Ctrl-C.
    Watch {
        /// Comma-separated node addresses (http://127.0.0.1:27001,...).
        #[arg(long)]
        rpc: String,
        /// The chain's genesis.json (the demo rollup's trust anchor).
        #[arg(long)]
        genesis: std::path::PathBuf,
        /// Light load, transactions per second across all nodes (0: none).
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// The demo rollup's namespace.
        #[arg(long, default_value_t = 7)]
        namespace: u64,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// The chaos runner: plays scenario manifests against a fresh testnet of real `ordo`
    /// processes, one network namespace per node, and prints one JSON verdict per scenario.
    /// Needs root (namespaces, nft, tc, mount).
    Chaos {
        /// Manifest files to run.
        manifests: Vec<std::path::PathBuf>,
        /// Run every manifest in --scenarios.
        #[arg(long)]
        all: bool,
        /// Run the manifests of --scenarios marked `ci = true`.
        #[arg(long)]
        ci: bool,
        /// Where the manifests are.
        #[arg(long, default_value = "testnet/chaos")]
        scenarios: std::path::PathBuf,
        /// Where scenario directories go (kept when a check fails).
        #[arg(long, default_value = "chaos-runs")]
        dir: std::path::PathBuf,
        /// Keep the directory of passing scenarios too.
        #[arg(long)]
        keep: bool,
        /// The `ordo` binary (default: beside this one).
        #[arg(long)]
        ordo: Option<std::path::PathBuf>,
        /// The `anvil` binary.
        #[arg(long, default_value = "contracts/node_modules/.bin/anvil")]
        anvil: std::path::PathBuf,
        /// Append every verdict to this JSON-lines file.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Serve tendermint-abci's kvstore application (the app `kvstore-rs` runs) over ABCI on a
    /// TCP socket, in memory, until killed: a rollup executor for the localnet and the tests.
    Kvstore {
        #[arg(long, default_value = "127.0.0.1:26658")]
        listen: std::net::SocketAddr,
    },
    /// Forced-inclusion latency: queues entries on the L1 inbox and reports, per entry and as
    /// percentiles, the time and the L1 blocks until the validators ordered it.
    /// DA figures read from the L1 alone: frames, blobs, blob utilisation, gas per MB, and
    /// certified-to-available latency (docs/BENCHMARKS.md).
    DaReport {
        /// The L1 endpoint.
        #[arg(long)]
        l1_rpc: String,
        /// A validator's genesis.json (its `da` section names the batch inbox).
        #[arg(long)]
        genesis: std::path::PathBuf,
        /// L1 blocks after inclusion at which a frame counts (`latest-K` finality).
        #[arg(long, default_value_t = 1)]
        depth: u64,
        /// Leave out heights below this one (a warm-up).
        #[arg(long, default_value_t = 1)]
        from_height: u64,
        /// Leave out heights above this one (an idle tail).
        #[arg(long, default_value_t = u64::MAX)]
        to_height: u64,
    },
    ForcedBench {
        /// The node that tells when an entry is ordered, http://127.0.0.1:27001
        #[arg(long)]
        rpc: String,
        /// The L1 endpoint.
        #[arg(long)]
        l1_rpc: String,
        /// The L1 account's private key (or ORDO_L1_KEY).
        #[arg(long)]
        key: Option<String>,
        /// The inbox: a 0x address or a genesis.json naming it.
        #[arg(long)]
        inbox: String,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 1500)]
        interval_ms: u64,
    },
}

/// `http://<ip>:<port>[,...]` as socket addresses.
fn parse_rpcs(list: &str) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    list.split(',')
        .map(|r| {
            r.trim()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .with_context(|| format!("--rpc {r}: expected http://<ip>:<port>"))
        })
        .collect()
}

// The subcommand dispatch: one arm per command.
#[allow(clippy::too_many_lines)]
fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Watch {
            rpc,
            genesis,
            rate,
            namespace,
            duration,
        } => {
            let rpcs = parse_rpcs(&rpc)?;
            let params = ordo_testnet::watch::WatchParams {
                rpcs,
                rate,
                namespace,
                genesis,
                duration: duration.map(Duration::from_secs),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                tokio::select! {
                    r = ordo_testnet::watch::run(params) => r,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })?;
        }
        Command::Kvstore { listen } => kvstore(listen)?,
        Command::Chaos {
            manifests,
            all,
            ci,
            scenarios,
            dir,
            keep,
            ordo,
            anvil,
            out,
        } => {
            let ordo = match ordo {
                Some(p) => p,
                None => std::env::current_exe()?
                    .parent()
                    .context("no directory for this binary")?
                    .join("ordo"),
            };
            let opts = ordo_testnet::chaos::run::RunOptions {
                ordo: std::path::absolute(ordo)?,
                anvil: std::path::absolute(anvil)?,
                dir: std::path::absolute(dir)?,
                keep,
                slot: (std::process::id() % 50) as u8,
            };
            let ok = ordo_testnet::chaos::run_many(
                &manifests,
                all,
                ci,
                &scenarios,
                &opts,
                out.as_deref(),
            )?;
            if !ok {
                std::process::exit(1);
            }
        }
        Command::DaReport {
            l1_rpc,
            genesis,
            depth,
            from_height,
            to_height,
        } => {
            let params = ordo_testnet::da_report::DaReportParams {
                l1_rpc,
                genesis,
                depth,
                from_height,
                to_height,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            println!("{}", rt.block_on(ordo_testnet::da_report::run(&params))?);
        }
        Command::ForcedBench {
            rpc,
            l1_rpc,
            key,
            inbox,
            count,
            interval_ms,
        } => {
            let params = ForcedBenchParams {
                rpc: rpc
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .parse()
                    .context("--rpc: expected http://<ip>:<port>")?,
                l1_rpc,
                l1_key: key
                    .or_else(|| std::env::var("ORDO_L1_KEY").ok())
                    .context("give the L1 key with --key or ORDO_L1_KEY")?,
                inbox,
                count,
                interval: Duration::from_millis(interval_ms),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            println!("{}", rt.block_on(forced_bench::run(&params))?);
        }
        Command::Bench {
            rpc,
            pids,
            rate,
            size,
            duration,
            fanout,
        } => {
            let rpcs = parse_rpcs(&rpc)?;
            let pids = pids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().parse())
                .collect::<Result<Vec<u32>, _>>()
                .context("--pids: expected numbers")?;
            let params = BenchParams {
                rpcs,
                pids,
                rate: if rate > 0.0 { rate } else { 1.0 },
                size,
                duration: Duration::from_secs(duration),
                fanout,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let out = rt.block_on(run(&params))?;
            println!("{out}");
        }
        Command::Load {
            rpc,
            rate,
            size,
            namespaces,
            first_namespace,
            text,
            duration,
            drain,
        } => {
            let params = LoadParams {
                rpcs: rpc.split(',').map(|s| s.trim().to_string()).collect(),
                rate,
                size,
                namespaces,
                first_namespace,
                text,
                duration: Duration::from_secs(duration),
                drain: Duration::from_secs(drain),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let out = rt.block_on(load::run(&params))?;
            println!("{out}");
        }
    }
    Ok(())
}

/// Serves the kvstore app on `listen` until the process is killed.
fn kvstore(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let (app, driver) = tendermint_abci::KeyValueStoreApp::new();
    std::thread::spawn(move || {
        if let Err(e) = driver.run() {
            eprintln!("kvstore: the app's driver stopped: {e}");
            std::process::exit(1);
        }
    });
    let server = tendermint_abci::ServerBuilder::default()
        .bind(listen, app)
        .map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
    println!("kvstore: ABCI on {}", server.local_addr());
    server.listen().map_err(|e| anyhow::anyhow!("kvstore: {e}"))
}
