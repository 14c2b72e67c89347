//! The node's HTTP API (JSON), for humans, probes and scripts. It shares the RPC port with the
//! gRPC rollup API ([`crate::grpc`]): requests with `content-type: application/grpc` go there.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/health` | 200 once consensus runs, 503 before |
//! | GET | `/status`, `/v1/status` | height, round, latest hash, pool size, gossip counters |
//! | POST | `/v1/tx` | `{"namespace": n, "payload": "0x…"}` → `{"id": …, "status": "accepted" or "duplicate"}`; 400 malformed or unknown namespace, 409 already ordered (with its position), 413 too large, 429 namespace over quota, 503 pool full |
//! | GET | `/v1/tx/{id}` | `{"status": "ordered", "height", "index", "commitment"}`, `{"status": "pending"}` (in this node's pool) or 404 |
//! | GET | `/v1/batch/{height}` | the batch, its transactions, its certificate and its commitment (`certified`, or `available` with the DA receipt), or 404 |
//! | GET | `/v1/batch/{height}/raw` | `{"certified_batch": "0x…"}`: protobuf `ordo.v1.CertifiedBatch`, to verify |
//! | GET | `/v1/validators` | the validator set and its hash |
//! | GET, POST | `/testing/net-faults` | the fault layer's settings and counters; POST `{"delay_ms", "jitter_ms", "duplicate_percent", "reorder_percent"}` (all optional, absent = 0; `?seed=` reseeds) replaces them; 404 in a build without `--features ordo-node/chaos` |

use crate::app::Shared;
use crate::ingress::{Submission, TxState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ordo_mempool::Rejection;
use ordo_types::tx::{BatchTx, Transaction};
use ordo_types::{Hash, Height, Namespace, TxId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<Shared>>;

fn error(code: StatusCode, reason: impl ToString) -> Response {
    (code, Json(json!({ "error": reason.to_string() }))).into_response()
}

/// The HTTP routes and the gRPC service over the node's shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    let grpc = tonic::service::Routes::new(crate::grpc::service(shared.clone())).into_axum_router();
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/v1/status", get(status))
        .route("/v1/tx", post(submit))
        .route("/v1/tx/{id}", get(tx_status))
        .route("/v1/batch/{height}", get(batch))
        .route("/v1/batch/{height}/raw", get(batch_raw))
        .route("/v1/validators", get(validators))
        .route("/v1/rollup/{namespace}", get(rollup))
        .route("/v1/rollup/{namespace}/kv/{key}", get(rollup_kv))
        .route("/testing/net-faults", get(net_faults).post(set_net_faults))
        .with_state(shared)
        .merge(grpc)
}

async fn health(State(s): S) -> Response {
    if s.ready.load(std::sync::atomic::Ordering::Relaxed) {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "consensus has not started")
    }
}

async fn status(State(s): S) -> Response {
    let mut v = s.status_now().to_json();
    if let (Some(g), Some(obj)) = (&s.gossip, v.as_object_mut()) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &g.stats;
        obj.insert(
            "gossip".into(),
            json!({
                "peers": c.peers_connected.load(Relaxed),
                "bundles_sent": c.bundles_sent.load(Relaxed),
                "txs_sent": c.txs_sent.load(Relaxed),
                "bundles_received": c.bundles_received.load(Relaxed),
                "txs_received": c.txs_received.load(Relaxed),
                "bundles_rejected": c.bundles_rejected.load(Relaxed),
                "outbound_dropped": c.outbound_dropped.load(Relaxed),
                "inbound_dropped": c.inbound_dropped.load(Relaxed),
            }),
        );
    }
    if let (Some(l1), Some(obj)) = (&s.l1, v.as_object_mut()) {
        let st = l1.status();
        obj.insert(
            "l1".into(),
            json!({
                "read_to": st.read_to.map(|r| r.number),
                "read_to_hash": st.read_to.map(|r| r.hash.to_string()),
                "next_index": st.next_index,
                "pending_entries": st.pending_entries,
                "pending_bytes": st.pending_bytes,
                "paused": st.paused,
                "endpoint": st.endpoint,
                "last_error": st.last_error,
                "halted": st.halted,
            }),
        );
    }
    if let (Some(da), Some(obj)) = (&s.da, v.as_object_mut()) {
        let st = da.lock().map(|d| d.clone()).unwrap_or_default();
        let height = s.status_now().height().0;
        let mut j = json!(st);
        if let Some(o) = j.as_object_mut() {
            o.insert(
                "backlog".into(),
                json!(height.saturating_sub(st.available_height)),
            );
        }
        obj.insert("da".into(), j);
    }
    if let (false, Some(obj)) = (s.rollups.is_empty(), v.as_object_mut()) {
        let height = s.status_now().height().0;
        obj.insert(
            "rollups".into(),
            crate::rollups::status_json(&s.rollups, height),
        );
    }
    Json(v).into_response()
}

