//! The pure half of reading the inbox: which blocks to read next, whether what was read is still
//! the L1's history, and whether a range's logs continue the queue within the limits and the
//! in-memory cap. No network and no clock: the source fetches, these decide.
//!
//! **The cap.** The source keeps the entries it read and the chain has not ordered yet in
//! memory. Past [`Cap`] (entries or payload bytes) it stops reading ahead: the L1 keeps the
//! entries it has not read, the cache keeps those it has, and reading resumes as ordering prunes
//! them. Two exceptions keep forced inclusion live:
//! - **The due horizon.** An entry queued at L1 block `b` becomes due only once a batch names
//!   an `l1_ref` of at least `b + inclusion_delay`, and an honest proposer names its head less
//!   `ref_margin`. So the source always reads up to `b + inclusion_delay + ref_margin` for the
//!   oldest entry it holds, cap or not: otherwise entries held at the cap could never become
//!   due, never be ordered, never be pruned. Memory is then bounded by the cap plus the entries
//!   of that many L1 blocks, which the L1's gas limit bounds.
//! - **Progress.** A range is cut at an L1 block boundary (a block's entries are read together
//!   or not at all, since `read_to` means "everything up to here"), and a source holding
//!   nothing reads the next block with entries, however large.

use ordo_types::{ForcedTx, Hash, L1Ref, Limits};

use super::chain::L1Error;

/// The most unordered entries the source keeps in memory before it stops reading ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub entries: usize,
    /// Sum of the entries' payloads.
    pub bytes: u64,
}

impl Default for Cap {
    /// 16,384 entries or 64 MiB of payload: four full batches' worth of the default limits'
    /// bytes, ordered in a few heights once due.
    fn default() -> Cap {
        Cap {
            entries: 16_384,
            bytes: 64 * 1024 * 1024,
        }
    }
}

/// Entries held in memory (read, not yet ordered): their count and payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub entries: usize,
    pub bytes: u64,
}

impl Held {
    fn add(self, e: &ForcedTx) -> Held {
        Held {
            entries: self.entries + 1,
            bytes: self.bytes + e.payload.len() as u64,
        }
    }

    pub(crate) fn plus(self, other: &Held) -> Held {
        Held {
            entries: self.entries + other.entries,
            bytes: self.bytes + other.bytes,
        }
    }

    pub(crate) fn minus(self, e: &ForcedTx) -> Held {
        Held {
            entries: self.entries.saturating_sub(1),
            bytes: self.bytes.saturating_sub(e.payload.len() as u64),
        }
    }

    fn within(self, cap: Cap) -> bool {
        self.entries <= cap.entries && self.bytes <= cap.bytes
    }

    pub(crate) fn of<'a>(entries: impl IntoIterator<Item = &'a ForcedTx>) -> Held {
        entries.into_iter().fold(Held::default(), Held::add)
    }
}

/// What one poll does once the endpoint's final head (`target`) is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// The block read last, whose hash the L1 must still have (fetched, unless it is the
    /// target itself).
    pub verify: Option<L1Ref>,
    /// The blocks to read, inclusive; `None` when there is nothing new, or the source is at
    /// the cap and past the due horizon.
    pub read: Option<(u64, u64)>,
    /// Whether the range is cut at the cap ([`check_range`]); false at the cap, for a read up
    /// to the due horizon.
    pub capped: bool,
}

/// Where the source is and what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The last block read.
    pub read_to: Option<L1Ref>,
    pub held: Held,
    /// The L1 block of the oldest entry held.
    pub oldest: Option<u64>,
}

