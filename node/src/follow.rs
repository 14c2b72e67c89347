//! `ordo follow`: a rollup's delivery loop outside any validator. It streams the namespace
//! from a set of ordo nodes through the verifying `ordo-client` stream (certificate against
//! the pinned set, namespace proof, parent chain; failover between nodes), drives the executor,
//! keeps the cursor in its own directory and reports on a small HTTP status page and in log
//! lines. It opens no rocksdb and joins no p2p network.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ordo_client::deliver::{self, Backoff, ClientSource, Cursor, DeliveryStatus};
use ordo_client::{Client, TrustAnchor};
use ordo_exec::ExecutorSpec;
use ordo_types::{ChainId, Hash, Height, Namespace};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;
use tracing::{info, warn};

/// What `ordo follow` is told.
#[derive(Clone, Debug)]
pub struct FollowArgs {
    pub nodes: Vec<String>,
    pub namespace: Namespace,
    pub executor: ExecutorSpec,
    pub anchor: TrustAnchor,
    /// The cursor (and an in-process executor's state).
    pub dir: PathBuf,
    /// Where the status page listens (loopback or a private address).
    pub status_listen: Option<SocketAddr>,
}

#[derive(Debug, Error)]
pub enum FollowError {
    #[error("--nodes: {0}")]
    Nodes(ordo_client::ClientError),
    #[error("--status-listen {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cursor(#[from] deliver::CursorError),
    #[error("delivery stopped: {0}")]
    Stopped(deliver::DeliveryError),
}

/// Parses `<chain id>:<validator set hash>`.
pub fn parse_anchor(s: &str) -> Result<TrustAnchor, String> {
    let (chain, hash) = s
        .split_once(':')
        .ok_or_else(|| format!("--anchor {s:?}: expected <chain id>:<validator set hash>"))?;
    Ok(TrustAnchor {
        chain_id: ChainId(
            chain
                .parse()
                .map_err(|e| format!("--anchor chain id {chain:?}: {e}"))?,
        ),
        validator_set_hash: Hash::from_hex(hash)
            .ok_or_else(|| format!("--anchor hash {hash:?}: expected 64 hex digits"))?,
    })
}

/// Runs the follower until delivery stops for good (a fatal executor error, a conflict) or
/// the process is told to stop.
pub async fn run(args: FollowArgs) -> Result<(), FollowError> {
    let client = Client::new(&args.nodes).map_err(FollowError::Nodes)?;
    let opened = ordo_exec::open(
        &args.executor,
        args.anchor.chain_id,
        args.namespace,
        &args.dir,
    );
    let mut executor = opened.executor;
    let mut cursor = Cursor::open(&args.dir.join("cursor.log"))?;
    let status = DeliveryStatus::new(args.namespace, args.executor.to_string());
    if let Some(addr) = args.status_listen {
        serve_status(addr, status.clone()).await?;
    }
    let set = trusted_set(&client, &args.anchor).await;
    let heads = tokio::spawn(watch_head(
        Client::new(&args.nodes).map_err(FollowError::Nodes)?,
        status.clone(),
    ));
    let reporter = tokio::spawn(report(status.clone()));
    let mut source = ClientSource::new(client, args.anchor.chain_id, set, args.namespace);
    info!(
        namespace = args.namespace.0,
        executor = %args.executor,
        nodes = ?args.nodes,
        "follow.started"
    );
    let e = deliver::run(
        executor.as_mut(),
        &mut source,
        &mut cursor,
        &status,
        Backoff::default(),
    )
    .await;
    heads.abort();
    reporter.abort();
    Err(FollowError::Stopped(e))
}

/// The validator set matching the anchor, asked of the nodes until one offers it.
async fn trusted_set(client: &Client, anchor: &TrustAnchor) -> ordo_types::ValidatorSet {
    let mut pause = Duration::from_millis(200);
    loop {
        match client.validator_set(anchor).await {
            Ok(set) => return set,
            Err(e) => {
                warn!(error = %e, "follow.no_trusted_set");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Keeps the status's head at the highest height any node reports, so lag shows while the
/// executor is slow or down.
async fn watch_head(client: Client, status: DeliveryStatus) {
    loop {
        for i in 0..client.urls().len() {
            if let Some(mut node) = client.node(i)
                && let Ok(r) = node.status(ordo_client::api::StatusRequest {}).await
            {
                status.saw(Height(r.into_inner().height));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A progress line every ten seconds.
async fn report(status: DeliveryStatus) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let s = status.get();
        info!(
            executed = s.executed,
            head = s.head,
            lag = s.lag(),
            last_error = s.last_error.as_ref().map(|(_, e)| e.as_str()),
            "follow.progress"
        );
    }
}

async fn serve_status(addr: SocketAddr, status: DeliveryStatus) -> Result<(), FollowError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| FollowError::Listen { addr, source })?;
    let router = Router::new()
        .route("/status", get(status_page))
        .with_state(status);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(())
}

/// `GET /status`: the executed height, its state root, the head seen, the lag, the last error.
async fn status_page(State(status): State<DeliveryStatus>) -> Json<serde_json::Value> {
    let s = status.get();
    Json(serde_json::json!({
        "namespace": s.namespace.0,
        "executor": s.executor,
        "executed_height": s.executed,
        "available_told": s.available,
        "state_root": format!("0x{}", hex::encode(&s.state_root)),
        "head": s.head,
        "lag": s.lag(),
        "last_error": s.last_error.as_ref().map(|(_, e)| e),
        "last_error_ms": s.last_error.as_ref().map(|(t, _)| t),
        "stopped": s.stopped,
        "txs": s.txs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_or_say_why_not() {
        let h = "ab".repeat(32);
        assert_eq!(
            parse_anchor(&format!("7:0x{h}")),
            Ok(TrustAnchor {
                chain_id: ChainId(7),
                validator_set_hash: Hash([0xab; 32]),
            })
        );
        assert_eq!(
            parse_anchor("7"),
            Err("--anchor \"7\": expected <chain id>:<validator set hash>".into())
        );
        assert_eq!(
            parse_anchor("x:00"),
            Err("--anchor chain id \"x\": invalid digit found in string".into())
        );
        assert_eq!(
            parse_anchor("7:00"),
            Err("--anchor hash \"00\": expected 64 hex digits".into())
        );
    }
}
