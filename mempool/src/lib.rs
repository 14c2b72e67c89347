//! `ordo-mempool`: the bounded per-namespace pool, admission, dedup, fairness across namespaces
//! and batch building, with no I/O. Built by the mempool issue; see docs/ARCHITECTURE.md.
