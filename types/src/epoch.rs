//! Epochs and the validator set of each, as pure functions of the stake table's events
//! (DESIGN.md, "Validator set"; docs/VALIDATORS.md).
//!
//! - Epoch `e` covers heights `e*E + 1 ..= (e+1)*E` for an epoch length `E`.
//! - Epochs 0 and 1 run the genesis set.
//! - The set of epoch `e+1` (for `e >= 1`) is [`derive`]d from the stake table's events up to
//!   the `l1_ref` of the last batch of epoch `e-1` (height `e*E`, the [`cutoff_height`]): it is
//!   known one whole epoch before it starts.
//! - Derivation replays the events in L1 order (block, then log index), ignoring any after the
//!   cut-off. A registration counts when its BLS key decodes, its proof of possession verifies,
//!   its consensus key is an ed25519 public key,
//!   neither key was used by an earlier counted registration, the operator never registered
//!   before, and its stake makes at least one unit of power. Added stake counts from its event on.
//!   An exit request removes the validator at the next derivation; so does a withdrawal.
//! - Power is stake in gwei (`stake_wei / 10^9`), capped so the set's total cannot overflow
//!   the quorum arithmetic. The set is the top `max_validators` by power; a tie goes to the
//!   earlier registration.
//! - A derivation that yields no validator keeps the previous epoch's set: the chain never
//!   halts for want of a set.
//!
//! Every validator reads the same events up to the same final L1 block, so all derive the same
//! set, and its hash is what headers carry.

use crate::bls::keys::{BlsPublicKey, ProofOfPossession};
use crate::hash::sha256;
use crate::{Address, ConsensusKey, Validator, ValidatorSet};
use std::collections::{HashMap, HashSet};

/// One wei unit of power: power is stake in gwei.
pub const WEI_PER_POWER: u128 = 1_000_000_000;

/// The chain's epoch parameters (genesis `stake`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochParams {
    /// Heights per epoch, at least 1.
    pub epoch_length: u64,
    /// Most validators in one epoch's set.
    pub max_validators: u32,
}

impl EpochParams {
    /// The epoch of `height` (heights start at 1; height 0, the genesis, is in epoch 0).
    pub fn epoch_of(&self, height: u64) -> u64 {
        height.saturating_sub(1) / self.epoch_length.max(1)
    }

    /// The first height of `epoch`.
    pub fn first_height(&self, epoch: u64) -> u64 {
        epoch.saturating_mul(self.epoch_length).saturating_add(1)
    }

    /// The last height of `epoch`.
    pub fn last_height(&self, epoch: u64) -> u64 {
        epoch.saturating_add(1).saturating_mul(self.epoch_length)
    }

    /// The height whose `l1_ref` bounds the events that decide `epoch`'s set: the last height
    /// of epoch `epoch - 2`. `None` for epochs 0 and 1, which run the genesis set.
    pub fn cutoff_height(&self, epoch: u64) -> Option<u64> {
        (epoch >= 2).then(|| self.last_height(epoch - 2))
    }
}

/// A registration as the stake table's `Registered` event carries it: the keys exactly as
/// sent, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The L1 account that registered (and alone may add stake, exit and withdraw).
    pub operator: [u8; 20],
    pub stake_wei: u128,
    pub bls_key: Vec<u8>,
    pub bls_pop: Vec<u8>,
    pub consensus_key: [u8; 32],
    /// The libp2p peer id, as bytes.
    pub peer_id: Vec<u8>,
    /// Comma-separated multiaddresses.
    pub p2p_addresses: String,
}

/// What a stake-table event changes, as far as the set is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Registered(Registration),
    StakeAdded { operator: [u8; 20], stake_wei: u128 },
    ExitRequested { operator: [u8; 20] },
    Withdrawn { operator: [u8; 20] },
}

/// A [`Change`] at its place on the L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub l1_block: u64,
    pub log_index: u64,
    pub change: Change,
}

/// One member of a derived set with how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub operator: [u8; 20],
    pub address: Address,
    pub peer_id: Vec<u8>,
    pub p2p_addresses: String,
}

/// Why a registration does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// The operator registered before (an operator registers once, as the table enforces).
    OperatorRegistered,
    BadBlsKey,
    BadProofOfPossession,
    /// The consensus key is not an ed25519 public key.
    BadConsensusKey,
    /// The BLS key of an earlier counted registration.
    BlsKeyReused,
    /// The consensus key of an earlier counted registration.
    ConsensusKeyReused,
    /// The stake is below one unit of power.
    NoPower,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ignored::OperatorRegistered => "the operator is already registered",
            Ignored::BadBlsKey => "the BLS key does not decode",
            Ignored::BadProofOfPossession => "the proof of possession does not verify",
            Ignored::BadConsensusKey => "the consensus key is not an ed25519 public key",
            Ignored::BlsKeyReused => "the BLS key was registered before",
            Ignored::ConsensusKeyReused => "the consensus key was registered before",
            Ignored::NoPower => "the stake is below 1 gwei",
        })
    }
}

/// The outcome of a derivation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    /// The set, or `None` when no registration qualifies (the previous set carries on).
    pub set: Option<ValidatorSet>,
    /// The set's members in the set's index order, with their network addresses.
    pub members: Vec<Member>,
    /// Registrations that did not count, with the operator and why, in L1 order.
    pub ignored: Vec<([u8; 20], Ignored)>,
}

/// The address of a consensus key in a validator set: the first 20 bytes of
/// `sha256("ordo.address.v1" ‖ key)`, as for genesis validators.
pub fn address_of(consensus_key: &[u8; 32]) -> Address {
    let h = sha256(&[b"ordo.address.v1", consensus_key]);
    let (head, _) = h.0.split_at(20);
    let mut a = [0u8; 20];
    a.copy_from_slice(head);
    Address(a)
}

