//! Chunk codecs: compress runs of float samples of one series.
//!
//! A chunk is an opaque byte string plus an [`Encoding`] byte that the
//! container stores next to it (the RocksDB chunk value, the WAL record).
//! This module only turns samples into bytes and back: it does no I/O, keeps
//! no state beyond the chunk being built, and carries no checksum (the
//! container checksums what it stores).
//!
//! The only encoding is [`Encoding::Xor`]: Gorilla-style delta-of-delta
//! timestamps and XOR-compressed values, written by [`XorAppender`] and read
//! by [`XorIter`]. Its byte layout is specified in
//! `storage/docs/format/chunk.md`.
//!
//! Invariants:
//! - encoding byte values are frozen once released: a changed layout gets a
//!   new byte, never a new meaning for an old one;
//! - decoding is total: arbitrary bytes produce samples or a [`ChunkError`],
//!   never a panic, and never more samples than the chunk header announces;
//! - samples round-trip bit-exact (timestamps over all of `i64`, values as
//!   their 64-bit pattern, so NaN payloads such as the staleness marker and
//!   `-0.0` survive).

pub mod bstream;
mod xor;

pub use bstream::{BitReader, BitWriter, EndOfStream};
pub use xor::{XorAppender, XorIter, HEADER_LEN, MAX_SAMPLES};

use crate::Sample;

/// How a chunk's bytes are encoded; stored by the chunk's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Delta-of-delta timestamps and XOR floats ([`XorAppender`]).
    Xor = 1,
}

impl Encoding {
    /// Parses a stored encoding byte.
    pub fn from_u8(byte: u8) -> Result<Self, ChunkError> {
        match byte {
            1 => Ok(Encoding::Xor),
            _ => Err(ChunkError::UnknownEncoding { byte }),
        }
    }

    /// The byte stored for this encoding.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Why a chunk could not be decoded or appended to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The encoding byte names no known encoding.
    #[error("unknown chunk encoding {byte}")]
    UnknownEncoding {
        /// The stored byte.
        byte: u8,
    },
    /// The chunk is shorter than its sample-count header.
    #[error("chunk of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    TooShort {
        /// Length of the chunk in bytes.
        len: usize,
    },
    /// The chunk ends in the middle of a sample.
    #[error("chunk of {len} bytes ends inside sample {sample} at bit {at_bit}")]
    Truncated {
        /// Index of the sample being decoded.
        sample: usize,
        /// Bit offset of the field that could not be read.
        at_bit: u64,
        /// Length of the chunk in bytes.
        len: usize,
    },
    /// A varint field is longer than 64 bits.
    #[error("varint longer than 64 bits in sample {sample} at bit {at_bit}")]
    VarintOverflow {
        /// Index of the sample being decoded.
        sample: usize,
        /// Bit offset of the varint.
        at_bit: u64,
    },
    /// A new XOR window claims more than 64 bits.
    #[error(
        "xor window of {leading} leading and {significant} significant bits exceeds 64 bits \
         in sample {sample}"
    )]
    BadXorWindow {
        /// Index of the sample being decoded.
        sample: usize,
        /// Leading zero count read.
        leading: u8,
        /// Significant bit count read.
        significant: u8,
    },
    /// A value reuses the previous XOR window before any was set.
    #[error("sample {sample} reuses an xor window before one was set")]
    MissingXorWindow {
        /// Index of the sample being decoded.
        sample: usize,
    },
    /// Bytes or non-zero padding bits follow the last sample.
    #[error("chunk of {len} bytes has data after its last sample, which ends at bit {end_bit}")]
    TrailingData {
        /// Bit offset where the last sample ends.
        end_bit: u64,
        /// Length of the chunk in bytes.
        len: usize,
    },
    /// The chunk already holds the maximum number of samples.
    #[error("chunk is full at {max} samples")]
    Full {
        /// The limit, [`MAX_SAMPLES`].
        max: usize,
    },
}

/// Decodes a whole XOR chunk, checking that nothing follows its last sample.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let it = XorIter::new(bytes)?;
    let mut out = Vec::with_capacity(it.num_samples());
    for s in it {
        out.push(s?);
    }
    Ok(out)
}

/// Encodes samples into one XOR chunk. Samples past [`MAX_SAMPLES`] are not
/// encoded; callers split longer runs into several chunks.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut app = XorAppender::new();
    for s in samples.iter().take(MAX_SAMPLES) {
        // Cannot fail: at most MAX_SAMPLES samples are appended.
        let _ = app.append(s.t, s.v);
    }
    app.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_bytes() {
        let cases: &[(u8, Option<Encoding>)] = &[(0, None), (1, Some(Encoding::Xor)), (2, None), (255, None)];
        for &(byte, want) in cases {
            match want {
                Some(enc) => {
                    assert_eq!(Encoding::from_u8(byte), Ok(enc));
                    assert_eq!(enc.as_u8(), byte);
                }
                None => {
                    assert_eq!(Encoding::from_u8(byte), Err(ChunkError::UnknownEncoding { byte }))
                }
            }
        }
    }

    #[test]
    fn encode_stops_at_the_sample_limit() {
        let samples: Vec<Sample> = (0..MAX_SAMPLES as i64 + 10).map(|i| Sample::new(i, 1.0)).collect();
        let decoded = decode_all(&encode(&samples)).expect("valid chunk");
        assert_eq!(decoded.len(), MAX_SAMPLES);
        assert_eq!(decoded, samples[..MAX_SAMPLES]);
    }

    #[test]
    fn error_messages_name_the_offending_values() {
        let cases: &[(ChunkError, &str)] = &[
            (ChunkError::UnknownEncoding { byte: 7 }, "unknown chunk encoding 7"),
            (ChunkError::TooShort { len: 1 }, "chunk of 1 bytes is shorter than its 2-byte header"),
            (
                ChunkError::Truncated { sample: 3, at_bit: 99, len: 12 },
                "chunk of 12 bytes ends inside sample 3 at bit 99",
            ),
            (ChunkError::Full { max: MAX_SAMPLES }, "chunk is full at 65535 samples"),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), *want);
        }
    }
}
