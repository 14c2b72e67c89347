//! The `OrdoStakeTable` contract (contracts/OrdoStakeTable.sol): ABI bindings, the committed
//! creation bytecode, and the calls an operator and the table's owner make. A refused call
//! fails with the contract's own error, decoded (`StakeBelowMinimum { .. }`, `NotAllowListed`).

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes as AlloyBytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolConstructor, SolInterface};
use ordo_types::bls::{BlsPublicKey, ProofOfPossession};
use ordo_types::epoch;

use super::chain::L1Error;
use super::inbox::{read_provider, wallet_provider};

alloy::sol! {
    /// Must match contracts/OrdoStakeTable.sol; a test compares it with the committed ABI.
    #[derive(Debug, PartialEq, Eq)]
    contract OrdoStakeTable {
        struct Registration {
            bytes blsKey;
            bytes blsPop;
            bytes32 consensusKey;
            bytes peerId;
            string p2pAddresses;
        }
        constructor(uint256 minStake_, uint64 unbondingBlocks_, address[] allowList);
        event AllowListed(address indexed operator, bool allowed);
        event RegistrationOpened(uint64 l1Block);
        event Registered(
            address indexed operator,
            uint256 stake,
            bytes blsKey,
            bytes blsPop,
            bytes32 consensusKey,
            bytes peerId,
            string p2pAddresses
        );
        event StakeAdded(address indexed operator, uint256 amount, uint256 stake);
        event ExitRequested(address indexed operator, uint64 l1Block);
        event Withdrawn(address indexed operator, uint256 amount);
        error NotOwner();
        error AlreadyOpen();
        error NotAllowListed(address operator);
        error AlreadyRegistered(address operator);
        error StakeBelowMinimum(uint256 stake, uint256 minimum);
        error DuplicateBlsKey(bytes blsKey);
        error DuplicateConsensusKey(bytes32 consensusKey);
        error BadKeyEncoding(string what);
        error BadProofOfPossession();
        error NotBonded(address operator);
        error NotExiting(address operator);
        error StillUnbonding(uint64 untilBlock);
        error AlreadyWithdrawn(address operator);
        error TransferFailed();
        function owner() external view returns (address);
        function minStake() external view returns (uint256);
        function unbondingBlocks() external view returns (uint64);
        function verifiesPop() external view returns (bool);
        function open() external view returns (bool);
        function allowListed(address operator) external view returns (bool);
        function setAllowListed(address operator, bool allowed) external;
        function openRegistration() external;
        function register(Registration r, bytes blsKeyG1, bytes blsPopG2) external payable;
        function addStake() external payable;
        function requestExit() external;
        function withdraw() external;
        function validator(address operator) external view returns (
            uint256 stake,
            bytes32 consensusKey,
            uint64 registeredBlock,
            uint64 exitBlock,
            bool withdrawn,
            bytes blsKey
        );
    }
}

pub use OrdoStakeTable::OrdoStakeTableErrors as StakeTableError;

/// Creation bytecode of `OrdoStakeTable`, as built by `node contracts/build.mjs` (checked in CI).
pub const STAKE_TABLE_BYTECODE_HEX: &str =
    include_str!("../../../contracts/out/OrdoStakeTable.bin");
/// The committed ABI.
pub const STAKE_TABLE_ABI_JSON: &str =
    include_str!("../../../contracts/out/OrdoStakeTable.abi.json");

/// How a stake table is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeTableParams {
    pub min_stake_wei: u128,
    pub unbonding_blocks: u64,
    /// Operators (L1 accounts) allowed to register while permissioned.
    pub allow_list: Vec<Address>,
}

/// A deployed stake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeTable {
    pub address: Address,
    /// The block of the deployment: readers start there.
    pub block: u64,
    /// Whether the L1 had EIP-2537 at deployment, so `register` checks proofs of possession.
    pub verifies_pop: bool,
}

