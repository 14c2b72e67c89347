//! What ordo posts to a data-availability layer: certified batches packed into versioned,
//! checksummed **frames**, and frames packed into EIP-4844 **blobs** (docs/ENCODING.md, "DA
//! frames" and "Blobs").
//!
//! A frame covers consecutive heights `first..=last` of one chain. Its data is, per height, the
//! header layout, the body's canonical transaction encodings and the certificate. A range that
//! does not fit one frame is cut between batches; a single batch larger than a frame is split
//! into `parts` frames whose data, concatenated in part order, is that batch.
//!
//! Everything here is pure: the posting, the L1 and the checks against a validator set live
//! elsewhere. Every decoder bounds its input and returns a typed [`DecodeError`].

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::batch::Batch;
use crate::bls::Certificate;
use crate::codec::{DecodeError, Reader, check_len};
use crate::hash::{Hash, sha256};
use crate::header::{BatchHeader, HEADER_LEN};
use crate::ids::{ChainId, Height};
use crate::limits::Limits;
use crate::tx::{BatchTx, FORCED_OVERHEAD, KIND_FORCED, KIND_ORDINARY, ORDINARY_OVERHEAD};

/// The first four bytes of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"ORDA";
/// The frame layout's version.
pub const FRAME_VERSION: u8 = 2;
/// Domain tag of the frame checksum.
pub const FRAME_DOMAIN: &[u8] = b"ordo.frame.v1";
/// Bytes a frame adds around its data: magic, version, chain id, first, last, part, parts,
/// data length, checksum.
pub const FRAME_OVERHEAD: usize = 4 + 1 + 8 + 8 + 8 + 2 + 2 + 4 + 32;
/// Field elements in a blob (EIP-4844).
pub const BLOB_FIELD_ELEMENTS: usize = 4096;
/// Bytes in a blob.
pub const BLOB_BYTES: usize = BLOB_FIELD_ELEMENTS * 32;
/// Payload bytes a blob carries: 31 of every 32-byte field element (its first byte is zero, so
/// every element is below the BLS12-381 scalar modulus).
pub const BLOB_PAYLOAD: usize = BLOB_FIELD_ELEMENTS * 31;

/// A batch and the certificate that decided it: what a frame carries per height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certified {
    pub batch: Batch,
    pub certificate: Certificate,
}

impl Certified {
    /// The length of this entry in a frame's data.
    pub fn encoded_len(&self) -> usize {
        let body: usize = self.batch.txs.iter().map(BatchTx::encoded_len).sum();
        HEADER_LEN + body + 4 + self.certificate.encode().len()
    }

    /// Appends the entry: header layout, body, certificate length (u32) and certificate.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.batch.header.to_bytes());
        for t in &self.batch.txs {
            out.extend_from_slice(&t.encode());
        }
        let cert = self.certificate.encode();
        out.extend_from_slice(&(cert.len() as u32).to_be_bytes());
        out.extend_from_slice(&cert);
    }

    /// The height of the entry.
    pub fn height(&self) -> Height {
        self.batch.header.height
    }
}

/// One frame: part `part` of `parts` of the data of heights `first..=last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub chain_id: ChainId,
    pub first: Height,
    pub last: Height,
    pub part: u16,
    pub parts: u16,
    pub data: Bytes,
}