struct Entry {
    order: (u64, u64),
    validator: Validator,
    member: Member,
    stake_wei: u128,
    exiting: bool,
}

/// The set the events up to L1 block `cutoff` (inclusive) yield, by the rules of the module.
pub fn derive(events: &[Event], cutoff: u64, max_validators: u32) -> Derived {
    let mut ordered: Vec<&Event> = events.iter().filter(|e| e.l1_block <= cutoff).collect();
    ordered.sort_by_key(|e| (e.l1_block, e.log_index));
    let mut entries: HashMap<[u8; 20], Entry> = HashMap::new();
    let mut operators = HashSet::new();
    let mut bls_keys = HashSet::new();
    let mut consensus_keys = HashSet::new();
    let mut ignored = Vec::new();
    for e in ordered {
        match &e.change {
            Change::Registered(r) => match admit(r, &operators, &bls_keys, &consensus_keys) {
                Ok((bls_key, bls_pop)) => {
                    operators.insert(r.operator);
                    bls_keys.insert(bls_key.to_bytes());
                    consensus_keys.insert(r.consensus_key);
                    let address = address_of(&r.consensus_key);
                    let validator = Validator {
                        address,
                        voting_power: 0,
                        consensus_key: ConsensusKey(r.consensus_key),
                        bls_key,
                        bls_pop,
                    };
                    let member = Member {
                        operator: r.operator,
                        address,
                        peer_id: r.peer_id.clone(),
                        p2p_addresses: r.p2p_addresses.clone(),
                    };
                    let entry = Entry {
                        order: (e.l1_block, e.log_index),
                        validator,
                        member,
                        stake_wei: r.stake_wei,
                        exiting: false,
                    };
                    entries.insert(r.operator, entry);
                }
                Err(why) => ignored.push((r.operator, why)),
            },
            Change::StakeAdded {
                operator,
                stake_wei,
            } => {
                if let Some(entry) = entries.get_mut(operator).filter(|e| !e.exiting) {
                    entry.stake_wei = entry.stake_wei.saturating_add(*stake_wei);
                }
            }
            Change::ExitRequested { operator } => {
                if let Some(entry) = entries.get_mut(operator) {
                    entry.exiting = true;
                }
            }
            Change::Withdrawn { operator } => {
                entries.remove(operator);
            }
        }
    }
    select(entries, max_validators, ignored)
}

/// Checks a registration against the entries so far; the decoded key and proof if it counts.
fn admit(
    r: &Registration,
    operators: &HashSet<[u8; 20]>,
    bls_keys: &HashSet<[u8; 48]>,
    consensus_keys: &HashSet<[u8; 32]>,
) -> Result<(BlsPublicKey, ProofOfPossession), Ignored> {
    if operators.contains(&r.operator) {
        return Err(Ignored::OperatorRegistered);
    }
    let key = BlsPublicKey::from_bytes(&r.bls_key).map_err(|_| Ignored::BadBlsKey)?;
    let pop =
        ProofOfPossession::from_bytes(&r.bls_pop).map_err(|_| Ignored::BadProofOfPossession)?;
    if !pop.verify(&key) {
        return Err(Ignored::BadProofOfPossession);
    }
    if ed25519_consensus::VerificationKey::try_from(r.consensus_key).is_err() {
        return Err(Ignored::BadConsensusKey);
    }
    if bls_keys.contains(&key.to_bytes()) {
        return Err(Ignored::BlsKeyReused);
    }
    if consensus_keys.contains(&r.consensus_key) {
        return Err(Ignored::ConsensusKeyReused);
    }
    if r.stake_wei < WEI_PER_POWER {
        return Err(Ignored::NoPower);
    }
    Ok((key, pop))
}

/// The top `max_validators` entries that are not exiting, by power then registration order.
fn select(
    entries: HashMap<[u8; 20], Entry>,
    max_validators: u32,
    ignored: Vec<([u8; 20], Ignored)>,
) -> Derived {
    let max = max_validators.max(1);
    // Each power at most a `max`-th of the largest total the quorum arithmetic allows.
    let cap = u64::MAX / 3 / u64::from(max);
    let mut live: Vec<Entry> = entries.into_values().filter(|e| !e.exiting).collect();
    for e in &mut live {
        let power = e.stake_wei / WEI_PER_POWER;
        e.validator.voting_power = u64::try_from(power).unwrap_or(u64::MAX).min(cap);
    }
    live.sort_by(|a, b| {
        b.validator
            .voting_power
            .cmp(&a.validator.voting_power)
            .then(a.order.cmp(&b.order))
    });
    live.truncate(max as usize);
    if live.is_empty() {
        return Derived {
            set: None,
            members: Vec::new(),
            ignored,
        };
    }
    let mut members: Vec<Member> = live.iter().map(|e| e.member.clone()).collect();
    let validators = live.into_iter().map(|e| e.validator).collect();
    // Every check of `ValidatorSet::new` was made above (keys unique and proven, power
    // positive, the total bounded, at most `max`), so this cannot fail; if it ever did, the
    // previous set carrying on is the safe outcome.
    let set = ValidatorSet::new(validators, max).ok();
    if let Some(set) = &set {
        let index: HashMap<Address, usize> = set
            .validators()
            .iter()
            .enumerate()
            .map(|(i, v)| (v.address, i))
            .collect();
        members.sort_by_key(|m| index.get(&m.address).copied().unwrap_or(usize::MAX));
    } else {
        members.clear();
    }
    Derived {
        set,
        members,
        ignored,
    }
}

#[cfg(test)]
#[path = "epoch_tests.rs"]
mod tests;
