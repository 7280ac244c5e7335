//! The XOR chunk encoding ([`Encoding::Xor`](super::Encoding::Xor)):
//! delta-of-delta timestamps and Gorilla XOR-compressed float values.
//!
//! Byte layout in `storage/docs/format/chunk.md`. In short: a 2-byte
//! big-endian sample count; the first sample as a zigzag varint timestamp and
//! 64 raw value bits; the second as a zigzag varint timestamp delta and an
//! XOR-encoded value; every later sample as a bucketed delta-of-delta and an
//! XOR-encoded value.
//!
//! Invariants:
//! - the codec is total over `i64` timestamps and `f64` bit patterns: deltas
//!   use wrapping arithmetic on both sides, so any sequence (decreasing,
//!   repeated, spanning `i64::MIN..=i64::MAX`) round-trips bit-exact,
//!   including NaN payloads such as the staleness marker and `-0.0`;
//! - [`XorAppender::bytes`] is a complete chunk after every append;
//! - [`XorIter`] never panics on arbitrary input: it yields at most the
//!   header's count of samples, every one of them decoded from the bits the
//!   writer produced for it, and reports truncation or malformed fields as an
//!   error item after which it ends.

use super::bstream::{BitReader, BitWriter, EndOfStream};
use super::ChunkError;
use crate::Sample;

/// Bytes of the sample-count header.
pub const HEADER_LEN: usize = 2;
/// The most samples one chunk holds (the header is a `u16`).
pub const MAX_SAMPLES: usize = u16::MAX as usize;
/// Initial buffer size of a new appender: enough for a typical 120-sample
/// regular chunk without regrowing.
const DEFAULT_CAPACITY: usize = 128;

/// Varint payload bits per byte.
const VARINT_PAYLOAD_BITS: u32 = 7;
/// Varint continuation flag.
const VARINT_MORE: u8 = 0x80;
/// Longest varint of a 64-bit value, in bytes.
const VARINT_MAX_LEN: u32 = 10;
/// The last byte of a maximal varint carries only this many payload bits.
const VARINT_LAST_BYTE_MAX: u8 = 1;

/// Width of each delta-of-delta bucket that has a payload, indexed by its
/// prefix length minus one: prefixes `10`, `110`, `1110`, `1111`.
const DOD_BUCKET_BITS: [u32; 4] = [14, 17, 20, 64];
/// Longest delta-of-delta prefix (`1111`), which has no terminating zero.
const DOD_MAX_PREFIX: u32 = 4;

/// Longest XOR value prefix (`11`): `0` repeats the value, `10` reuses the
/// previous window, `11` opens a new one.
const XOR_MAX_PREFIX: u32 = 2;
/// Prefix `10` written as a 2-bit field.
const XOR_PREFIX_REUSE: u64 = 0b10;
/// Prefix `11` written as a 2-bit field.
const XOR_PREFIX_NEW: u64 = 0b11;
/// Bits of the leading-zero count of a new window.
const XOR_LEADING_BITS: u32 = 5;
/// The largest leading-zero count a window records; longer runs of leading
/// zeros are stored as significant bits.
const XOR_MAX_LEADING: u32 = (1 << XOR_LEADING_BITS) - 1;
/// Bits of the significant-bit count of a new window; 64 is stored as 0.
const XOR_SIGNIFICANT_BITS: u32 = 6;
/// Mask of the significant-bit count field.
const XOR_SIGNIFICANT_MASK: u64 = (1 << XOR_SIGNIFICANT_BITS) - 1;
/// Bits in a value.
const VALUE_BITS: u32 = u64::BITS;
/// Leading-zero count meaning "no window yet": larger than any real count,
/// so the reuse test always fails.
const NO_WINDOW: u32 = u32::MAX;

/// Zigzag-maps a signed integer so small magnitudes get short varints.
#[inline]
fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Sign-extends the low `bits` bits of `raw`.
#[inline]
fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = u64::BITS - bits;
    ((raw << shift) as i64) >> shift
}

/// True when `x` is representable as a `bits`-bit two's complement integer.
#[inline]
fn fits_signed(x: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&x)
}