/// What an operator registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub bls_key: BlsPublicKey,
    pub bls_pop: ProofOfPossession,
    pub consensus_key: [u8; 32],
    pub peer_id: Vec<u8>,
    /// Comma-separated multiaddresses.
    pub p2p_addresses: String,
}

/// An operator's entry as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stake_wei: U256,
    pub consensus_key: [u8; 32],
    /// 0: never registered.
    pub registered_block: u64,
    /// 0: bonded.
    pub exit_block: u64,
    pub withdrawn: bool,
    pub bls_key: Vec<u8>,
}

/// An L1 error with the contract's refusal decoded when there is one.
fn refused(what: &str, e: impl std::fmt::Display + AsRpcError) -> L1Error {
    match e.decoded() {
        Some(reason) => L1Error::Rpc(format!("{what} refused by the stake table: {reason:?}")),
        None => L1Error::Rpc(format!("{what}: {e}")),
    }
}

/// What can carry a JSON-RPC error payload with revert data.
trait AsRpcError {
    fn decoded(&self) -> Option<StakeTableError>;
}

impl<E> AsRpcError for alloy::transports::RpcError<E> {
    fn decoded(&self) -> Option<StakeTableError> {
        self.as_error_resp()?
            .as_decoded_interface_error::<StakeTableError>()
    }
}

impl AsRpcError for alloy::providers::PendingTransactionError {
    fn decoded(&self) -> Option<StakeTableError> {
        match self {
            alloy::providers::PendingTransactionError::TransportError(e) => e.decoded(),
            _ => None,
        }
    }
}

/// Sends `input` with `value` to `to` from `key_hex`'s account and waits for the receipt.
async fn send(
    rpc: &str,
    key_hex: &str,
    to: Option<Address>,
    input: Vec<u8>,
    value: U256,
    what: &str,
) -> Result<alloy::rpc::types::TransactionReceipt, L1Error> {
    let provider = wallet_provider(rpc, key_hex)?;
    let mut tx = TransactionRequest::default().with_value(value);
    tx = match to {
        Some(to) => tx.with_to(to).with_input(input),
        None => tx.with_deploy_code(AlloyBytes::from(input)),
    };
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|e| refused(what, e))?
        .get_receipt()
        .await
        .map_err(|e| refused(what, e))?;
    if !receipt.status() {
        return Err(L1Error::Rpc(format!("{what} reverted")));
    }
    Ok(receipt)
}

/// An L1 account or contract address.
pub type L1Address = Address;
/// An L1 amount (wei).
pub type L1U256 = U256;

/// The L1 account of the private key `key_hex`: the operator it registers as.
pub fn operator_of(key_hex: &str) -> Result<Address, L1Error> {
    Ok(super::inbox::signer(key_hex)?.address())
}

/// Deploys `OrdoStakeTable` from `key_hex`'s account (the table's owner).
pub async fn deploy_stake_table(
    rpc: &str,
    key_hex: &str,
    p: &StakeTableParams,
) -> Result<StakeTable, L1Error> {
    let mut code = hex::decode(STAKE_TABLE_BYTECODE_HEX.trim())
        .map_err(|e| L1Error::Config(format!("committed stake table bytecode: {e}")))?;
    code.extend(
        OrdoStakeTable::constructorCall {
            minStake_: U256::from(p.min_stake_wei),
            unbondingBlocks_: p.unbonding_blocks,
            allowList: p.allow_list.clone(),
        }
        .abi_encode(),
    );
    let receipt = send(
        rpc,
        key_hex,
        None,
        code,
        U256::ZERO,
        "the stake table deployment",
    )
    .await?;
    let (address, block) = super::inbox::deployed_at(&receipt)?;
    let verifies_pop = view(
        rpc,
        address,
        OrdoStakeTable::verifiesPopCall {},
        "verifiesPop",
    )
    .await?;
    Ok(StakeTable {
        address,
        block,
        verifies_pop,
    })
}

