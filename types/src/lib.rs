//! `ordo-types`: the data model every part of ordo shares.
//!
//! - [`ids`]: typed integers and fixed-size byte identifiers (heights, namespaces, hashes).
//! - [`tx`]: ordinary and forced transactions and their canonical encodings.
//! - [`header`]: the batch header and its fixed-width hashing layout (docs/ENCODING.md).
//! - [`merkle`] and [`namespace_tree`]: the sha256 namespaces tree with inclusion, completeness
//!   and absence proofs a rollup checks alone.
//! - [`batch`]: a batch body, its ordering rules and the header fields derived from it.
//! - [`bls`]: BLS12-381 keys, proofs of possession, validator sets and aggregate certificates.
//! - [`da`]: certified batches packed into checksummed frames, and frames into EIP-4844 blobs.
//! - [`epoch`]: epochs and each epoch's validator set, a pure function of the stake table's
//!   events (re-exported as `ordo_consensus::epoch`).
//! - [`wire`]: protobuf messages (schemas in `proto/`) and size-limited conversions.
//!
//! Nothing in this crate does I/O, reads a clock or panics on outside input: every decoder takes
//! explicit [`Limits`] and returns a typed error.

pub mod batch;
pub mod bls;
pub mod codec;
pub mod da;
pub mod epoch;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod hash;
pub mod header;
pub mod ids;
pub mod limits;
pub mod merkle;
pub mod namespace_tree;
pub mod tx;
pub mod wire;

pub use batch::{Batch, BatchError};
pub use bls::{
    BlsError, BlsKeyFile, BlsPublicKey, BlsSecretKey, BlsSignature, Certificate, CertificateError,
    ConsensusKey, ProofOfPossession, Validator, ValidatorSet, ValidatorSetError,
};
pub use codec::DecodeError;
pub use hash::Hash;
pub use header::{BatchHeader, ForcedCursor, L1Ref};
pub use ids::{Address, ChainId, Epoch, Height, Namespace, Round, ValidatorIndex};
pub use limits::Limits;
pub use namespace_tree::{NamespaceLeaf, NamespaceProof, NamespaceTree, ProofError};
pub use tx::{BatchTx, ForcedTx, Transaction, TxId};
