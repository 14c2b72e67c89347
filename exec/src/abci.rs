//! `abci://`: drives an ABCI 2.0 application (CometBFT v0.38 messages) over its socket.
//!
//! Per connection, the CometBFT handshake: `Info` answers the app's last committed height (the
//! resume point); an app at height 0 gets `InitChain`. Per height: `FinalizeBlock` with the
//! namespace's transactions in ordo's order, then `Commit`, then `Info` to check the app
//! committed exactly that height. The state root recorded is `FinalizeBlock`'s `app_hash`, or
//! when an app leaves it empty (the Rust kvstore does), the `last_block_app_hash` `Info`
//! reports after the commit.
//!
//! Framing is the socket protocol's: each message a protobuf `Request`/`Response` prefixed with
//! its length as an unsigned varint. Servers differ in when they answer: Go servers buffer
//! answers until a `Flush`, the Rust server (`tendermint-abci`) writes each at once. Each
//! connection starts with an `Echo` and no `Flush`: answered within 300 ms, requests go alone;
//! otherwise every request is followed by a `Flush`. (Sending a `Flush` to a server that
//! answers at once costs a second small write per request, which Nagle's algorithm holds
//! back until the first is acknowledged: measured at about 44 ms per request on loopback.) A broken connection, an `Exception` answer or an app behind the
//! height just committed is [`ExecError::Retry`] (reconnect, ask `Info`, go on from there); an
//! answer of the wrong type, a result count that is neither the transaction count nor zero
//! (the Rust kvstore sends none), or an app ahead of what it was given is
//! [`ExecError::Fatal`].