/// Calls a view function of the table at `table`.
async fn view<C: SolCall>(
    rpc: &str,
    table: Address,
    call: C,
    what: &str,
) -> Result<C::Return, L1Error> {
    let provider = read_provider(rpc)?;
    let tx = TransactionRequest::default()
        .with_to(table)
        .with_input(call.abi_encode());
    let out = provider.call(tx).await.map_err(|e| refused(what, e))?;
    C::abi_decode_returns(&out)
        .map_err(|e| L1Error::Config(format!("no OrdoStakeTable at {table} ({what}): {e}")))
}

/// Registers `r` with `stake_wei` from `key_hex`'s account; returns the L1 block it landed in.
pub async fn register(
    rpc: &str,
    key_hex: &str,
    table: Address,
    r: &Registration,
    stake_wei: u128,
) -> Result<u64, L1Error> {
    let call = OrdoStakeTable::registerCall {
        r: OrdoStakeTable::Registration {
            blsKey: AlloyBytes::copy_from_slice(&r.bls_key.to_bytes()),
            blsPop: AlloyBytes::copy_from_slice(&r.bls_pop.to_bytes()),
            consensusKey: B256::from(r.consensus_key),
            peerId: AlloyBytes::copy_from_slice(&r.peer_id),
            p2pAddresses: r.p2p_addresses.clone(),
        },
        blsKeyG1: AlloyBytes::copy_from_slice(&r.bls_key.to_eip2537()),
        blsPopG2: AlloyBytes::copy_from_slice(&r.bls_pop.to_eip2537()),
    };
    let receipt = send(
        rpc,
        key_hex,
        Some(table),
        call.abi_encode(),
        U256::from(stake_wei),
        "register",
    )
    .await?;
    receipt
        .block_number
        .ok_or_else(|| L1Error::Rpc("register receipt names no block".into()))
}

/// One of the calls without arguments beyond value: `addStake`, `requestExit`, `withdraw`,
/// `openRegistration`, or `setAllowListed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    AddStake { wei: u128 },
    RequestExit,
    Withdraw,
    OpenRegistration,
    SetAllowListed { operator: Address, allowed: bool },
}

/// Sends `call` to the table from `key_hex`'s account; returns the L1 block it landed in.
pub async fn call(rpc: &str, key_hex: &str, table: Address, call: Call) -> Result<u64, L1Error> {
    let (input, value, what) = match call {
        Call::AddStake { wei } => (
            OrdoStakeTable::addStakeCall {}.abi_encode(),
            U256::from(wei),
            "addStake",
        ),
        Call::RequestExit => (
            OrdoStakeTable::requestExitCall {}.abi_encode(),
            U256::ZERO,
            "requestExit",
        ),
        Call::Withdraw => (
            OrdoStakeTable::withdrawCall {}.abi_encode(),
            U256::ZERO,
            "withdraw",
        ),
        Call::OpenRegistration => (
            OrdoStakeTable::openRegistrationCall {}.abi_encode(),
            U256::ZERO,
            "openRegistration",
        ),
        Call::SetAllowListed { operator, allowed } => (
            OrdoStakeTable::setAllowListedCall { operator, allowed }.abi_encode(),
            U256::ZERO,
            "setAllowListed",
        ),
    };
    let receipt = send(rpc, key_hex, Some(table), input, value, what).await?;
    receipt
        .block_number
        .ok_or_else(|| L1Error::Rpc(format!("{what} receipt names no block")))
}

/// `operator`'s entry in the table at `table`.
pub async fn entry(rpc: &str, table: Address, operator: Address) -> Result<Entry, L1Error> {
    let v = view(
        rpc,
        table,
        OrdoStakeTable::validatorCall { operator },
        "validator",
    )
    .await?;
    Ok(Entry {
        stake_wei: v.stake,
        consensus_key: v.consensusKey.0,
        registered_block: v.registeredBlock,
        exit_block: v.exitBlock,
        withdrawn: v.withdrawn,
        bls_key: v.blsKey.to_vec(),
    })
}

