//! The `ethereum-blobs` DA backend: frames travel back to back in the blobs of EIP-4844 blob
//! transactions to the batch-inbox address named in the genesis (no calldata, no value: the address only tags the
//! transactions a reader looks for). KZG commitments and proofs come from the trusted setup
//! compiled into `c-kzg`; nothing is downloaded. EIP-7594 cell proofs are sent when configured
//! (an L1 at Osaka or later requires them).
//!
//! A frame is *available* once its transaction is in a block at or below the configured
//! finality. Any node can see that by reading the L1 ([`EthereumBlobs::scan`]), not only the
//! one that posted. Reading back takes the blobs from anvil's `anvil_getBlobsByTransactionHash`,
//! or from a beacon node's blob sidecars API when one is configured ([`super::beacon`]), and
//! checks each against the versioned hash the L1 transaction carries before decoding.

use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip4844::env_settings::EnvKzgSettings;
use alloy::eips::eip4844::{Blob, BlobTransactionSidecar, c_kzg, kzg_to_versioned_hash};
use alloy::eips::eip7594::BlobTransactionSidecarVariant;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use async_trait::async_trait;
use ordo_types::Limits;
use ordo_types::da::{BLOB_BYTES, Frame, frame_capacity, frames_from_blobs, frames_to_blobs};
use tokio::sync::Mutex;

use super::beacon::Beacon;
use super::{Confirmation, DaBackend, DaError, Locator, Receipt};
use crate::l1::{Finality, inbox};

/// Which proofs a blob transaction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobProofs {
    /// One KZG proof per blob (Cancun, Prague).
    Eip4844,
    /// 128 cell proofs per blob (Osaka and later, EIP-7594).
    Eip7594,
}

/// How to reach the L1 and what to pay.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// The L1's JSON-RPC endpoint.
    pub rpc: String,
    /// The batch-inbox address (genesis `da.batch_inbox`).
    pub batch_inbox: Address,
    /// Which blocks count as final.
    pub finality: Finality,
    /// Most blobs per transaction (6 on Ethereum since Cancun).
    pub max_blobs_per_tx: usize,
    /// Cap on `max_fee_per_gas`, in wei.
    pub max_fee_per_gas: u128,
    /// Cap on `max_fee_per_blob_gas`, in wei.
    pub max_fee_per_blob_gas: u128,
    pub proofs: BlobProofs,
    pub limits: Limits,
    /// Whether blobs read back are checked against the versioned hashes of their transaction
    /// (a KZG commitment per blob, the costliest part of reading). A reader that gets its blobs
    /// from another source than its transactions must check; a validator's watcher, which
    /// reads both from its own L1 endpoint and compares every entry with its own batch, need not.
    pub verify_blobs: bool,
    /// Where blobs are read from: `None`, the L1 endpoint itself (anvil's
    /// `anvil_getBlobsByTransactionHash`, for development); `Some(url)`, a beacon node's blob
    /// sidecars API (a real network, whose execution nodes keep no blobs). Blobs from a beacon
    /// node are always checked against the versioned hashes, whatever `verify_blobs` says.
    pub beacon: Option<String>,
}

impl BlobConfig {
    /// What a reader that never posts needs: no fees, no proofs, one blob per transaction.
    pub fn reader(rpc: &str, batch_inbox: Address, finality: Finality, limits: Limits) -> Self {
        BlobConfig {
            rpc: rpc.to_string(),
            batch_inbox,
            finality,
            max_blobs_per_tx: 1,
            max_fee_per_gas: 0,
            max_fee_per_blob_gas: 0,
            proofs: BlobProofs::Eip4844,
            limits,
            verify_blobs: true,
            beacon: None,
        }
    }
}

/// Blob transactions on an Ethereum L1. Posting needs a key; confirming, fetching and scanning
/// do not.
#[derive(Debug)]
pub struct EthereumBlobs {
    cfg: BlobConfig,
    read: RootProvider,
    write: Option<(Address, DynProvider)>,
    beacon: Option<Beacon>,
    /// Serializes submissions, so nonces are taken in order.
    posting: Mutex<()>,
}

fn retry(what: &str) -> impl Fn(alloy::transports::TransportError) -> DaError + '_ {
    move |e| DaError::Retry(format!("L1 {what}: {e}"))
}

fn config_error(e: crate::l1::L1Error) -> DaError {
    DaError::Fatal(format!("da: {e}"))
}