fn rollup_view(s: &Shared, namespace: u64) -> Option<&crate::rollups::RollupView> {
    s.rollups.iter().find(|r| r.namespace.0 == namespace)
}

fn no_rollup(namespace: u64) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("this node executes no rollup of namespace {namespace}"),
    )
}

/// `GET /v1/rollup/{namespace}`: what this node's executor of the namespace has executed.
async fn rollup(State(s): S, Path(namespace): Path<u64>) -> Response {
    let Some(view) = rollup_view(&s, namespace) else {
        return no_rollup(namespace);
    };
    let height = s.status_now().height().0;
    let mut v = crate::rollups::status_json(std::slice::from_ref(view), height);
    let mut one = v.as_array_mut().and_then(|a| a.pop()).unwrap_or_default();
    if let (Some(l), Some(obj)) = (&view.ledger, one.as_object_mut()) {
        let (h, root, keys, txs) = l.summary();
        obj.insert(
            "ledger".into(),
            json!({ "height": h, "root": format!("0x{}", hex::encode(root)), "keys": keys, "txs": txs }),
        );
    }
    Json(one).into_response()
}

/// `GET /v1/rollup/{namespace}/kv/{key}`: a key of the builtin ledger (the key as UTF-8, or
/// `0x`-prefixed hex).
async fn rollup_kv(State(s): S, Path((namespace, key)): Path<(u64, String)>) -> Response {
    let Some(view) = rollup_view(&s, namespace) else {
        return no_rollup(namespace);
    };
    let Some(ledger) = &view.ledger else {
        return error(
            StatusCode::NOT_FOUND,
            format!("namespace {namespace}'s executor is not the builtin ledger"),
        );
    };
    let raw = match key.strip_prefix("0x").map(hex::decode) {
        Some(Ok(b)) => b,
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("key {key:?}: {e}")),
        None => key.clone().into_bytes(),
    };
    let (height, ..) = ledger.summary();
    match ledger.get(&raw) {
        Some(value) => Json(json!({
            "key": key,
            "value": String::from_utf8(value.clone()).unwrap_or_else(|_| format!("0x{}", hex::encode(&value))),
            "height": height,
        }))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no key {key:?} at height {height}"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitTx {
    namespace: u64,
    payload: String,
}

async fn submit(
    State(s): S,
    body: Result<Json<SubmitTx>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(req)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"namespace\": u64, \"payload\": \"0x<hex>\"}",
        );
    };
    let Ok(payload) = hex::decode(req.payload.trim_start_matches("0x")) else {
        return error(StatusCode::BAD_REQUEST, "payload is not hex");
    };
    let tx = Transaction::new(Namespace(req.namespace), payload);
    match s.submit(tx) {
        Submission::Accepted(id) => {
            Json(json!({ "id": id.to_string(), "status": "accepted" })).into_response()
        }
        Submission::Duplicate(id) => {
            Json(json!({ "id": id.to_string(), "status": "duplicate" })).into_response()
        }
        Submission::Ordered(id, h, i) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "already ordered", "id": id.to_string(), "height": h.0, "index": i})),
        )
            .into_response(),
        Submission::Rejected(_, e) => match e {
            Rejection::Duplicate | Rejection::AlreadyOrdered => error(StatusCode::CONFLICT, e),
            Rejection::TooLarge { .. } => error(StatusCode::PAYLOAD_TOO_LARGE, e),
            Rejection::Malformed(_) | Rejection::UnknownNamespace(_) => {
                error(StatusCode::BAD_REQUEST, e)
            }
            Rejection::NamespaceOverQuota { .. } => error(StatusCode::TOO_MANY_REQUESTS, e),
            Rejection::PoolFull { .. } => error(StatusCode::SERVICE_UNAVAILABLE, e),
        },
    }
}