impl Frame {
    /// The frame's bytes, checksum last.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAME_OVERHEAD + self.data.len());
        out.extend_from_slice(&FRAME_MAGIC);
        out.push(FRAME_VERSION);
        out.extend_from_slice(&self.chain_id.0.to_be_bytes());
        out.extend_from_slice(&self.first.0.to_be_bytes());
        out.extend_from_slice(&self.last.0.to_be_bytes());
        out.extend_from_slice(&self.part.to_be_bytes());
        out.extend_from_slice(&self.parts.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.data);
        let sum = sha256(&[FRAME_DOMAIN, &out]);
        out.extend_from_slice(&sum.0);
        out
    }

    /// Length of [`Frame::encode`].
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + self.data.len()
    }

    /// Decodes a frame's bytes (exactly one frame, nothing after it). The data may be at most
    /// `limits.max_message_bytes`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
        check_len(
            bytes.len(),
            limits.max_message_bytes + FRAME_OVERHEAD as u64,
        )?;
        let mut r = Reader::new(bytes);
        let magic: [u8; 4] = r.array("frame magic")?;
        if magic != FRAME_MAGIC {
            return Err(invalid("frame magic", format!("{magic:02x?} is not ORDA")));
        }
        let version = r.u8("frame version")?;
        if version != FRAME_VERSION {
            return Err(DecodeError::UnknownTag {
                field: "frame version",
                tag: version.into(),
            });
        }
        let chain_id = ChainId(r.u64("frame chain id")?);
        let first = Height(r.u64("frame first height")?);
        let last = Height(r.u64("frame last height")?);
        let part = r.u16("frame part")?;
        let parts = r.u16("frame parts")?;
        let len = r.u32("frame data length")? as usize;
        if len as u64 > limits.max_message_bytes {
            return Err(DecodeError::CountOverLimit {
                field: "frame data length",
                count: len as u64,
                max: limits.max_message_bytes,
            });
        }
        let data = r.take(len, "frame data")?;
        let body_len = bytes.len() - r.remaining();
        let sum: [u8; 32] = r.array("frame checksum")?;
        r.finish("frame")?;
        let expected = sha256(&[FRAME_DOMAIN, bytes.get(..body_len).unwrap_or_default()]);
        if expected != Hash(sum) {
            return Err(invalid("frame checksum", "does not match the frame".into()));
        }
        if first.0 == 0 || last < first {
            return Err(invalid(
                "frame heights",
                format!("{}..={}", first.0, last.0),
            ));
        }
        if parts == 0 || part >= parts || (parts > 1 && first != last) {
            return Err(invalid(
                "frame part",
                format!(
                    "part {part} of {parts} for heights {}..={}",
                    first.0, last.0
                ),
            ));
        }
        Ok(Frame {
            chain_id,
            first,
            last,
            part,
            parts,
            data: Bytes::copy_from_slice(data),
        })
    }

    /// The frame's bytes spread over blobs, alone in its transaction (see [`to_blobs`]).
    pub fn to_blobs(&self) -> Vec<Vec<u8>> {
        to_blobs(&self.encode())
    }

    /// Blobs a frame with `data_len` bytes of data needs.
    pub fn blobs_for(data_len: usize) -> usize {
        (FRAME_OVERHEAD + data_len).div_ceil(BLOB_PAYLOAD)
    }
}

fn invalid(field: &'static str, reason: String) -> DecodeError {
    DecodeError::Invalid { field, reason }
}

/// The data bytes a frame of `blobs` blobs holds.
pub fn frame_capacity(blobs: usize) -> usize {
    (blobs * BLOB_PAYLOAD).saturating_sub(FRAME_OVERHEAD)
}

/// Packs consecutive certified batches into frames of at most `capacity` data bytes each:
/// batches are added to a frame while they fit; a batch larger than `capacity` gets frames of
/// its own, split into parts. The batches must be consecutive heights of `chain_id`.
pub fn pack(chain_id: ChainId, batches: &[Certified], capacity: usize) -> Vec<Frame> {
    let capacity = capacity.max(1);
    let mut frames = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut first: Option<Height> = None;
    let mut last = Height(0);
    let flush = |frames: &mut Vec<Frame>, data: &mut Vec<u8>, first: &mut Option<Height>, last| {
        if let Some(f) = first.take() {
            frames.push(Frame {
                chain_id,
                first: f,
                last,
                part: 0,
                parts: 1,
                data: Bytes::from(std::mem::take(data)),
            });
        }
    };
    for c in batches {
        let len = c.encoded_len();
        if len > capacity {
            flush(&mut frames, &mut data, &mut first, last);
            let mut one = Vec::with_capacity(len);
            c.encode_into(&mut one);
            let chunks: Vec<&[u8]> = one.chunks(capacity).collect();
            let parts = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
            for (i, chunk) in chunks.iter().enumerate() {
                frames.push(Frame {
                    chain_id,
                    first: c.height(),
                    last: c.height(),
                    part: u16::try_from(i).unwrap_or(u16::MAX),
                    parts,
                    data: Bytes::copy_from_slice(chunk),
                });
            }
            continue;
        }
        if data.len() + len > capacity {
            flush(&mut frames, &mut data, &mut first, last);
        }
        first.get_or_insert(c.height());
        last = c.height();
        c.encode_into(&mut data);
    }
    flush(&mut frames, &mut data, &mut first, last);
    frames
}

