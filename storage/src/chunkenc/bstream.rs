//! Big-endian bit streams: [`BitWriter`] appends bits to a `Vec<u8>`,
//! [`BitReader`] reads them back from a `&[u8]`.
//!
//! Bit order: within a byte the most significant bit comes first, and a
//! multi-bit field is written most significant bit first, so a field that
//! happens to be byte-aligned reads as a big-endian integer.
//!
//! Invariants:
//! - the writer's buffer always holds every bit written so far; the unused
//!   low bits of its last byte (the padding) are zero;
//! - the reader never panics and never reads outside its slice: asking for
//!   more bits than remain returns [`EndOfStream`] and leaves the reader
//!   unchanged.

/// Bits in a byte.
const BYTE_BITS: u32 = 8;
/// Bits in the reader's buffer word.
const WORD_BITS: u32 = u64::BITS;
/// Bytes in the reader's buffer word.
const WORD_BYTES: usize = (WORD_BITS / BYTE_BITS) as usize;
/// The widest field [`BitReader::read_bits`] serves in one step: a refill
/// guarantees at least this many buffered bits unless the input ends.
pub const MAX_READ_BITS: u32 = 56;

/// The input ended before the bits a caller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bit stream of {len_bits} bits ends before {wanted} bits at bit {at_bit}")]
pub struct EndOfStream {
    /// Bit offset of the read that failed.
    pub at_bit: u64,
    /// How many bits that read wanted.
    pub wanted: u32,
    /// Length of the whole input in bits.
    pub len_bits: u64,
}

/// Appends bits to a byte vector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Unused low bits of the last byte, `0..8`; zero when the last byte is
    /// full (or there is none).
    free: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer whose buffer can hold `bytes` bytes before growing.
    pub fn with_capacity(bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), free: 0 }
    }

    /// Resumes writing after the first `bit_len` bits of `bytes`. Bytes
    /// beyond those bits are dropped and the padding of the last byte is
    /// cleared, so the writer's invariants hold whatever `bytes` contained.
    /// A `bit_len` beyond the end of `bytes` is clamped to it.
    pub fn from_parts(mut bytes: Vec<u8>, bit_len: u64) -> Self {
        let max_bits = (bytes.len() as u64).saturating_mul(u64::from(BYTE_BITS));
        let bit_len = bit_len.min(max_bits);
        let whole = (bit_len / u64::from(BYTE_BITS)) as usize;
        let used = (bit_len % u64::from(BYTE_BITS)) as u32;
        if used == 0 {
            bytes.truncate(whole);
            return Self { bytes, free: 0 };
        }
        bytes.truncate(whole + 1);
        let free = BYTE_BITS - used;
        if let Some(last) = bytes.last_mut() {
            *last &= !((1u8 << free) - 1);
        }
        Self { bytes, free }
    }

    /// Everything written so far, padded with zero bits to a whole byte.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access to the written bytes, for patching byte-aligned
    /// headers in place. Callers must not set padding bits.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Consumes the writer and returns its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of bits written.
    pub fn bit_len(&self) -> u64 {
        self.bytes.len() as u64 * u64::from(BYTE_BITS) - u64::from(self.free)
    }

    /// Appends one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Appends a whole byte.
    #[inline]
    pub fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), BYTE_BITS);
    }

    /// Appends the low `n` bits of `value`, most significant first. Bits of
    /// `value` above `n` are ignored; `n` is at most 64.
    #[inline]
    pub fn write_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= WORD_BITS, "write of {n} bits");
        let mut n = n.min(WORD_BITS);
        if n == 0 {
            return;
        }
        // Left-align the field: the next bit to write is the top bit of `v`
        // and everything below the field is zero.
        let mut v = value << (WORD_BITS - n);
        if self.free > 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last |= (v >> (WORD_BITS - self.free)) as u8;
            }
            let taken = self.free.min(n);
            self.free -= taken;
            n -= taken;
            if n == 0 {
                return;
            }
            v <<= taken;
        }
        // Append the whole word and cut it back: a fixed-size copy is a
        // single store, a variable-length one a call to `memcpy`.
        let whole = n.div_ceil(BYTE_BITS);
        let len = self.bytes.len();
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self.bytes.truncate(len + whole as usize);
        self.free = whole * BYTE_BITS - n;
    }
}

