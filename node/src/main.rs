//! `ordo`: the command-line entry point of an ordo node.

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use ordo_node::genesis::ChainParams;
use ordo_node::home::{self, Home};
use ordo_node::{http, keyfile};
use ordo_types::{BlsSecretKey, ChainId};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ordo",
    version,
    about = "ordo: a decentralized shared sequencer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node home: keys (mode 0600), a single-validator genesis and config.toml.
    Init {
        #[arg(long)]
        home: PathBuf,
        #[arg(long, default_value_t = 1)]
        chain_id: u64,
        #[arg(long, default_value_t = 26656)]
        p2p_port: u16,
        #[arg(long, default_value_t = 26657)]
        rpc_port: u16,
        #[arg(long, default_value_t = 26658)]
        gossip_port: u16,
    },
    /// Local multi-validator testnets.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Run the node of a home until SIGTERM or SIGINT.
    Start {
        #[arg(long)]
        home: PathBuf,
    },
    /// Print a node's status as JSON.
    Status {
        /// The node's RPC address, e.g. http://127.0.0.1:27001
        #[arg(long)]
        rpc: String,
    },
    /// Manage validator keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Submit and look up transactions through a node's RPC.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Read ordered batches through a node's RPC.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// The L1 side of forced inclusion: deploy the inbox, queue forced transactions.
    #[command(subcommand)]
    L1(L1Command),
    /// This validator's entry in the L1 stake table the genesis names: register, add stake,
    /// exit, withdraw, status. The operator's L1 key comes from --key, ORDO_L1_KEY or
    /// HOME/keys/operator.key.
    #[command(subcommand)]
    Validator(ValidatorCommand),
    /// Deliver a rollup's namespace to its executor, streamed and verified from any of a set of
    /// nodes, in height order and exactly once across restarts of either side.
    Follow(FollowCli),
}

#[derive(clap::Args, Debug)]
struct FollowCli {
    /// Node RPC addresses, comma-separated (http://127.0.0.1:27001,...).
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<String>,
    #[arg(long)]
    namespace: u64,
    /// builtin:kv, abci://host:port, abci+unix:///path or grpc://host:port.
    #[arg(long)]
    executor: String,
    /// What to trust: <chain id>:<validator set hash>.
    #[arg(long, conflicts_with = "genesis", required_unless_present = "genesis")]
    anchor: Option<String>,
    /// Or take the anchor from the chain's genesis file.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Where the follower keeps its cursor (and a builtin executor its state).
    #[arg(long)]
    dir: PathBuf,
    /// Serve GET /status here (e.g. 127.0.0.1:27950).
    #[arg(long)]
    status_listen: Option<SocketAddr>,
}