/// Appends a zigzag varint.
#[inline]
fn write_varint(w: &mut BitWriter, x: i64) {
    let mut u = zigzag(x);
    while u >= u64::from(VARINT_MORE) {
        w.write_byte(u as u8 | VARINT_MORE);
        u >>= VARINT_PAYLOAD_BITS;
    }
    w.write_byte(u as u8);
}

/// Why a sample could not be decoded; [`XorIter`] adds the sample index.
#[derive(Debug)]
enum Fault {
    Short(EndOfStream),
    VarintOverflow { at_bit: u64 },
    BadWindow { leading: u8, significant: u8 },
    NoWindow,
}

impl From<EndOfStream> for Fault {
    fn from(e: EndOfStream) -> Self {
        Fault::Short(e)
    }
}

/// Reads a zigzag varint.
#[inline]
fn read_varint(r: &mut BitReader<'_>) -> Result<i64, Fault> {
    let at_bit = r.bit_offset();
    let mut u = 0u64;
    for i in 0..VARINT_MAX_LEN {
        let byte = r.read_byte()?;
        if i == VARINT_MAX_LEN - 1 && byte > VARINT_LAST_BYTE_MAX {
            return Err(Fault::VarintOverflow { at_bit });
        }
        u |= u64::from(byte & !VARINT_MORE) << (i * VARINT_PAYLOAD_BITS);
        if byte & VARINT_MORE == 0 {
            return Ok(unzigzag(u));
        }
    }
    Err(Fault::VarintOverflow { at_bit })
}

