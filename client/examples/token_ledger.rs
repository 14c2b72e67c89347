//! A token ledger rollup serving ordo's execution API (`proto/ordo/exec/v1/executor.proto`):
//! point a validator's `[[rollup]]` entry or `ordo follow --executor grpc://...` at it.
//!
//! ```text
//! cargo run -p ordo-client --example token_ledger -- \
//!     --listen 127.0.0.1:50070 --namespace 9 --dir /tmp/ledger
//! ```
//!
//! Transactions are text: `mint <account> <amount>` and `transfer <from> <to> <amount>`; one
//! that does not parse, or a transfer beyond the sender's balance, changes nothing. The state
//! (height, root, balances) is written to `<dir>/state` (aside, fsync, rename) before each
//! height is answered, so `ExecutedHeight` after a crash is the last height answered or the
//! one after it. The root after height h is
//! `sha256("token-ledger" ‖ root(h-1) ‖ h ‖ batch hash ‖ (len ‖ tx)*)` (big-endian `u64` h,
//! `u32` lengths), zero before height 1: it commits to every height executed, in order.

use ordo_client::exec_api::executor_server::{Executor, ExecutorServer};
use ordo_client::exec_api::{
    CommitmentLevel, CommitmentRequest, CommitmentResponse, ExecuteSliceRequest,
    ExecuteSliceResponse, ExecutedHeightRequest, ExecutedHeightResponse,
};
use ordo_types::hash::sha256;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tonic::{Request, Response, Status};

#[derive(Debug, Default)]
struct State {
    height: u64,
    root: [u8; 32],
    balances: BTreeMap<String, u64>,
}

impl State {
    fn apply(&mut self, tx: &str) {
        let words: Vec<&str> = tx.split_whitespace().collect();
        match words.as_slice() {
            ["mint", to, n] => {
                if let Ok(n) = n.parse::<u64>() {
                    let b = self.balances.entry((*to).to_string()).or_default();
                    *b = b.saturating_add(n);
                }
            }
            ["transfer", from, to, n] => {
                let Ok(n) = n.parse::<u64>() else { return };
                let Some(have) = self.balances.get_mut(*from) else {
                    return;
                };
                if *have >= n {
                    *have -= n;
                    let b = self.balances.entry((*to).to_string()).or_default();
                    *b = b.saturating_add(n);
                }
            }
            _ => {}
        }
    }

    fn encode(&self) -> String {
        let mut s = format!("height {}\nroot {}\n", self.height, hex(&self.root));
        for (a, b) in &self.balances {
            s.push_str(&format!("balance {a} {b}\n"));
        }
        s
    }

    fn decode(text: &str) -> Option<State> {
        let mut st = State::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            match w.as_slice() {
                ["height", h] => st.height = h.parse().ok()?,
                ["root", r] => st.root = unhex(r)?.try_into().ok()?,
                ["balance", a, b] => {
                    st.balances.insert((*a).to_string(), b.parse().ok()?);
                }
                _ => return None,
            }
        }
        Some(st)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

struct Ledger {
    namespace: u64,
    path: PathBuf,
    state: Mutex<State>,
}

impl Ledger {
    fn open(namespace: u64, dir: &Path) -> std::io::Result<Ledger> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state");
        let state = match std::fs::read_to_string(&path) {
            Ok(t) => State::decode(&t)
                .ok_or_else(|| std::io::Error::other(format!("{} is damaged", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e),
        };
        eprintln!("token_ledger: at height {}", state.height);
        Ok(Ledger {
            namespace,
            path,
            state: Mutex::new(state),
        })
    }

    fn save(&self, st: &State) -> std::io::Result<()> {
        let aside = self.path.with_extension("writing");
        let mut f = std::fs::File::create(&aside)?;
        f.write_all(st.encode().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&aside, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn check_namespace(&self, namespace: u64) -> Result<(), Status> {
        if namespace == self.namespace {
            Ok(())
        } else {
            Err(Status::invalid_argument(format!(
                "this ledger executes namespace {}, not {namespace}",
                self.namespace
            )))
        }
    }
}

#[tonic::async_trait]
impl Executor for Ledger {
    async fn executed_height(
        &self,
        r: Request<ExecutedHeightRequest>,
    ) -> Result<Response<ExecutedHeightResponse>, Status> {
        self.check_namespace(r.get_ref().namespace)?;
        let st = self
            .state
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        Ok(Response::new(ExecutedHeightResponse {
            height: st.height,
            state_root: st.root.to_vec().into(),
        }))
    }

    async fn execute_slice(
        &self,
        r: Request<ExecuteSliceRequest>,
    ) -> Result<Response<ExecuteSliceResponse>, Status> {
        let r = r.into_inner();
        self.check_namespace(r.namespace)?;
        let height = r.header.as_ref().map_or(0, |h| h.height);
        let mut st = self
            .state
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        if height != st.height + 1 {
            return Err(Status::failed_precondition(format!(
                "height {height} offered after {}",
                st.height
            )));
        }
        let mut next = State {
            height,
            root: st.root,
            balances: st.balances.clone(),
        };
        let mut parts: Vec<Vec<u8>> = vec![
            b"token-ledger".to_vec(),
            st.root.to_vec(),
            height.to_be_bytes().to_vec(),
            r.batch_hash.to_vec(),
        ];
        for tx in &r.txs {
            let payload = match &tx.kind {
                Some(ordo_types::wire::pb::batch_tx::Kind::Ordinary(t)) => t.payload.clone(),
                Some(ordo_types::wire::pb::batch_tx::Kind::Forced(f)) => f.payload.clone(),
                None => return Err(Status::invalid_argument("a transaction without a kind")),
            };
            parts.push((payload.len() as u32).to_be_bytes().to_vec());
            parts.push(payload.to_vec());
            next.apply(&String::from_utf8_lossy(&payload));
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        next.root = sha256(&refs).0;
        self.save(&next)
            .map_err(|e| Status::unavailable(format!("saving the state: {e}")))?;
        *st = next;
        Ok(Response::new(ExecuteSliceResponse {
            state_root: st.root.to_vec().into(),
        }))
    }

    async fn commitment(
        &self,
        r: Request<CommitmentRequest>,
    ) -> Result<Response<CommitmentResponse>, Status> {
        let r = r.into_inner();
        let level = if r.level == CommitmentLevel::Available as i32 {
            "available"
        } else {
            "certified"
        };
        eprintln!("token_ledger: heights up to {} are {level}", r.height);
        Ok(Response::new(CommitmentResponse {}))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut namespace, mut dir) = (
        "127.0.0.1:50070".to_string(),
        9u64,
        PathBuf::from("token-ledger"),
    );
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--namespace" => namespace = value.parse()?,
            "--dir" => dir = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let ledger = Ledger::open(namespace, &dir)?;
    let addr = listen.parse()?;
    eprintln!("token_ledger: namespace {namespace} on grpc://{addr}");
    tonic::transport::Server::builder()
        .add_service(ExecutorServer::new(ledger))
        .serve(addr)
        .await?;
    Ok(())
}