impl EthereumBlobs {
    /// A reader of the L1 at `cfg.rpc`; with `key_hex`, also a poster.
    pub fn new(cfg: BlobConfig, key_hex: Option<&str>) -> Result<EthereumBlobs, DaError> {
        if cfg.max_blobs_per_tx == 0 {
            return Err(DaError::Fatal(
                "da: max_blobs_per_tx must be at least 1".into(),
            ));
        }
        let read = inbox::read_provider(&cfg.rpc).map_err(config_error)?;
        let write = match key_hex {
            None => None,
            Some(k) => {
                let from = inbox::signer(k).map_err(config_error)?.address();
                let p = inbox::wallet_provider(&cfg.rpc, k).map_err(config_error)?;
                Some((from, p.erased()))
            }
        };
        let beacon = cfg.beacon.as_deref().map(Beacon::new).transpose()?;
        Ok(EthereumBlobs {
            cfg,
            read,
            write,
            beacon,
            posting: Mutex::new(()),
        })
    }

    /// Loads the KZG trusted setup in the background (a few seconds in a debug build), so the
    /// first frame posted or checked does not wait for it.
    pub fn warm_up() {
        let _ = std::thread::Builder::new()
            .name("ordo-kzg-setup".into())
            .stack_size(32 << 20)
            .spawn(|| {
                let _ = EnvKzgSettings::Default.get();
            });
    }

    /// The account that posts, if this backend has a key.
    pub fn poster(&self) -> Option<Address> {
        self.write.as_ref().map(|(a, _)| *a)
    }

    /// The L1's latest block.
    pub async fn latest_block(&self) -> Result<u64, DaError> {
        self.read
            .get_block_number()
            .await
            .map_err(retry("block number"))
    }

    /// The hash of L1 block `n`, if the L1 has it.
    pub async fn block_hash(&self, n: u64) -> Result<Option<B256>, DaError> {
        Ok(self
            .read
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .map_err(retry("block"))?
            .map(|b| b.header.hash))
    }

    /// The highest final L1 block.
    pub async fn final_head(&self) -> Result<u64, DaError> {
        match self.cfg.finality {
            Finality::Depth(k) => Ok(self
                .read
                .get_block_number()
                .await
                .map_err(retry("block number"))?
                .saturating_sub(k)),
            Finality::Finalized => self
                .read
                .get_block_by_number(BlockNumberOrTag::Finalized)
                .await
                .map_err(retry("finalized block"))?
                .map(|b| b.header.number)
                .ok_or_else(|| DaError::Retry("L1 has no finalized block yet".into())),
        }
    }

    /// Fees for a new transaction: twice the current base fees (so it survives a few blocks of
    /// rising fees), within the caps. Refuses (retry) while the blob base fee is above its cap.
    async fn fees(&self, bump: u32) -> Result<(u128, u128, u128), DaError> {
        let est = self
            .read
            .estimate_eip1559_fees()
            .await
            .map_err(retry("fee estimate"))?;
        let blob_base = self
            .read
            .get_blob_base_fee()
            .await
            .map_err(retry("blob base fee"))?;
        if blob_base > self.cfg.max_fee_per_blob_gas {
            return Err(DaError::Retry(format!(
                "blob base fee {blob_base} wei is above the cap max_fee_per_blob_gas = {}",
                self.cfg.max_fee_per_blob_gas
            )));
        }
        let scale = |v: u128| v.saturating_mul(2).saturating_mul(1 << bump.min(16));
        let tip = scale(est.max_priority_fee_per_gas.max(1)).min(self.cfg.max_fee_per_gas);
        let fee = scale(est.max_fee_per_gas)
            .max(tip)
            .min(self.cfg.max_fee_per_gas);
        let blob_fee = scale(blob_base.max(1)).min(self.cfg.max_fee_per_blob_gas);
        Ok((fee, tip, blob_fee))
    }

    /// Most blobs one transaction carries (`max_blobs_per_tx`).
    pub fn max_blobs(&self) -> usize {
        self.cfg.max_blobs_per_tx
    }

