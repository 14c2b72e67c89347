//! The follower's source: a namespace's verified stream from any of several ordo nodes.

use super::{SliceSource, SourceItem};
use crate::client::Client;
use crate::verify::SliceVerifier;
use futures::StreamExt;
use futures::stream::BoxStream;
use ordo_types::{ChainId, Hash, Height, Limits, Namespace, ValidatorSet};

/// Slices from [`Client::stream_namespace`]: each one verified (certificate against the pinned
/// set, namespace proof, parent link) before it reaches the loop; a node that fails is dropped
/// for the next (`Err` items say which and why).
///
/// Buffering: the stream holds at most 64 verified slices ahead of the executor; past that it
/// stops reading and the nodes' streams wait on transport flow control. Nothing is dropped:
/// a slow executor only makes the follower lag.
#[derive(Debug)]
pub struct ClientSource {
    client: std::sync::Arc<Client>,
    chain_id: ChainId,
    set: ValidatorSet,
    namespace: Namespace,
    limits: Limits,
}

impl ClientSource {
    /// A source of `namespace` from `client`'s nodes, trusting `set` of `chain_id` (checked
    /// against the rollup's anchor by [`Client::validator_set`]).
    pub fn new(
        client: Client,
        chain_id: ChainId,
        set: ValidatorSet,
        namespace: Namespace,
    ) -> ClientSource {
        let limits = client.limits;
        ClientSource {
            client: std::sync::Arc::new(client),
            chain_id,
            set,
            namespace,
            limits,
        }
    }
}

/// How often [`ClientSource`] asks the nodes for their DA head.
const AVAILABLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl SliceSource for ClientSource {
    /// The DA head the nodes report in `Status` (the highest any answering node reports: a
    /// node's claim, as a slice's commitment level is; a rollup that must not trust it reads
    /// the L1 itself with `ordo_client::l1`).
    fn available(&mut self) -> Option<tokio::sync::watch::Receiver<u64>> {
        let client = self.client.clone();
        Some(super::poll_head(AVAILABLE_POLL, move || {
            let client = client.clone();
            async move { client.available_height().await }
        }))
    }

    fn open(&mut self, from: Height, parent: Option<Hash>) -> BoxStream<'static, SourceItem> {
        let mut verifier = SliceVerifier::new(
            self.chain_id,
            self.set.clone(),
            self.namespace,
            from,
            self.limits,
        );
        if let Some(p) = parent {
            verifier = verifier.with_parent(p);
        }
        self.client
            .stream_namespace(verifier)
            .map(|item| item.map(Into::into).map_err(|e| e.to_string()))
            .boxed()
    }
}