/// Plans one poll: verify the last block read, then read at most `max_range` blocks after it
/// (from `start_block` on the first read). At the cap, read only up to the due horizon of the
/// oldest held entry (`oldest + due_after`, `due_after` being the inclusion delay plus the
/// proposers' margin), uncut.
pub fn plan(
    at: Position,
    target: L1Ref,
    start_block: u64,
    max_range: u64,
    cap: Cap,
    due_after: u64,
) -> Plan {
    let (verify, from) = match at.read_to {
        // This endpoint's final head is behind what was read: nothing to check or read here.
        Some(r) if target.number < r.number => return Plan::default(),
        // The last block number there is: verify it, nothing can follow it.
        Some(r) if r.number == u64::MAX => {
            return Plan {
                verify: Some(r),
                ..Plan::default()
            };
        }
        Some(r) => (Some(r), r.number + 1),
        None => (None, start_block),
    };
    let mut to = target.number.min(from.saturating_add(max_range.max(1) - 1));
    let held = at.held;
    // A source holding nothing is never full, whatever the cap: it must always progress.
    let full = held != Held::default() && (held.entries >= cap.entries || held.bytes >= cap.bytes);
    if full {
        let horizon = at.oldest.map_or(0, |b| b.saturating_add(due_after));
        to = to.min(horizon);
    }
    Plan {
        verify,
        read: (from <= to).then_some((from, to)),
        capped: !full,
    }
}

/// The L1 still has, at `read.number`, the block that was read (`now` is what it has there).
pub fn same_history(read: L1Ref, now: L1Ref) -> Result<(), L1Error> {
    if now.hash == read.hash {
        Ok(())
    } else {
        Err(L1Error::Reorg {
            number: read.number,
            stored: read.hash,
            found: now.hash,
        })
    }
}

/// One inbox log as fetched: where the L1 says it is, and the entry its event decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxLog {
    pub block_number: Option<u64>,
    pub block_hash: Option<Hash>,
    pub removed: bool,
    pub entry: ForcedTx,
}

/// A range's logs, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// The new entries, in queue order.
    pub entries: Vec<ForcedTx>,
    /// Block hashes the logs carried, for the blocks read.
    pub hashes: Vec<(u64, Hash)>,
    /// The last block read: `to`, or the block before the first one the cap left out; `None`
    /// when that is the range's first block (nothing new read).
    pub read_to: Option<u64>,
}

/// Checks the logs of blocks `from..=to` (sorted by block and log index) against the queue,
/// whose next entry is `next`: no removed log, each event in the block it names, queue indices
/// consecutive (earlier ones were read before and are skipped), payloads within the limits.
/// With a `cap`, keeps whole blocks while `held` plus the new entries stay within it; when
/// nothing is held, the first block with entries is kept whatever its size. Without one (a read
/// up to the due horizon), keeps every block.
pub fn check_range(
    logs: &[InboxLog],
    (from, to): (u64, u64),
    mut next: u64,
    limits: &Limits,
    held: Held,
    cap: Option<Cap>,
) -> Result<Checked, L1Error> {
    let mut out = Checked {
        read_to: Some(to),
        ..Checked::default()
    };
    let mut with = held;
    // Entries of the block being read, kept only once the whole block fits.
    let mut block: Option<u64> = None;
    let mut pending: Vec<ForcedTx> = Vec::new();
    let mut pending_hash = None;
    for log in logs {
        if log.removed {
            return Err(L1Error::Rpc("a final log is marked removed".into()));
        }
        let e = &log.entry;
        if log.block_number != Some(e.l1_block) {
            return Err(L1Error::Rpc(format!(
                "inbox event of block {:?} claims block {}",
                log.block_number, e.l1_block
            )));
        }
        if e.l1_block < from || e.l1_block > to {
            return Err(L1Error::Rpc(format!(
                "inbox event of block {} outside the range {from}..={to} asked for",
                e.l1_block
            )));
        }
        if e.queue_index < next {
            continue; // read before (a range re-read after an error)
        }
        if e.queue_index != next {
            return Err(L1Error::Gap {
                expected: next,
                found: e.queue_index,
            });
        }
        if e.payload.len() > limits.max_tx_payload as usize || e.payload.is_empty() {
            return Err(L1Error::Config(format!(
                "inbox entry {} has a {}-byte payload, outside this chain's limits",
                e.queue_index,
                e.payload.len()
            )));
        }
        if block != Some(e.l1_block) {
            if !keep_block(&mut out, &mut with, &mut pending, pending_hash, held, cap) {
                return Ok(cut(out, block, from));
            }
            block = Some(e.l1_block);
            pending_hash = log.block_hash.map(|h| (e.l1_block, h));
        }
        next += 1;
        pending.push(e.clone());
    }
    if !keep_block(&mut out, &mut with, &mut pending, pending_hash, held, cap) {
        return Ok(cut(out, block, from));
    }
    Ok(out)
}