    /// Posts `frames`, back to back in the blobs of one transaction, with `nonce` (the
    /// account's next pending nonce when `None`), its fees scaled by `2^bump` for a replacement
    /// of a stuck transaction. One receipt per frame, all naming the transaction.
    pub async fn submit_with(
        &self,
        frames: &[Frame],
        nonce: Option<u64>,
        bump: u32,
    ) -> Result<Vec<Receipt>, DaError> {
        let Some((from, provider)) = &self.write else {
            return Err(DaError::Fatal("da: no L1 key to post with".into()));
        };
        if frames.is_empty() {
            return Err(DaError::Fatal(
                "da: a blob transaction with no frame".into(),
            ));
        }
        let blobs = frames_to_blobs(frames);
        if blobs.len() > self.cfg.max_blobs_per_tx {
            return Err(DaError::Fatal(format!(
                "{} frames of {} bytes need {} blobs, more than max_blobs_per_tx = {}",
                frames.len(),
                frames.iter().map(Frame::encoded_len).sum::<usize>(),
                blobs.len(),
                self.cfg.max_blobs_per_tx
            )));
        }
        let proofs = self.cfg.proofs;
        let sidecar = on_kzg_thread(move || sidecar(&blobs, proofs)).await?;
        let versioned_hashes: Vec<B256> = sidecar.versioned_hashes().collect();
        let _one_at_a_time = self.posting.lock().await;
        let (fee, tip, blob_fee) = self.fees(bump).await?;
        let nonce = match nonce {
            Some(n) => n,
            None => self
                .read
                .get_transaction_count(*from)
                .pending()
                .await
                .map_err(retry("nonce"))?,
        };
        let mut tx = TransactionRequest::default()
            .with_from(*from)
            .with_to(self.cfg.batch_inbox)
            .with_nonce(nonce)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(fee)
            .with_max_priority_fee_per_gas(tip)
            .max_fee_per_blob_gas(blob_fee);
        tx.sidecar = Some(sidecar);
        tx.populate_blob_hashes();
        let pending = provider
            .send_transaction(tx)
            .await
            .map_err(retry("blob transaction"))?;
        let locator = Locator::EthereumBlobs {
            tx_hash: pending.tx_hash().to_string(),
            sender: from.to_string(),
            nonce,
            versioned_hashes: versioned_hashes.iter().map(ToString::to_string).collect(),
        };
        Ok(frames
            .iter()
            .map(|f| Receipt::of(f, locator.clone()))
            .collect())
    }

