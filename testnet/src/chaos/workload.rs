//! The load a scenario drives while its faults play: ordinary transactions submitted to every
//! node in turn, each awaited until ordered (recorded in `acks.jsonl`, and counted), and forced
//! entries queued on the L1 (recorded in `forced.jsonl`).

use super::cluster::{Cluster, DEV_KEY, l1_rpc};
use super::manifest::Manifest;
use super::record::{Lines, Logs, now_ms};
use ordo_client::{Ack as AckLevel, Client};
use ordo_types::Namespace;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

/// After the load stops, how long the nodes keep running (and are sampled) so that what was
/// queued last can be ordered.
pub(super) const DRAIN: Duration = Duration::from_secs(6);

#[derive(Default)]
pub(super) struct LoadCounters {
    sent: AtomicU64,
    ordered: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

impl LoadCounters {
    /// The verdict's `load` figures.
    pub(super) fn to_json(&self) -> Value {
        json!({
            "sent": self.sent.load(Relaxed),
            "ordered": self.ordered.load(Relaxed),
            "not_acknowledged": self.failed.load(Relaxed),
            "skipped_backpressure": self.skipped.load(Relaxed),
        })
    }
}

/// The tasks of the load and of the forced entries, and the flag that stops both.
pub(super) struct Workload {
    stop: Arc<AtomicBool>,
    counters: Arc<LoadCounters>,
    loader: JoinHandle<()>,
    forcer: JoinHandle<()>,
}

impl Workload {
    /// Starts the load on `c`'s nodes and the forced entries on its L1 (`genesis`: the
    /// testnet's genesis file).
    pub(super) fn start(m: &Manifest, c: &Cluster, genesis: &Path, logs: &Logs) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LoadCounters::default());
        let loader = tokio::spawn(load(
            m.clone(),
            c.rpcs.clone(),
            logs.acks.clone(),
            stop.clone(),
            counters.clone(),
        ));
        let forcer = tokio::spawn(forced(
            m.clone(),
            l1_rpc(&c.net),
            genesis.to_path_buf(),
            logs.forced.clone(),
            stop.clone(),
        ));
        Workload {
            stop,
            counters,
            loader,
            forcer,
        }
    }

    /// Stops both and waits for them (the load's submissions in flight, up to [`DRAIN`]);
    /// returns what the load counted.
    pub(super) async fn stop(self) -> Arc<LoadCounters> {
        self.stop.store(true, Relaxed);
        let _ = self.loader.await;
        let _ = self.forcer.await;
        self.counters
    }
}

/// Submits `rate` transactions a second, in turn to every node, each awaited until *ordered*;
/// every ordered acknowledgement is recorded.
async fn load(
    m: Manifest,
    rpcs: Vec<SocketAddr>,
    out: Lines,
    stop: Arc<AtomicBool>,
    counters: Arc<LoadCounters>,
) {
    if m.load.rate <= 0.0 {
        return;
    }
    let clients: Vec<Option<Arc<Client>>> = rpcs
        .iter()
        .map(|a| Client::new(&[format!("http://{a}")]).ok().map(Arc::new))
        .collect();
    // At most this many submissions wait on a node at once (a partitioned node holds them).
    let permits: Vec<Arc<tokio::sync::Semaphore>> = rpcs
        .iter()
        .map(|_| Arc::new(tokio::sync::Semaphore::new(200)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / m.load.rate);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    while !stop.load(Relaxed) {
        tick.tick().await;
        let node = (seq as usize) % rpcs.len();
        let Some(client) = clients[node].clone() else {
            continue;
        };
        let Ok(permit) = permits[node].clone().try_acquire_owned() else {
            counters.skipped.fetch_add(1, Relaxed);
            seq += 1;
            continue;
        };
        let payload = payload(&m, seq);
        let ns = Namespace(1 + seq % 4);
        seq += 1;
        counters.sent.fetch_add(1, Relaxed);
        let submission = Submission {
            client,
            node,
            ns,
            payload,
        };
        tasks.spawn(submission.run(permit, out.clone(), counters.clone()));
        while tasks.try_join_next().is_some() {}
    }
    // What is in flight when the load stops still counts, for as long as the drain lasts.
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// The `seq`th transaction's payload: the seed and `seq`, padded to the load's size.
fn payload(m: &Manifest, seq: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(m.load.size.max(16));
    payload.extend_from_slice(&m.seed.to_be_bytes());
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.resize(m.load.size.max(16), (seq % 251) as u8);
    payload
}

/// One transaction of the load, for node `node`.
struct Submission {
    client: Arc<Client>,
    node: usize,
    ns: Namespace,
    payload: Vec<u8>,
}

impl Submission {
    /// Submits it and awaits it until ordered (30 s at most), holding `permit` meanwhile;
    /// records its position, or counts it not acknowledged.
    async fn run(self, permit: OwnedSemaphorePermit, out: Lines, counters: Arc<LoadCounters>) {
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.submit(self.ns, self.payload, AckLevel::Ordered),
        )
        .await;
        drop(permit);
        match r {
            Ok(Ok(s)) => match s.position {
                Some((h, index)) => {
                    counters.ordered.fetch_add(1, Relaxed);
                    out.push(
                        &json!({"id": s.id.to_string(), "height": h.0, "index": index,
                        "node": self.node, "at_ms": now_ms()}),
                    );
                }
                None => {
                    counters.failed.fetch_add(1, Relaxed);
                }
            },
            _ => {
                counters.failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Queues a forced entry on the L1 every `forced_every_s` until `stop`.
async fn forced(m: Manifest, l1: String, genesis: PathBuf, out: Lines, stop: Arc<AtomicBool>) {
    if !m.l1 || m.load.forced_every_s <= 0.0 {
        return;
    }
    let every = Duration::from_secs_f64(m.load.forced_every_s);
    let mut k = 0u64;
    let mut next = Instant::now() + every;
    while !stop.load(Relaxed) {
        tokio::time::sleep_until(next.into()).await;
        next = Instant::now().max(next) + every;
        if stop.load(Relaxed) {
            break;
        }
        let payload = [m.seed.to_be_bytes(), k.to_be_bytes()].concat();
        k += 1;
        let genesis = genesis.to_string_lossy().into_owned();
        // The deadline runs from the moment the entry is sent: the call returns only once the
        // L1 has confirmed it, by when the validators may already have ordered it.
        let sent = now_ms();
        match ordo_node::l1::enqueue(&l1, DEV_KEY, &genesis, 9, &payload).await {
            Ok(e) => out.push(&json!({"queue_index": e.forced.queue_index,
                "l1_block": e.forced.l1_block, "at_ms": sent})),
            Err(e) => eprintln!("chaos: enqueue on the L1 failed: {e:#}"),
        }
    }
}