/// Moves the block being read into `out` if it fits; false if the cap leaves it out.
fn keep_block(
    out: &mut Checked,
    with: &mut Held,
    pending: &mut Vec<ForcedTx>,
    hash: Option<(u64, Hash)>,
    held: Held,
    cap: Option<Cap>,
) -> bool {
    if pending.is_empty() {
        return true;
    }
    let grown = pending.iter().fold(*with, Held::add);
    let first_ever = held == Held::default() && out.entries.is_empty();
    if cap.is_some_and(|cap| !grown.within(cap)) && !first_ever {
        return false;
    }
    *with = grown;
    out.entries.append(pending);
    out.hashes.extend(hash);
    true
}

/// The range read up to the block before `left_out` (the first block of the range that did
/// not fit); `None` when that is the range's first block.
fn cut(mut out: Checked, left_out: Option<u64>, from: u64) -> Checked {
    out.read_to = left_out
        .and_then(|b| b.checked_sub(1))
        .filter(|&b| b >= from);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_types::Namespace;

    fn r(number: u64, h: u8) -> L1Ref {
        L1Ref {
            number,
            hash: Hash([h; 32]),
        }
    }

    fn entry(queue_index: u64, l1_block: u64, len: usize) -> ForcedTx {
        ForcedTx {
            queue_index,
            l1_block,
            namespace: Namespace(7),
            sender: [1; 20],
            payload: vec![0xab; len].into(),
        }
    }

    fn log(queue_index: u64, block: u64) -> InboxLog {
        InboxLog {
            block_number: Some(block),
            block_hash: Some(Hash([block as u8; 32])),
            removed: false,
            entry: entry(queue_index, block, 4),
        }
    }

    const CAP: Cap = Cap {
        entries: 3,
        bytes: 1_000,
    };

    struct Case<I, E> {
        case: &'static str,
        input: I,
        expected: E,
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table
    fn plans() {
        let none = Held::default();
        let full = Held {
            entries: 3,
            bytes: 12,
        };
        let heavy = Held {
            entries: 1,
            bytes: 1_000,
        };
        let at = |read_to: Option<L1Ref>, held: Held, oldest: Option<u64>| Position {
            read_to,
            held,
            oldest,
        };
        let read = |from, to, capped| Plan {
            verify: Some(r(70, 2)),
            read: Some((from, to)),
            capped,
        };
        // (position, target); start block 50, max_range 10, due after 3 blocks.
        let cases = [
            Case {
                case: "first read starts at the inbox's deployment",
                input: (at(None, none, None), r(100, 1)),
                expected: Plan {
                    verify: None,
                    read: Some((50, 59)),
                    capped: true,
                },
            },
            Case {
                case: "first read, the final head is before the deployment",
                input: (at(None, none, None), r(40, 1)),
                expected: Plan {
                    verify: None,
                    read: None,
                    capped: true,
                },
            },
            Case {
                case: "caught up: only the head's hash is verified",
                input: (at(Some(r(70, 2)), none, None), r(70, 2)),
                expected: Plan {
                    verify: Some(r(70, 2)),
                    read: None,
                    capped: true,
                },
            },
            Case {
                case: "the range is bounded by max_range",
                input: (at(Some(r(70, 2)), none, None), r(200, 3)),
                expected: read(71, 80, true),
            },
            Case {
                case: "the range ends at the final head",
                input: (at(Some(r(70, 2)), none, None), r(73, 3)),
                expected: read(71, 73, true),
            },
            Case {
                case: "an endpoint behind what was read: nothing to do",
                input: (at(Some(r(70, 2)), none, None), r(65, 3)),
                expected: Plan::default(),
            },
            Case {
                case: "at the entry cap, the held entries' due horizon passed: no reading ahead",
                input: (at(Some(r(70, 2)), full, Some(60)), r(200, 3)),
                expected: Plan {
                    verify: Some(r(70, 2)),
                    read: None,
                    capped: false,
                },
            },
            Case {
                case: "at the byte cap, horizon passed: no reading ahead",
                input: (at(Some(r(70, 2)), heavy, Some(67)), r(200, 3)),
                expected: Plan {
                    verify: Some(r(70, 2)),
                    read: None,
                    capped: false,
                },
            },
            Case {
                case: "at the cap: read on, uncut, to the oldest held entry's due horizon",
                input: (at(Some(r(70, 2)), full, Some(69)), r(200, 3)),
                expected: read(71, 72, false),
            },
            Case {
                case: "at the cap, the horizon beyond max_range: max_range bounds it",
                input: (at(Some(r(70, 2)), heavy, Some(100)), r(200, 3)),
                expected: read(71, 80, false),
            },
            Case {
                case: "at the cap, the horizon beyond the final head",
                input: (at(Some(r(70, 2)), full, Some(70)), r(72, 3)),
                expected: read(71, 72, false),
            },
        ];
        for c in cases {
            let (position, target) = c.input;
            assert_eq!(
                plan(position, target, 50, 10, CAP, 3),
                c.expected,
                "{}",
                c.case
            );
        }
    }

    #[test]
    fn a_zero_cap_still_reads_when_nothing_is_held() {
        let zero = Cap {
            entries: 0,
            bytes: 0,
        };
        let p = plan(Position::default(), r(60, 1), 50, 100, zero, 0);
        assert_eq!(p.read, Some((50, 60)));
    }

    #[test]
    fn a_head_at_the_last_block_number_is_verified_not_overflowed() {
        let top = r(u64::MAX, 4);
        let at = Position {
            read_to: Some(top),
            ..Position::default()
        };
        assert_eq!(
            plan(at, top, 50, 10, CAP, 3),
            Plan {
                verify: Some(top),
                read: None,
                capped: false,
            }
        );
    }

    #[test]
    fn same_history_or_reorg() {
        assert_eq!(same_history(r(9, 1), r(9, 1)).ok(), Some(()));
        let Err(L1Error::Reorg {
            number,
            stored,
            found,
        }) = same_history(r(9, 1), r(9, 2))
        else {
            panic!("a different hash at a block read is a reorg");
        };
        assert_eq!((number, stored, found), (9, Hash([1; 32]), Hash([2; 32])));
    }

    /// `Ok` results, or the error's text (the variant with its fields, as `Debug`).
    fn checked(
        logs: &[InboxLog],
        range: (u64, u64),
        next: u64,
        held: Held,
        cap: Option<Cap>,
    ) -> Result<Checked, String> {
        let limits = Limits {
            max_tx_payload: 8,
            ..Limits::default()
        };
        check_range(logs, range, next, &limits, held, cap).map_err(|e| format!("{e:?}"))
    }

    fn ok(entries: &[(u64, u64)], blocks: &[u64], read_to: Option<u64>) -> Result<Checked, String> {
        Ok(Checked {
            entries: entries.iter().map(|&(q, b)| entry(q, b, 4)).collect(),
            hashes: blocks.iter().map(|&b| (b, Hash([b as u8; 32]))).collect(),
            read_to,
        })
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table
    fn checks_ranges() {
        let none = Held::default();
        let one = Held {
            entries: 1,
            bytes: 4,
        };
        let mut removed = log(5, 11);
        removed.removed = true;
        let mut misplaced = log(5, 11);
        misplaced.block_number = Some(12);
        let mut too_big = log(5, 11);
        too_big.entry.payload = vec![1; 9].into();
        let mut empty = log(5, 11);
        empty.entry.payload = Vec::new().into();
        // (logs, next, held)
        let cases = [
            Case {
                case: "no logs: the whole range is read",
                input: (vec![], 5, none),
                expected: ok(&[], &[], Some(20)),
            },
            Case {
                case: "consecutive entries over two blocks",
                input: (vec![log(5, 11), log(6, 11), log(7, 14)], 5, none),
                expected: ok(&[(5, 11), (6, 11), (7, 14)], &[11, 14], Some(20)),
            },
            Case {
                case: "entries read before are skipped (a re-read after an error)",
                input: (vec![log(3, 10), log(4, 10), log(5, 11)], 5, none),
                expected: ok(&[(5, 11)], &[11], Some(20)),
            },
            Case {
                case: "gap: an entry is missing",
                input: (vec![log(5, 11), log(7, 12)], 5, none),
                expected: Err("Gap { expected: 6, found: 7 }".into()),
            },
            Case {
                case: "gap: the first entry is not the next",
                input: (vec![log(6, 11)], 5, none),
                expected: Err("Gap { expected: 5, found: 6 }".into()),
            },
            Case {
                case: "removed log",
                input: (vec![removed], 5, none),
                expected: Err("Rpc(\"a final log is marked removed\")".into()),
            },
            Case {
                case: "an event claiming another block than its log's",
                input: (vec![misplaced], 5, none),
                expected: Err("Rpc(\"inbox event of block Some(12) claims block 11\")".into()),
            },
            Case {
                case: "a log outside the range asked for",
                input: (vec![log(5, 25)], 5, none),
                expected: Err(
                    "Rpc(\"inbox event of block 25 outside the range 10..=20 asked for\")".into(),
                ),
            },
            Case {
                case: "over the payload limit",
                input: (vec![too_big], 5, none),
                expected: Err("Config(\"inbox entry 5 has a 9-byte payload, outside this \
                               chain's limits\")"
                    .into()),
            },
            Case {
                case: "an empty payload",
                input: (vec![empty], 5, none),
                expected: Err("Config(\"inbox entry 5 has a 0-byte payload, outside this \
                               chain's limits\")"
                    .into()),
            },
            Case {
                case: "the cap cuts at the block boundary before the block that overflows",
                input: (vec![log(5, 11), log(6, 13), log(7, 13)], 5, one),
                expected: ok(&[(5, 11)], &[11], Some(12)),
            },
            Case {
                case: "the cap fits exactly",
                input: (vec![log(5, 11), log(6, 13)], 5, one),
                expected: ok(&[(5, 11), (6, 13)], &[11, 13], Some(20)),
            },
            Case {
                case: "nothing held: the first block is read whatever its size",
                input: (
                    vec![log(5, 11), log(6, 11), log(7, 11), log(8, 11), log(9, 12)],
                    5,
                    none,
                ),
                expected: ok(&[(5, 11), (6, 11), (7, 11), (8, 11)], &[11], Some(11)),
            },
            Case {
                case: "something held and block 11 overflows: read to block 10, empty",
                input: (vec![log(5, 11), log(6, 11), log(7, 11)], 5, one),
                expected: ok(&[], &[], Some(10)),
            },
            Case {
                case: "something held and the range's first block overflows: nothing read",
                input: (vec![log(5, 10), log(6, 10), log(7, 10)], 5, one),
                expected: ok(&[], &[], None),
            },
        ];
        for c in cases {
            let (logs, next, held) = c.input;
            assert_eq!(
                checked(&logs, (10, 20), next, held, Some(CAP)),
                c.expected,
                "{}",
                c.case
            );
        }
        // A read up to the due horizon is not cut, however much is held.
        let full = Held {
            entries: 3,
            bytes: 12,
        };
        assert_eq!(
            checked(&[log(5, 11), log(6, 13)], (10, 20), 5, full, None),
            ok(&[(5, 11), (6, 13)], &[11, 13], Some(20))
        );
    }

    #[test]
    fn held_counts_entries_and_payload_bytes() {
        let es = [entry(0, 1, 3), entry(1, 1, 5)];
        assert_eq!(
            Held::of(&es),
            Held {
                entries: 2,
                bytes: 8
            }
        );
        assert!(
            Held {
                entries: 3,
                bytes: 1_000
            }
            .within(CAP)
        );
        assert!(
            !Held {
                entries: 4,
                bytes: 0
            }
            .within(CAP)
        );
        assert!(
            !Held {
                entries: 0,
                bytes: 1_001
            }
            .within(CAP)
        );
    }
}