/// Encodes samples into an XOR chunk, one at a time.
///
/// ```
/// use rampart_storage::chunkenc::{decode_all, XorAppender};
///
/// let mut app = XorAppender::new();
/// app.append(1_000, 1.5).unwrap();
/// app.append(16_000, 2.5).unwrap();
/// let samples = decode_all(app.bytes()).unwrap();
/// assert_eq!(samples.len(), 2);
/// assert_eq!(samples[1].v, 2.5);
/// ```
#[derive(Clone, Debug)]
pub struct XorAppender {
    w: BitWriter,
    num: u16,
    /// Last timestamp.
    t: i64,
    /// Last timestamp delta (wrapping).
    delta: i64,
    /// Bits of the last value.
    v: u64,
    /// Leading zeros of the current XOR window, or [`NO_WINDOW`].
    leading: u32,
    /// Trailing zeros of the current XOR window.
    trailing: u32,
    min_t: i64,
    max_t: i64,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty chunk whose buffer holds `bytes` bytes before growing.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut w = BitWriter::with_capacity(bytes.max(HEADER_LEN));
        w.write_bits(0, u16::BITS);
        Self { w, num: 0, t: 0, delta: 0, v: 0, leading: NO_WINDOW, trailing: 0, min_t: i64::MAX, max_t: i64::MIN }
    }

    /// Resumes appending to an encoded chunk. Decodes every sample to rebuild
    /// the encoder state, so appends continue exactly as if they had never
    /// stopped. Fails on any chunk [`decode_all`](super::decode_all) rejects.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChunkError> {
        let mut it = XorIter::new(bytes)?;
        let mut min_t = i64::MAX;
        let mut max_t = i64::MIN;
        for s in it.by_ref() {
            let s = s?;
            min_t = min_t.min(s.t);
            max_t = max_t.max(s.t);
        }
        let mut buf = Vec::with_capacity(bytes.len().max(DEFAULT_CAPACITY));
        buf.extend_from_slice(bytes);
        Ok(Self {
            w: BitWriter::from_parts(buf, it.r.bit_offset()),
            num: it.total,
            t: it.t,
            delta: it.delta,
            v: it.v,
            leading: it.leading,
            trailing: it.trailing,
            min_t,
            max_t,
        })
    }

    /// The complete encoded chunk, valid after every append.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Consumes the appender and returns the encoded chunk.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// True when no further sample fits ([`MAX_SAMPLES`] reached).
    pub fn is_full(&self) -> bool {
        self.num == u16::MAX
    }

    /// Smallest timestamp appended, `None` when empty.
    pub fn min_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.min_t)
    }

    /// Largest timestamp appended, `None` when empty.
    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.max_t)
    }

    /// The most recently appended sample, `None` when empty.
    pub fn last_sample(&self) -> Option<Sample> {
        (self.num > 0).then(|| Sample::new(self.t, f64::from_bits(self.v)))
    }

    /// Iterates over the samples appended so far.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::from_valid_header(self.w.bytes(), self.num)
    }

    /// Appends one sample. Fails only when the chunk already holds
    /// [`MAX_SAMPLES`] samples.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.is_full() {
            return Err(ChunkError::Full { max: MAX_SAMPLES });
        }
        let bits = v.to_bits();
        match self.num {
            0 => {
                write_varint(&mut self.w, t);
                self.w.write_bits(bits, VALUE_BITS);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                write_varint(&mut self.w, delta);
                self.write_value(bits);
                self.delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                self.write_dod(delta.wrapping_sub(self.delta));
                self.write_value(bits);
                self.delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        self.num += 1;
        self.w.bytes_mut()[..HEADER_LEN].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }

    /// Writes a delta-of-delta in the smallest bucket that holds it.
    #[inline]
    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (i, &bits) in DOD_BUCKET_BITS[..DOD_BUCKET_BITS.len() - 1].iter().enumerate() {
            if fits_signed(dod, bits) {
                // Prefix of i+1 ones and a zero, then the payload, in one field.
                let prefix_len = i as u32 + 2;
                let prefix = (1u64 << prefix_len) - 2;
                let payload = dod as u64 & ((1u64 << bits) - 1);
                self.w.write_bits(prefix << bits | payload, prefix_len + bits);
                return;
            }
        }
        self.w.write_bits((1 << DOD_MAX_PREFIX) - 1, DOD_MAX_PREFIX);
        self.w.write_bits(dod as u64, VALUE_BITS);
    }

    /// Writes a `head_bits`-bit head followed by a `bits`-bit payload (whose
    /// bits above `bits` are zero), in one step when both fit a word.
    #[inline(always)]
    fn write_field(&mut self, head: u64, head_bits: u32, payload: u64, bits: u32) {
        if head_bits + bits <= VALUE_BITS {
            self.w.write_bits(head << bits | payload, head_bits + bits);
        } else {
            self.w.write_bits(head, head_bits);
            self.w.write_bits(payload, bits);
        }
    }

    /// Writes a value XORed against the previous one.
    #[inline]
    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            self.w.write_bit(false);
            return;
        }
        let leading = xor.leading_zeros().min(XOR_MAX_LEADING);
        let trailing = xor.trailing_zeros();
        if leading >= self.leading && trailing >= self.trailing {
            let significant = VALUE_BITS - self.leading - self.trailing;
            self.write_field(XOR_PREFIX_REUSE, XOR_MAX_PREFIX, xor >> self.trailing, significant);
            return;
        }
        let significant = VALUE_BITS - leading - trailing;
        let head = XOR_PREFIX_NEW << (XOR_LEADING_BITS + XOR_SIGNIFICANT_BITS)
            | u64::from(leading) << XOR_SIGNIFICANT_BITS
            | u64::from(significant) & XOR_SIGNIFICANT_MASK;
        let head_bits = XOR_MAX_PREFIX + XOR_LEADING_BITS + XOR_SIGNIFICANT_BITS;
        self.write_field(head, head_bits, xor >> trailing, significant);
        self.leading = leading;
        self.trailing = trailing;
    }
}

/// Decodes an XOR chunk sample by sample.
///
/// Yields `Ok` samples in encoded order. On malformed input it yields one
/// `Err` and then ends; after the last sample it also checks that nothing
/// but zero padding follows and yields [`ChunkError::TrailingData`] if
/// something does.
#[derive(Clone, Debug)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    len: usize,
    total: u16,
    read: u16,
    done: bool,
    t: i64,
    delta: i64,
    v: u64,
    leading: u32,
    trailing: u32,
}

