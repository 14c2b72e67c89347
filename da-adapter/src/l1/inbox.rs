//! The `OrdoInbox` contract (contracts/OrdoInbox.sol): ABI bindings, the committed creation
//! bytecode, and the two write operations ordo offers: deploying it and queueing an entry.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes as AlloyBytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent};
use ordo_types::{ForcedTx, Namespace};

use super::chain::L1Error;

alloy::sol! {
    /// Must match contracts/OrdoInbox.sol; a test compares it with the committed ABI.
    contract OrdoInbox {
        constructor(uint32 maxPayload_, uint256 fee_);
        event Enqueued(
            uint64 indexed queueIndex,
            uint64 indexed namespace,
            address indexed sender,
            uint64 l1Block,
            bytes payload
        );
        error EmptyPayload();
        error PayloadTooLarge(uint256 size, uint256 max);
        error FeeTooLow(uint256 paid, uint256 fee);
        function maxPayload() external view returns (uint32);
        function fee() external view returns (uint256);
        function nextIndex() external view returns (uint64);
        function entryHash(uint64 index) external view returns (bytes32);
        function enqueue(uint64 namespace, bytes calldata payload) external payable returns (uint64);
    }
}

pub use OrdoInbox::Enqueued as EnqueuedEvent;

/// Creation bytecode of `OrdoInbox`, as built by `node contracts/build.mjs` (checked in CI).
pub const INBOX_BYTECODE_HEX: &str = include_str!("../../../contracts/out/OrdoInbox.bin");
/// The committed ABI, for tools and for the test that keeps the bindings above honest.
pub const INBOX_ABI_JSON: &str = include_str!("../../../contracts/out/OrdoInbox.abi.json");

/// The forced transaction an `Enqueued` event stands for.
pub fn forced_from_event(e: &EnqueuedEvent) -> ForcedTx {
    ForcedTx {
        queue_index: e.queueIndex,
        l1_block: e.l1Block,
        namespace: Namespace(e.namespace),
        sender: e.sender.into_array(),
        payload: bytes::Bytes::copy_from_slice(&e.payload),
    }
}

pub(crate) fn signer(key_hex: &str) -> Result<PrivateKeySigner, L1Error> {
    key_hex
        .trim()
        .trim_start_matches("0x")
        .parse::<PrivateKeySigner>()
        .map_err(|e| L1Error::Config(format!("bad L1 private key: {e}")))
}

pub(crate) fn url(rpc: &str) -> Result<reqwest_url::Url, L1Error> {
    rpc.parse()
        .map_err(|e| L1Error::Config(format!("bad L1 RPC URL {rpc:?}: {e}")))
}

/// A read-only provider for `rpc`.
pub(crate) fn read_provider(rpc: &str) -> Result<alloy::providers::RootProvider, L1Error> {
    url(rpc).map(alloy::providers::RootProvider::new_http)
}

// alloy re-exports the URL type it takes.
mod reqwest_url {
    pub use alloy::transports::http::reqwest::Url;
}

/// A provider that signs with `key_hex`'s account and fills nonce, gas and chain id.
pub(crate) fn wallet_provider(rpc: &str, key_hex: &str) -> Result<impl Provider + use<>, L1Error> {
    let wallet = EthereumWallet::from(signer(key_hex)?);
    Ok(ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(url(rpc)?))
}

/// Sends `tx`, waits for its receipt and fails if it reverted.
/// The contract a deployment receipt created, and its block.
pub(crate) fn deployed_at(
    receipt: &alloy::rpc::types::TransactionReceipt,
) -> Result<(Address, u64), L1Error> {
    let address = receipt
        .contract_address
        .ok_or_else(|| L1Error::Rpc("deployment receipt names no contract".into()))?;
    let block = receipt
        .block_number
        .ok_or_else(|| L1Error::Rpc("deployment receipt names no block".into()))?;
    Ok((address, block))
}

async fn confirm(
    provider: &impl Provider,
    tx: TransactionRequest,
    what: &str,
) -> Result<alloy::rpc::types::TransactionReceipt, L1Error> {
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(L1Error::rpc)?
        .get_receipt()
        .await
        .map_err(L1Error::rpc)?;
    if !receipt.status() {
        return Err(L1Error::Rpc(format!("{what} reverted")));
    }
    Ok(receipt)
}

/// A deployed inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    pub address: Address,
    /// The block of the deployment: the L1 source starts reading there.
    pub block: u64,
    pub l1_chain_id: u64,
}

