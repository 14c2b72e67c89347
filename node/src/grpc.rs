//! The rollup API (gRPC, `proto/ordo/api/v1/sequencer.proto`), served with the HTTP routes on
//! the node's RPC port. docs/API.md describes each call.

use crate::app::Shared;
use crate::app::shared::lock;
use crate::ingress::{Submission, TxState};
use crate::store::Decided;
use ordo_client::api::sequencer_server::{Sequencer, SequencerServer};
use ordo_client::api::{
    AckLevel, Commitment, CommitmentLevel, DaReceipt, GetBatchRequest, GetBatchResponse,
    GetTransactionRequest, GetTransactionResponse, NamespaceSlice, Outcome, StatusRequest,
    StatusResponse, StreamNamespaceRequest, SubmitTxRequest, SubmitTxResponse, TxStatus,
    ValidatorSetRequest, ValidatorSetResponse,
};
use ordo_mempool::Rejection;
use ordo_types::NamespaceTree;
use ordo_types::wire::pb;
use ordo_types::{Hash, Height, Namespace, Transaction, TxId};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::debug;

/// How long an ordered acknowledgement is waited for when the client does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Longest wait a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Ordered acknowledgements one bulk stream may wait for at once; past it, the stream stops
/// reading requests until some are answered (backpressure, not a queue without bound).
const MAX_INFLIGHT_PER_STREAM: usize = 100_000;
/// How often an available-only namespace stream looks at the DA head.
const AVAILABLE_POLL: Duration = Duration::from_millis(200);
/// Responses buffered per stream before the node waits for the client to read.
const STREAM_BUFFER: usize = 4096;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The gRPC service over the node's shared state.
#[derive(Debug, Clone)]
pub struct Api {
    shared: Arc<Shared>,
    recent: Arc<RecentHeights>,
}

/// A decided height as namespace streams need it: decoded once, its tree built once, shared by
/// every stream that reaches it (they all ask for the newest height right after a decision).
#[derive(Debug)]
struct Prepared {
    decided: Decided,
    tree: NamespaceTree,
}

/// The last few prepared heights.
#[derive(Debug, Default)]
struct RecentHeights(Mutex<VecDeque<(u64, Arc<Prepared>)>>);

/// Heights kept prepared.
const PREPARED: usize = 8;

impl RecentHeights {
    fn get(&self, shared: &Shared, height: u64) -> Result<Option<Arc<Prepared>>, Status> {
        if let Some((_, p)) = lock(&self.0).iter().find(|(h, _)| *h == height) {
            return Ok(Some(p.clone()));
        }
        let Some(decided) = shared.store.decided(Height(height)).map_err(internal)? else {
            return Ok(None);
        };
        let tree = decided.batch.namespace_tree();
        let p = Arc::new(Prepared { decided, tree });
        let mut q = lock(&self.0);
        if q.len() >= PREPARED {
            q.pop_front();
        }
        q.push_back((height, p.clone()));
        Ok(Some(p))
    }
}

/// The tonic service, with message limits from the chain's limits.
pub fn service(shared: Arc<Shared>) -> SequencerServer<Api> {
    let max = shared.genesis.genesis.limits.max_message_bytes as usize;
    SequencerServer::new(Api {
        shared,
        recent: Arc::default(),
    })
    .max_decoding_message_size(max)
    .max_encoding_message_size(max)
}

fn outcome_of(r: &Rejection) -> Outcome {
    match r {
        Rejection::Duplicate => Outcome::Duplicate,
        Rejection::AlreadyOrdered => Outcome::AlreadyOrdered,
        Rejection::TooLarge { .. } => Outcome::TooLarge,
        Rejection::Malformed(_) => Outcome::Malformed,
        Rejection::UnknownNamespace(_) => Outcome::UnknownNamespace,
        Rejection::NamespaceOverQuota { .. } => Outcome::NamespaceOverQuota,
        Rejection::PoolFull { .. } => Outcome::PoolFull,
    }
}

