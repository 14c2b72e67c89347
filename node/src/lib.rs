//! `ordo-node`: the validator node behind the `ordo` command. It owns everything that touches the
//! operating system: key files, configuration, storage, networking and the APIs.
//!
//! - [`keyfile`]: reading and writing secret key files with owner-only permissions.

pub mod keyfile;
