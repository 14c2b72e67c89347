//! Blobs from a beacon node: the consensus layer keeps a blob transaction's blobs (its execution
//! node does not), so on a real network a reader asks a beacon node's standard API for them.
//!
//! - `GET /eth/v1/beacon/genesis` and `GET /eth/v1/config/spec` give the genesis time and the
//!   slot length, read once;
//! - an execution block's slot is `(timestamp - genesis_time) / SECONDS_PER_SLOT` (every
//!   execution payload's timestamp is its slot's start);
//! - `GET /eth/v1/beacon/blob_sidecars/{slot}` lists that block's sidecars, each with its blob
//!   and KZG commitment. A transaction's blobs are the sidecars whose commitment hashes to its
//!   versioned hashes, in the transaction's order.
//!
//! Nothing the beacon node says is trusted: the caller checks every blob against the versioned
//! hash the L1 transaction carries (`verify_blobs` is forced on for this source).

use std::time::Duration;

use alloy::eips::eip4844::kzg_to_versioned_hash;
use alloy::primitives::{B256, Bytes};
use alloy::transports::http::reqwest;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::DaError;

/// A beacon node's REST API.
#[derive(Debug)]
pub struct Beacon {
    url: String,
    http: reqwest::Client,
    /// Genesis time and seconds per slot.
    clock: OnceCell<(u64, u64)>,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct Genesis {
    genesis_time: String,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Spec {
    SECONDS_PER_SLOT: String,
}

#[derive(Deserialize)]
struct Sidecar {
    blob: Bytes,
    kzg_commitment: Bytes,
}

fn number(what: &str, s: &str) -> Result<u64, DaError> {
    s.parse()
        .map_err(|e| DaError::Fatal(format!("beacon {what} {s:?}: {e}")))
}

impl Beacon {
    /// The beacon API at `url` (`http://host:5052`, no trailing path).
    pub fn new(url: &str) -> Result<Beacon, DaError> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DaError::Fatal(format!(
                "beacon URL {url:?}: expected http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DaError::Fatal(format!("beacon client: {e}")))?;
        Ok(Beacon {
            url,
            http,
            clock: OnceCell::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET path`, decoded; a 404 is `Ok(None)`.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, DaError> {
        let url = format!("{}{path}", self.url);
        let retry = |e: &dyn std::fmt::Display| DaError::Retry(format!("beacon {url}: {e}"));
        let resp = self.http.get(&url).send().await.map_err(|e| retry(&e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = resp.bytes().await.map_err(|e| retry(&e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(retry(&format_args!(
                "{status}: {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        let d: Data<T> = serde_json::from_slice(&body)
            .map_err(|e| DaError::Fatal(format!("beacon {url}: unexpected answer: {e}")))?;
        Ok(Some(d.data))
    }

    async fn clock(&self) -> Result<(u64, u64), DaError> {
        self.clock
            .get_or_try_init(|| async {
                let g: Genesis = self
                    .get("/eth/v1/beacon/genesis")
                    .await?
                    .ok_or_else(|| DaError::Retry("beacon: no genesis yet".into()))?;
                let s: Spec = self
                    .get("/eth/v1/config/spec")
                    .await?
                    .ok_or_else(|| DaError::Fatal("beacon: no /eth/v1/config/spec".into()))?;
                let secs = number("SECONDS_PER_SLOT", &s.SECONDS_PER_SLOT)?;
                if secs == 0 {
                    return Err(DaError::Fatal("beacon: SECONDS_PER_SLOT is 0".into()));
                }
                Ok((number("genesis_time", &g.genesis_time)?, secs))
            })
            .await
            .copied()
    }

    /// The slot of the execution block with this timestamp.
    pub async fn slot_of(&self, timestamp: u64) -> Result<u64, DaError> {
        let (genesis, secs) = self.clock().await?;
        let since = timestamp.checked_sub(genesis).ok_or_else(|| {
            DaError::Fatal(format!(
                "L1 block time {timestamp} is before the beacon genesis {genesis}"
            ))
        })?;
        if since % secs != 0 {
            return Err(DaError::Fatal(format!(
                "L1 block time {timestamp} is not the start of a slot \
                 (beacon genesis {genesis}, {secs} s slots): is this beacon node on the same chain?"
            )));
        }
        Ok(since / secs)
    }

    /// The blobs of the transaction with `hashes`, from the sidecars of the block at
    /// `timestamp`, in the order of `hashes`. Not checked against the hashes beyond the
    /// commitment the sidecar names: the caller recomputes each blob's commitment.
    pub async fn blobs(&self, timestamp: u64, hashes: &[B256]) -> Result<Vec<Bytes>, DaError> {
        let slot = self.slot_of(timestamp).await?;
        let sidecars: Vec<Sidecar> = self
            .get(&format!("/eth/v1/beacon/blob_sidecars/{slot}"))
            .await?
            .ok_or_else(|| {
                DaError::Retry(format!("beacon {}: no block at slot {slot}", self.url))
            })?;
        let mut by_hash: Vec<(B256, Bytes)> = sidecars
            .into_iter()
            .map(|s| (kzg_to_versioned_hash(&s.kzg_commitment), s.blob))
            .collect();
        hashes
            .iter()
            .map(|want| {
                let i = by_hash.iter().position(|(h, _)| h == want).ok_or_else(|| {
                    DaError::Retry(format!(
                        "beacon {}: slot {slot} has no sidecar for versioned hash {want} \
                         (pruned, or not yet imported)",
                        self.url
                    ))
                })?;
                Ok(by_hash.swap_remove(i).1)
            })
            .collect()
    }
}
