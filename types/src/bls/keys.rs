//! BLS keys, signatures and proofs of possession, with their encodings and the key file format.

use crate::codec::{DecodeError, check_len};
use blst::BLST_ERROR;
use blst::min_pk;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

/// DST of ordinary signatures: Ethereum's proof-of-possession ciphersuite.
pub const SIG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// DST of proofs of possession (a signature over the public key's compressed bytes).
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Length of a compressed public key.
pub const PUBLIC_KEY_LEN: usize = 48;
/// Length of a compressed signature.
pub const SIGNATURE_LEN: usize = 96;
/// Length of a secret key.
pub const SECRET_KEY_LEN: usize = 32;
/// Largest key file accepted.
pub const MAX_KEY_FILE_LEN: u64 = 4096;
/// The `kind` of a key file.
pub const KEY_FILE_KIND: &str = "ordo-bls12-381-min-pk";

/// Why a BLS key, signature or key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlsError {
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what}: not a valid compressed point encoding")]
    BadEncoding { what: &'static str },
    #[error("{what}: the point is not on the curve")]
    NotOnCurve { what: &'static str },
    #[error("{what}: the point is not in the prime-order subgroup")]
    NotInSubgroup { what: &'static str },
    #[error("{what}: the point at infinity is not allowed")]
    Infinity { what: &'static str },
    #[error("secret key: not a valid scalar")]
    BadSecretKey,
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
    #[error("key file: {0}")]
    KeyFile(String),
}

fn point_error(what: &'static str, e: BLST_ERROR) -> BlsError {
    match e {
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => BlsError::NotOnCurve { what },
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => BlsError::NotInSubgroup { what },
        BLST_ERROR::BLST_PK_IS_INFINITY => BlsError::Infinity { what },
        _ => BlsError::BadEncoding { what },
    }
}

fn exact_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), BlsError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(BlsError::BadLength {
            what,
            expected,
            got: bytes.len(),
        })
    }
}

/// A BLS secret key. Its bytes are wiped when it is dropped and never printed.
#[derive(Clone)]
pub struct BlsSecretKey(min_pk::SecretKey);

impl fmt::Debug for BlsSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSecretKey(<redacted>, public {})", self.public_key())
    }
}

impl BlsSecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<BlsSecretKey, BlsError> {
        let mut ikm = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(ikm.as_mut()).map_err(|e| BlsError::Randomness(e.to_string()))?;
        Ok(BlsSecretKey::from_seed(&ikm))
    }

    /// The key derived from 32 bytes of seed material (IETF KeyGen); for tests and testnets.
    pub fn from_seed(ikm: &[u8; 32]) -> BlsSecretKey {
        BlsSecretKey(
            min_pk::SecretKey::key_gen(ikm, &[]).expect("KeyGen accepts 32 bytes of seed material"),
        )
    }

    /// Reads a 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlsSecretKey, BlsError> {
        exact_len("secret key", bytes, SECRET_KEY_LEN)?;
        min_pk::SecretKey::from_bytes(bytes)
            .map(BlsSecretKey)
            .map_err(|_| BlsError::BadSecretKey)
    }

    /// The 32-byte scalar, wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> BlsPublicKey {
        BlsPublicKey(self.0.sk_to_pk())
    }

    /// Signs `msg` under [`SIG_DST`]. Callers put their own domain tag at the front of `msg`.
    pub fn sign(&self, msg: &[u8]) -> BlsSignature {
        BlsSignature(self.0.sign(msg, SIG_DST, &[]))
    }

    /// The proof of possession: a signature over the compressed public key under [`POP_DST`].
    pub fn proof_of_possession(&self) -> ProofOfPossession {
        let pk = self.public_key().to_bytes();
        ProofOfPossession(BlsSignature(self.0.sign(&pk, POP_DST, &[])))
    }
}

/// A BLS public key, known to be a valid subgroup point other than the identity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsPublicKey(min_pk::PublicKey);

impl BlsPublicKey {
    /// Reads a 48-byte compressed key and validates it (on curve, in subgroup, not identity).
    pub fn from_bytes(bytes: &[u8]) -> Result<BlsPublicKey, BlsError> {
        exact_len("public key", bytes, PUBLIC_KEY_LEN)?;
        min_pk::PublicKey::key_validate(bytes)
            .map(BlsPublicKey)
            .map_err(|e| point_error("public key", e))
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.compress()
    }

    /// Checks `sig` over `msg` under [`SIG_DST`].
    pub fn verify(&self, msg: &[u8], sig: &BlsSignature) -> bool {
        // Both points were validated when they were built.
        sig.0.verify(false, msg, SIG_DST, &[], &self.0, false) == BLST_ERROR::BLST_SUCCESS
    }

    /// The EIP-2537 encoding (x then y, each 16 zero bytes and 48 big-endian bytes), as the
    /// L1's BLS12-381 precompiles take it.
    pub fn to_eip2537(&self) -> [u8; 128] {
        let raw = self.0.serialize();
        let mut out = [0u8; 128];
        for (dst, src) in out.chunks_exact_mut(64).zip(raw.chunks_exact(48)) {
            dst.split_at_mut(16).1.copy_from_slice(src);
        }
        out
    }