    /// The blob transaction a receipt names, and its sender and nonce.
    fn locator(receipt: &Receipt) -> Result<(B256, Address, u64), DaError> {
        let Locator::EthereumBlobs {
            tx_hash,
            sender,
            nonce,
            ..
        } = &receipt.locator
        else {
            return Err(DaError::Fatal(format!(
                "not a blob receipt: {:?}",
                receipt.locator
            )));
        };
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            DaError::Fatal(format!("blob receipt: bad {what}: {e}"))
        };
        let hash = tx_hash.parse().map_err(|e| bad("tx_hash", &e))?;
        let sender = sender.parse().map_err(|e| bad("sender", &e))?;
        Ok((hash, sender, *nonce))
    }

    /// The frames carried by blob transaction `hash`, read back from the L1: the transaction
    /// must be a blob transaction to the batch inbox, and each blob must match its versioned
    /// hash. `Ok(None)` when the L1 does not know the transaction.
    pub async fn fetch_tx(&self, hash: B256) -> Result<Option<(u64, Vec<Frame>)>, DaError> {
        let Some(tx) = self
            .read
            .get_transaction_by_hash(hash)
            .await
            .map_err(retry("transaction"))?
        else {
            return Ok(None);
        };
        if tx.to() != Some(self.cfg.batch_inbox) {
            return Err(DaError::Fatal(format!(
                "transaction {hash} is not sent to the batch inbox"
            )));
        }
        let Some(block) = tx.block_number else {
            return Err(DaError::Retry(format!(
                "transaction {hash} is in no block yet"
            )));
        };
        let hashes = tx.blob_versioned_hashes().unwrap_or_default().to_vec();
        let blobs = self.blobs_of(hash, block, &hashes).await?;
        let limits = self.cfg.limits;
        let verify = self.cfg.verify_blobs || self.beacon.is_some();
        if blobs.len() != hashes.len() {
            return Err(DaError::Fatal(format!(
                "transaction {hash}: {} blobs for {} versioned hashes",
                blobs.len(),
                hashes.len()
            )));
        }
        let frames = on_kzg_thread(move || {
            if verify {
                check_blobs(&blobs, &hashes)?;
            }
            frames_from_blobs(&blobs, &limits)
                .map_err(|e| DaError::Fatal(format!("blob transaction {hash}: {e}")))
        })
        .await?;
        Ok(Some((block, frames)))
    }

    /// The blobs of transaction `hash` (in L1 block `block`, with `hashes`), from the beacon
    /// node when one is configured, else from the L1 endpoint's anvil blob RPC. Unchecked.
    async fn blobs_of(
        &self,
        hash: B256,
        block: u64,
        hashes: &[B256],
    ) -> Result<Vec<alloy::primitives::Bytes>, DaError> {
        if let Some(beacon) = &self.beacon {
            let header = self
                .read
                .get_block_by_number(BlockNumberOrTag::Number(block))
                .await
                .map_err(retry("block"))?
                .ok_or_else(|| DaError::Retry(format!("L1 block {block} not found")))?;
            return beacon.blobs(header.header.timestamp, hashes).await;
        }
        // As bytes, not `Blob`s: a 128 KiB array deserialized by value would sit on the stack.
        let blobs: Option<Vec<alloy::primitives::Bytes>> = self
            .read
            .client()
            .request("anvil_getBlobsByTransactionHash", (hash,))
            .await
            .map_err(retry("blobs"))?;
        blobs.ok_or_else(|| DaError::Retry(format!("no blobs for {hash} yet")))
    }

    /// Every frame posted to the batch inbox in L1 blocks `from..=to`, with its block and
    /// transaction, in L1 order. A transaction to the inbox that does not carry a valid frame is
    /// skipped with a warning (anyone may send to the address).
    pub async fn scan(&self, from: u64, to: u64) -> Result<Vec<Posted>, DaError> {
        let (posted, skipped) = self.scan_all(from, to).await?;
        for s in skipped {
            tracing::warn!("da: skipping {}: {}", s.tx_hash, s.reason);
        }
        Ok(posted)
    }

    /// As [`EthereumBlobs::scan`], also returning the blob transactions to the inbox that
    /// carry no valid frame, with the reason.
    pub async fn scan_all(
        &self,
        from: u64,
        to: u64,
    ) -> Result<(Vec<Posted>, Vec<Skipped>), DaError> {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for n in from..=to {
            let Some(block) = self
                .read
                .get_block_by_number(BlockNumberOrTag::Number(n))
                .full()
                .await
                .map_err(retry("block"))?
            else {
                return Err(DaError::Retry(format!("L1 block {n} not found")));
            };
            for tx in block.transactions.txns() {
                if tx.to() != Some(self.cfg.batch_inbox) || tx.blob_versioned_hashes().is_none() {
                    continue;
                }
                let hash = *tx.inner.tx_hash();
                match self.fetch_tx(hash).await {
                    Ok(Some((l1_block, frames))) => {
                        out.extend(frames.into_iter().map(|frame| Posted {
                            l1_block,
                            l1_hash: block.header.hash,
                            tx_hash: hash,
                            sender: tx.inner.signer(),
                            frame,
                        }));
                    }
                    Ok(None) => {}
                    Err(DaError::Fatal(reason)) => skipped.push(Skipped {
                        l1_block: n,
                        tx_hash: hash,
                        reason,
                    }),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((out, skipped))
    }
}

/// A blob transaction to the batch inbox that carries no valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub l1_block: u64,
    pub tx_hash: B256,
    pub reason: String,
}

/// A frame found on the L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub l1_block: u64,
    /// The hash of `l1_block` when it was scanned: a reader checks it again once the block is
    /// final, so a frame a reorg took out is not counted.
    pub l1_hash: B256,
    pub tx_hash: B256,
    pub sender: Address,
    pub frame: Frame,
}

/// Runs KZG work on a thread of its own: it is CPU-heavy (cell proofs take a good part of a
/// second per blob), so it stays off the async runtime, and it handles 128 KiB blobs by value,
/// so it gets a stack that holds several.
async fn on_kzg_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaError> + Send + 'static,
) -> Result<T, DaError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ordo-kzg".into())
        .stack_size(32 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| DaError::Retry(format!("KZG thread: {e}")))?;
    rx.await
        .map_err(|_| DaError::Fatal("KZG thread panicked".into()))?
}

/// The sidecar for `blobs`, with the proofs asked for. The blobs are copied straight into
/// heap-allocated elements (never collected through iterator adapters, which in a debug build
/// keep copies of every 128 KiB blob on the stack).
fn sidecar(
    blobs: &[Vec<u8>],
    proofs: BlobProofs,
) -> Result<BlobTransactionSidecarVariant, DaError> {
    let mut out = vec![Blob::ZERO; blobs.len()];
    for (dst, src) in out.iter_mut().zip(blobs) {
        if src.len() != BLOB_BYTES {
            return Err(DaError::Fatal(format!("blob of {} bytes", src.len())));
        }
        dst.0.copy_from_slice(src);
    }
    let settings = EnvKzgSettings::Default.get();
    let kzg = |e: c_kzg::Error| DaError::Fatal(format!("KZG: {e}"));
    let s = BlobTransactionSidecar::try_from_blobs_with_settings(out, settings).map_err(kzg)?;
    Ok(match proofs {
        BlobProofs::Eip4844 => BlobTransactionSidecarVariant::Eip4844(s),
        BlobProofs::Eip7594 => {
            BlobTransactionSidecarVariant::Eip7594(s.try_into_7594(settings).map_err(kzg)?)
        }
    })
}