/// The data of a range from its frames: one whole frame, or every part of a split batch in
/// part order. Checks the frames agree on chain and heights and that no part is missing.
pub fn assemble(frames: &[Frame]) -> Result<Bytes, DecodeError> {
    let Some(head) = frames.first() else {
        return Err(DecodeError::Missing { field: "frame" });
    };
    if usize::from(head.parts) != frames.len() {
        return Err(invalid(
            "frame parts",
            format!("{} of {} parts", frames.len(), head.parts),
        ));
    }
    if frames.len() == 1 {
        return Ok(head.data.clone());
    }
    let mut out = Vec::with_capacity(frames.iter().map(|f| f.data.len()).sum());
    for (i, f) in frames.iter().enumerate() {
        let same = f.chain_id == head.chain_id && f.first == head.first && f.last == head.last;
        if !same || f.parts != head.parts || usize::from(f.part) != i {
            return Err(invalid(
                "frame parts",
                format!(
                    "part {} of {} does not continue heights {}",
                    f.part, f.parts, head.first.0
                ),
            ));
        }
        out.extend_from_slice(&f.data);
    }
    Ok(Bytes::from(out))
}

/// Decodes a range's data into its certified batches, heights `first..=last` in order. Checks
/// the structure (every height present once, each body matching its header, each certificate
/// naming its batch), not the signatures: that needs the validator set.
pub fn decode_entries(
    chain_id: ChainId,
    first: Height,
    last: Height,
    data: &[u8],
    limits: &Limits,
) -> Result<Vec<Certified>, DecodeError> {
    let count = last.0.checked_sub(first.0).map(|d| d + 1).unwrap_or(0);
    // Every entry takes at least a header, so a count the data cannot hold is refused before
    // anything is allocated for it.
    if count == 0 || count > (data.len() / HEADER_LEN) as u64 {
        return Err(invalid(
            "frame heights",
            format!("{}..={} in {} bytes", first.0, last.0, data.len()),
        ));
    }
    let mut r = Reader::new(data);
    let mut out = Vec::with_capacity(count as usize);
    for h in first.0..=last.0 {
        let header = BatchHeader::from_bytes(r.take(HEADER_LEN, "frame entry header")?)?;
        if header.height != Height(h) || header.chain_id != chain_id {
            return Err(invalid(
                "frame entry header",
                format!(
                    "chain {} height {} where chain {} height {h} belongs",
                    header.chain_id.0, header.height.0, chain_id.0
                ),
            ));
        }
        let body = r.take(usize_of(header.body_bytes)?, "frame entry body")?;
        let txs = decode_body(body, header.tx_count, limits)?;
        let cert_len = r.u32("frame entry certificate length")? as usize;
        let certificate =
            Certificate::decode(r.take(cert_len, "frame entry certificate")?, limits)?;
        let batch = Batch { header, txs };
        batch
            .check_body(limits)
            .map_err(|e| invalid("frame entry body", e.to_string()))?;
        if certificate.height != batch.header.height || certificate.batch_hash != batch.hash() {
            return Err(invalid(
                "frame entry certificate",
                format!("does not name the batch at height {h}"),
            ));
        }
        out.push(Certified { batch, certificate });
    }
    r.finish("frame data")?;
    Ok(out)
}

fn usize_of(n: u64) -> Result<usize, DecodeError> {
    usize::try_from(n).map_err(|_| invalid("body_bytes", format!("{n}")))
}

