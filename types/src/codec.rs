//! Bounded readers and the typed error every decoder of outside bytes returns.

use thiserror::Error;

/// Why bytes from outside were refused. Decoders never panic and never allocate past a limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    #[error("input ends early: {context} needs {needed} more bytes")]
    Truncated {
        context: &'static str,
        needed: usize,
    },
    #[error("{extra} unexpected bytes after {context}")]
    TrailingBytes { context: &'static str, extra: usize },
    #[error("{field}: {count} exceeds the limit of {max}")]
    CountOverLimit {
        field: &'static str,
        count: u64,
        max: u64,
    },
    #[error("{field}: expected {expected} bytes, got {got}")]
    BadLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{field}: unknown tag {tag}")]
    UnknownTag { field: &'static str, tag: u64 },
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("protobuf: {0}")]
    Protobuf(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Refuses an input longer than `max` bytes before any parsing starts.
pub fn check_len(len: usize, max: u64) -> Result<(), DecodeError> {
    let len = len as u64;
    if len > max {
        return Err(DecodeError::TooLarge { len, max });
    }
    Ok(())
}

/// A cursor over untrusted bytes whose every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, context: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated {
                context,
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, context: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, context)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self, context: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(context)?))
    }

    pub fn u16(&mut self, context: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(context)?))
    }

    pub fn u32(&mut self, context: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(context)?))
    }

    pub fn u64(&mut self, context: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(context)?))
    }

    /// Succeeds only if every byte was read.
    pub fn finish(self, context: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                context,
                extra: self.buf.len(),
            })
        }
    }
}
