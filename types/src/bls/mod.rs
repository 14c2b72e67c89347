//! BLS12-381 signatures with `blst`, in the min_pk setting (48-byte public keys in G1, 96-byte
//! signatures in G2) with Ethereum's ciphersuites: signatures use the proof-of-possession
//! scheme's DST, proofs of possession their own DST.
//!
//! - [`keys`]: secret and public keys, signatures, proofs of possession, key files.
//! - [`validator_set`]: a weighted set whose every BLS key carries a verified proof of
//!   possession (the rogue-key defence that makes fast aggregate verification sound).
//! - [`certificate`]: the aggregate certificate of a batch, checked with one pairing.
//!
//! Every point read from outside is checked to be on the curve, in the prime-order subgroup and
//! not the identity before it is used.

pub mod certificate;
pub mod keys;
pub mod validator_set;

pub use certificate::{
    ATTESTATION_DOMAIN, Aggregated, Certificate, CertificateError, SignerBitmap,
    attestation_message,
};
pub use keys::{
    BlsError, BlsKeyFile, BlsPublicKey, BlsSecretKey, BlsSignature, POP_DST, ProofOfPossession,
    SIG_DST,
};
pub use validator_set::{ConsensusKey, Validator, ValidatorSet, ValidatorSetError};