/// Splits a body into its `count` self-delimiting transaction encodings.
fn decode_body(body: &[u8], count: u32, limits: &Limits) -> Result<Vec<BatchTx>, DecodeError> {
    if count > limits.max_batch_txs {
        return Err(DecodeError::CountOverLimit {
            field: "batch transactions",
            count: count.into(),
            max: limits.max_batch_txs.into(),
        });
    }
    let mut r = Reader::new(body);
    let mut txs = Vec::with_capacity((count as usize).min(body.len() / ORDINARY_OVERHEAD));
    for _ in 0..count {
        let rest = body.get(body.len() - r.remaining()..).unwrap_or_default();
        let len = tx_len(rest)?;
        txs.push(BatchTx::decode(
            r.take(len, "frame entry transaction")?,
            limits,
        )?);
    }
    r.finish("frame entry body")?;
    Ok(txs)
}

/// The length of the transaction encoding `bytes` starts with, from its kind and length field.
fn tx_len(bytes: &[u8]) -> Result<usize, DecodeError> {
    let (overhead, at) = match bytes.first() {
        Some(&KIND_ORDINARY) => (ORDINARY_OVERHEAD, 9),
        Some(&KIND_FORCED) => (FORCED_OVERHEAD, 45),
        Some(&k) => {
            return Err(DecodeError::UnknownTag {
                field: "transaction kind",
                tag: k.into(),
            });
        }
        None => {
            return Err(DecodeError::Truncated {
                context: "transaction kind",
                needed: 1,
            });
        }
    };
    let mut r = Reader::new(bytes.get(at..).unwrap_or_default());
    Ok(overhead + r.u32("transaction payload length")? as usize)
}

/// Spreads `bytes` over as few blobs as hold them: 31 bytes into every 32-byte field element
/// behind a zero byte, the rest of the last blob zero.
pub fn to_blobs(bytes: &[u8]) -> Vec<Vec<u8>> {
    let n = bytes.len().div_ceil(BLOB_PAYLOAD).max(1);
    let mut blobs = vec![vec![0u8; BLOB_BYTES]; n];
    for (i, chunk) in bytes.chunks(31).enumerate() {
        let (b, fe) = (i / BLOB_FIELD_ELEMENTS, i % BLOB_FIELD_ELEMENTS);
        if let Some(dst) = blobs
            .get_mut(b)
            .and_then(|blob| blob.get_mut(fe * 32 + 1..fe * 32 + 1 + chunk.len()))
        {
            dst.copy_from_slice(chunk);
        }
    }
    blobs
}

