//! `ordo-p2p`: all libp2p configuration: the consensus network handed to malachite and the gossip
//! swarm for transactions. Built by the consensus and mempool issues; see docs/ARCHITECTURE.md.
