//! `ordo-da-adapter`: the outside chains behind traits: data-availability backends, execution
//! backends and the L1 readers (inbox, stake table). Built by the forced-inclusion and DA issues;
//! see docs/ARCHITECTURE.md.