/// Deploys `OrdoInbox` with the given payload bound and fee, from the account of `key_hex`.
pub async fn deploy_inbox(
    rpc: &str,
    key_hex: &str,
    max_payload: u32,
    fee_wei: u128,
) -> Result<Deployed, L1Error> {
    let provider = wallet_provider(rpc, key_hex)?;
    let l1_chain_id = provider.get_chain_id().await.map_err(L1Error::rpc)?;
    let mut code = hex::decode(INBOX_BYTECODE_HEX.trim())
        .map_err(|e| L1Error::Config(format!("committed inbox bytecode is not hex: {e}")))?;
    code.extend(
        OrdoInbox::constructorCall {
            maxPayload_: max_payload,
            fee_: U256::from(fee_wei),
        }
        .abi_encode(),
    );
    let tx = TransactionRequest::default().with_deploy_code(AlloyBytes::from(code));
    let receipt = confirm(&provider, tx, "the inbox deployment").await?;
    let (address, block) = deployed_at(&receipt)?;
    Ok(Deployed {
        address,
        block,
        l1_chain_id,
    })
}

/// An entry queued by [`enqueue`], as the L1 recorded it.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub forced: ForcedTx,
    pub tx_hash: [u8; 32],
}

/// Queues `payload` for `namespace` in the inbox at `inbox`, paying its fee, and waits for the
/// receipt.
pub async fn enqueue(
    rpc: &str,
    key_hex: &str,
    inbox: Address,
    namespace: u64,
    payload: &[u8],
) -> Result<Enqueued, L1Error> {
    let provider = wallet_provider(rpc, key_hex)?;
    let fee_call = TransactionRequest::default()
        .with_to(inbox)
        .with_input(OrdoInbox::feeCall {}.abi_encode());
    let fee = OrdoInbox::feeCall::abi_decode_returns(
        &provider.call(fee_call).await.map_err(L1Error::rpc)?,
    )
    .map_err(|e| L1Error::Rpc(format!("no inbox at {inbox}: {e}")))?;
    let call = OrdoInbox::enqueueCall {
        namespace,
        payload: AlloyBytes::copy_from_slice(payload),
    };
    let tx = TransactionRequest::default()
        .with_to(inbox)
        .with_value(fee)
        .with_input(call.abi_encode());
    let what = format!("enqueue (payload {} bytes)", payload.len());
    let receipt = confirm(&provider, tx, &what).await?;
    let event = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<EnqueuedEvent>().ok())
        .ok_or_else(|| L1Error::Rpc("enqueue receipt has no Enqueued event".into()))?;
    Ok(Enqueued {
        forced: forced_from_event(&event.inner.data),
        tx_hash: receipt.transaction_hash.0,
    })
}

/// Reads the inbox's payload bound, to check it against the chain's limits.
#[cfg_attr(not(feature = "store"), allow(dead_code))]
pub(crate) async fn max_payload<P: Provider>(provider: &P, inbox: Address) -> Result<u32, L1Error> {
    let call = TransactionRequest::default()
        .with_to(inbox)
        .with_input(OrdoInbox::maxPayloadCall {}.abi_encode());
    let out = provider.call(call).await.map_err(L1Error::rpc)?;
    OrdoInbox::maxPayloadCall::abi_decode_returns(&out)
        .map_err(|e| L1Error::Config(format!("no OrdoInbox at {inbox}: {e}")))
}

/// Topic 0 of the inbox's event.
#[cfg_attr(not(feature = "store"), allow(dead_code))]
pub(crate) fn enqueued_topic() -> alloy::primitives::B256 {
    EnqueuedEvent::SIGNATURE_HASH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rebuilds each event and function signature from the committed ABI and checks the
    /// bindings above name the same ones.
    #[test]
    fn bindings_match_the_committed_abi() {
        let abi: serde_json::Value = serde_json::from_str(INBOX_ABI_JSON).expect("abi json");
        let inputs = |key: &str, value: &str| -> Vec<String> {
            let item = abi
                .as_array()
                .expect("array")
                .iter()
                .find(|i| i[key] == value)
                .unwrap_or_else(|| panic!("{value} in the ABI"));
            item["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(|i| i["type"].as_str().expect("type").to_string())
                .collect()
        };
        let sig = |name: &str| format!("{name}({})", inputs("name", name).join(","));
        assert_eq!(sig("Enqueued"), EnqueuedEvent::SIGNATURE);
        assert_eq!(sig("enqueue"), OrdoInbox::enqueueCall::SIGNATURE);
        assert_eq!(sig("maxPayload"), OrdoInbox::maxPayloadCall::SIGNATURE);
        assert_eq!(sig("fee"), OrdoInbox::feeCall::SIGNATURE);
        assert_eq!(sig("nextIndex"), OrdoInbox::nextIndexCall::SIGNATURE);
        assert_eq!(sig("entryHash"), OrdoInbox::entryHashCall::SIGNATURE);
        assert_eq!(inputs("type", "constructor"), ["uint32", "uint256"]);
        assert!(hex::decode(INBOX_BYTECODE_HEX.trim()).is_ok_and(|b| b.len() > 100));
    }
}