/// Each blob against the versioned hash of its position: `0x01 ‖ sha256(commitment)[1..]`
/// of its KZG commitment, recomputed here rather than taken from anyone.
/// The caller has checked there is one hash per blob.
fn check_blobs(blobs: &[alloy::primitives::Bytes], hashes: &[B256]) -> Result<(), DaError> {
    let settings = EnvKzgSettings::Default.get();
    for (i, (blob, want)) in blobs.iter().zip(hashes).enumerate() {
        let b =
            c_kzg::Blob::from_bytes(blob).map_err(|e| DaError::Fatal(format!("blob {i}: {e}")))?;
        let commitment = settings
            .blob_to_kzg_commitment(&b)
            .map_err(|e| DaError::Fatal(format!("blob {i}: {e}")))?;
        let got = kzg_to_versioned_hash(commitment.to_bytes().as_slice());
        if got != *want {
            return Err(DaError::Fatal(format!(
                "blob {i} does not match versioned hash {want} (its commitment gives {got})"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl DaBackend for EthereumBlobs {
    fn describe(&self) -> String {
        format!("ethereum-blobs({})", self.cfg.rpc)
    }

    fn frame_capacity(&self) -> usize {
        frame_capacity(self.cfg.max_blobs_per_tx)
    }

    async fn submit(&self, frame: &Frame) -> Result<Receipt, DaError> {
        let mut r = self
            .submit_with(std::slice::from_ref(frame), None, 0)
            .await?;
        r.pop()
            .ok_or_else(|| DaError::Fatal("da: no receipt for the frame".into()))
    }

    async fn submit_many(&self, frames: &[Frame]) -> Result<Vec<Receipt>, DaError> {
        self.submit_with(frames, None, 0).await
    }

    async fn confirm(&self, receipt: &Receipt) -> Result<Confirmation, DaError> {
        let (hash, sender, nonce) = Self::locator(receipt)?;
        let receipt_of = || async {
            self.read
                .get_transaction_receipt(hash)
                .await
                .map_err(retry("receipt"))
        };
        let rc = match receipt_of().await? {
            Some(rc) => rc,
            None => {
                // Not in a block: pending, unless the nonce has been used by another
                // transaction.
                let used = self
                    .read
                    .get_transaction_count(sender)
                    .latest()
                    .await
                    .map_err(retry("nonce"))?;
                if used <= nonce {
                    return Ok(Confirmation::Pending);
                }
                // The nonce is used: by this transaction if it was mined between the two
                // calls or its receipt is not indexed yet (the node still knows it), else by
                // another one.
                if let Some(rc) = receipt_of().await? {
                    rc
                } else {
                    let known = self
                        .read
                        .get_transaction_by_hash(hash)
                        .await
                        .map_err(retry("transaction"))?;
                    return Ok(match known {
                        Some(_) => Confirmation::Pending,
                        None => Confirmation::Dropped,
                    });
                }
            }
        };
        let Some(l1_block) = rc.block_number else {
            return Ok(Confirmation::Pending);
        };
        if !rc.status() {
            return Ok(Confirmation::Dropped);
        }
        Ok(if l1_block <= self.final_head().await? {
            Confirmation::Available { l1_block }
        } else {
            Confirmation::Included { l1_block }
        })
    }

    async fn fetch(&self, receipt: &Receipt) -> Result<Frame, DaError> {
        let (hash, _, _) = Self::locator(receipt)?;
        let (_, frames) = self
            .fetch_tx(hash)
            .await?
            .ok_or_else(|| DaError::Retry(format!("transaction {hash} not found")))?;
        let want = (receipt.first, receipt.last, receipt.part);
        frames
            .into_iter()
            .find(|f| (f.first, f.last, f.part) == want)
            .ok_or_else(|| {
                DaError::Fatal(format!(
                    "transaction {hash} holds no frame for heights {}..={} part {}",
                    want.0.0, want.1.0, want.2
                ))
            })
    }
}

const _: () = assert!(BLOB_BYTES == c_kzg::BYTES_PER_BLOB);