impl<'a> XorIter<'a> {
    /// Starts decoding `bytes`. Fails only when the header is missing.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let Some(&[hi, lo]) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(ChunkError::TooShort { len: bytes.len() });
        };
        Ok(Self::from_valid_header(bytes, u16::from_be_bytes([hi, lo])))
    }

    /// Starts decoding `bytes` whose header is known to hold `total`.
    fn from_valid_header(bytes: &'a [u8], total: u16) -> Self {
        let mut r = BitReader::new(bytes);
        // The header is present, so skipping it cannot fail.
        let _ = r.read_bits(u16::BITS);
        Self { r, len: bytes.len(), total, read: 0, done: false, t: 0, delta: 0, v: 0, leading: NO_WINDOW, trailing: 0 }
    }

    /// The sample count the chunk header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// Decodes the next sample's fields.
    #[inline(always)]
    fn decode(&mut self) -> Result<Sample, Fault> {
        match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                self.v = self.r.read_bits(VALUE_BITS)?;
            }
            1 => {
                self.delta = read_varint(&mut self.r)?;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let dod = match self.r.read_unary(DOD_MAX_PREFIX)? {
                    0 => 0,
                    ones => {
                        let bits = DOD_BUCKET_BITS[(ones - 1) as usize];
                        sign_extend(self.r.read_bits(bits)?, bits)
                    }
                };
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        Ok(Sample::new(self.t, f64::from_bits(self.v)))
    }

    /// Decodes an XOR-encoded value into `self.v`.
    #[inline(always)]
    fn read_value(&mut self) -> Result<(), Fault> {
        match self.r.read_unary(XOR_MAX_PREFIX)? {
            0 => return Ok(()),
            1 => {
                if self.leading == NO_WINDOW {
                    return Err(Fault::NoWindow);
                }
            }
            _ => {
                let head = self.r.read_bits(XOR_LEADING_BITS + XOR_SIGNIFICANT_BITS)?;
                let leading = (head >> XOR_SIGNIFICANT_BITS) as u32;
                let mut significant = (head & XOR_SIGNIFICANT_MASK) as u32;
                if significant == 0 {
                    significant = VALUE_BITS;
                }
                if leading + significant > VALUE_BITS {
                    return Err(Fault::BadWindow { leading: leading as u8, significant: significant as u8 });
                }
                self.leading = leading;
                self.trailing = VALUE_BITS - leading - significant;
            }
        }
        let significant = VALUE_BITS - self.leading - self.trailing;
        let xor = self.r.read_bits(significant)? << self.trailing;
        self.v ^= xor;
        Ok(())
    }

    /// Checks that only zero padding follows the last sample.
    #[cold]
    fn check_end(&mut self) -> Result<(), ChunkError> {
        let end_bit = self.r.bit_offset();
        let rest = self.r.remaining_bits();
        // Peek through a copy: the reader's offset must stay at the end of
        // the last sample (`XorAppender::from_bytes` resumes there).
        let padding_ok = rest < u64::from(u8::BITS) && matches!(self.r.clone().read_bits(rest as u32), Ok(0));
        if padding_ok {
            Ok(())
        } else {
            Err(ChunkError::TrailingData { end_bit, len: self.len })
        }
    }

    #[cold]
    fn fault(&self, fault: Fault) -> ChunkError {
        let sample = usize::from(self.read);
        match fault {
            Fault::Short(e) => ChunkError::Truncated { sample, at_bit: e.at_bit, len: self.len },
            Fault::VarintOverflow { at_bit } => ChunkError::VarintOverflow { sample, at_bit },
            Fault::BadWindow { leading, significant } => ChunkError::BadXorWindow { sample, leading, significant },
            Fault::NoWindow => ChunkError::MissingXorWindow { sample },
        }
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<Sample, ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.read == self.total {
            if self.done {
                return None;
            }
            self.done = true;
            return self.check_end().err().map(Err);
        }
        match self.decode() {
            Ok(s) => {
                self.read += 1;
                Some(Ok(s))
            }
            Err(fault) => {
                let err = self.fault(fault);
                self.read = self.total;
                self.done = true;
                Some(Err(err))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            // Every remaining sample, plus possibly one error item.
            (0, Some(usize::from(self.total - self.read) + 1))
        }
    }
}

impl std::iter::FusedIterator for XorIter<'_> {}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables
mod tests {
    use super::super::{decode_all, encode};
    use super::*;
    use crate::STALE_NAN_BITS;
    use proptest::prelude::*;