#[derive(clap::Args, Debug)]
struct StakeTarget {
    #[arg(long)]
    home: PathBuf,
    /// L1 JSON-RPC endpoint, e.g. http://127.0.0.1:8545
    #[arg(long)]
    rpc: String,
    #[arg(long)]
    key: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ValidatorCommand {
    /// Bond --stake-ether ETH with the home's BLS key (and its proof of possession), consensus
    /// key, peer id and listen addresses.
    Register {
        #[command(flatten)]
        target: StakeTarget,
        #[arg(long)]
        stake_ether: String,
    },
    /// Add --ether ETH to a bonded validator's stake.
    AddStake {
        #[command(flatten)]
        target: StakeTarget,
        #[arg(long)]
        ether: String,
    },
    /// Request the exit: the validator leaves the set at a coming epoch boundary, and its stake
    /// unbonds.
    Exit {
        #[command(flatten)]
        target: StakeTarget,
    },
    /// Take the stake back once the unbonding delay has passed.
    Withdraw {
        #[command(flatten)]
        target: StakeTarget,
    },
    /// The table's terms and this validator's entry.
    Status {
        #[command(flatten)]
        target: StakeTarget,
    },
}

#[derive(clap::Args, Debug)]
struct OwnerTarget {
    /// L1 JSON-RPC endpoint, e.g. http://127.0.0.1:8545
    #[arg(long)]
    rpc: String,
    #[arg(long)]
    key: Option<String>,
    /// A genesis.json with a `stake` section.
    #[arg(long)]
    genesis: PathBuf,
}

#[derive(Subcommand, Debug)]
enum L1Command {
    /// Deploy OrdoInbox and write its address into each home's genesis (and the endpoint into
    /// each home's config). The L1 key comes from --key or ORDO_L1_KEY.
    Deploy {
        /// L1 JSON-RPC endpoint, e.g. http://127.0.0.1:8545
        #[arg(long)]
        rpc: String,
        #[arg(long)]
        key: Option<String>,
        /// Validator homes sharing one genesis.
        #[arg(long = "home", required = true)]
        homes: Vec<PathBuf>,
        /// L1 blocks an entry waits before it must be ordered.
        #[arg(long, default_value_t = 4)]
        inclusion_delay: u64,
        /// Forced bytes per batch (default: a quarter of max_batch_bytes).
        #[arg(long)]
        forced_budget_bytes: Option<u64>,
        #[arg(long, default_value_t = 0)]
        fee_wei: u128,
        /// "finalized", or "latest-K" for a development L1.
        #[arg(long, default_value = "finalized")]
        finality: String,
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
        /// Also set every home up to post its certified batches as blobs to this L1
        /// (`[da] backend = "ethereum-blobs"`): a batch inbox derived from the chain id, a new
        /// posting account per validator funded from --key (its key in keys/l1.key, 0600).
        #[arg(long)]
        da_blobs: bool,
        /// Heights per posting range (genesis da.range_heights).
        #[arg(long, default_value_t = 8, requires = "da_blobs")]
        da_range_heights: u64,
        /// ETH sent to each validator's posting account.
        #[arg(long, default_value_t = 10, requires = "da_blobs")]
        da_fund_ether: u64,
        /// Blob proofs of the L1's hardfork: "eip4844" (Cancun, Prague) or "eip7594" (Osaka).
        #[arg(long, default_value = "eip4844", requires = "da_blobs")]
        da_proofs: String,
        /// Also deploy OrdoStakeTable (permissioned, owned by --key), allow-listing a new
        /// operator account per home, funded from --key (its key in keys/operator.key, 0600),
        /// and write the genesis `stake` section.
        #[arg(long)]
        stake_table: bool,
        #[arg(long, default_value = "1", requires = "stake_table")]
        min_stake_ether: String,
        /// L1 blocks between an exit request and the withdrawal.
        #[arg(long, default_value_t = 64, requires = "stake_table")]
        unbonding_blocks: u64,
        /// The unbonding delay in ordo epochs instead: converted to L1 blocks from the epoch
        /// length, the genesis block time and the L1's block interval, with two epochs more for
        /// the derivation lag (ADR 19); the L1 must be producing blocks.
        #[arg(long, requires = "stake_table", conflicts_with = "unbonding_blocks")]
        unbonding_epochs: Option<u64>,
        /// Heights per epoch.
        #[arg(long, default_value_t = 1000, requires = "stake_table")]
        epoch_length: u64,
        #[arg(long, default_value_t = 100, requires = "stake_table")]
        max_validators: u32,
        /// ETH sent to each genesis validator's operator account.
        #[arg(long, default_value_t = 100, requires = "stake_table")]
        stake_fund_ether: u64,
    },
    /// Allow-list an operator (L1 account) in the stake table the genesis names, or with
    /// --remove take it off; the table's owner's key (--key or ORDO_L1_KEY).
    AllowList {
        #[command(flatten)]
        owner: OwnerTarget,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        remove: bool,
    },
    /// Open the stake table the genesis names to anyone with the minimum stake (one way); the
    /// table's owner's key.
    OpenRegistration {
        #[command(flatten)]
        owner: OwnerTarget,
    },
    /// Queue a forced transaction on L1 (any Ethereum client can do the same).
    Enqueue {
        #[arg(long)]
        rpc: String,
        #[arg(long)]
        key: Option<String>,
        /// The inbox: a 0x address, or a genesis.json that names it.
        #[arg(long)]
        inbox: String,
        #[arg(long)]
        namespace: u64,
        /// Payload as hex (with or without 0x).
        #[arg(long)]
        payload: String,
    },
}

#[derive(Subcommand, Debug)]
enum TxCommand {
    /// Submit a transaction; with --wait, wait until it is ordered and print where.
    Submit {
        #[arg(long)]
        rpc: String,
        #[arg(long)]
        namespace: u64,
        /// Payload as hex (with or without 0x).
        #[arg(long)]
        payload: String,
        /// Wait until the transaction is ordered (`/v1/tx/{id}` says "ordered"), then print
        /// its height and index; fail if it is not ordered within --timeout.
        #[arg(long)]
        wait: bool,
        /// With --wait: seconds to wait for the transaction to be ordered.
        #[arg(long, default_value_t = 60, requires = "wait")]
        timeout: u64,
    },
}

#[derive(Subcommand, Debug)]
enum BatchCommand {
    /// Fetch the batch at a height and verify it: body against header, and the BLS certificate
    /// against the validator set of the genesis file (not the node's word).
    Get {
        #[arg(long)]
        rpc: String,
        #[arg(long)]
        height: u64,
        /// The chain's genesis.json, whose validator set the certificate must satisfy.
        #[arg(long)]
        genesis: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TestnetCommand {
    /// Create N validator homes sharing one genesis, peered on loopback.
    Init {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 27000)]
        base_port: u16,
        #[arg(long, default_value_t = 1)]
        chain_id: u64,
        #[arg(long, default_value_t = ChainParams::default().block_time_ms)]
        block_time_ms: u64,
        /// Comma-separated IPv4 addresses, one per validator, to listen on (default: all on
        /// 127.0.0.1).
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<std::net::Ipv4Addr>,
    },
    /// Add a node home next to the existing node-* homes of --output: new keys, node-0's
    /// genesis and L1 settings, the next ports after theirs, every existing node as its peer.
    /// On a chain with a stake table it becomes a validator once registered
    /// (`ordo validator register`).
    Add {
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 27000)]
        base_port: u16,
        /// A file (mode 0600) holding the hex key of a funded L1 account: the new node posts to
        /// node-0's DA backend with it (node-0's `[da]`, the key copied to keys/l1.key), taking
        /// its turns in the rotation once it is in an epoch's set. Without it the node does not
        /// post.
        #[arg(long)]
        da_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a BLS key and write it to a file readable by its owner only.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Print the public key and proof of possession of a key file, as JSON.
    Show { path: PathBuf },
}