    pub(crate) fn raw(&self) -> &min_pk::PublicKey {
        &self.0
    }
}

/// A BLS signature, known to be a valid subgroup point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsSignature(min_pk::Signature);

impl BlsSignature {
    /// Reads a 96-byte compressed signature and validates it (on curve, in subgroup, not identity).
    pub fn from_bytes(bytes: &[u8]) -> Result<BlsSignature, BlsError> {
        exact_len("signature", bytes, SIGNATURE_LEN)?;
        min_pk::Signature::sig_validate(bytes, true)
            .map(BlsSignature)
            .map_err(|e| point_error("signature", e))
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.compress()
    }

    pub(crate) fn raw(&self) -> &min_pk::Signature {
        &self.0
    }

    pub(crate) fn from_raw(sig: min_pk::Signature) -> BlsSignature {
        BlsSignature(sig)
    }
}

/// A proof that the holder of a public key knows its secret key. Without it, an attacker could
/// register `pk' = g·x − pk_honest` and forge aggregates that seem to include honest keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ProofOfPossession(BlsSignature);

impl ProofOfPossession {
    /// Reads a 96-byte compressed proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<ProofOfPossession, BlsError> {
        BlsSignature::from_bytes(bytes).map(ProofOfPossession)
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.to_bytes()
    }

    /// The EIP-2537 encoding of the G2 point: x.c0, x.c1, y.c0, y.c1, each 16 zero bytes and
    /// 48 big-endian bytes (blst serializes c1 before c0).
    pub fn to_eip2537(&self) -> [u8; 256] {
        let raw = self.0.0.serialize();
        let mut out = [0u8; 256];
        for (dst, coord) in out.chunks_exact_mut(128).zip(raw.chunks_exact(96)) {
            let (c1, c0) = coord.split_at(48);
            let (d0, d1) = dst.split_at_mut(64);
            d0.split_at_mut(16).1.copy_from_slice(c0);
            d1.split_at_mut(16).1.copy_from_slice(c1);
        }
        out
    }

    /// Checks the proof for `pk`.
    pub fn verify(&self, pk: &BlsPublicKey) -> bool {
        let msg = pk.to_bytes();
        self.0.0.verify(false, &msg, POP_DST, &[], &pk.0, false) == BLST_ERROR::BLST_SUCCESS
    }
}

macro_rules! hex_codec {
    ($t:ty, $name:literal) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", $name, hex::encode(self.to_bytes()))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{}", hex::encode(self.to_bytes()))
            }
        }

        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let raw =
                    hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
                <$t>::from_bytes(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_codec!(BlsPublicKey, "BlsPublicKey");
hex_codec!(BlsSignature, "BlsSignature");
hex_codec!(ProofOfPossession, "ProofOfPossession");

/// The JSON key file of a validator's BLS key. The secret is hex; the public key and proof of
/// possession are stored beside it so an operator can publish them, and are checked on load.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlsKeyFile {
    pub kind: String,
    pub public_key: BlsPublicKey,
    pub proof_of_possession: ProofOfPossession,
    secret_key: String,
}

impl fmt::Debug for BlsKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlsKeyFile")
            .field("kind", &self.kind)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl Drop for BlsKeyFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}

impl BlsKeyFile {
    /// The key file of `sk`.
    pub fn new(sk: &BlsSecretKey) -> BlsKeyFile {
        BlsKeyFile {
            kind: KEY_FILE_KIND.to_string(),
            public_key: sk.public_key(),
            proof_of_possession: sk.proof_of_possession(),
            secret_key: format!("0x{}", hex::encode(sk.to_bytes().as_ref())),
        }
    }

    /// Pretty JSON. Contains the secret: write it with owner-only permissions.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string_pretty(self).expect("a key file always serializes"))
    }

    /// Parses a key file and checks that its public key and proof match its secret.
    pub fn from_json(text: &[u8]) -> Result<BlsSecretKey, BlsError> {
        check_len(text.len(), MAX_KEY_FILE_LEN)
            .map_err(|e: DecodeError| BlsError::KeyFile(e.to_string()))?;
        let file: BlsKeyFile =
            serde_json::from_slice(text).map_err(|e| BlsError::KeyFile(e.to_string()))?;
        if file.kind != KEY_FILE_KIND {
            return Err(BlsError::KeyFile(format!(
                "kind is {:?}, expected {KEY_FILE_KIND:?}",
                file.kind
            )));
        }
        let raw = Zeroizing::new(
            hex::decode(file.secret_key.trim_start_matches("0x"))
                .map_err(|e| BlsError::KeyFile(format!("secret_key: {e}")))?,
        );
        let sk = BlsSecretKey::from_bytes(&raw)?;
        if sk.public_key() != file.public_key {
            return Err(BlsError::KeyFile(
                "public_key does not belong to secret_key".into(),
            ));
        }
        if !file.proof_of_possession.verify(&file.public_key) {
            return Err(BlsError::KeyFile(
                "proof_of_possession does not verify for public_key".into(),
            ));
        }
        Ok(sk)
    }
}
