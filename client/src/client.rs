//! Talking to several nodes: submission with retries and failover, a verified namespace stream.

use crate::api::CommitmentLevel;
use crate::api::sequencer_client::SequencerClient;
use crate::api::{
    AckLevel, GetBatchRequest, NamespaceSlice, Outcome, StreamNamespaceRequest, SubmitTxRequest,
    SubmitTxResponse, ValidatorSetRequest,
};
use crate::deliver::Commitment;
use crate::verify::{SliceVerifier, VerifiedSlice, VerifyError, vouched_next_set};
use futures::Stream;
use ordo_types::{
    BatchHeader, Certificate, ChainId, Epoch, Hash, Height, Limits, Namespace, TxId, ValidatorSet,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracing::{debug, warn};

/// How far a submission must get before [`Client::submit`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Admitted to a node's pool and handed to gossip.
    Accepted,
    /// In a certified batch, stored on the answering node's disk.
    Ordered,
}

/// A successful submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub id: TxId,
    /// `(height, index)` when ordered.
    pub position: Option<(Height, u32)>,
    /// The node that answered.
    pub node: String,
    /// The transaction was already in that node's pool (an earlier attempt got through).
    pub duplicate: bool,
}

/// What a rollup pins to trust a stream: the chain and the hash of its validator set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    pub chain_id: ChainId,
    pub validator_set_hash: Hash,
}

/// Why the client gave up.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no node addresses given")]
    NoNodes,
    #[error("node address {0:?}: {1}")]
    BadUrl(String, String),
    /// A node refused the request for a reason retrying elsewhere would not change.
    #[error("{node} refused it ({code:?}): {reason}")]
    Rejected {
        node: String,
        code: Code,
        reason: String,
    },
    /// Every attempt failed for a reason that might pass later (down, pool full, quota, timeout).
    #[error("gave up after {attempts} attempts; last: {last}")]
    Exhausted { attempts: usize, last: String },
    #[error("no node offers a validator set matching the trust anchor; last: {0}")]
    NoTrustedSet(String),
    #[error("{0}")]
    Malformed(String),
}

/// A client of several ordo nodes.
#[derive(Debug)]
pub struct Client {
    nodes: Vec<(String, SequencerClient<Channel>)>,
    next: AtomicUsize,
    /// Attempts per submission, across nodes.
    pub attempts: usize,
    /// Pause before retrying after every node was tried once, doubled each round.
    pub backoff: Duration,
    /// Limits for decoding what nodes send.
    pub limits: Limits,
}

/// Largest message the client accepts from a node: one batch of the default limits and framing.
const MAX_DECODE: usize = 64 * 1024 * 1024;

