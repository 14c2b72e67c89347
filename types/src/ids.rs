//! Typed integers and fixed-size identifiers, so a height is never passed where a round is meant.
//! All are fixed-width on the wire and on disk (big-endian in hashed layouts).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_newtype {
    ($(#[$m:meta])* $name:ident($inner:ty)) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw integer.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }
    };
}

int_newtype!(
    /// Identifies one ordo network; part of every header and every signed message.
    ChainId(u64)
);
int_newtype!(
    /// The position of a batch in the ordered chain; genesis is height 0, the first batch 1.
    Height(u64)
);
int_newtype!(
    /// A Tendermint round within a height.
    Round(u32)
);
int_newtype!(
    /// A run of heights with one validator set.
    Epoch(u64)
);
int_newtype!(
    /// A rollup's namespace: the unit of fairness, quotas and per-rollup proofs.
    Namespace(u64)
);
int_newtype!(
    /// A validator's position in a [`crate::ValidatorSet`], and its bit in a certificate bitmap.
    ValidatorIndex(u32)
);

impl Height {
    /// The next height, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Height> {
        self.0.checked_add(1).map(Height)
    }
}

/// A 20-byte validator address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// Reads an address from exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Address> {
        bytes.try_into().ok().map(Address)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let raw = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        Address::from_slice(&raw)
            .ok_or_else(|| serde::de::Error::custom("an address is 20 bytes (40 hex digits)"))
    }
}