/// Whether registration is open, and the table's minimum stake and unbonding delay.
pub async fn terms(rpc: &str, table: Address) -> Result<(bool, U256, u64), L1Error> {
    let open = view(rpc, table, OrdoStakeTable::openCall {}, "open").await?;
    let min = view(rpc, table, OrdoStakeTable::minStakeCall {}, "minStake").await?;
    let unbonding = view(
        rpc,
        table,
        OrdoStakeTable::unbondingBlocksCall {},
        "unbondingBlocks",
    )
    .await?;
    Ok((open, min, unbonding))
}

/// A change the stake table recorded, as the epoch derivation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeChange {
    Registered {
        operator: Address,
        stake_wei: U256,
        /// As sent: validators check the key and its proof before using them.
        bls_key: Vec<u8>,
        bls_pop: Vec<u8>,
        consensus_key: [u8; 32],
        peer_id: Vec<u8>,
        p2p_addresses: String,
    },
    StakeAdded {
        operator: Address,
        stake_wei: U256,
    },
    ExitRequested {
        operator: Address,
    },
    Withdrawn {
        operator: Address,
    },
    AllowListed {
        operator: Address,
        allowed: bool,
    },
    RegistrationOpened,
}

/// A [`StakeChange`] with where it happened on the L1, in L1 order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeEvent {
    pub l1_block: u64,
    pub log_index: u64,
    pub change: StakeChange,
}

/// Every change the table at `table` recorded in L1 blocks `from..=to`, in L1 order. Logs
/// that are not the table's events are an error (the address is wrong).
pub async fn events(
    rpc: &str,
    table: Address,
    from: u64,
    to: u64,
) -> Result<Vec<StakeEvent>, L1Error> {
    use alloy::sol_types::SolEventInterface;
    let provider = read_provider(rpc)?;
    let filter = alloy::rpc::types::Filter::new()
        .address(table)
        .from_block(from)
        .to_block(to);
    let logs = provider.get_logs(&filter).await.map_err(L1Error::rpc)?;
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        let (Some(l1_block), Some(log_index)) = (log.block_number, log.log_index) else {
            return Err(L1Error::Rpc("a stake table log without its block".into()));
        };
        let e = OrdoStakeTable::OrdoStakeTableEvents::decode_log(&log.inner)
            .map_err(|e| L1Error::Rpc(format!("not a stake table event at {table}: {e}")))?
            .data;
        use OrdoStakeTable::OrdoStakeTableEvents as E;
        let change = match e {
            E::Registered(r) => StakeChange::Registered {
                operator: r.operator,
                stake_wei: r.stake,
                bls_key: r.blsKey.to_vec(),
                bls_pop: r.blsPop.to_vec(),
                consensus_key: r.consensusKey.0,
                peer_id: r.peerId.to_vec(),
                p2p_addresses: r.p2pAddresses,
            },
            E::StakeAdded(a) => StakeChange::StakeAdded {
                operator: a.operator,
                stake_wei: a.amount,
            },
            E::ExitRequested(x) => StakeChange::ExitRequested {
                operator: x.operator,
            },
            E::Withdrawn(w) => StakeChange::Withdrawn {
                operator: w.operator,
            },
            E::AllowListed(a) => StakeChange::AllowListed {
                operator: a.operator,
                allowed: a.allowed,
            },
            E::RegistrationOpened(_) => StakeChange::RegistrationOpened,
        };
        out.push(StakeEvent {
            l1_block,
            log_index,
            change,
        });
    }
    Ok(out)
}

