//! `ordo-testnet`: local multi-node testnets, the chaos runner and its checkers, the load
//! generator and benchmarks. Built by the testnet issue; see docs/ARCHITECTURE.md.
