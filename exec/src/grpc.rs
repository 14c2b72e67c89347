//! `grpc://`: ordo's execution API (`proto/ordo/exec/v1/executor.proto`), served by the
//! rollup in any language. `ExecutedHeight` is the resume point; `ExecuteSlice` carries the
//! certified header, its certificate and the namespace's transactions, and answers the state
//! root once the height is durable on the rollup's side. `Commitment(AVAILABLE)` says every
//! height up to the one named is available on the DA layer, as the DA head moves.
//!
//! Status codes: `FAILED_PRECONDITION` (not the next height), `UNAVAILABLE`, `ABORTED`,
//! `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN` and `CANCELLED` are
//! [`ExecError::Retry`]; any other code is [`ExecError::Fatal`].

use async_trait::async_trait;
use ordo_client::deliver::{Commitment, ExecError, Executed, Executor, Slice};
use ordo_client::exec_api::executor_client::ExecutorClient;
use ordo_client::exec_api::{
    CommitmentLevel, CommitmentRequest, ExecuteSliceRequest, ExecutedHeightRequest,
};
use ordo_types::{Hash, Height, Namespace};
use std::time::Duration;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tracing::info;

/// Largest message sent to or accepted from an executor: one batch of the default limits.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// A rollup serving the execution API.
#[derive(Debug)]
pub struct GrpcExecutor {
    addr: String,
    namespace: Namespace,
    client: Option<ExecutorClient<Channel>>,
    /// The executor answered `Commitment` with `UNIMPLEMENTED`.
    no_commitments: bool,
}

impl GrpcExecutor {
    /// The executor at `addr` (`host:port`) of `namespace`.
    pub fn new(addr: String, namespace: Namespace) -> GrpcExecutor {
        GrpcExecutor {
            addr,
            namespace,
            client: None,
            no_commitments: false,
        }
    }

    fn client(&mut self) -> Result<ExecutorClient<Channel>, ExecError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let ep = Endpoint::from_shared(format!("http://{}", self.addr))
            .map_err(|e| ExecError::Fatal(format!("grpc://{}: {e}", self.addr)))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let c = ExecutorClient::new(ep.connect_lazy())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(self.client.insert(c).clone())
    }

    fn failed(&mut self, call: &str, s: &tonic::Status) -> ExecError {
        let why = format!("{call}: {:?}: {}", s.code(), s.message());
        match s.code() {
            Code::FailedPrecondition
            | Code::Unavailable
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Internal
            | Code::Unknown
            | Code::Cancelled => {
                self.client = None;
                ExecError::Retry(why)
            }
            _ => ExecError::Fatal(why),
        }
    }
}

#[async_trait]
impl Executor for GrpcExecutor {
    fn describe(&self) -> String {
        format!("grpc://{}", self.addr)
    }

    async fn resume(&mut self) -> Result<Height, ExecError> {
        let req = ExecutedHeightRequest {
            namespace: self.namespace.0,
        };
        match self.client()?.executed_height(req).await {
            Ok(r) => Ok(Height(r.into_inner().height)),
            Err(s) => Err(self.failed("ExecutedHeight", &s)),
        }
    }

    async fn execute(&mut self, slice: &Slice) -> Result<Executed, ExecError> {
        let req = ExecuteSliceRequest {
            namespace: self.namespace.0,
            header: Some((&slice.header).into()),
            batch_hash: slice.hash.as_bytes().to_vec().into(),
            certificate: Some((&slice.certificate).into()),
            txs: slice.txs.iter().map(Into::into).collect(),
            commitment: match slice.commitment {
                Commitment::Certified => CommitmentLevel::Certified,
                Commitment::Available => CommitmentLevel::Available,
            } as i32,
        };
        match self.client()?.execute_slice(req).await {
            Ok(r) => Ok(Executed {
                state_root: r.into_inner().state_root.to_vec(),
            }),
            Err(s) => Err(self.failed("ExecuteSlice", &s)),
        }
    }

    /// `Commitment(AVAILABLE)` for `height` and every height before it. An executor that does
    /// not serve the call (`UNIMPLEMENTED`) is not asked again.
    async fn available(&mut self, height: Height, hash: Hash) -> Result<(), ExecError> {
        if self.no_commitments {
            return Ok(());
        }
        let req = CommitmentRequest {
            namespace: self.namespace.0,
            height: height.0,
            batch_hash: hash.as_bytes().to_vec().into(),
            level: CommitmentLevel::Available as i32,
        };
        match self.client()?.commitment(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                info!(executor = %self.addr, "exec.grpc_commitment_unimplemented");
                self.no_commitments = true;
                Ok(())
            }
            Err(s) => Err(self.failed("Commitment", &s)),
        }
    }
}
