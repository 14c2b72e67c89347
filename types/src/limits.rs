//! Explicit size limits for every decoder of untrusted bytes (STYLE.md 5).
//!
//! A decoder first checks the input length against a limit, then every count and length it reads,
//! so no input can make it allocate more than the limits allow.

use serde::{Deserialize, Serialize};

/// Size limits applied when decoding and validating outside input. The genesis carries the
/// network's values; [`Limits::default`] gives the embedded defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest transaction payload, in bytes.
    pub max_tx_payload: u32,
    /// Most transactions (ordinary and forced) in one batch.
    pub max_batch_txs: u32,
    /// Largest batch body (sum of canonical transaction encodings), in bytes.
    pub max_batch_bytes: u64,
    /// Largest encoded message of any kind accepted from outside, in bytes.
    pub max_message_bytes: u64,
    /// Most validators in a set (bounds certificate bitmaps and set messages).
    pub max_validators: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tx_payload: 128 * 1024,
            max_batch_txs: 100_000,
            max_batch_bytes: 16 * 1024 * 1024,
            max_message_bytes: 20 * 1024 * 1024,
            max_validators: 1024,
        }
    }
}