impl Client {
    /// A client of the nodes at `urls` (`http://host:port`). Connections open lazily, so a node
    /// that is down now is simply tried later.
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Client, ClientError> {
        if urls.is_empty() {
            return Err(ClientError::NoNodes);
        }
        let mut nodes = Vec::with_capacity(urls.len());
        for u in urls {
            let u = u.as_ref().to_string();
            let url = if u.contains("://") {
                u.clone()
            } else {
                format!("http://{u}")
            };
            let ep = Endpoint::from_shared(url.clone())
                .map_err(|e| ClientError::BadUrl(u.clone(), e.to_string()))?
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10));
            let c = SequencerClient::new(ep.connect_lazy())
                .max_decoding_message_size(MAX_DECODE)
                .max_encoding_message_size(MAX_DECODE);
            nodes.push((url, c));
        }
        Ok(Client {
            nodes,
            next: AtomicUsize::new(0),
            attempts: 3 * urls.len().max(2),
            backoff: Duration::from_millis(100),
            limits: Limits::default(),
        })
    }

    /// The raw gRPC stub of node `i`.
    pub fn node(&self, i: usize) -> Option<SequencerClient<Channel>> {
        self.nodes.get(i).map(|(_, c)| c.clone())
    }

    /// The node addresses, in the order given.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|(u, _)| u.clone()).collect()
    }

    fn pick(&self, attempt: usize, start: usize) -> Option<&(String, SequencerClient<Channel>)> {
        self.nodes.get((start + attempt) % self.nodes.len())
    }

    /// Submits `payload` for `namespace`, trying the nodes in turn. Returns when a node
    /// acknowledges at `ack`; a refusal no retry can change (malformed, too large, unknown
    /// namespace) returns at once.
    pub async fn submit(
        &self,
        namespace: Namespace,
        payload: Vec<u8>,
        ack: Ack,
    ) -> Result<Submitted, ClientError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let req = SubmitTxRequest {
            namespace: namespace.0,
            payload: payload.into(),
            ack: match ack {
                Ack::Accepted => AckLevel::Accepted,
                Ack::Ordered => AckLevel::Ordered,
            } as i32,
            wait_ms: 0,
            seq: 0,
        };
        let mut last = String::new();
        let mut pause = self.backoff;
        for attempt in 0..self.attempts {
            if attempt > 0 && attempt % self.nodes.len() == 0 {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            let Some((url, stub)) = self.pick(attempt, start) else {
                return Err(ClientError::NoNodes);
            };
            match stub.clone().submit_tx(req.clone()).await {
                Ok(r) => return submitted(url, r.into_inner()),
                Err(s) if retryable(&s) => {
                    debug!(node = %url, code = ?s.code(), reason = s.message(), "submit.retry");
                    last = format!("{url}: {:?}: {}", s.code(), s.message());
                }
                Err(s) => {
                    return Err(ClientError::Rejected {
                        node: url.clone(),
                        code: s.code(),
                        reason: s.message().to_string(),
                    });
                }
            }
        }
        Err(ClientError::Exhausted {
            attempts: self.attempts,
            last,
        })
    }

    /// The highest DA head (every height up to it available) the nodes report in `Status`, or
    /// `None` when none answers.
    pub async fn available_height(&self) -> Option<u64> {
        let mut best = None;
        for (_, stub) in &self.nodes {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                stub.clone().status(crate::api::StatusRequest {}),
            )
            .await;
            if let Ok(Ok(r)) = r {
                let h = r.into_inner().available_height;
                best = Some(best.map_or(h, |b: u64| b.max(h)));
            }
        }
        best
    }

    /// Fetches the genesis (epoch 0) validator set from the nodes and keeps the first whose
    /// chain and hash match `anchor`; a node offering another set is skipped.
    pub async fn validator_set(&self, anchor: &TrustAnchor) -> Result<ValidatorSet, ClientError> {
        let mut last = String::from("no node answered");
        for (url, stub) in &self.nodes {
            let r = match stub
                .clone()
                .validator_set(ValidatorSetRequest { epoch: Some(0) })
                .await
            {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    last = format!("{url}: {}", s.message());
                    continue;
                }
            };
            let set = match r
                .validator_set
                .map(|s| ValidatorSet::from_proto(s, &self.limits))
            {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    last = format!("{url}: {e}");
                    continue;
                }
                None => {
                    last = format!("{url}: no validator set in the answer");
                    continue;
                }
            };
            if ChainId(r.chain_id) == anchor.chain_id && set.hash() == anchor.validator_set_hash {
                return Ok(set);
            }
            warn!(node = %url, "client.untrusted_validator_set");
            last = format!("{url}: chain or validator set does not match the anchor");
        }
        Err(ClientError::NoTrustedSet(last))
    }

    /// A verifier of `namespace` from height `from`, anchored on the genesis set `anchor`
    /// names, for a stream that starts past the anchor's epochs. The set of `from`'s epoch is
    /// reached by a walk over one certified header per earlier epoch (its last height), each
    /// checked against its epoch's set and vouching for the next one, which is fetched from any
    /// node and taken only if it hashes to what the header names. No node is trusted: one that
    /// sends a wrong header or set only makes the walk try the next node. The epoch length is
    /// taken from the first node that answers; a wrong one cannot make a wrong set accepted,
    /// but fails the walk (left as found: it could be asked of each node in turn). On a
    /// chain without a stake table (epoch length 0) the anchor's set signs every height.
    pub async fn verifier_from(
        &self,
        anchor: &TrustAnchor,
        namespace: Namespace,
        from: Height,
    ) -> Result<SliceVerifier, ClientError> {
        let mut set = self.validator_set(anchor).await?;
        let chain = anchor.chain_id;
        let epoch_length = self.epoch_length().await?;
        // 0 on a static chain: no epoch to walk.
        let target = from.0.max(1).saturating_sub(1).checked_div(epoch_length);
        for e in 0..target.unwrap_or(0) {
            set = self
                .walk_epoch(chain, Epoch(e), set, (e + 1) * epoch_length)
                .await?;
        }
        Ok(SliceVerifier::new(chain, set, namespace, from, self.limits))
    }

    /// Heights per epoch, as the first node that answers says.
    async fn epoch_length(&self) -> Result<u64, ClientError> {
        let mut last = String::from("no node answered");
        for (url, stub) in &self.nodes {
            match stub
                .clone()
                .validator_set(ValidatorSetRequest { epoch: Some(0) })
                .await
            {
                Ok(r) => return Ok(r.into_inner().epoch_length),
                Err(s) => last = format!("{url}: {}", s.message()),
            }
        }
        Err(ClientError::Exhausted {
            attempts: self.nodes.len(),
            last,
        })
    }

    /// One step of [`Client::verifier_from`]: the header at `height`, of `epoch` and certified
    /// by `set`, and the next epoch's set it vouches for, from the first node that gives both.
    async fn walk_epoch(
        &self,
        chain: ChainId,
        epoch: Epoch,
        set: ValidatorSet,
        height: u64,
    ) -> Result<ValidatorSet, ClientError> {
        let mut last = String::from("no node answered");
        for (url, stub) in &self.nodes {
            let step = async {
                let (header, certificate) = certified_header(stub, height, &self.limits).await?;
                let next = vouched_next_set(chain, epoch, &set, &header, &certificate)
                    .map_err(|e| format!("height {height}: {e}"))?;
                if next == set.hash() {
                    return Ok(set.clone());
                }
                let next_epoch = Epoch(epoch.0 + 1);
                fetch_set(stub, next_epoch, next, &self.limits)
                    .await
                    .map_err(|e| format!("the set of epoch {}: {e}", next_epoch.0))
            };
            match step.await {
                Ok(next) => return Ok(next),
                Err(e) => {
                    warn!(node = %url, error = %e, "client.epoch_walk");
                    last = format!("{url}: {e}");
                }
            }
        }
        Err(ClientError::NoTrustedSet(format!(
            "no node vouched for the set after epoch {}; last: {last}",
            epoch.0
        )))
    }

    /// The namespace's slice of every batch from `from` on, each item verified by a
    /// [`SliceVerifier`] before it is yielded. The stream follows the chain's head forever:
    /// on a dropped connection, a node that falls silent, or an item that fails verification,
    /// it moves to the next node and asks again from the first height not yet verified. Each
    /// such event is yielded as an `Err` (so the rollup can log it), and the stream goes on.
    pub fn stream_namespace(
        &self,
        verifier: SliceVerifier,
    ) -> impl Stream<Item = Result<VerifiedSlice, StreamEvent>> + use<> {
        self.stream_namespace_at(verifier, Commitment::Certified)
    }

    /// As [`Client::stream_namespace`], at commitment `level`: with
    /// [`Commitment::Available`] only heights the nodes report available on the DA layer are
    /// sent (firm), following the DA head instead of the chain's.
    pub fn stream_namespace_at(
        &self,
        verifier: SliceVerifier,
        level: Commitment,
    ) -> impl Stream<Item = Result<VerifiedSlice, StreamEvent>> + use<> {
        let (tx, rx) = mpsc::channel(64);
        let nodes = self.nodes.clone();
        let backoff = self.backoff;
        tokio::spawn(follow(nodes, verifier, backoff, tx, level));
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// Something that went wrong on a stream; the stream carries on with another node.
#[derive(Debug, Error)]
pub enum StreamEvent {
    #[error("{node} sent an item that failed verification at height {height}: {error}")]
    Rejected {
        node: String,
        height: Height,
        error: VerifyError,
    },
    #[error("{node}: {reason}")]
    NodeFailed { node: String, reason: String },
}

/// A node that sends nothing for this long while the stream waits is given up for another.
const SILENCE: Duration = Duration::from_secs(30);

async fn follow(
    nodes: Vec<(String, SequencerClient<Channel>)>,
    mut verifier: SliceVerifier,
    backoff: Duration,
    out: mpsc::Sender<Result<VerifiedSlice, StreamEvent>>,
    level: Commitment,
) {
    let n = nodes.len();
    let mut i = 0usize;
    let mut failures_in_a_row = 0usize;
    loop {
        let Some((url, stub)) = nodes.get(i % n) else {
            return;
        };
        let req = StreamNamespaceRequest {
            namespace: verifier.namespace().0,
            from_height: verifier.next_height().0,
            level: match level {
                Commitment::Certified => CommitmentLevel::Certified as i32,
                Commitment::Available => CommitmentLevel::Available as i32,
            },
        };
        let event = match stub.clone().stream_namespace(req).await {
            Err(s) => StreamEvent::NodeFailed {
                node: url.clone(),
                reason: format!("{:?}: {}", s.code(), s.message()),
            },
            Ok(r) => {
                let mut stream = r.into_inner();
                loop {
                    let item: Option<Result<NamespaceSlice, Status>> =
                        match tokio::time::timeout(SILENCE, stream.message()).await {
                            Ok(Ok(Some(m))) => Some(Ok(m)),
                            Ok(Ok(None)) => None,
                            Ok(Err(s)) => Some(Err(s)),
                            Err(_) => {
                                break StreamEvent::NodeFailed {
                                    node: url.clone(),
                                    reason: format!("silent for {SILENCE:?}"),
                                };
                            }
                        };
                    match item {
                        None => {
                            break StreamEvent::NodeFailed {
                                node: url.clone(),
                                reason: "stream ended".into(),
                            };
                        }
                        Some(Err(s)) => {
                            break StreamEvent::NodeFailed {
                                node: url.clone(),
                                reason: format!("{:?}: {}", s.code(), s.message()),
                            };
                        }
                        Some(Ok(item)) => {
                            let height = verifier.next_height();
                            if let Some((epoch, hash)) = verifier.set_needed(&item) {
                                let entered = fetch_set(stub, epoch, hash, verifier.limits())
                                    .await
                                    .and_then(|set| {
                                        verifier.enter_epoch(set).map_err(|e| e.to_string())
                                    });
                                if let Err(reason) = entered {
                                    break StreamEvent::NodeFailed {
                                        node: url.clone(),
                                        reason: format!("the set of epoch {}: {reason}", epoch.0),
                                    };
                                }
                            }
                            match verifier.verify(item) {
                                Ok(v) => {
                                    failures_in_a_row = 0;
                                    if out.send(Ok(v)).await.is_err() {
                                        return;
                                    }
                                }
                                Err(error) => {
                                    break StreamEvent::Rejected {
                                        node: url.clone(),
                                        height,
                                        error,
                                    };
                                }
                            }
                        }
                    }
                }
            }
        };
        warn!(%event, "client.stream_switch");
        if out.send(Err(event)).await.is_err() {
            return;
        }
        i += 1;
        failures_in_a_row += 1;
        if failures_in_a_row >= n {
            let pause = backoff * (failures_in_a_row / n).min(50) as u32;
            tokio::time::sleep(pause).await;
        }
    }
}

/// The set of `epoch` from the node behind `stub`, which must hash to `hash`.
async fn fetch_set(
    stub: &SequencerClient<Channel>,
    epoch: ordo_types::Epoch,
    hash: Hash,
    limits: &Limits,
) -> Result<ValidatorSet, String> {
    let r = stub
        .clone()
        .validator_set(ValidatorSetRequest {
            epoch: Some(epoch.0),
        })
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    let set = r.validator_set.ok_or("no validator set in the answer")?;
    let set = ValidatorSet::from_proto(set, limits).map_err(|e| e.to_string())?;
    if set.hash() != hash {
        return Err(format!("the node sent set {}, not {hash}", set.hash()));
    }
    Ok(set)
}

/// The header and certificate of `height` from the node behind `stub` (the body is not
/// decoded).
async fn certified_header(
    stub: &SequencerClient<Channel>,
    height: u64,
    limits: &Limits,
) -> Result<(BatchHeader, Certificate), String> {
    let r = stub
        .clone()
        .get_batch(GetBatchRequest { height })
        .await
        .map_err(|s| format!("height {height}: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    let b = r.batch.ok_or("no batch in the answer")?;
    let header = b
        .batch
        .and_then(|b| b.header)
        .ok_or("no header in the answer")?;
    let header = BatchHeader::try_from(header).map_err(|e| e.to_string())?;
    let certificate = b.certificate.ok_or("no certificate in the answer")?;
    let certificate = Certificate::from_proto(certificate, limits).map_err(|e| e.to_string())?;
    Ok((header, certificate))
}

/// Worth trying again, here or on another node.
fn retryable(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::Aborted
    )
}

fn submitted(url: &str, r: SubmitTxResponse) -> Result<Submitted, ClientError> {
    let id = Hash::from_slice(&r.id).map(TxId).ok_or_else(|| {
        ClientError::Malformed(format!("{url}: transaction id of {} bytes", r.id.len()))
    })?;
    let outcome = Outcome::try_from(r.outcome).unwrap_or(Outcome::Unspecified);
    let position = match outcome {
        Outcome::Ordered | Outcome::AlreadyOrdered => Some((Height(r.height), r.index)),
        _ => None,
    };
    match outcome {
        Outcome::Accepted | Outcome::Ordered | Outcome::Duplicate | Outcome::AlreadyOrdered => {
            Ok(Submitted {
                id,
                position,
                node: url.to_string(),
                duplicate: outcome == Outcome::Duplicate,
            })
        }
        other => Err(ClientError::Malformed(format!(
            "{url}: unexpected outcome {other:?} in a successful answer: {}",
            r.reason
        ))),
    }
}
