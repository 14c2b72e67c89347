//! `ordo-consensus`: the malachite `Context` of ordo (heights, rounds, votes, proposals,
//! validator sets), signing, and proposal validity including the forced-inclusion rule, as pure
//! functions. Built by the consensus issue; see docs/ARCHITECTURE.md.