/// The status a unary call fails with for an outcome that is not a success.
fn code_of(o: Outcome) -> Code {
    match o {
        Outcome::Malformed | Outcome::UnknownNamespace | Outcome::Unspecified => {
            Code::InvalidArgument
        }
        Outcome::TooLarge => Code::OutOfRange,
        Outcome::NamespaceOverQuota => Code::ResourceExhausted,
        Outcome::PoolFull => Code::Unavailable,
        Outcome::Timeout => Code::DeadlineExceeded,
        Outcome::AlreadyOrdered | Outcome::Duplicate => Code::AlreadyExists,
        Outcome::Accepted | Outcome::Ordered => Code::Ok,
    }
}

/// Admits (and for `ack=ORDERED` waits for) one request; every outcome is an answer.
async fn answer(shared: &Shared, r: SubmitTxRequest) -> SubmitTxResponse {
    let mut resp = SubmitTxResponse {
        seq: r.seq,
        ..SubmitTxResponse::default()
    };
    let tx = Transaction::new(Namespace(r.namespace), r.payload);
    let ordered = r.ack == AckLevel::Ordered as i32;
    let (submission, waited) = if ordered {
        let wait = match r.wait_ms {
            0 => DEFAULT_WAIT,
            ms => Duration::from_millis(u64::from(ms)).min(MAX_WAIT),
        };
        match shared.submit_and_wait(tx.clone(), wait).await {
            Ok((s, w)) => (s, Some(w)),
            Err(_busy) => {
                // Nothing was submitted: the client retries here later, or on another node.
                resp.id = tx.id().0.as_bytes().to_vec().into();
                resp.outcome = Outcome::PoolFull as i32;
                resp.reason =
                    "too many clients wait for ordered acknowledgements on this node; nothing was submitted"
                        .into();
                return resp;
            }
        }
    } else {
        (shared.submit(tx), None)
    };
    let id = match &submission {
        Submission::Accepted(id)
        | Submission::Duplicate(id)
        | Submission::Ordered(id, ..)
        | Submission::Rejected(id, _) => *id,
    };
    resp.id = id.0.as_bytes().to_vec().into();
    match (submission, waited) {
        (Submission::Rejected(_, e), _) => {
            resp.outcome = outcome_of(&e) as i32;
            resp.reason = e.to_string();
        }
        (Submission::Ordered(_, h, i), _) => {
            resp.outcome = Outcome::AlreadyOrdered as i32;
            resp.height = h.0;
            resp.index = i;
        }
        (_, Some(Ok((h, i)))) => {
            resp.outcome = Outcome::Ordered as i32;
            resp.height = h.0;
            resp.index = i;
        }
        (_, Some(Err(_))) => {
            resp.outcome = Outcome::Timeout as i32;
            resp.reason =
                "not ordered within the wait; it may still be (see GetTransaction)".into();
        }
        (Submission::Duplicate(_), None) => resp.outcome = Outcome::Duplicate as i32,
        (Submission::Accepted(_), None) => resp.outcome = Outcome::Accepted as i32,
    }
    resp
}