/// The stake table's events as the epoch derivation reads them (allow-list changes and the
/// opening of registration do not change a set; a stake past `u128::MAX` wei saturates).
pub fn epoch_events(events: &[StakeEvent]) -> Vec<epoch::Event> {
    let wei = |v: &U256| u128::try_from(*v).unwrap_or(u128::MAX);
    events
        .iter()
        .filter_map(|e| {
            let change = match &e.change {
                StakeChange::Registered {
                    operator,
                    stake_wei,
                    bls_key,
                    bls_pop,
                    consensus_key,
                    peer_id,
                    p2p_addresses,
                } => epoch::Change::Registered(epoch::Registration {
                    operator: operator.into_array(),
                    stake_wei: wei(stake_wei),
                    bls_key: bls_key.clone(),
                    bls_pop: bls_pop.clone(),
                    consensus_key: *consensus_key,
                    peer_id: peer_id.clone(),
                    p2p_addresses: p2p_addresses.clone(),
                }),
                StakeChange::StakeAdded {
                    operator,
                    stake_wei,
                } => epoch::Change::StakeAdded {
                    operator: operator.into_array(),
                    stake_wei: wei(stake_wei),
                },
                StakeChange::ExitRequested { operator } => epoch::Change::ExitRequested {
                    operator: operator.into_array(),
                },
                StakeChange::Withdrawn { operator } => epoch::Change::Withdrawn {
                    operator: operator.into_array(),
                },
                StakeChange::AllowListed { .. } | StakeChange::RegistrationOpened => {
                    return None;
                }
            };
            Some(epoch::Event {
                l1_block: e.l1_block,
                log_index: e.log_index,
                change,
            })
        })
        .collect()
}

/// Decodes a refusal from raw revert data (for callers that hold it).
pub fn decode_refusal(data: &[u8]) -> Option<StakeTableError> {
    StakeTableError::abi_decode(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolEvent;

    /// Rebuilds event and function signatures from the committed ABI and checks the bindings
    /// above name the same ones.
    #[test]
    fn bindings_match_the_committed_abi() {
        let abi: serde_json::Value = serde_json::from_str(STAKE_TABLE_ABI_JSON).expect("abi");
        let items = abi.as_array().expect("array");
        let ty = |i: &serde_json::Value| -> String {
            let t = i["type"].as_str().expect("type");
            match t.strip_prefix("tuple") {
                Some(rest) => format!(
                    "({}){rest}",
                    i["components"]
                        .as_array()
                        .expect("components")
                        .iter()
                        .map(|c| c["type"].as_str().expect("type").to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                None => t.to_string(),
            }
        };
        let sig = |name: &str| {
            let item = items
                .iter()
                .find(|i| i["name"] == name)
                .unwrap_or_else(|| panic!("{name} in the ABI"));
            let args: Vec<String> = item["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(ty)
                .collect();
            format!("{name}({})", args.join(","))
        };
        assert_eq!(sig("Registered"), OrdoStakeTable::Registered::SIGNATURE);
        assert_eq!(
            sig("ExitRequested"),
            OrdoStakeTable::ExitRequested::SIGNATURE
        );
        assert_eq!(sig("StakeAdded"), OrdoStakeTable::StakeAdded::SIGNATURE);
        assert_eq!(sig("Withdrawn"), OrdoStakeTable::Withdrawn::SIGNATURE);
        assert_eq!(sig("AllowListed"), OrdoStakeTable::AllowListed::SIGNATURE);
        assert_eq!(
            sig("RegistrationOpened"),
            OrdoStakeTable::RegistrationOpened::SIGNATURE
        );
        assert_eq!(sig("register"), OrdoStakeTable::registerCall::SIGNATURE);
        assert_eq!(sig("validator"), OrdoStakeTable::validatorCall::SIGNATURE);
        assert_eq!(
            sig("setAllowListed"),
            OrdoStakeTable::setAllowListedCall::SIGNATURE
        );
        let errors = items.iter().filter(|i| i["type"] == "error").count();
        assert_eq!(errors, StakeTableError::COUNT, "every error is bound");
        assert!(hex::decode(STAKE_TABLE_BYTECODE_HEX.trim()).is_ok_and(|b| b.len() > 100));
    }
}
