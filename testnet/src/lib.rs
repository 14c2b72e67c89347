//! `ordo-testnet`: tools that drive a running local testnet from outside.
//!
//! - [`bench`]: the consensus benchmark: heights per second, submit-to-certified latency
//!   percentiles at a fixed load, CPU and resident memory per node process.
//! - [`load`]: the load generator: sustained submission over the gRPC bulk stream, ordered
//!   throughput and submit-to-ordered latency percentiles.
//! - [`watch`]: the live view of a local testnet: light load, a demo rollup, a status line per
//!   node.
//! - [`chaos`]: the chaos runner: scenarios of faults against real processes, and the checkers
//!   that judge them.
// `serde_json::Value` indexing yields `Null` instead of panicking, and the remaining slices
// are bounded by the lengths they are cut from.
#![allow(clippy::indexing_slicing)]

pub mod bench;
pub mod chaos;
pub mod da_report;
pub mod forced_bench;
pub mod load;
pub mod watch;