/// The frames the blobs of one transaction carry, in blob order: one or more frames back to
/// back from the first byte, then zeros to the end of the last blob. Refuses a field element
/// whose first byte is not zero, a non-zero byte after the frames that does not start a frame,
/// and any frame that does not decode.
pub fn frames_from_blobs<B: AsRef<[u8]>>(
    blobs: &[B],
    limits: &Limits,
) -> Result<Vec<Frame>, DecodeError> {
    let max_blobs = (limits.max_message_bytes as usize + FRAME_OVERHEAD).div_ceil(BLOB_PAYLOAD);
    if blobs.is_empty() || blobs.len() > max_blobs {
        return Err(DecodeError::CountOverLimit {
            field: "blobs",
            count: blobs.len() as u64,
            max: max_blobs as u64,
        });
    }
    let mut payload = Vec::with_capacity(blobs.len() * BLOB_PAYLOAD);
    for blob in blobs {
        let blob = blob.as_ref();
        if blob.len() != BLOB_BYTES {
            return Err(DecodeError::BadLength {
                field: "blob",
                expected: BLOB_BYTES,
                got: blob.len(),
            });
        }
        for fe in blob.chunks_exact(32) {
            if fe.first() != Some(&0) {
                return Err(invalid(
                    "blob",
                    "a field element's first byte is not zero".into(),
                ));
            }
            payload.extend_from_slice(fe.get(1..).unwrap_or_default());
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = payload.get(at..).unwrap_or_default();
        if !frames.is_empty() && rest.iter().all(|b| *b == 0) {
            return Ok(frames);
        }
        if rest.get(..4) != Some(&FRAME_MAGIC[..]) {
            return Err(invalid(
                "frame magic",
                if frames.is_empty() {
                    "the blobs do not start with a frame".into()
                } else {
                    format!(
                        "non-zero bytes after frame {} that start no frame",
                        frames.len()
                    )
                },
            ));
        }
        // A frame's data length is in its fixed prefix, 33 bytes in (after magic .. parts).
        let mut r = Reader::new(rest.get(33..).unwrap_or_default());
        let len = FRAME_OVERHEAD + r.u32("frame data length")? as usize;
        let bytes = rest.get(..len).ok_or_else(|| DecodeError::Truncated {
            context: "frame in blobs",
            needed: len.saturating_sub(rest.len()),
        })?;
        frames.push(Frame::decode(bytes, limits)?);
        at += len;
    }
}

/// The blobs of one transaction carrying `frames` back to back (see [`frames_from_blobs`]).
pub fn frames_to_blobs(frames: &[Frame]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::with_capacity(frames.iter().map(Frame::encoded_len).sum());
    for f in frames {
        bytes.extend_from_slice(&f.encode());
    }
    to_blobs(&bytes)
}

/// The smallest part worth cutting from a batch to fill a blob: below it, the frame header
/// would cost more than the bytes it saves.
pub const MIN_PART: usize = 1024;

/// The frames of the next blob transaction of at most `max_blobs` blobs, for a poster that
/// streams a range of heights as they are certified: first `carry` (the parts of a batch an
/// earlier transaction split), then whole batches from `batches` (the consecutive heights after
/// it), and, where the next batch does not fit whole, its first part cut to fill the
/// transaction exactly; its other parts go to `carry`.
///
/// Unless `flush`, the transaction ends on a whole blob: what would leave its last blob partly
/// empty waits for more batches, and `None` says not even one blob is full yet. With `flush`
/// (the range is complete), everything is packed and only the last blob may be partly empty.
/// Returns the frames and how many of `batches` they took (a batch whose first part is among
/// them counts as taken). The batches must be consecutive heights of `chain_id`.
pub fn next_tx(
    chain_id: ChainId,
    carry: &mut Vec<Frame>,
    batches: &[Certified],
    max_blobs: usize,
    flush: bool,
) -> Option<(Vec<Frame>, usize)> {
    let full = max_blobs.max(1) * BLOB_PAYLOAD;
    if flush {
        let (frames, taken, _) = fill(chain_id, carry, batches, full, full);
        return (!frames.is_empty()).then_some((frames, taken));
    }
    let mut trial = carry.clone();
    let (frames, taken, used) = fill(chain_id, &mut trial, batches, full, full);
    let waste = (BLOB_PAYLOAD - used % BLOB_PAYLOAD) % BLOB_PAYLOAD;
    if frames.is_empty() || used < BLOB_PAYLOAD {
        return None;
    }
    if waste < FRAME_OVERHEAD + MIN_PART {
        *carry = trial;
        return Some((frames, taken));
    }
    // Cut at the last whole blob. When the carry alone does not fit there (its parts are
    // numbered already and cannot be cut again), wait for more.
    let mut cut = carry.clone();
    let cap = used - used % BLOB_PAYLOAD;
    let (whole, whole_taken, _) = fill(chain_id, &mut cut, batches, cap, full);
    if whole.is_empty() {
        return None;
    }
    *carry = cut;
    Some((whole, whole_taken))
}

/// Fills one transaction of `cap` payload bytes (see [`next_tx`]); parts cut after the first
/// hold up to `full` bytes each. Returns the frames, the batches taken and the bytes used.
fn fill(
    chain_id: ChainId,
    carry: &mut Vec<Frame>,
    batches: &[Certified],
    cap: usize,
    full: usize,
) -> (Vec<Frame>, usize, usize) {
    let mut out = Vec::new();
    let mut used = 0;
    while carry.first().is_some_and(|c| used + c.encoded_len() <= cap) {
        let c = carry.remove(0);
        used += c.encoded_len();
        out.push(c);
    }
    if !carry.is_empty() {
        return (out, 0, used);
    }
    let whole = |first: Height, last: Height, data: Vec<u8>| Frame {
        chain_id,
        first,
        last,
        part: 0,
        parts: 1,
        data: Bytes::from(data),
    };
    let mut data: Vec<u8> = Vec::new();
    let mut first: Option<Height> = None;
    let mut last = Height(0);
    for (taken, c) in batches.iter().enumerate() {
        let len = c.encoded_len();
        if used + FRAME_OVERHEAD + data.len() + len <= cap {
            first.get_or_insert(c.height());
            last = c.height();
            c.encode_into(&mut data);
            continue;
        }
        if let Some(f) = first.take() {
            used += FRAME_OVERHEAD + data.len();
            out.push(whole(f, last, std::mem::take(&mut data)));
        }
        let room = cap.saturating_sub(used);
        if room < FRAME_OVERHEAD + MIN_PART {
            return (out, taken, used);
        }
        let mut one = Vec::with_capacity(len);
        c.encode_into(&mut one);
        let head = (room - FRAME_OVERHEAD).min(one.len());
        let mut pieces = vec![one.get(..head).unwrap_or_default()];
        pieces.extend(
            one.get(head..)
                .unwrap_or_default()
                .chunks(full.saturating_sub(FRAME_OVERHEAD).max(1)),
        );
        let parts = u16::try_from(pieces.len()).unwrap_or(u16::MAX);
        let mut frames = pieces.iter().enumerate().map(|(i, p)| Frame {
            chain_id,
            first: c.height(),
            last: c.height(),
            part: u16::try_from(i).unwrap_or(u16::MAX),
            parts,
            data: Bytes::copy_from_slice(p),
        });
        if let Some(f) = frames.next() {
            used += f.encoded_len();
            out.push(f);
        }
        carry.extend(frames);
        return (out, taken + 1, used);
    }
    if let Some(f) = first.take() {
        used += FRAME_OVERHEAD + data.len();
        out.push(whole(f, last, data));
    }
    (out, batches.len(), used)
}

/// A split batch being gathered: its first height, its part count and its poster.
type GroupKey<K> = (u64, u16, K);

/// What [`Gather::add`] made of a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Gathered<M> {
    /// A whole range: the frame itself, or every part of a split batch in part order, with the
    /// `meta` of the part that opened the group.
    Whole(Vec<Frame>, M),
    /// A part kept until the rest of its batch comes.
    Waiting,
    /// Too many split batches are open at once; the part is dropped.
    TooMany,
}