/// `ordo testnet add`: the new home, and its ports.
fn testnet_add(
    output: &std::path::Path,
    base_port: u16,
    da_key_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (h, k) = home::testnet_add(output, base_port, da_key_file)?;
    let n =
        h.0.file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("node-"))
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or_default();
    let home::Ports { p2p, rpc, gossip } = home::testnet_ports(base_port, n);
    let posts = if da_key_file.is_some() {
        "  posts to DA"
    } else {
        ""
    };
    println!(
        "{}  node {}  p2p 127.0.0.1:{p2p}  gossip 127.0.0.1:{gossip}  rpc http://127.0.0.1:{rpc}{posts}",
        h.0.display(),
        k.address()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Init {
            home,
            chain_id,
            p2p_port,
            rpc_port,
            gossip_port,
        } => {
            let ports = home::Ports {
                p2p: p2p_port,
                rpc: rpc_port,
                gossip: gossip_port,
            };
            let keys = home::init(&Home(home.clone()), ChainId(chain_id), ports)?;
            println!(
                "initialized {} (validator {})",
                home.display(),
                keys.address()
            );
        }
        Command::Testnet(TestnetCommand::Init {
            validators,
            output,
            base_port,
            chain_id,
            block_time_ms,
            hosts,
        }) => {
            if validators == 0 || validators > 100 {
                bail!("--validators must be between 1 and 100");
            }
            let params = ChainParams {
                block_time_ms,
                ..ChainParams::default()
            };
            let homes = home::testnet_init(
                &output,
                validators,
                ChainId(chain_id),
                base_port,
                params,
                &hosts,
            )?;
            for (i, (h, k)) in homes.iter().enumerate() {
                let home::Ports { p2p, rpc, gossip } = home::testnet_ports(base_port, i);
                let ip = hosts
                    .get(i)
                    .copied()
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
                println!(
                    "{}  validator {}  p2p {ip}:{p2p}  gossip {ip}:{gossip}  rpc http://{ip}:{rpc}",
                    h.0.display(),
                    k.address()
                );
            }
        }
        Command::Testnet(TestnetCommand::Add {
            output,
            base_port,
            da_key_file,
        }) => testnet_add(&output, base_port, da_key_file.as_deref())?,
        Command::Start { home } => start(Home(home))?,
        Command::Status { rpc } => status(&rpc)?,
        Command::Keys(KeysCommand::Generate { out, force }) => {
            let sk = BlsSecretKey::generate().context("generating a key")?;
            keyfile::write_bls_key(&out, &sk, force)?;
            print_public(&sk);
        }
        Command::Keys(KeysCommand::Show { path }) => print_public(&keyfile::read_bls_key(&path)?),
        Command::Tx(TxCommand::Submit {
            rpc,
            namespace,
            payload,
            wait,
            timeout,
        }) => {
            let wait = wait.then(|| std::time::Duration::from_secs(timeout));
            runtime()?.block_on(submit(&rpc, namespace, &payload, wait))?
        }
        Command::Batch(BatchCommand::Get {
            rpc,
            height,
            genesis,
        }) => runtime()?.block_on(get_batch(&rpc, height, &genesis))?,
        Command::L1(cmd) => runtime()?.block_on(l1(cmd))?,
        Command::Validator(cmd) => runtime()?.block_on(validator(cmd))?,
        Command::Follow(args) => follow(args)?,
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn start(home: Home) -> anyhow::Result<()> {
    init_logs();
    runtime()?.block_on(async move {
        let mut node = ordo_node::node::start(home).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let outcome = tokio::select! {
            _ = term.recv() => None,
            _ = tokio::signal::ctrl_c() => None,
            why = node.wait() => Some(why),
        };
        match outcome {
            None => {
                tracing::info!("node.stopping");
                node.stop().await;
                Ok(())
            }
            Some(why) => bail!("{why}"),
        }
    })
}

fn follow(a: FollowCli) -> anyhow::Result<()> {
    init_logs();
    let anchor = match (&a.anchor, &a.genesis) {
        (Some(s), _) => ordo_node::follow::parse_anchor(s).map_err(anyhow::Error::msg)?,
        (None, Some(path)) => {
            let g = ordo_node::genesis::Genesis::read(path)?;
            ordo_client::TrustAnchor {
                chain_id: g.genesis.chain_id,
                validator_set_hash: g.set.set.hash(),
            }
        }
        (None, None) => bail!("--anchor or --genesis is needed"),
    };
    let args = ordo_node::follow::FollowArgs {
        nodes: a.nodes,
        namespace: ordo_types::Namespace(a.namespace),
        executor: a
            .executor
            .parse()
            .map_err(|e| anyhow::anyhow!("--executor: {e}"))?,
        anchor,
        dir: a.dir,
        status_listen: a.status_listen,
    };
    runtime()?.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = ordo_node::follow::run(args) => r.map_err(anyhow::Error::from),
            _ = term.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDO_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,arc_malachitebft=warn,libp2p=warn")
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

fn rpc_addr(rpc: &str) -> anyhow::Result<SocketAddr> {
    rpc.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("--rpc {rpc}: expected http://<ip>:<port>"))
}

/// Submits a transaction; with `wait`, polls `/v1/tx/{id}` until the node reports it ordered
/// (a pending transaction answers 200 too, with `"status": "pending"`) or `wait` has passed.
async fn submit(
    rpc: &str,
    namespace: u64,
    payload: &str,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let addr = rpc_addr(rpc)?;
    hex::decode(payload.trim_start_matches("0x")).context("--payload must be hex")?;
    let body = serde_json::json!({"namespace": namespace, "payload": payload});
    let (code, v) = http::post_json(addr, "/v1/tx", &body).await?;
    if code != 200 {
        bail!("{rpc} refused the transaction ({code}): {v}");
    }
    let Some(timeout) = wait else {
        println!("{v}");
        return Ok(());
    };
    let id = v
        .get("id")
        .and_then(|i| i.as_str())
        .with_context(|| format!("{rpc} accepted the transaction but gave no id: {v}"))?
        .to_string();
    let start = std::time::Instant::now();
    loop {
        let (code, v) = http::get_json(addr, &format!("/v1/tx/{id}")).await?;
        let status = v.get("status").and_then(|s| s.as_str());
        if code == 200 && status == Some("ordered") {
            let out = serde_json::json!({
                "id": id,
                "status": "ordered",
                "height": v.get("height"),
                "index": v.get("index"),
                "latency_ms": start.elapsed().as_millis() as u64,
            });
            println!("{out}");
            return Ok(());
        }
        // Pending in the pool (200), or not yet known/indexed (404): keep waiting. Anything
        // else is the node's error, not a state of the transaction.
        if code != 200 && code != 404 {
            bail!("{rpc}: /v1/tx/{id} answered {code}: {v}");
        }
        if start.elapsed() >= timeout {
            let last = status.map_or_else(|| format!("{code} {v}"), str::to_string);
            bail!(
                "transaction {id} not ordered within {} s (last status: {last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn get_batch(rpc: &str, height: u64, genesis: &std::path::Path) -> anyhow::Result<()> {
    let g = ordo_node::genesis::Genesis::read(genesis)?;
    let limits = g.genesis.limits;
    let addr = rpc_addr(rpc)?;
    let (code, v) = http::get_json(addr, &format!("/v1/batch/{height}/raw")).await?;
    if code != 200 {
        bail!("{rpc} answered {code}: {v}");
    }
    let raw = hex::decode(
        v.get("certified_batch")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .trim_start_matches("0x"),
    )
    .context("certified_batch is not hex")?;
    let rec: ordo_types::wire::pb::CertifiedBatch =
        ordo_types::wire::decode_message(&raw, &limits)?;
    let batch = ordo_types::Batch::from_proto(rec.batch.context("no batch")?, &limits)?;
    let cert =
        ordo_types::Certificate::from_proto(rec.certificate.context("no certificate")?, &limits)?;
    batch
        .check_body(&limits)
        .context("the body does not match the header")?;
    let (set, set_source) = set_for(addr, &g, &batch.header).await?;
    cert.verify_for(
        &set,
        g.genesis.chain_id,
        ordo_types::Height(height),
        &batch.hash(),
    )
    .context("the certificate does not verify")?;
    let signers = cert.signers.indices(set.len())?.len();
    let txs: Vec<_> = batch
        .txs
        .iter()
        .map(|t| serde_json::json!({"id": t.id().to_string(), "namespace": t.namespace().0, "payload": format!("0x{}", hex::encode(t.payload()))}))
        .collect();
    let out = serde_json::json!({
        "height": height,
        "hash": batch.hash().to_string(),
        "header": batch.header,
        "txs": txs,
        "certificate": {"round": cert.round.0, "signers": signers, "validators": set.len(), "set": set_source},
        "verified": true,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// The set a certificate of `header` is checked against: the genesis set when the header names
/// it; otherwise the set of the header's epoch as the node serves it, taken only if it hashes to
/// what the header names (`ordo-client` instead follows every set change from its anchor).
async fn set_for(
    addr: SocketAddr,
    g: &ordo_node::genesis::LoadedGenesis,
    header: &ordo_types::BatchHeader,
) -> anyhow::Result<(ordo_types::ValidatorSet, String)> {
    if header.validator_set_hash == g.set.set.hash() {
        return Ok(((*g.set.set).clone(), "genesis".into()));
    }
    let path = format!("/v1/validators?epoch={}", header.epoch.0);
    let (code, v) = http::get_json(addr, &path).await?;
    if code != 200 {
        bail!(
            "the set of epoch {}: the node answered {code}: {v}",
            header.epoch.0
        );
    }
    let validators: Vec<ordo_types::Validator> =
        serde_json::from_value(v.get("validators").cloned().unwrap_or_default())
            .context("the node's validator set does not decode")?;
    let set = ordo_types::ValidatorSet::new(validators, g.genesis.limits.max_validators)?;
    if set.hash() != header.validator_set_hash {
        bail!(
            "the node's set of epoch {} hashes to {}, the header names {}",
            header.epoch.0,
            set.hash(),
            header.validator_set_hash
        );
    }
    Ok((
        set,
        format!(
            "epoch {} (served by the node, the hash the header names)",
            header.epoch.0
        ),
    ))
}

fn l1_key(key: Option<String>) -> anyhow::Result<String> {
    key.or_else(|| std::env::var("ORDO_L1_KEY").ok())
        .context("give the L1 account's private key with --key or ORDO_L1_KEY")
}

fn with_min_stake(
    o: ordo_node::l1::StakeDeployOptions,
    ether: &str,
) -> anyhow::Result<ordo_node::l1::StakeDeployOptions> {
    let min_stake_wei = ordo_node::validator::parse_ether(ether).context("--min-stake-ether")?;
    Ok(ordo_node::l1::StakeDeployOptions { min_stake_wei, ..o })
}

/// The stake table owner's calls of `ordo l1`: allow-list (`operator`, `allowed`), or open
/// registration.
async fn stake_owner(o: OwnerTarget, allow: Option<(String, bool)>) -> anyhow::Result<()> {
    let key = l1_key(o.key)?;
    let out = match allow {
        Some((operator, allowed)) => {
            let block =
                ordo_node::validator::allow_list(&o.rpc, &key, &o.genesis, &operator, allowed)
                    .await?;
            serde_json::json!({"operator": operator, "allowed": allowed, "l1_block": block})
        }
        None => {
            let block = ordo_node::validator::open_registration(&o.rpc, &key, &o.genesis).await?;
            serde_json::json!({"registration_open": true, "l1_block": block})
        }
    };
    println!("{out}");
    Ok(())
}

/// `ordo l1 enqueue`: queues a forced transaction and prints where it is in the inbox.
async fn enqueue(
    rpc: &str,
    key: Option<String>,
    inbox: &str,
    namespace: u64,
    payload: &str,
) -> anyhow::Result<()> {
    let bytes = hex::decode(payload.trim_start_matches("0x")).context("--payload must be hex")?;
    let e = ordo_node::l1::enqueue(rpc, &l1_key(key)?, inbox, namespace, &bytes).await?;
    let out = serde_json::json!({
        "queue_index": e.forced.queue_index,
        "l1_block": e.forced.l1_block,
        "namespace": e.forced.namespace.0,
        "id": e.forced.id().to_string(),
        "l1_tx": format!("0x{}", hex::encode(e.tx_hash)),
    });
    println!("{out}");
    Ok(())
}

async fn l1(cmd: L1Command) -> anyhow::Result<()> {
    match cmd {
        L1Command::Deploy {
            rpc,
            key,
            homes,
            inclusion_delay,
            forced_budget_bytes,
            fee_wei,
            finality,
            poll_ms,
            da_blobs,
            da_range_heights,
            da_fund_ether,
            da_proofs,
            stake_table,
            min_stake_ether,
            unbonding_blocks,
            unbonding_epochs,
            epoch_length,
            max_validators,
            stake_fund_ether,
        } => {
            let stake_opts = stake_table
                .then_some(ordo_node::l1::StakeDeployOptions {
                    min_stake_wei: 0,
                    unbonding_blocks,
                    unbonding_epochs,
                    epoch_length,
                    max_validators,
                    fund_ether: stake_fund_ether,
                })
                .map(|o| with_min_stake(o, &min_stake_ether))
                .transpose()?;
            finality
                .parse::<ordo_da_adapter::l1::Finality>()
                .map_err(anyhow::Error::msg)?;
            let homes: Vec<Home> = homes.into_iter().map(Home).collect();
            let opts = ordo_node::l1::DeployOptions {
                inclusion_delay,
                forced_budget_bytes,
                fee_wei,
                finality: finality.clone(),
                poll_ms,
            };
            let key = l1_key(key)?;
            let (d, l1) = ordo_node::l1::deploy(&rpc, &key, &homes, &opts).await?;
            let da = if da_blobs {
                let da = ordo_node::l1::DaDeployOptions {
                    range_heights: da_range_heights,
                    fund_ether: da_fund_ether,
                    proofs: da_proofs,
                    finality,
                    start_block: d.block,
                };
                Some(ordo_node::l1::deploy_da(&rpc, &key, &homes, &da).await?)
            } else {
                None
            };
            let stake = match &stake_opts {
                Some(o) => Some(ordo_node::l1::deploy_stake(&rpc, &key, &homes, o).await?),
                None => None,
            };
            let out = serde_json::json!({
                "batch_inbox": da,
                "stake_table": stake.as_ref().map(|s| &s.0.table),
                "stake_table_block": stake.as_ref().map(|s| s.0.table_block),
                "unbonding_blocks": stake.as_ref().map(|s| s.1),
                "inbox": l1.inbox,
                "inbox_block": d.block,
                "l1_chain_id": d.l1_chain_id,
                "inclusion_delay": l1.inclusion_delay,
                "forced_budget_bytes": l1.forced_budget_bytes,
                "homes": homes.len(),
            });
            println!("{out}");
        }
        L1Command::AllowList {
            owner,
            operator,
            remove,
        } => stake_owner(owner, Some((operator, !remove))).await?,
        L1Command::OpenRegistration { owner } => stake_owner(owner, None).await?,
        L1Command::Enqueue {
            rpc,
            key,
            inbox,
            namespace,
            payload,
        } => enqueue(&rpc, key, &inbox, namespace, &payload).await?,
    }
    Ok(())
}

async fn validator(cmd: ValidatorCommand) -> anyhow::Result<()> {
    use ordo_node::validator::{Action, act, parse_ether, status};
    let (target, action) = match cmd {
        ValidatorCommand::Register {
            target,
            stake_ether,
        } => {
            let stake_wei = parse_ether(&stake_ether).context("--stake-ether")?;
            (target, Some(Action::Register { stake_wei }))
        }
        ValidatorCommand::AddStake { target, ether } => {
            let wei = parse_ether(&ether).context("--ether")?;
            (target, Some(Action::AddStake { wei }))
        }
        ValidatorCommand::Exit { target } => (target, Some(Action::Exit)),
        ValidatorCommand::Withdraw { target } => (target, Some(Action::Withdraw)),
        ValidatorCommand::Status { target } => (target, None),
    };
    let home = Home(target.home);
    let out = match action {
        Some(a) => act(&home, &target.rpc, target.key, a).await?,
        None => status(&home, &target.rpc, target.key).await?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn status(rpc: &str) -> anyhow::Result<()> {
    let addr = rpc_addr(rpc)?;
    let (code, body) = runtime()?.block_on(http::get_json(addr, "/v1/status"))?;
    if code != 200 {
        bail!("{rpc} answered {code}: {body}");
    }
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

fn print_public(sk: &BlsSecretKey) {
    let out = serde_json::json!({
        "public_key": sk.public_key().to_string(),
        "proof_of_possession": sk.proof_of_possession().to_string(),
    });
    println!("{out}");
}