    /// Asserts two sample sequences are bit-identical.
    fn assert_same(got: &[Sample], want: &[Sample]) -> Result<(), TestCaseError> {
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            prop_assert!(
                g.same_as(w),
                "sample {}: got {:?} ({:#x}), want {:?} ({:#x})",
                i,
                g,
                g.v.to_bits(),
                w,
                w.v.to_bits()
            );
        }
        Ok(())
    }

    /// Interesting float bit patterns.
    const EDGE_VALUES: [u64; 18] = [
        STALE_NAN_BITS,
        0x7ff8_0000_0000_0001, // Prometheus's normal NaN
        0x7ff8_0000_0000_0000, // canonical quiet NaN
        0xfff8_0000_0000_0000, // negative quiet NaN
        0x7ff0_0000_0000_0001, // signalling NaN, smallest payload
        0x7fff_ffff_ffff_ffff, // NaN, all payload bits
        0x7ff0_0000_0000_0000, // +Inf
        0xfff0_0000_0000_0000, // -Inf
        0x0000_0000_0000_0000, // +0.0
        0x8000_0000_0000_0000, // -0.0
        0x7fef_ffff_ffff_ffff, // f64::MAX
        0xffef_ffff_ffff_ffff, // f64::MIN
        0x0010_0000_0000_0000, // f64::MIN_POSITIVE
        0x0000_0000_0000_0001, // smallest subnormal
        0x800f_ffff_ffff_ffff, // largest negative subnormal
        0x3ff0_0000_0000_0000, // 1.0
        0xffff_ffff_ffff_ffff, // all ones
        0x5555_5555_5555_5555, // alternating bits
    ];

    /// Interesting timestamps.
    const EDGE_TIMES: [i64; 9] =
        [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX, 1_700_000_000_000, -86_400_000];

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => prop::sample::select(&EDGE_VALUES[..]).prop_map(f64::from_bits),
            3 => any::<u64>().prop_map(f64::from_bits),
            2 => any::<f64>(),
            2 => (-1_000_000i64..1_000_000).prop_map(|x| x as f64 / 100.0),
        ]
    }

    fn time() -> impl Strategy<Value = i64> {
        prop_oneof![
            2 => prop::sample::select(&EDGE_TIMES[..]),
            2 => any::<i64>(),
            1 => -10_000_000_000_000i64..10_000_000_000_000,
        ]
    }

    /// One run of samples of a characteristic shape.
    fn segment() -> impl Strategy<Value = Vec<Sample>> {
        prop_oneof![
            // Arbitrary timestamps and values, including huge jumps.
            prop::collection::vec((time(), value()), 1..60)
                .prop_map(|v| v.into_iter().map(|(t, v)| Sample::new(t, v)).collect()),
            // Long constant runs: equal values at equal deltas.
            (time(), -100_000i64..100_000, value(), 1usize..4000).prop_map(|(t0, step, v, n)| {
                (0..n as i64).map(|i| Sample::new(t0.wrapping_add(step * i), v)).collect()
            }),
            // A counter scraped at a jittery interval.
            (time(), 1i64..120_000, prop::collection::vec((-50i64..50, 0u32..1000), 1..400)).prop_map(
                |(t0, step, incs)| {
                    let (mut t, mut v) = (t0, 0.0f64);
                    incs.into_iter()
                        .map(|(jitter, inc)| {
                            t = t.wrapping_add(step + jitter);
                            v += f64::from(inc);
                            Sample::new(t, v)
                        })
                        .collect()
                }
            ),
            // A gauge doing a random walk.
            (time(), 1i64..120_000, value(), prop::collection::vec(-1.0e3f64..1.0e3, 1..400)).prop_map(
                |(t0, step, v0, steps)| {
                    let mut v = v0;
                    steps
                        .into_iter()
                        .enumerate()
                        .map(|(i, dv)| {
                            v += dv;
                            Sample::new(t0.wrapping_add(step.wrapping_mul(i as i64)), v)
                        })
                        .collect()
                }
            ),
        ]
    }

    /// Sequences made of several segments back to back.
    fn samples() -> impl Strategy<Value = Vec<Sample>> {
        prop::collection::vec(segment(), 0..6).prop_map(|segs| segs.concat())
    }

    fn encode_checked(samples: &[Sample]) -> XorAppender {
        let mut app = XorAppender::new();
        for s in samples {
            app.append(s.t, s.v).expect("test sequences fit one chunk");
        }
        app
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips_bit_exact(samples in samples()) {
            let app = encode_checked(&samples);
            prop_assert_eq!(app.num_samples(), samples.len());
            prop_assert_eq!(app.bytes(), &encode(&samples)[..]);
            assert_same(&decode_all(app.bytes()).expect("valid chunk"), &samples)?;
            let via_iter: Vec<Sample> = app.iter().collect::<Result<_, _>>().expect("valid chunk");
            assert_same(&via_iter, &samples)?;
            prop_assert_eq!(app.min_time(), samples.iter().map(|s| s.t).min());
            prop_assert_eq!(app.max_time(), samples.iter().map(|s| s.t).max());
            prop_assert_eq!(app.last_sample().map(|s| (s.t, s.v.to_bits())), samples.last().map(|s| (s.t, s.v.to_bits())));
        }

        #[test]
        fn bytes_are_complete_after_every_append(
            samples in prop::collection::vec((time(), value()), 0..80)
        ) {
            let samples: Vec<Sample> = samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect();
            let mut app = XorAppender::new();
            for (i, s) in samples.iter().enumerate() {
                app.append(s.t, s.v).expect("fits");
                assert_same(&decode_all(app.bytes()).expect("valid chunk"), &samples[..=i])?;
            }
        }

        #[test]
        fn resumed_append_matches_continuous(
            samples in samples(),
            split in any::<prop::sample::Index>(),
        ) {
            let split = split.index(samples.len() + 1);
            let whole = encode_checked(&samples);
            let first = encode_checked(&samples[..split]);
            let mut resumed = XorAppender::from_bytes(first.bytes()).expect("valid chunk");
            prop_assert_eq!(resumed.bytes(), first.bytes());
            prop_assert_eq!(resumed.min_time(), first.min_time());
            prop_assert_eq!(resumed.max_time(), first.max_time());
            for s in &samples[split..] {
                resumed.append(s.t, s.v).expect("fits");
            }
            prop_assert_eq!(resumed.bytes(), whole.bytes());
            prop_assert_eq!(resumed.num_samples(), whole.num_samples());
            prop_assert_eq!(resumed.min_time(), whole.min_time());
            prop_assert_eq!(resumed.max_time(), whole.max_time());
        }

        #[test]
        fn truncated_chunks_fail_without_wrong_samples(
            samples in prop::collection::vec((time(), value()), 1..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let samples: Vec<Sample> = samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect();
            let bytes = encode(&samples);
            let cut = cut.index(bytes.len());
            let short = &bytes[..cut];
            prop_assert!(decode_all(short).is_err());
            prop_assert!(XorAppender::from_bytes(short).is_err());
            if let Ok(it) = XorIter::new(short) {
                let items: Vec<_> = it.collect();
                let (last, good) = items.split_last().expect("a truncated chunk yields an error");
                prop_assert!(last.is_err());
                let good: Vec<Sample> = good.iter().map(|r| *r.as_ref().expect("only the last item fails")).collect();
                prop_assert!(good.len() < samples.len());
                assert_same(&good, &samples[..good.len()])?;
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            check_arbitrary(&bytes)?;
        }

        #[test]
        fn corrupted_chunks_never_panic(
            samples in prop::collection::vec((time(), value()), 1..100),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
            extra in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            let samples: Vec<Sample> = samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect();
            let mut bytes = encode(&samples);
            for (at, bit) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            bytes.extend_from_slice(&extra);
            check_arbitrary(&bytes)?;
        }
    }

    /// Decodes arbitrary input every way there is and checks the shape of the
    /// outcome: at most the announced number of samples, at most one error and
    /// only as the last item, and agreement between the entry points.
    fn check_arbitrary(bytes: &[u8]) -> Result<(), TestCaseError> {
        let Ok(it) = XorIter::new(bytes) else {
            prop_assert!(bytes.len() < HEADER_LEN);
            prop_assert!(decode_all(bytes).is_err());
            prop_assert!(XorAppender::from_bytes(bytes).is_err());
            return Ok(());
        };
        let announced = it.num_samples();
        let items: Vec<_> = it.collect();
        let errors = items.iter().filter(|r| r.is_err()).count();
        prop_assert!(errors <= 1);
        if errors == 1 {
            prop_assert!(items.last().is_some_and(|r| r.is_err()));
        }
        let good: Vec<Sample> = items.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        prop_assert!(good.len() <= announced);
        match (decode_all(bytes), XorAppender::from_bytes(bytes)) {
            (Ok(all), Ok(app)) => {
                prop_assert_eq!(errors, 0);
                prop_assert_eq!(all.len(), announced);
                assert_same(&all, &good)?;
                // An accepted chunk re-encodes to exactly its input.
                prop_assert_eq!(app.bytes(), bytes);
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(errors, 1);
                prop_assert_eq!(a, b);
            }
            (a, b) => prop_assert!(
                false,
                "decode_all {:?} vs from_bytes {:?}",
                a.map(|v| v.len()),
                b.map(|a| a.num_samples())
            ),
        }
        Ok(())
    }

    /// Encodes samples given as `(t, value bits)`.
    fn encode_bits(samples: &[(i64, u64)]) -> Vec<u8> {
        let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, f64::from_bits(v))).collect();
        encode(&samples)
    }

    #[test]
    fn golden_layouts() {
        // These bytes are the frozen format of encoding 1: changing any of
        // them breaks every chunk already on disk.
        let one = 0x3ff0_0000_0000_0000u64;
        let cases: &[(&str, &[(i64, u64)], &[u8])] = &[
            ("empty", &[], &[0x00, 0x00]),
            ("one sample", &[(1, one)], &[0x00, 0x01, 0x02, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]),
            ("negative first timestamp", &[(-1, 0)], &[0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
            (
                // t delta 15000 → zigzag 30000 → varint 0xb0 0xea 0x01; value
                // unchanged → bit 0, padded.
                "two equal values",
                &[(0, one), (15_000, one)],
                &[0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xb0, 0xea, 0x01, 0x00],
            ),
            (
                // Third sample: dod 0 → `0`, same value → `0`.
                // Fourth: dod 0 → `0`, value 1.0 → 2.0: xor 0x7ff0… has 1
                // leading zero, 52 trailing → `11` `00001` `001011`
                // then 11 significant bits 111 1111 1111.
                "dod zero then new window",
                &[(0, one), (10, one), (20, one), (30, 0x4000_0000_0000_0000)],
                &[
                    0x00,
                    0x04,
                    0x00,
                    0x3f,
                    0xf0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x14, // header, t, v, delta
                    0b0000_1100,
                    0b0010_0101,
                    0b1111_1111,
                    0b1111_0000,
                ],
            ),
        ];
        for &(name, samples, want) in cases {
            assert_eq!(encode_bits(samples), want, "{name}");
            let decoded = decode_all(want).expect(name);
            let got: Vec<(i64, u64)> = decoded.iter().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(got, samples, "{name}");
        }
    }

    #[test]
    fn dod_bucket_boundaries() {
        // (delta of delta, encoded bits of the third sample's timestamp)
        let cases: &[(i64, u64)] = &[
            (0, 1),
            (1, 16),
            (-1, 16),
            ((1 << 13) - 1, 16),
            (-(1 << 13), 16),
            (1 << 13, 20),
            (-(1 << 13) - 1, 20),
            ((1 << 16) - 1, 20),
            (-(1 << 16), 20),
            (1 << 16, 24),
            ((1 << 19) - 1, 24),
            (-(1 << 19), 24),
            (1 << 19, 68),
            (-(1 << 19) - 1, 68),
            (i64::MAX, 68),
            (i64::MIN, 68),
        ];
        let base = 1_000_000i64;
        let step = 15_000i64;
        for &(dod, want_bits) in cases {
            let ts = [base, base + step, (base + 2 * step).wrapping_add(dod)];
            let mut app = XorAppender::new();
            app.append(ts[0], 0.0).expect("fits");
            app.append(ts[1], 0.0).expect("fits");
            let before = app.w.bit_len();
            app.append(ts[2], 0.0).expect("fits");
            // One bit for the unchanged value.
            assert_eq!(app.w.bit_len() - before, want_bits + 1, "dod {dod}");
            let got: Vec<i64> = decode_all(app.bytes()).expect("valid chunk").iter().map(|s| s.t).collect();
            assert_eq!(got, ts, "dod {dod}");
        }
    }

    #[test]
    fn constant_and_counter_sizes() {
        // Regression guard for the compression ratio of the two most common
        // shapes (exact sizes follow from the layout in chunk.md).
        let t0 = 1_700_000_000_000i64;
        let constant: Vec<Sample> = (0..120).map(|i| Sample::new(t0 + i * 15_000, 42.0)).collect();
        // header 2 + t0 varint 6 + value 8 + delta varint 3, then 1 + 118 × 2
        // bits = 237 bits = 30 bytes.
        assert_eq!(encode(&constant).len(), 2 + 6 + 8 + 3 + 30);
        let counter: Vec<Sample> = (0..120).map(|i| Sample::new(t0 + i * 15_000, (i * 10) as f64)).collect();
        let len = encode(&counter).len();
        assert!(len < 120 * 2, "counter chunk of {len} bytes");
    }

    #[test]
    fn full_chunk_refuses_appends() {
        let mut app = XorAppender::new();
        for i in 0..MAX_SAMPLES as i64 {
            app.append(i, i as f64).expect("below the limit");
        }
        assert!(app.is_full());
        assert_eq!(app.append(i64::MAX, 0.0), Err(ChunkError::Full { max: MAX_SAMPLES }));
        assert_eq!(app.num_samples(), MAX_SAMPLES);
        let decoded = decode_all(app.bytes()).expect("valid chunk");
        assert_eq!(decoded.len(), MAX_SAMPLES);
        assert_eq!(decoded[MAX_SAMPLES - 1], Sample::new(MAX_SAMPLES as i64 - 1, (MAX_SAMPLES - 1) as f64));
        let mut resumed = XorAppender::from_bytes(app.bytes()).expect("valid chunk");
        assert!(resumed.is_full());
        assert!(resumed.append(0, 0.0).is_err());
    }

    #[test]
    fn malformed_chunks_table() {
        let valid = encode_bits(&[(0, 0x3ff0_0000_0000_0000), (10, 0x3ff0_0000_0000_0000)]);
        let mut trailing_byte = valid.clone();
        trailing_byte.push(0);
        let mut dirty_padding = valid.clone();
        *dirty_padding.last_mut().expect("non-empty") |= 1;
        let mut overlong = vec![0x00, 0x01];
        overlong.extend_from_slice(&[0xff; 10]);
        overlong.extend_from_slice(&[0; 8]);
        // Ten bytes whose last one carries payload past bit 64.
        let mut too_wide = vec![0x00, 0x01];
        too_wide.extend_from_slice(&[0xff; 9]);
        too_wide.push(0x02);
        too_wide.extend_from_slice(&[0; 8]);
        // Second sample's value uses prefix `10` before any window exists.
        let no_window = vec![0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0b1000_0000];
        // New window of 31 leading and 63 significant bits: 94 > 64.
        let bad_window = vec![0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0b1111_1111, 0b1111_1000];
        let cases: &[(&str, &[u8], ChunkError)] = &[
            ("empty input", &[], ChunkError::TooShort { len: 0 }),
            ("half a header", &[0x00], ChunkError::TooShort { len: 1 }),
            ("header only", &[0x00, 0x01], ChunkError::Truncated { sample: 0, at_bit: 16, len: 2 }),
            ("trailing byte", &trailing_byte, ChunkError::TrailingData { end_bit: 97, len: 14 }),
            ("dirty padding", &dirty_padding, ChunkError::TrailingData { end_bit: 97, len: 13 }),
            ("overlong varint", &overlong, ChunkError::VarintOverflow { sample: 0, at_bit: 16 }),
            ("too wide varint", &too_wide, ChunkError::VarintOverflow { sample: 0, at_bit: 16 }),
            ("reuse without window", &no_window, ChunkError::MissingXorWindow { sample: 1 }),
            ("oversized window", &bad_window, ChunkError::BadXorWindow { sample: 1, leading: 31, significant: 63 }),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(decode_all(bytes).as_ref().err(), Some(want), "{name}");
            assert_eq!(XorAppender::from_bytes(bytes).err().as_ref(), Some(want), "{name}");
        }
    }

    #[test]
    fn iterator_is_fused_after_an_error() {
        let mut it = XorIter::new(&[0x00, 0x03, 0x00]).expect("header present");
        assert_eq!(it.num_samples(), 3);
        assert!(matches!(it.next(), Some(Err(ChunkError::Truncated { sample: 0, .. }))));
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }
}