/// Gathers the parts of split batches as frames are read from a DA layer. Groups are kept per
/// poster `K` (for blobs: the sending account): one poster sends a split's parts in order, so
/// parts of two posters never mix, and a part 0 opens its group afresh (a poster that
/// restarted may cut the same batch elsewhere). Anyone can post, so at most `max_groups`
/// groups are open at once.
#[derive(Debug)]
pub struct Gather<K, M> {
    groups: BTreeMap<GroupKey<K>, (M, Vec<Option<Frame>>)>,
    max_groups: usize,
}

impl<K: Ord + Clone, M> Gather<K, M> {
    pub fn new(max_groups: usize) -> Self {
        Gather {
            groups: BTreeMap::new(),
            max_groups,
        }
    }

    /// Takes frame `f` posted by `from`; `meta` says where it was found.
    pub fn add(&mut self, from: &K, f: Frame, meta: M) -> Gathered<M> {
        if f.parts <= 1 {
            return Gathered::Whole(vec![f], meta);
        }
        let key = (f.first.0, f.parts, from.clone());
        if f.part == 0 {
            self.groups.remove(&key);
        }
        if !self.groups.contains_key(&key) && self.groups.len() >= self.max_groups {
            return Gathered::TooMany;
        }
        let parts = usize::from(f.parts);
        let group = self
            .groups
            .entry(key.clone())
            .or_insert_with(|| (meta, vec![None; parts]));
        if let Some(slot) = group.1.get_mut(usize::from(f.part))
            && slot.is_none()
        {
            *slot = Some(f);
        }
        if group.1.iter().any(Option::is_none) {
            return Gathered::Waiting;
        }
        match self.groups.remove(&key) {
            Some((meta, frames)) => Gathered::Whole(frames.into_iter().flatten().collect(), meta),
            None => Gathered::Waiting,
        }
    }

    /// Drops the groups of heights at or below `h` (already settled).
    pub fn forget_through(&mut self, h: u64) {
        self.groups.retain(|(first, _, _), _| *first > h);
    }

    /// How many split batches are open.
    pub fn open(&self) -> usize {
        self.groups.len()
    }
}