use crate::AbciAddr;
use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use ordo_client::deliver::{ExecError, Executed, Executor, Slice};
use ordo_types::{ChainId, Height};
use prost::Message;
use std::time::Duration;
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci::{
    Request, RequestCommit, RequestEcho, RequestFinalizeBlock, RequestFlush, RequestInfo,
    RequestInitChain, RequestQuery, Response, ResponseFinalizeBlock, ResponseInfo, ResponseQuery,
    request, response,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest answer accepted from an app.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One socket to the app.
struct Conn {
    io: Box<dyn Io>,
    buf: BytesMut,
    /// The server answers only once it gets a `Flush`.
    needs_flush: bool,
}

/// How long the first `Echo` may wait for its answer before the server is taken for one that
/// answers only on `Flush`.
const PROBE: Duration = Duration::from_millis(300);

impl Conn {
    async fn open(addr: &AbciAddr) -> std::io::Result<Conn> {
        let io: Box<dyn Io> = match addr {
            AbciAddr::Tcp(a) => {
                let s = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(a))
                    .await
                    .map_err(|_| std::io::Error::other("connect timed out"))??;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            AbciAddr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
        };
        let mut c = Conn {
            io,
            buf: BytesMut::with_capacity(4096),
            needs_flush: false,
        };
        c.probe().await.map_err(|e| match e {
            CallError::Io(e) => e,
            CallError::Exception(e) | CallError::Protocol(e) => std::io::Error::other(e),
        })?;
        Ok(c)
    }

    /// Learns whether the server answers without a `Flush` (see the module doc).
    async fn probe(&mut self) -> Result<(), CallError> {
        let echo = request::Value::Echo(RequestEcho {
            message: "ordo".into(),
        });
        self.send(&[echo]).await?;
        let answer = match tokio::time::timeout(PROBE, self.read()).await {
            Ok(answer) => answer?,
            Err(_) => {
                self.needs_flush = true;
                self.send(&[request::Value::Flush(RequestFlush {})]).await?;
                let answer = self.read().await?;
                self.flushed().await?;
                answer
            }
        };
        match answer {
            response::Value::Echo(_) => Ok(()),
            other => Err(CallError::Protocol(format!("{} for an Echo", kind(&other)))),
        }
    }

    async fn send(&mut self, values: &[request::Value]) -> Result<(), CallError> {
        let mut out = Vec::new();
        for v in values {
            Request {
                value: Some(v.clone()),
            }
            .encode_length_delimited(&mut out)
            .map_err(|e| CallError::Protocol(format!("encoding a request: {e}")))?;
        }
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }

    async fn flushed(&mut self) -> Result<(), CallError> {
        match self.read().await? {
            response::Value::Flush(_) => Ok(()),
            other => Err(CallError::Protocol(format!(
                "{} where the Flush answer belongs",
                kind(&other)
            ))),
        }
    }

    /// Sends `value` (and a `Flush`, if the server needs one) and returns its answer.
    async fn call(&mut self, value: request::Value) -> Result<response::Value, CallError> {
        if self.needs_flush {
            self.send(&[value, request::Value::Flush(RequestFlush {})])
                .await?;
            let answer = self.read().await?;
            self.flushed().await?;
            Ok(answer)
        } else {
            self.send(&[value]).await?;
            self.read().await
        }
    }

    async fn read(&mut self) -> Result<response::Value, CallError> {
        loop {
            if let Some(m) = self.frame()? {
                return match m.value {
                    Some(response::Value::Exception(e)) => Err(CallError::Exception(e.error)),
                    Some(v) => Ok(v),
                    None => Err(CallError::Protocol("an empty Response".into())),
                };
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Err(CallError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// One whole frame from the buffer, if it holds one.
    fn frame(&mut self) -> Result<Option<Response>, CallError> {
        let mut peek = &self.buf[..];
        let Ok(len) = prost::encoding::decode_varint(&mut peek) else {
            return if self.buf.len() >= 10 {
                Err(CallError::Protocol("a bad length prefix".into()))
            } else {
                Ok(None)
            };
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_RESPONSE {
            return Err(CallError::Protocol(format!(
                "an answer of {len} bytes (limit {MAX_RESPONSE})"
            )));
        }
        let prefix = self.buf.len() - peek.len();
        if peek.len() < len {
            self.buf.reserve(prefix + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(prefix);
        let frame = self.buf.split_to(len);
        Response::decode(frame)
            .map(Some)
            .map_err(|e| CallError::Protocol(format!("an undecodable Response: {e}")))
    }
}

enum CallError {
    Io(std::io::Error),
    Exception(String),
    Protocol(String),
}

impl From<std::io::Error> for CallError {
    fn from(e: std::io::Error) -> CallError {
        CallError::Io(e)
    }
}

fn kind(v: &response::Value) -> &'static str {
    match v {
        response::Value::Exception(_) => "Exception",
        response::Value::Echo(_) => "Echo",
        response::Value::Flush(_) => "Flush",
        response::Value::Info(_) => "Info",
        response::Value::InitChain(_) => "InitChain",
        response::Value::Query(_) => "Query",
        response::Value::CheckTx(_) => "CheckTx",
        response::Value::Commit(_) => "Commit",
        response::Value::FinalizeBlock(_) => "FinalizeBlock",
        _ => "another answer",
    }
}

/// An ABCI application as an executor.
pub struct AbciExecutor {
    addr: AbciAddr,
    chain_id: ChainId,
    conn: Option<Conn>,
}

impl std::fmt::Debug for AbciExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbciExecutor")
            .field("addr", &self.addr)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

macro_rules! answer {
    ($self:ident, $req:ident($r:expr) => $resp:ident) => {
        match $self.call(request::Value::$req($r)).await? {
            response::Value::$resp(a) => a,
            other => {
                $self.conn = None;
                return Err(ExecError::Fatal(format!(
                    "asked {}, the app answered {}",
                    stringify!($req),
                    kind(&other)
                )));
            }
        }
    };
}

impl AbciExecutor {
    pub fn new(addr: AbciAddr, chain_id: ChainId) -> AbciExecutor {
        AbciExecutor {
            addr,
            chain_id,
            conn: None,
        }
    }

    /// The app's chain id: ordo's chain id in decimal, prefixed.
    fn chain_name(&self) -> String {
        format!("ordo-{}", self.chain_id.0)
    }

    async fn call(&mut self, value: request::Value) -> Result<response::Value, ExecError> {
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => {
                let c = Conn::open(&self.addr)
                    .await
                    .map_err(|e| ExecError::Retry(format!("connecting: {e}")))?;
                self.conn.insert(c)
            }
        };
        match conn.call(value).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.conn = None;
                Err(match e {
                    CallError::Io(e) => ExecError::Retry(format!("the connection: {e}")),
                    CallError::Exception(e) => ExecError::Retry(format!("the app failed: {e}")),
                    CallError::Protocol(e) => ExecError::Fatal(format!("the app sent {e}")),
                })
            }
        }
    }

    async fn info(&mut self) -> Result<ResponseInfo, ExecError> {
        let req = RequestInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            block_version: 11,
            p2p_version: 8,
            abci_version: "2.0.0".into(),
        };
        let info = answer!(self, Info(req) => Info);
        if info.last_block_height < 0 {
            return Err(ExecError::Fatal(format!(
                "the app reports height {}",
                info.last_block_height
            )));
        }
        Ok(info)
    }

    /// ABCI `Query` (for tests and tools): the app's answer to `data` at `path`.
    pub async fn query(&mut self, path: &str, data: &[u8]) -> Result<ResponseQuery, ExecError> {
        let req = RequestQuery {
            data: data.to_vec().into(),
            path: path.into(),
            height: 0,
            prove: false,
        };
        Ok(answer!(self, Query(req) => Query))
    }

    async fn finalize(&mut self, slice: &Slice) -> Result<ResponseFinalizeBlock, ExecError> {
        let height = i64::try_from(slice.height.0)
            .map_err(|_| ExecError::Fatal(format!("height {} is past ABCI's", slice.height.0)))?;
        let ms = slice.header.timestamp_ms;
        let req = RequestFinalizeBlock {
            txs: slice.txs.iter().map(|t| t.payload().clone()).collect(),
            decided_last_commit: None,
            misbehavior: Vec::new(),
            hash: slice.hash.as_bytes().to_vec().into(),
            height,
            time: Some(Timestamp {
                seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
                nanos: ((ms % 1000) * 1_000_000) as i32,
            }),
            next_validators_hash: slice.header.validator_set_hash.as_bytes().to_vec().into(),
            proposer_address: slice.header.proposer.0.to_vec().into(),
        };
        let done = answer!(self, FinalizeBlock(req) => FinalizeBlock);
        // ABCI 2.0 wants one result per transaction; the Rust kvstore sends none at all, which
        // is taken as "no results", while a count that is neither is refused.
        if !done.tx_results.is_empty() && done.tx_results.len() != slice.txs.len() {
            self.conn = None;
            return Err(ExecError::Fatal(format!(
                "FinalizeBlock at height {height}: {} results for {} transactions",
                done.tx_results.len(),
                slice.txs.len()
            )));
        }
        Ok(done)
    }
}

#[async_trait]
impl Executor for AbciExecutor {
    fn describe(&self) -> String {
        crate::ExecutorSpec::Abci(self.addr.clone()).to_string()
    }

    async fn resume(&mut self) -> Result<Height, ExecError> {
        // A new connection for every handshake: what the app answers on it is what counts.
        self.conn = None;
        let info = self.info().await?;
        if info.last_block_height == 0 {
            let req = RequestInitChain {
                time: None,
                chain_id: self.chain_name(),
                consensus_params: None,
                validators: Vec::new(),
                app_state_bytes: Default::default(),
                initial_height: 1,
            };
            let _ = answer!(self, InitChain(req) => InitChain);
        }
        Ok(Height(info.last_block_height as u64))
    }

    async fn execute(&mut self, slice: &Slice) -> Result<Executed, ExecError> {
        let done = self.finalize(slice).await?;
        let _ = answer!(self, Commit(RequestCommit {}) => Commit);
        let info = self.info().await?;
        let committed = info.last_block_height as u64;
        if committed < slice.height.0 {
            self.conn = None;
            return Err(ExecError::Retry(format!(
                "the app reports height {committed} after committing {}",
                slice.height.0
            )));
        }
        if committed > slice.height.0 {
            return Err(ExecError::Fatal(format!(
                "the app reports height {committed} after committing {}: it was given a chain \
                 ordo did not order",
                slice.height.0
            )));
        }
        let root = if done.app_hash.is_empty() {
            info.last_block_app_hash
        } else {
            done.app_hash
        };
        Ok(Executed {
            state_root: root.to_vec(),
        })
    }
}
