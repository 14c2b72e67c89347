//! `ordo-exec`: the executors a rollup's slices are delivered to, behind the
//! [`ordo_client::deliver::Executor`] contract.
//!
//! - [`abci`]: any ABCI 2.0 application over its socket (TCP or unix), with the CometBFT
//!   handshake: `Info` gives the resume point, `InitChain` starts a fresh app, then
//!   `FinalizeBlock` + `Commit` per height.
//! - [`grpc`]: a rollup serving ordo's execution API (`proto/ordo/exec/v1/executor.proto`).
//! - [`builtin`]: an in-process key-value ledger with a state root and a durable snapshot, so a
//!   localnet shows execution with nothing else installed.
//!
//! An executor is named by a URL-like spec ([`ExecutorSpec`]): `builtin:kv`,
//! `abci://127.0.0.1:26658`, `abci+unix:///run/app.sock`, `grpc://127.0.0.1:50070`.
//! No rocksdb and no libp2p here: a rollup's follower links this crate (ADR 17).

pub mod abci;
pub mod builtin;
pub mod grpc;

use ordo_client::deliver::Executor;
use ordo_types::{ChainId, Namespace};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// Where an ABCI application listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbciAddr {
    /// `host:port`.
    Tcp(String),
    Unix(PathBuf),
}

/// An executor, as named in a config file or on a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutorSpec {
    /// `builtin:kv`: the in-process key-value ledger.
    BuiltinKv,
    /// `abci://host:port` or `abci+unix:///path`.
    Abci(AbciAddr),
    /// `grpc://host:port`: ordo's execution API (`proto/ordo/exec/v1/executor.proto`).
    Grpc(String),
}

/// Why an executor spec was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "unknown executor {0:?}: expected builtin:kv, abci://host:port, abci+unix:///path or \
         grpc://host:port"
    )]
    UnknownScheme(String),
    #[error("{spec:?}: {reason}")]
    BadAddress { spec: String, reason: String },
}

impl FromStr for ExecutorSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<ExecutorSpec, SpecError> {
        let bad = |reason: &str| SpecError::BadAddress {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        if s == "builtin:kv" {
            return Ok(ExecutorSpec::BuiltinKv);
        }
        if let Some(path) = s.strip_prefix("abci+unix://") {
            if !path.starts_with('/') {
                return Err(bad("the socket path must be absolute (abci+unix:///path)"));
            }
            return Ok(ExecutorSpec::Abci(AbciAddr::Unix(PathBuf::from(path))));
        }
        for (scheme, make) in [
            (
                "abci://",
                (|a| ExecutorSpec::Abci(AbciAddr::Tcp(a))) as fn(String) -> _,
            ),
            ("grpc://", ExecutorSpec::Grpc),
        ] {
            if let Some(addr) = s.strip_prefix(scheme) {
                return host_port(addr).map(make).map_err(|r| bad(&r));
            }
        }
        Err(SpecError::UnknownScheme(s.to_string()))
    }
}

/// `host:port` with a port that parses; the host is resolved on connect.
fn host_port(addr: &str) -> Result<String, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port".to_string())?;
    if host.is_empty() || host.contains('/') {
        return Err(format!("bad host {host:?} (expected host:port)"));
    }
    port.parse::<u16>()
        .map_err(|e| format!("bad port {port:?}: {e}"))?;
    Ok(addr.to_string())
}

impl fmt::Display for ExecutorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutorSpec::BuiltinKv => write!(f, "builtin:kv"),
            ExecutorSpec::Abci(AbciAddr::Tcp(a)) => write!(f, "abci://{a}"),
            ExecutorSpec::Abci(AbciAddr::Unix(p)) => write!(f, "abci+unix://{}", p.display()),
            ExecutorSpec::Grpc(a) => write!(f, "grpc://{a}"),
        }
    }
}

/// An opened executor, with what status pages may read of it.
#[derive(Debug)]
pub struct Opened {
    pub executor: Box<dyn Executor>,
    /// The builtin ledger's state, for `GET /v1/rollup/{namespace}/kv/{key}`.
    pub ledger: Option<builtin::LedgerHandle>,
}

/// Opens the executor `spec` names for `namespace` of a rollup of `chain_id`; `dir` is where an
/// in-process executor keeps its state. Nothing connects yet: the delivery loop does, and
/// retries.
pub fn open(spec: &ExecutorSpec, chain_id: ChainId, namespace: Namespace, dir: &Path) -> Opened {
    match spec {
        ExecutorSpec::BuiltinKv => {
            let ledger = builtin::KvLedger::new(dir.join("ledger.snapshot"));
            let handle = ledger.handle();
            Opened {
                executor: Box::new(ledger),
                ledger: Some(handle),
            }
        }
        ExecutorSpec::Abci(addr) => Opened {
            executor: Box::new(abci::AbciExecutor::new(addr.clone(), chain_id)),
            ledger: None,
        },
        ExecutorSpec::Grpc(addr) => Opened {
            executor: Box::new(grpc::GrpcExecutor::new(addr.clone(), namespace)),
            ledger: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_why_not() {
        let ok = [
            ("builtin:kv", ExecutorSpec::BuiltinKv),
            (
                "abci://127.0.0.1:26658",
                ExecutorSpec::Abci(AbciAddr::Tcp("127.0.0.1:26658".into())),
            ),
            (
                "abci://localhost:1",
                ExecutorSpec::Abci(AbciAddr::Tcp("localhost:1".into())),
            ),
            (
                "abci+unix:///run/app.sock",
                ExecutorSpec::Abci(AbciAddr::Unix("/run/app.sock".into())),
            ),
            (
                "grpc://127.0.0.1:50070",
                ExecutorSpec::Grpc("127.0.0.1:50070".into()),
            ),
        ];
        for (s, want) in ok {
            let got: ExecutorSpec = s.parse().expect(s);
            assert_eq!(got, want, "{s}");
            assert_eq!(got.to_string(), s);
        }
        let bad = |spec: &str, reason: &str| SpecError::BadAddress {
            spec: spec.into(),
            reason: reason.into(),
        };
        let refused = [
            ("http://x:1", SpecError::UnknownScheme("http://x:1".into())),
            (
                "builtin:sql",
                SpecError::UnknownScheme("builtin:sql".into()),
            ),
            ("abci://nohost", bad("abci://nohost", "expected host:port")),
            (
                "abci://h:99999",
                bad(
                    "abci://h:99999",
                    "bad port \"99999\": number too large to fit in target type",
                ),
            ),
            (
                "grpc://:1",
                bad("grpc://:1", "bad host \"\" (expected host:port)"),
            ),
            (
                "abci+unix://rel.sock",
                bad(
                    "abci+unix://rel.sock",
                    "the socket path must be absolute (abci+unix:///path)",
                ),
            ),
        ];
        for (s, want) in refused {
            assert_eq!(s.parse::<ExecutorSpec>(), Err(want), "{s}");
        }
    }
}