fn tx_id(bytes: &[u8]) -> Result<TxId, Status> {
    Hash::from_slice(bytes).map(TxId).ok_or_else(|| {
        Status::invalid_argument(format!("a transaction id is 32 bytes, got {}", bytes.len()))
    })
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// The commitment of certified height `h`, as the API sends it.
fn commitment(shared: &Shared, h: u64) -> Commitment {
    match crate::da::level(shared, h) {
        crate::da::Level::Certified => Commitment {
            level: CommitmentLevel::Certified as i32,
            receipt: None,
        },
        crate::da::Level::Available(r) => Commitment {
            level: CommitmentLevel::Available as i32,
            receipt: r.map(|r| {
                let hex32 = |x: &Option<String>| {
                    x.as_deref()
                        .and_then(|v| hex::decode(v.trim_start_matches("0x")).ok())
                        .unwrap_or_default()
                        .into()
                };
                DaReceipt {
                    backend: shared
                        .da
                        .as_ref()
                        .map(|v| {
                            v.lock()
                                .map_or_else(|_| String::new(), |s| s.backend.clone())
                        })
                        .unwrap_or_default(),
                    first_height: r.first,
                    last_height: r.last,
                    l1_block: r.l1_block.unwrap_or(0),
                    l1_block_hash: hex32(&r.l1_block_hash),
                    tx_hash: hex32(&r.tx_hash),
                    file: r.file.unwrap_or_default(),
                }
            }),
        },
    }
}

/// The slice of `namespace` at `height`, if that height is stored.
fn slice_at(
    shared: &Shared,
    recent: &RecentHeights,
    namespace: Namespace,
    height: u64,
) -> Result<Option<NamespaceSlice>, Status> {
    let Some(p) = recent.get(shared, height)? else {
        return Ok(None);
    };
    let d = &p.decided;
    let proof = p.tree.proof(namespace);
    let txs = d
        .batch
        .slice(namespace)
        .iter()
        .map(pb::BatchTx::from)
        .collect();
    Ok(Some(NamespaceSlice {
        header: Some((&d.batch.header).into()),
        certificate: Some((&d.certificate).into()),
        txs,
        proof: Some((&proof).into()),
        commitment: Some(commitment(shared, height)),
    }))
}

#[tonic::async_trait]
impl Sequencer for Api {
    async fn submit_tx(
        &self,
        request: Request<SubmitTxRequest>,
    ) -> Result<Response<SubmitTxResponse>, Status> {
        let resp = answer(&self.shared, request.into_inner()).await;
        let outcome = Outcome::try_from(resp.outcome).unwrap_or(Outcome::Unspecified);
        match code_of(outcome) {
            Code::Ok | Code::AlreadyExists => Ok(Response::new(resp)),
            code => Err(Status::new(code, resp.reason)),
        }
    }

    type SubmitTxStreamStream = BoxStream<SubmitTxResponse>;

    async fn submit_tx_stream(
        &self,
        request: Request<Streaming<SubmitTxRequest>>,
    ) -> Result<Response<Self::SubmitTxStreamStream>, Status> {
        let mut input = request.into_inner();
        let (out, rx) = mpsc::channel(STREAM_BUFFER);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT_PER_STREAM));
            loop {
                let r = match input.message().await {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        debug!(error = %e, "grpc.submit_stream_ended");
                        break;
                    }
                };
                if r.ack == AckLevel::Ordered as i32 {
                    let Ok(permit) = inflight.clone().acquire_owned().await else {
                        break;
                    };
                    let (shared, out) = (shared.clone(), out.clone());
                    tokio::spawn(async move {
                        let resp = answer(&shared, r).await;
                        let _ = out.send(Ok(resp)).await;
                        drop(permit);
                    });
                } else {
                    let resp = answer(&shared, r).await;
                    if out.send(Ok(resp)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_transaction(
        &self,
        request: Request<GetTransactionRequest>,
    ) -> Result<Response<GetTransactionResponse>, Status> {
        let id = tx_id(&request.into_inner().id)?;
        let r = match self.shared.tx_state(&id).map_err(internal)? {
            TxState::Ordered(h, i) => GetTransactionResponse {
                status: TxStatus::Ordered as i32,
                height: h.0,
                index: i,
                commitment: Some(commitment(&self.shared, h.0)),
            },
            TxState::Pending => GetTransactionResponse {
                status: TxStatus::Pending as i32,
                ..GetTransactionResponse::default()
            },
            TxState::Unknown => GetTransactionResponse::default(),
        };
        Ok(Response::new(r))
    }

    async fn get_batch(
        &self,
        request: Request<GetBatchRequest>,
    ) -> Result<Response<GetBatchResponse>, Status> {
        let h = request.into_inner().height;
        match self.shared.store.decided(Height(h)).map_err(internal)? {
            Some(d) => Ok(Response::new(GetBatchResponse {
                batch: Some(d.to_proto()),
                commitment: Some(commitment(&self.shared, h)),
            })),
            None => Err(Status::not_found(format!("no batch at height {h}"))),
        }
    }

    async fn get_certificate(
        &self,
        request: Request<GetBatchRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let h = request.into_inner().height;
        match self.shared.store.certificate(Height(h)).map_err(internal)? {
            Some(c) => Ok(Response::new((&c).into())),
            None => Err(Status::not_found(format!("no batch at height {h}"))),
        }
    }

    type StreamNamespaceStream = BoxStream<NamespaceSlice>;

    async fn stream_namespace(
        &self,
        request: Request<StreamNamespaceRequest>,
    ) -> Result<Response<Self::StreamNamespaceStream>, Status> {
        let r = request.into_inner();
        let namespace = Namespace(r.namespace);
        let mut next = r.from_height.max(1);
        let available_only = match CommitmentLevel::try_from(r.level) {
            Ok(CommitmentLevel::Certified) => false,
            Ok(CommitmentLevel::Available) => true,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "unknown commitment level {}",
                    r.level
                )));
            }
        };
        let earliest = self
            .shared
            .store
            .earliest_height()
            .map_err(internal)?
            .map_or(1, |h| h.0);
        if next < earliest {
            return Err(Status::out_of_range(format!(
                "height {next} is pruned here; the earliest stored is {earliest}"
            )));
        }
        let (shared, recent) = (self.shared.clone(), self.recent.clone());
        let mut heights = shared.heights.subscribe();
        let (out, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let mut latest = *heights.borrow_and_update();
                if available_only {
                    latest = latest.min(crate::da::available_height(&shared));
                }
                while next <= latest {
                    match slice_at(&shared, &recent, namespace, next) {
                        Ok(Some(s)) => {
                            if out.send(Ok(s)).await.is_err() {
                                return;
                            }
                            next += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = out.send(Err(e)).await;
                            return;
                        }
                    }
                }
                if available_only {
                    // The DA head moves on its own clock: look again shortly.
                    tokio::select! {
                        () = tokio::time::sleep(AVAILABLE_POLL) => {}
                        () = out.closed() => return,
                    }
                    continue;
                }
                tokio::select! {
                    changed = heights.changed() => if changed.is_err() { return },
                    () = out.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let st = self.shared.status_now();
        let latest = st.latest;
        Ok(Response::new(StatusResponse {
            address: st.address.0.to_vec().into(),
            chain_id: st.chain_id.0,
            height: st.height().0,
            round: st.round.0,
            latest_hash: latest.map(|l| l.hash.0.to_vec()).unwrap_or_default().into(),
            latest_timestamp_ms: latest.map_or(0, |l| l.timestamp_ms),
            pool_size: st.pool_size as u64,
            validators: st.validators as u32,
            moniker: st.moniker,
            available_height: crate::da::available_height(&self.shared),
        }))
    }

    async fn validator_set(
        &self,
        request: Request<ValidatorSetRequest>,
    ) -> Result<Response<ValidatorSetResponse>, Status> {
        let (epoch, set) = self
            .shared
            .epoch_set(request.into_inner().epoch)
            .map_err(Status::not_found)?;
        Ok(Response::new(ValidatorSetResponse {
            chain_id: self.shared.genesis.genesis.chain_id.0,
            validator_set: Some(set.set.as_ref().into()),
            validator_set_hash: set.set.hash().0.to_vec().into(),
            epoch: epoch.0,
            epoch_length: self.shared.epochs.params().map_or(0, |p| p.epoch_length),
        }))
    }
}
