//! Starting and stopping a node: opens storage, loads keys, starts malachite, the app loop and
//! the RPC server. Used by `ordo start` and by in-process multi-node tests.

use crate::app::{App, AppError, AppParts, Feed, Latest, Progress, Shared, Subscription};
use crate::config::{Config, EngineConfig};
use crate::decisions::DecisionLog;
use crate::doubles::Doubles;
use crate::genesis::Genesis;
use crate::home::{Home, Keys};
use crate::signguard::FileGuard;
use crate::store::Store;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, EngineHandle, NetworkIdentity, RequestContext, SyncContext,
    WalContext,
};
use ordo_consensus::codec::ProtoCodec;
use ordo_consensus::signing::{OrdoSigner, OrdoVerifier};
use ordo_consensus::{OrdoContext, ValidatorAddress};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tracing::info;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("genesis: {0}")]
    Genesis(#[from] crate::genesis::GenesisError),
    #[error("keys: {0}")]
    Keys(#[from] crate::keyfile::KeyFileError),
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("this node's address {0} is not in the genesis validator set")]
    NotAValidator(String),
    #[error("epochs: {0}")]
    Epochs(String),
    #[error(transparent)]
    Double(#[from] crate::doubles::DoubleRefused),
    #[error(transparent)]
    SignGuard(#[from] crate::signguard::SignGuardError),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error("decision log: {0}")]
    DecisionLog(#[from] crate::decisions::LogError),
    /// The node key, gossip addresses or the gossip network.
    #[error(transparent)]
    P2p(#[from] ordo_p2p::P2pError),
    #[error("gossip listen address {addr:?}: {reason}")]
    GossipListen { addr: String, reason: String },
    /// An actor of the consensus stack (the engine, its network) failed to start.
    #[error("starting {what}: {reason}")]
    Actor { what: &'static str, reason: String },
    #[error(
        "the genesis names an L1 inbox: config.toml needs an [l1] section with rpc endpoints \
         (or set ORDO_L1_RPC)"
    )]
    L1Unconfigured,
    #[error(transparent)]
    L1(#[from] ordo_da_adapter::l1::L1Error),
    #[error("rpc listen {addr}: {source}")]
    RpcListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl StartError {
    /// An actor that failed to start, with the reason its spawner gave.
    pub(crate) fn actor(what: &'static str, reason: impl std::fmt::Display) -> StartError {
        StartError::Actor {
            what,
            reason: reason.to_string(),
        }
    }
}

/// A running node.
pub struct NodeHandle {
    pub rpc_addr: SocketAddr,
    pub shared: Arc<Shared>,
    pub home: Home,
    engine: EngineHandle,
    app: JoinHandle<Result<(), AppError>>,
    rpc: JoinHandle<()>,
    gossip: Option<[JoinHandle<()>; 2]>,
    /// The L1 follower and the L1 prune, on a chain with an inbox; the decision log.
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("rpc_addr", &self.rpc_addr)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// Stops the engine and the app, then the RPC server; storage is closed when the last
    /// reference drops.
    pub async fn stop(self) {
        let _ = self
            .engine
            .actor
            .stop_and_wait(None, Some(std::time::Duration::from_secs(5)))
            .await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.engine.handle).await;
        self.app.abort();
        self.rpc.abort();
        for t in self.gossip.into_iter().flatten().chain(self.tasks) {
            t.abort();
            let _ = t.await;
        }
        let _ = self.app.await;
        let _ = self.rpc.await;
    }

    /// Waits until the engine or the app stops on its own; returns why.
    pub async fn wait(&mut self) -> String {
        tokio::select! {
            r = &mut self.engine.handle => format!("the consensus engine stopped: {r:?}"),
            r = &mut self.app => match r {
                Ok(Ok(())) => "the engine closed the app channel".into(),
                Ok(Err(e)) => format!("fatal: {e}"),
                Err(e) => format!("the app task failed: {e}"),
            },
        }
    }
}

/// Starts the node of `home`.
pub async fn start(home: Home) -> Result<NodeHandle, StartError> {
    let config = Config::read(&home.config())?;
    let doubles = Doubles::new(&config.testing)?;
    let genesis = Arc::new(Genesis::read(&home.genesis())?);
    let keys = Keys::read(&home)?;
    let address = keys.address();
    // On a chain that follows a stake table, a node outside the genesis set follows the chain
    // until an epoch's set has it.
    if genesis.set.set.index_of(&address).is_none() && genesis.genesis.stake.is_none() {
        return Err(StartError::NotAValidator(address.to_string()));
    }
    let g = &genesis.genesis;
    let da = da_of(&config, &genesis, &home, address)?;
    let store = Arc::new(Store::open(&home.db(), g.limits)?);
    let guard = Arc::new(FileGuard::open(
        &home.sign_state(),
        &home.signature_log(),
        address.to_string(),
    )?);
    let ctx = OrdoContext {
        chain_id: g.chain_id,
    };
    let signer = OrdoSigner::new(g.chain_id, keys.consensus.clone(), guard.clone());
    let me = ValidatorAddress(address);
    let (channels, engine, net_faults, network) =
        engine_of(&config, &home, &keys, &signer, ctx, guard.log(), &g.limits).await?;
    let gossip = config
        .gossip
        .as_ref()
        .map(|section| start_gossip(section, *keys.node, g))
        .transpose()?;
    let latest = latest_decided(&store)?;
    let latest_height = latest.as_ref().map_or(0, |d| d.batch.header.height.0);
    let decided_next = latest
        .as_ref()
        .map_or(0, |d| d.batch.header.forced_cursor.next);
    let (l1, l1_task) = l1_of(&config, g, &home, decided_next)?;
    let rollups = crate::rollups::open(&config.rollups, &home, g.chain_id)
        .map_err(crate::config::ConfigError::Invalid)?;
    let da_view = config.da.as_ref().map(|_| crate::da::DaView::default());
    let (epochs, table) = epochs_of(&config, &genesis, &store)?;
    let (mut feed, feed_handle) = Feed::new(store.clone());
    let shared = Arc::new(Shared {
        store,
        gossip: gossip.as_ref().map(|g| g.handle.clone()),
        waiters: crate::ingress::Waiters::new(MAX_WAITERS),
        heights: tokio::sync::watch::Sender::new(latest_height),
        ready: std::sync::atomic::AtomicBool::new(false),
        pool: Mutex::new(ordo_mempool::Mempool::new(config.mempool.clone(), g.limits)),
        progress: progress_of(&config, &genesis, address, latest.as_ref()),
        genesis: genesis.clone(),
        l1: l1.as_ref().map(|c| c.reader.clone()),
        feed: feed_handle.clone(),
        net_faults,
        rollups: rollups.iter().map(|r| r.view.clone()).collect(),
        da: da_view.clone(),
        epochs: epochs.clone(),
    });
    shared.inline_subscribers(&mut feed);
    let mut tasks = spawn_subscribers(&shared, &home, &config, l1.as_ref(), latest_height)?;
    tasks.extend(l1_task);
    if let Some(t) = table {
        let admission = admission_of(&config, &keys, network, &shared);
        tasks.extend(spawn_deriver(t, epochs, &shared, admission));
    }
    if let (Some(prepared), Some(view)) = (da, da_view) {
        tasks.extend(crate::da::start(prepared, &shared, view).into_tasks());
    }
    tasks.extend(
        rollups
            .into_iter()
            .map(|r| crate::rollups::spawn(r, &home, &shared)),
    );
    let app = App::new(AppParts {
        ctx,
        shared: shared.clone(),
        signer,
        bls: keys.bls.clone(),
        me,
        net: channels.network,
        doubles,
        l1: l1.clone(),
        feed,
    });
    let app = tokio::spawn(app.run(channels.consensus));
    let gossip = gossip.map(|g| {
        let inbound = spawn_inbound(shared.clone(), g.inbound);
        [g.task, inbound]
    });
    let (rpc_addr, rpc) = serve_rpc(&config, shared.clone()).await?;
    info!(moniker = %config.moniker, %address, rpc = %rpc_addr, p2p = %config.p2p.listen, "node.started");
    Ok(NodeHandle {
        rpc_addr,
        shared,
        home,
        engine,
        app,
        rpc,
        gossip,
        tasks,
    })
}

/// The deriver of epoch sets and the admission of their members' peers, following the
/// decided heights.
fn spawn_deriver(
    table: crate::epochs::TableSource,
    epochs: Arc<crate::epochs::Epochs>,
    shared: &Shared,
    admission: crate::epochs::Admission,
) -> [JoinHandle<()>; 2] {
    let heights = shared.heights.subscribe();
    let admit = crate::epochs::admission(epochs.clone(), heights.clone(), admission);
    let store = shared.store.clone();
    [
        tokio::spawn(crate::epochs::deriver(epochs, store, table, heights)),
        tokio::spawn(admit),
    ]
}

/// What the admission of epoch members needs: the networks, and the peers configured for good.
fn admission_of(
    config: &Config,
    keys: &Keys,
    network: malachitebft_app_channel::app::engine::network::NetworkRef<OrdoContext>,
    shared: &Shared,
) -> crate::epochs::Admission {
    let configured = config
        .p2p
        .persistent_peers
        .iter()
        .chain(config.gossip.iter().flat_map(|g| g.peers.iter()))
        .filter_map(|p| crate::epochs::peer_of(p).map(str::to_string))
        .collect();
    crate::epochs::Admission {
        network,
        gossip: shared.gossip.clone(),
        me: keys.peer_id(),
        configured,
    }
}

/// Every epoch's set: the genesis set alone, or the stake table's with where to read it.
fn epochs_of(
    config: &Config,
    genesis: &crate::genesis::LoadedGenesis,
    store: &Store,
) -> Result<
    (
        Arc<crate::epochs::Epochs>,
        Option<crate::epochs::TableSource>,
    ),
    StartError,
> {
    let Some(stake) = &genesis.genesis.stake else {
        let fixed = crate::epochs::Epochs::fixed(genesis.set.clone());
        return Ok((Arc::new(fixed), None));
    };
    // `Genesis::load` checked that `stake` comes with `l1`; `l1_of` that `[l1]` is set.
    let section = config.l1.as_ref().ok_or(StartError::L1Unconfigured)?;
    let epochs = crate::epochs::Epochs::following(stake.epoch_params(), genesis.set.clone(), store)
        .map_err(StartError::Epochs)?;
    let source = crate::epochs::TableSource {
        rpc: section.rpc.clone(),
        table: stake.table_address()?.into(),
        table_block: stake.table_block,
        max_range: section.max_range,
        retry: std::time::Duration::from_millis(section.poll_ms.max(10)),
    };
    info!(table = %stake.table, epoch_length = stake.epoch_length, known = epochs.known(), "epoch.following");
    Ok((Arc::new(epochs), Some(source)))
}

/// The `[da]` section checked and its backend opened, before the node opens anything else.
fn da_of(
    config: &Config,
    genesis: &crate::genesis::LoadedGenesis,
    home: &Home,
    address: ordo_types::Address,
) -> Result<Option<crate::da::Prepared>, StartError> {
    Ok(config
        .da
        .as_ref()
        .map(|s| crate::da::prepare(s, &genesis.genesis, home, address))
        .transpose()
        .map_err(crate::config::ConfigError::Invalid)?)
}

/// The engine's channels and handle, and the fault layer's knob in a chaos build.
type Engine = (
    malachitebft_app_channel::Channels<OrdoContext>,
    EngineHandle,
    Option<ordo_p2p::faults::FaultKnob>,
    malachitebft_app_channel::app::engine::network::NetworkRef<OrdoContext>,
);

/// The consensus engine of this node, with its WAL checked first.
async fn engine_of(
    config: &Config,
    home: &Home,
    keys: &Keys,
    signer: &OrdoSigner,
    ctx: OrdoContext,
    signature_log: Arc<crate::signguard::SignLog>,
    limits: &ordo_types::Limits,
) -> Result<Engine, StartError> {
    // A WAL torn or damaged by a crash must not keep the validator from starting (the guard,
    // not the WAL, prevents double signs): it is kept aside and the engine starts empty.
    crate::wal::recover(&home.wal())?;
    start_engine(
        EngineConfig::new(config, limits)?,
        identity_of(config, keys)?,
        ProtoCodec { limits: *limits },
        &config.testing,
        home,
        signer,
        crate::seam::Double {
            ctx,
            address: ValidatorAddress(keys.address()),
            key: &keys.consensus,
            signature_log,
        },
    )
    .await
}

/// The latest batch stored, if any.
fn latest_decided(store: &Store) -> Result<Option<crate::store::Decided>, StartError> {
    Ok(match store.latest_height()? {
        Some(h) => store.decided(h)?,
        None => None,
    })
}

/// The node's libp2p identity (its node key, apart from the consensus keys).
fn identity_of(config: &Config, keys: &Keys) -> Result<NetworkIdentity, StartError> {
    let keypair = ordo_p2p::node_keypair(*keys.node)?;
    let address = keys.address().to_string();
    Ok(NetworkIdentity::new(
        config.moniker.clone(),
        keypair,
        Some(address),
    ))
}

/// The node's progress at start: its latest stored batch.
fn progress_of(
    config: &Config,
    genesis: &crate::genesis::LoadedGenesis,
    address: ordo_types::Address,
    latest: Option<&crate::store::Decided>,
) -> Progress {
    let latest = latest.map(|d| Latest {
        height: d.batch.header.height,
        hash: d.batch.hash(),
        timestamp_ms: d.batch.header.timestamp_ms,
        tx_count: d.batch.header.tx_count,
    });
    Progress::new(
        config.moniker.clone(),
        address,
        genesis.genesis.chain_id,
        genesis.set.set.len(),
        latest,
    )
}

/// The consensus engine over its network (with the doubles of a chaos build).
async fn start_engine(
    engine_config: EngineConfig,
    identity: NetworkIdentity,
    codec: ProtoCodec,
    testing: &crate::config::TestingSection,
    home: &Home,
    signer: &OrdoSigner,
    double: crate::seam::Double<'_>,
) -> Result<Engine, StartError> {
    let (ctx, me) = (double.ctx, double.address);
    let network = crate::seam::spawn(&engine_config, identity, codec, testing, double).await?;
    let actor = network.actor.clone();
    let (channels, engine) = EngineBuilder::new(ctx, engine_config)
        .with_default_wal(WalContext::new(home.wal(), codec))
        .with_custom_network(network.actor, network.tx)
        .with_default_sync(SyncContext::new(codec))
        .with_default_consensus(ConsensusContext::new_validator(
            me,
            Box::new(OrdoVerifier {
                chain: ctx.chain_id,
            }),
            Box::new(signer.clone()),
        ))
        .with_default_request(RequestContext::new(100))
        .build()
        .await
        .map_err(|e| StartError::actor("the engine", e))?;
    Ok((channels, engine, network.faults, actor))
}

/// The L1 side of a chain with an inbox: the validator's L1 context and the source's task.
fn l1_of(
    config: &Config,
    g: &Genesis,
    home: &Home,
    decided_next: u64,
) -> Result<(Option<crate::app::L1Ctx>, Option<JoinHandle<()>>), StartError> {
    match (&g.l1, &config.l1) {
        (None, _) => Ok((None, None)),
        (Some(_), None) => Err(StartError::L1Unconfigured),
        (Some(lg), Some(section)) => {
            let (ctx, task) = start_l1(lg, section, g, home, decided_next)?;
            Ok((Some(ctx), Some(task)))
        }
    }
}

/// The lagging subscribers of the committed-batch feed: the decision log, and the L1 prune on
/// a chain with an inbox.
fn spawn_subscribers(
    shared: &Shared,
    home: &Home,
    config: &Config,
    l1: Option<&crate::app::L1Ctx>,
    latest_height: u64,
) -> Result<Vec<JoinHandle<()>>, StartError> {
    let (log, log_from) = DecisionLog::open(&home.decision_log(), config.testing.log_tx_ids)?;
    let mut tasks = vec![tokio::spawn(log.run(shared.feed.subscribe(log_from)?))];
    if let Some(l1) = l1 {
        let next = shared
            .feed
            .subscribe(ordo_types::Height(latest_height + 1))?;
        tasks.push(tokio::spawn(prune_l1(l1.reader.clone(), next)));
    }
    Ok(tasks)
}

/// Admits what gossip brings in.
fn spawn_inbound(
    shared: Arc<Shared>,
    mut rx: tokio::sync::mpsc::Receiver<ordo_p2p::gossip::Inbound>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(bundle) = rx.recv().await {
            shared.admit_gossiped(&bundle.txs);
        }
    })
}

/// The gRPC and HTTP APIs on `[rpc] listen`.
async fn serve_rpc(
    config: &Config,
    shared: Arc<Shared>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let addr = config.rpc.listen;
    let listen_err = |source| StartError::RpcListen { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_err)?;
    let rpc_addr = listener.local_addr().map_err(listen_err)?;
    let router = crate::rpc::router(shared);
    let rpc = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((rpc_addr, rpc))
}

/// The L1 prune, a lagging subscriber of the committed-batch feed: what the L1 source keeps
/// in memory and in its cache is forgotten once a decided batch has moved past it.
async fn prune_l1(reader: ordo_da_adapter::l1::L1Reader, mut sub: Subscription) {
    while let Ok(Some(c)) = sub.next().await {
        reader.prune(c.header.forced_cursor.next, c.header.l1_ref.number);
    }
}

fn start_l1(
    lg: &crate::genesis::L1Genesis,
    section: &crate::config::L1Section,
    g: &Genesis,
    home: &Home,
    decided_next: u64,
) -> Result<(crate::app::L1Ctx, JoinHandle<()>), StartError> {
    let bad = ordo_da_adapter::l1::L1Error::Config;
    let ms = std::time::Duration::from_millis;
    let cfg = ordo_da_adapter::l1::L1Config {
        rpc: section.rpc.clone(),
        inbox: lg.inbox_address()?.into(),
        start_block: lg.inbox_block,
        l1_chain_id: Some(lg.l1_chain_id),
        finality: section.finality.parse().map_err(bad)?,
        poll: ms(section.poll_ms.max(10)),
        max_range: section.max_range,
        request_timeout: ms(section.request_timeout_ms.max(100)),
        cap: ordo_da_adapter::l1::Cap {
            entries: section.max_pending_entries.max(1),
            bytes: section
                .max_pending_bytes
                .max(u64::from(g.limits.max_tx_payload)),
        },
        due_after: lg.inclusion_delay.saturating_add(section.ref_margin),
    };
    let (reader, follower) =
        ordo_da_adapter::l1::spawn_source(cfg, g.limits, &home.l1_cache(), decided_next)?;
    info!(inbox = %lg.inbox, rpc = ?section.rpc, "l1.source_started");
    let ctx = crate::app::L1Ctx {
        reader,
        params: lg.forced_params(&g.limits),
        wait: ms(section.wait_ms),
        ref_margin: section.ref_margin,
    };
    Ok((ctx, follower))
}

/// Most clients waiting for ordered acknowledgements at once.
const MAX_WAITERS: usize = 1_000_000;

fn start_gossip(
    section: &crate::config::GossipSection,
    node_secret: [u8; 32],
    g: &crate::genesis::Genesis,
) -> Result<ordo_p2p::gossip::Gossip, StartError> {
    let listen = section
        .listen
        .parse()
        .map_err(|e| StartError::GossipListen {
            addr: section.listen.clone(),
            reason: format!("{e}"),
        })?;
    let peers = section
        .peers
        .iter()
        .map(|p| ordo_p2p::parse_peer(p))
        .collect::<Result<Vec<_>, _>>()?;
    let keypair = ordo_p2p::node_keypair(node_secret)?;
    let config = ordo_p2p::gossip::GossipConfig::new(listen, peers, g.chain_id.0);
    let limits = g.limits;
    let validate: ordo_p2p::gossip::Validate = Arc::new(move |b: &[u8]| {
        // What admission would refuse as malformed is refused here, so its sender pays.
        ordo_types::Transaction::decode(b, &limits).is_ok_and(|t| !t.payload.is_empty())
    });
    Ok(ordo_p2p::gossip::spawn(keypair, config, validate)?)
}