async fn tx_status(State(s): S, Path(id): Path<String>) -> Response {
    let Some(id) = Hash::from_hex(&id).map(TxId) else {
        return error(StatusCode::BAD_REQUEST, "a transaction id is 64 hex digits");
    };
    match s.tx_state(&id) {
        Ok(TxState::Ordered(h, i)) => Json(
            json!({"id": id.to_string(), "status": "ordered", "height": h.0, "index": i,
                "commitment": commitment_json(&s, h.0)}),
        )
        .into_response(),
        Ok(TxState::Pending) => {
            Json(json!({"id": id.to_string(), "status": "pending"})).into_response()
        }
        Ok(TxState::Unknown) => error(StatusCode::NOT_FOUND, "unknown to this node"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `{"level": "certified"}` or `{"level": "available", "receipt": {…}}` (docs/API.md).
fn commitment_json(s: &crate::app::Shared, h: u64) -> Value {
    match crate::da::level(s, h) {
        crate::da::Level::Certified => json!({"level": "certified"}),
        crate::da::Level::Available(r) => json!({"level": "available", "receipt": r}),
    }
}

fn tx_json(t: &BatchTx) -> Value {
    json!({
        "id": t.id().to_string(),
        "namespace": t.namespace().0,
        "forced": t.is_forced(),
        "payload": format!("0x{}", hex::encode(t.payload())),
    })
}

async fn batch(State(s): S, Path(height): Path<u64>) -> Response {
    match s.store.decided(Height(height)) {
        Ok(Some(d)) => Json(json!({
            "height": height,
            "hash": d.batch.hash().to_string(),
            "header": d.batch.header,
            "header_bytes": format!("0x{}", hex::encode(d.batch.header.to_bytes())),
            "txs": d.batch.txs.iter().map(tx_json).collect::<Vec<_>>(),
            "commitment": commitment_json(&s, height),
            "certificate": {
                "height": d.certificate.height.0,
                "round": d.certificate.round.0,
                "batch_hash": d.certificate.batch_hash.to_string(),
                "signers": format!("0x{}", hex::encode(&d.certificate.signers.0)),
                "signature": d.certificate.signature.to_string(),
                "encoded": format!("0x{}", hex::encode(d.certificate.encode())),
            },
        }))
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no batch at height {height}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn batch_raw(State(s): S, Path(height): Path<u64>) -> Response {
    match s.store.decided(Height(height)) {
        Ok(Some(d)) => {
            let bytes = prost::Message::encode_to_vec(&d.to_proto());
            Json(
                json!({ "height": height, "certified_batch": format!("0x{}", hex::encode(bytes)) }),
            )
            .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no batch at height {height}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize)]
struct EpochQuery {
    epoch: Option<u64>,
}

async fn validators(State(s): S, Query(q): Query<EpochQuery>) -> Response {
    match s.epoch_set(q.epoch) {
        Ok((epoch, set)) => Json(json!({
            "chain_id": s.genesis.genesis.chain_id.0,
            "epoch": epoch.0,
            "epoch_length": s.epochs.params().map_or(0, |p| p.epoch_length),
            "validator_set_hash": set.set.hash().to_string(),
            "validators": set.set.validators(),
        }))
        .into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

fn no_fault_layer() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this node has no fault layer: build ordo with `--features ordo-node/chaos`",
    )
}

fn net_faults_json(knob: &ordo_p2p::faults::FaultKnob) -> Value {
    let (f, stats) = knob.get();
    let mut v = serde_json::to_value(f).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "stats".into(),
            json!({
                "delayed": stats.delayed,
                "duplicated": stats.duplicated,
                "reordered": stats.reordered,
                "held": stats.held,
                "overflowed": stats.overflowed,
            }),
        );
    }
    v
}

async fn net_faults(State(s): S) -> Response {
    match &s.net_faults {
        Some(knob) => Json(net_faults_json(knob)).into_response(),
        None => no_fault_layer(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedQuery {
    seed: Option<u64>,
}

async fn set_net_faults(
    State(s): S,
    query: Result<axum::extract::Query<SeedQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<ordo_p2p::faults::NetFaults>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(knob) = &s.net_faults else {
        return no_fault_layer();
    };
    let (Ok(axum::extract::Query(q)), Ok(Json(faults))) = (query, body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected ?seed=<u64> (optional) and {\"delay_ms\", \"jitter_ms\", \"duplicate_percent\", \"reorder_percent\"} (each optional)",
        );
    };
    match knob.set(faults, q.seed) {
        Ok(()) => {
            tracing::warn!(?faults, "testing.net_faults");
            Json(net_faults_json(knob)).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}
