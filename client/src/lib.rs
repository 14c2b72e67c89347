//! `ordo-client`: the rollup's library: submit transactions, stream a namespace's slice of
//! every batch and verify it (certificate and proofs) without trusting any single node. Built by
//! the rollup-API issue; see docs/ARCHITECTURE.md.
