//! A toy rollup on ordo: submit transactions to any node, then stream this namespace's verified
//! slice of every batch and check the transactions are there.
//!
//! ```text
//! testnet/localnet.sh up
//! cargo run -p ordo-client --example rollup -- \
//!     --nodes http://127.0.0.1:27001,http://127.0.0.1:27004 --namespace 7 \
//!     --anchor 1:<validator set hash from `curl 127.0.0.1:27001/v1/validators`>
//! ```
//!
//! Without `--anchor` the example trusts the first node's validator set and says so: a real
//! rollup pins the chain id and validator set hash in its own configuration.

use futures::StreamExt;
use ordo_client::{Ack, Client, SliceVerifier, StreamEvent, TrustAnchor};
use ordo_types::{ChainId, Hash, Height, Limits, Namespace};
use std::collections::HashSet;

struct Args {
    nodes: Vec<String>,
    namespace: u64,
    count: u64,
    anchor: Option<TrustAnchor>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        nodes: vec!["http://127.0.0.1:27001".into()],
        namespace: 7,
        count: 10,
        anchor: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => a.nodes = value.split(',').map(String::from).collect(),
            "--namespace" => a.namespace = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--count" => a.count = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--anchor" => {
                let (chain, hash) = value
                    .split_once(':')
                    .ok_or("--anchor is <chain id>:<validator set hash>")?;
                a.anchor = Some(TrustAnchor {
                    chain_id: ChainId(chain.parse().map_err(|e| format!("{flag}: {e}"))?),
                    validator_set_hash: Hash::from_hex(hash).ok_or("bad validator set hash")?,
                });
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let client = Client::new(&a.nodes)?;
    let anchor = match a.anchor {
        Some(anchor) => anchor,
        None => {
            let mut node = client.node(0).ok_or("no node")?;
            let r = node
                .validator_set(ordo_client::api::ValidatorSetRequest { epoch: None })
                .await?
                .into_inner();
            let hash = Hash::from_slice(&r.validator_set_hash).ok_or("bad hash")?;
            eprintln!(
                "warning: trusting {} for the anchor {}:{hash}; pin it with --anchor",
                a.nodes.first().map_or("", String::as_str),
                r.chain_id
            );
            TrustAnchor {
                chain_id: ChainId(r.chain_id),
                validator_set_hash: hash,
            }
        }
    };
    let set = client.validator_set(&anchor).await?;
    let validators = set.len();
    let ns = Namespace(a.namespace);

    // Submit, waiting for each to be ordered; the client spreads them over the nodes.
    let mut pending = HashSet::new();
    let mut first = u64::MAX;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    for k in 0..a.count {
        let payload = format!("rollup tx {k} at {stamp}").into_bytes();
        let s = client.submit(ns, payload, Ack::Ordered).await?;
        let (h, i) = s.position.ok_or("ordered without a position")?;
        println!(
            "submitted {} via {}: ordered at height {h}, index {i}",
            s.id, s.node
        );
        first = first.min(h.0);
        pending.insert(s.id);
    }

    // Stream and verify from the first height that holds one of ours.
    let verifier = SliceVerifier::new(anchor.chain_id, set, ns, Height(first), Limits::default());
    let mut stream = Box::pin(client.stream_namespace(verifier));
    while !pending.is_empty() {
        match stream.next().await {
            Some(Ok(slice)) => {
                let mine = slice.txs.iter().filter(|t| pending.remove(&t.id())).count();
                println!(
                    "height {} batch {} verified: {} transactions of namespace {} ({mine} ours), {} signers",
                    slice.height,
                    slice.hash,
                    slice.txs.len(),
                    ns,
                    slice
                        .certificate
                        .signers
                        .indices(validators)
                        .map_or(0, |v| v.len()),
                );
            }
            Some(Err(StreamEvent::Rejected {
                node,
                height,
                error,
            })) => {
                eprintln!("rejected {node} at height {height}: {error}; trying another node");
            }
            Some(Err(e)) => eprintln!("{e}"),
            None => return Err("stream ended".into()),
        }
    }
    println!("all {} transactions ordered and verified", a.count);
    Ok(())
}