/// Reads bits from a byte slice, buffering up to 64 bits at a time.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the first byte of `data` not yet loaded into `buf`.
    pos: usize,
    /// Buffered bits, left-aligned: the next bit to read is the top bit.
    /// Bits below the `valid` ones are either zero or the stream's next bits
    /// (the word refill may load a byte partially), never anything else.
    buf: u64,
    /// Number of buffered bits.
    valid: u32,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, buf: 0, valid: 0 }
    }

    /// Bits consumed so far.
    pub fn bit_offset(&self) -> u64 {
        self.pos as u64 * u64::from(BYTE_BITS) - u64::from(self.valid)
    }

    /// Bits not consumed yet.
    pub fn remaining_bits(&self) -> u64 {
        (self.data.len() - self.pos) as u64 * u64::from(BYTE_BITS) + u64::from(self.valid)
    }

    /// Loads as many whole bytes as fit into the buffer.
    #[inline]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + WORD_BYTES) {
            let mut word = [0u8; WORD_BYTES];
            word.copy_from_slice(chunk);
            let word = u64::from_be_bytes(word);
            // `valid < 64` here: callers refill only when short of bits.
            self.buf |= word >> self.valid;
            let taken = (WORD_BITS - self.valid) / BYTE_BITS;
            self.pos += taken as usize;
            self.valid += taken * BYTE_BITS;
        } else {
            self.refill_tail();
        }
    }

    /// Byte-at-a-time refill near the end of the input.
    #[cold]
    fn refill_tail(&mut self) {
        while self.valid <= WORD_BITS - BYTE_BITS {
            let Some(&byte) = self.data.get(self.pos) else {
                break;
            };
            self.buf |= u64::from(byte) << (WORD_BITS - BYTE_BITS - self.valid);
            self.pos += 1;
            self.valid += BYTE_BITS;
        }
    }

    #[cold]
    fn end_of_stream(&self, wanted: u32) -> EndOfStream {
        EndOfStream { at_bit: self.bit_offset(), wanted, len_bits: self.data.len() as u64 * u64::from(BYTE_BITS) }
    }

    /// Makes at least `n` bits available, or fails.
    #[inline(always)]
    fn ensure(&mut self, n: u32) -> Result<(), EndOfStream> {
        if self.valid < n {
            self.refill();
            if self.valid < n {
                return Err(self.end_of_stream(n));
            }
        }
        Ok(())
    }

    /// Drops `n` buffered bits; `n` is at most `valid` and below 64.
    #[inline(always)]
    fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.valid && n < WORD_BITS, "consume {n} of {} bits", self.valid);
        self.buf <<= n;
        self.valid -= n;
    }

    /// Reads an `n`-bit field, `1 ≤ n ≤ MAX_READ_BITS`.
    #[inline(always)]
    fn take(&mut self, n: u32) -> Result<u64, EndOfStream> {
        debug_assert!((1..=MAX_READ_BITS).contains(&n), "take of {n} bits");
        self.ensure(n)?;
        let v = self.buf >> (WORD_BITS - n);
        self.consume(n);
        Ok(v)
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, EndOfStream> {
        Ok(self.take(1)? == 1)
    }

    /// Reads a whole byte.
    #[inline]
    pub fn read_byte(&mut self) -> Result<u8, EndOfStream> {
        Ok(self.take(BYTE_BITS)? as u8)
    }

    /// Reads an `n`-bit field into the low bits of the result, for any `n`
    /// up to 64 (larger `n` read 64 bits); `n == 0` yields 0. On failure
    /// nothing is consumed.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Result<u64, EndOfStream> {
        if n == 0 || n > MAX_READ_BITS {
            return self.read_bits_split(n);
        }
        self.take(n)
    }

    /// [`Self::read_bits`] for fields wider than one refill guarantees, read
    /// as two halves, and for empty fields.
    fn read_bits_split(&mut self, n: u32) -> Result<u64, EndOfStream> {
        let n = n.min(WORD_BITS);
        if n == 0 {
            return Ok(0);
        }
        if self.remaining_bits() < u64::from(n) {
            return Err(self.end_of_stream(n));
        }
        let low_bits = WORD_BITS / 2;
        let high = self.take(n - low_bits)?;
        let low = self.take(low_bits)?;
        Ok(high << low_bits | low)
    }

    /// Reads a run of up to `max` one bits ended by a zero bit and returns
    /// the number of ones. The terminating zero is consumed; after `max`
    /// ones no terminator is read. `max` is at most [`MAX_READ_BITS`] − 1.
    /// On failure nothing is consumed.
    #[inline]
    pub fn read_unary(&mut self, max: u32) -> Result<u32, EndOfStream> {
        debug_assert!(max < MAX_READ_BITS, "unary field of up to {max} bits");
        if self.valid <= max {
            self.refill();
        }
        // Bits past `valid` are zero or the stream's own next bits (see
        // `buf`), so counting through them never overstates the run.
        let ones = (!self.buf).leading_zeros().min(max);
        let len = if ones < max { ones + 1 } else { max };
        if len > self.valid {
            return Err(self.end_of_stream(len));
        }
        self.consume(len);
        Ok(ones)
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Masks `value` to its low `n` bits.
    fn low_bits(value: u64, n: u32) -> u64 {
        if n == 0 {
            0
        } else {
            value & (u64::MAX >> (WORD_BITS - n))
        }
    }

    #[test]
    fn writer_layout_table() {
        // (fields as (value, width), expected bytes, expected bit length)
        let cases: &[(&[(u64, u32)], &[u8], u64)] = &[
            (&[], &[], 0),
            (&[(1, 1)], &[0x80], 1),
            (&[(0, 1)], &[0x00], 1),
            (&[(0b101, 3), (0b11, 2)], &[0b1011_1000], 5),
            (&[(0xab, 8)], &[0xab], 8),
            (&[(0x1, 4), (0xabc, 12)], &[0x1a, 0xbc], 16),
            (&[(1, 1), (u64::MAX, 64)], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80], 65),
            (&[(0x0123_4567_89ab_cdef, 64)], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef], 64),
            // Bits above the width are ignored.
            (&[(0xff, 4)], &[0xf0], 4),
            (&[(0x3, 0), (0x1, 1)], &[0x80], 1),
        ];
        for (fields, want, want_bits) in cases {
            let mut w = BitWriter::new();
            for &(v, n) in fields.iter() {
                w.write_bits(v, n);
            }
            assert_eq!(w.bytes(), *want, "fields {fields:?}");
            assert_eq!(w.bit_len(), *want_bits, "fields {fields:?}");
        }
    }

    #[test]
    fn write_bit_and_byte() {
        let mut w = BitWriter::new();
        w.write_bit(true);
        w.write_bit(false);
        w.write_bit(true);
        w.write_byte(0xff);
        assert_eq!(w.bytes(), &[0b1011_1111, 0b1110_0000]);
        let mut r = BitReader::new(w.bytes());
        assert_eq!(r.read_bit(), Ok(true));
        assert_eq!(r.read_bit(), Ok(false));
        assert_eq!(r.read_bit(), Ok(true));
        assert_eq!(r.read_byte(), Ok(0xff));
        assert_eq!(r.bit_offset(), 11);
    }

    #[test]
    fn from_parts_clears_padding_and_drops_extra_bytes() {
        let cases: &[(&[u8], u64, &[u8], u64)] = &[
            (&[0xff, 0xff, 0xff], 12, &[0xff, 0xf0], 12),
            (&[0xff, 0xff], 16, &[0xff, 0xff], 16),
            (&[0xff, 0xff], 8, &[0xff], 8),
            (&[0xff], 0, &[], 0),
            (&[0xff], 100, &[0xff], 8),
        ];
        for &(bytes, bits, want, want_bits) in cases {
            let w = BitWriter::from_parts(bytes.to_vec(), bits);
            assert_eq!(w.bytes(), want, "input {bytes:?} at {bits} bits");
            assert_eq!(w.bit_len(), want_bits, "input {bytes:?} at {bits} bits");
        }
        let mut w = BitWriter::from_parts(vec![0xff, 0xff], 3);
        w.write_bits(0, 5);
        w.write_bits(1, 1);
        assert_eq!(w.bytes(), &[0xe0, 0x80]);
    }

    #[test]
    fn reads_past_the_end_fail_without_consuming() {
        let data = [0xa5u8, 0x5a];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(12), Ok(0xa55));
        let err = r.read_bits(5).unwrap_err();
        assert_eq!(err, EndOfStream { at_bit: 12, wanted: 5, len_bits: 16 });
        assert_eq!(r.read_bits(60).unwrap_err().at_bit, 12);
        assert_eq!(r.read_bits(4), Ok(0xa));
        assert_eq!(r.remaining_bits(), 0);
        assert!(r.read_bit().is_err());
        assert!(r.read_unary(4).is_err());
        assert!(BitReader::new(&[]).read_bits(1).is_err());
    }

    #[test]
    fn unary_table() {
        // (input bits as a byte string, max, expected run, expected bits consumed)
        let cases: &[(&[u8], u32, Result<u32, ()>, u64)] = &[
            (&[0b0000_0000], 4, Ok(0), 1),
            (&[0b1000_0000], 4, Ok(1), 2),
            (&[0b1100_0000], 4, Ok(2), 3),
            (&[0b1110_0000], 4, Ok(3), 4),
            (&[0b1111_0000], 4, Ok(4), 4),
            (&[0b1111_1111], 4, Ok(4), 4),
            (&[0b1111_1111], 2, Ok(2), 2),
            (&[0b1000_0000], 2, Ok(1), 2),
            // A run that reaches the end of the input without its terminator.
            (&[0b1111_1111], 9, Err(()), 0),
            (&[], 1, Err(()), 0),
        ];
        for &(data, max, want, consumed) in cases {
            let mut r = BitReader::new(data);
            assert_eq!(r.read_unary(max).map_err(|_| ()), want, "{data:?} max {max}");
            assert_eq!(r.bit_offset(), consumed, "{data:?} max {max}");
        }
    }

    proptest! {
        #[test]
        fn fields_round_trip(fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            let total: u64 = fields.iter().map(|&(_, n)| u64::from(n)).sum();
            prop_assert_eq!(w.bit_len(), total);
            prop_assert_eq!(w.bytes().len() as u64, total.div_ceil(8));
            let mut r = BitReader::new(w.bytes());
            for &(v, n) in &fields {
                prop_assert_eq!(r.read_bits(n), Ok(low_bits(v, n)));
            }
            prop_assert_eq!(r.bit_offset(), total);
            // Padding is zero.
            let pad = r.remaining_bits() as u32;
            prop_assert!(pad < 8);
            prop_assert_eq!(r.read_bits(pad), Ok(0));
            prop_assert!(r.read_bit().is_err());
        }

        #[test]
        fn resumed_writer_matches_continuous(
            fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..60),
            split in any::<prop::sample::Index>(),
            junk in any::<u8>(),
        ) {
            let split = split.index(fields.len() + 1);
            let mut whole = BitWriter::new();
            for &(v, n) in &fields {
                whole.write_bits(v, n);
            }
            let mut first = BitWriter::new();
            for &(v, n) in &fields[..split] {
                first.write_bits(v, n);
            }
            let bits = first.bit_len();
            // Garbage after the written bits must not leak into the result.
            let mut bytes = first.into_bytes();
            if bits % 8 != 0 {
                if let Some(last) = bytes.last_mut() {
                    *last |= junk >> (bits % 8);
                }
            }
            bytes.push(junk);
            let mut resumed = BitWriter::from_parts(bytes, bits);
            for &(v, n) in &fields[split..] {
                resumed.write_bits(v, n);
            }
            prop_assert_eq!(resumed.bytes(), whole.bytes());
            prop_assert_eq!(resumed.bit_len(), whole.bit_len());
        }

        #[test]
        fn arbitrary_reads_never_panic(
            data in prop::collection::vec(any::<u8>(), 0..40),
            reads in prop::collection::vec((0u32..=70, any::<bool>()), 0..80),
        ) {
            let mut r = BitReader::new(&data);
            for &(n, unary) in &reads {
                let before = r.bit_offset();
                let ok = if unary { r.read_unary(n % MAX_READ_BITS).is_ok() } else { r.read_bits(n).is_ok() };
                if !ok {
                    prop_assert_eq!(r.bit_offset(), before);
                }
                prop_assert_eq!(r.bit_offset() + r.remaining_bits(), data.len() as u64 * 8);
            }
        }
    }
}
