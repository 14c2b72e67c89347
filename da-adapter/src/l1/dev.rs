//! A development L1: an `anvil` process (npm `@foundry-rs/anvil-linux-amd64`, installed into
//! contracts/node_modules by testnet/install-deps.sh) for tests and tools.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, RootProvider};

use super::chain::L1Error;

/// Private key of anvil's first development account (its well-known default mnemonic).
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Private key of anvil's second development account.
pub const DEV_KEY_2: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Where the `anvil` binary is: `$ORDO_ANVIL`, else contracts/node_modules, else `PATH`.
pub fn anvil_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ORDO_ANVIL") {
        return p.into();
    }
    let local =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil");
    if local.exists() {
        return local;
    }
    PathBuf::from("anvil")
}

/// A running anvil, killed on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Anvil {
    /// Starts anvil on a free loopback port; `block_time` in seconds (`None`: a block per
    /// transaction). Waits until it answers.
    pub async fn spawn(block_time: Option<u64>) -> Result<Anvil, L1Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| L1Error::Config(format!("no free port: {e}")))?;
        Anvil::spawn_on(port, block_time).await
    }

    /// Starts anvil on `port`.
    pub async fn spawn_on(port: u16, block_time: Option<u64>) -> Result<Anvil, L1Error> {
        Anvil::spawn_fork(port, block_time, "cancun").await
    }

    /// Starts anvil on `port` (0: a free one) at `hardfork` (`cancun`, `prague`, `osaka`).
    pub async fn spawn_fork(
        port: u16,
        block_time: Option<u64>,
        hardfork: &str,
    ) -> Result<Anvil, L1Error> {
        let port = match port {
            0 => std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| L1Error::Config(format!("no free port: {e}")))?,
            p => p,
        };
        let bin = anvil_binary();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--silent",
        ])
        .args(["--hardfork", hardfork])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        if let Some(t) = block_time {
            cmd.args(["--block-time", &t.to_string()]);
        }
        let child = cmd.spawn().map_err(|e| {
            L1Error::Config(format!(
                "cannot start {} ({e}); run testnet/install-deps.sh or set ORDO_ANVIL",
                bin.display()
            ))
        })?;
        let url = format!("http://127.0.0.1:{port}");
        let anvil = Anvil { child, port, url };
        let provider: RootProvider = RootProvider::new_http(
            anvil
                .url
                .parse()
                .map_err(|e| L1Error::Config(format!("{e}")))?,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if provider.get_chain_id().await.is_ok() {
                return Ok(anvil);
            }
            if Instant::now() > deadline {
                return Err(L1Error::Rpc(format!("anvil on port {port} did not start")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id (to stop and continue it, for tests of an unreachable L1).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The L1's latest block number (for measurements).
pub async fn block_number(rpc: &str) -> Result<u64, L1Error> {
    super::inbox::read_provider(rpc)?
        .get_block_number()
        .await
        .map_err(L1Error::rpc)
}

/// The L1's block interval in seconds, the mean over its latest blocks (up to 8 intervals,
/// rounded, at least 1), so one late block does not double it; `None` before it has three.
pub async fn block_interval(rpc: &str) -> Result<Option<u64>, L1Error> {
    use alloy::eips::BlockNumberOrTag;
    let p = super::inbox::read_provider(rpc)?;
    let head = p.get_block_number().await.map_err(L1Error::rpc)?;
    if head < 2 {
        return Ok(None);
    }
    let span = (head - 1).min(8);
    let stamp = |n: u64| {
        let p = p.clone();
        async move {
            p.get_block_by_number(BlockNumberOrTag::Number(n))
                .await
                .map_err(L1Error::rpc)
                .map(|b| b.map(|b| b.header.timestamp))
        }
    };
    Ok(match (stamp(head - span).await?, stamp(head).await?) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a) + span / 2).div_euclid(span).max(1)),
        _ => None,
    })
}

/// A new L1 account, funded with `ether` ETH from the account of `from_key`; its private key
/// as hex. For tests and local testnets that need one posting account per validator.
pub async fn funded_account(rpc: &str, from_key: &str, ether: u64) -> Result<String, L1Error> {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::U256;
    let new = alloy::signers::local::PrivateKeySigner::random();
    let p = super::inbox::wallet_provider(rpc, from_key)?;
    let value = U256::from(ether) * U256::from(10u64).pow(U256::from(18u64));
    let tx = alloy::rpc::types::TransactionRequest::default()
        .with_to(new.address())
        .with_value(value);
    p.send_transaction(tx)
        .await
        .map_err(L1Error::rpc)?
        .get_receipt()
        .await
        .map_err(L1Error::rpc)?;
    Ok(format!("0x{}", hex::encode(new.to_bytes())))
}
