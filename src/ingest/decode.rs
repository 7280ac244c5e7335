//! Request body → [`WriteView`]: snappy block format (remote write 1.0
//! bodies are not framed snappy), then protobuf.
//!
//! Size limits come first and cost nothing: the body as received is checked
//! against `max_body_bytes`, and the decompressed length announced in the
//! snappy header (a varint at the start of the block) is checked against
//! `max_decoded_bytes` before the output buffer is grown, so a small body
//! cannot make the server allocate gigabytes. The snappy block format itself
//! caps that length at `u32::MAX`, which the view's 32-bit offsets rely on.
//!
//! The body is decompressed into the view's own buffer and parsed in place
//! ([`WriteView::parse`]). What that parser declines (metadata, native
//! histograms, group wire types, malformed input) is decoded with prost:
//! prost's error is the answer for a malformed body, so refusals and their
//! messages are prost's. Invalid UTF-8 in a label name or value is such an
//! error, so it fails the whole request rather than one series.

use prost::Message;

use super::{IngestError, IngestLimits, WriteView};
use crate::proto::prometheus::WriteRequest;

/// Decodes a remote write 1.0 body into `out` (its previous content is
/// replaced).
pub fn decode(body: &[u8], limits: &IngestLimits, out: &mut WriteView) -> Result<(), IngestError> {
    let size = body.len() as u64;
    if size > limits.max_body_bytes {
        return Err(IngestError::BodyTooLarge { size, limit: limits.max_body_bytes });
    }
    let decoded = snap::raw::decompress_len(body).map_err(IngestError::Snappy)?;
    if decoded as u64 > limits.max_decoded_bytes {
        return Err(IngestError::DecodedTooLarge { size: decoded as u64, limit: limits.max_decoded_bytes });
    }
    snap::raw::Decoder::new().decompress(body, out.body_buffer(decoded)).map_err(IngestError::Snappy)?;
    if !out.parse() {
        let msg = WriteRequest::decode(out.body()).map_err(IngestError::Protobuf)?;
        out.set_message(msg);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use super::*;
    use crate::proto::prometheus::{Label, Sample, TimeSeries};

    /// The system allocator, recording per thread the largest allocation
    /// made, so a test can show that a decode did not allocate a buffer.
    struct Tracking;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        // `try_with`: the thread may be shutting down.
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }

    // SAFETY: every call is forwarded unchanged to `System`; recording a size
    // in a const-initialized thread-local `Cell` does not allocate.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            System.alloc(layout)
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            System.alloc_zeroed(layout)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            System.realloc(ptr, layout, new_size)
        }
    }

    #[global_allocator]
    static ALLOCATOR: Tracking = Tracking;

    /// Runs `f`, returning its result and the largest allocation it made on
    /// this thread.
    fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
        LARGEST.with(|l| l.set(0));
        let out = f();
        (out, LARGEST.with(Cell::get))
    }

    /// Decodes `body` into a fresh view.
    fn decode_new(body: &[u8], limits: &IngestLimits) -> Result<WriteView, IngestError> {
        let mut view = WriteView::new();
        decode(body, limits, &mut view).map(|()| view)
    }

    fn compress(b: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(b).expect("compressing test data")
    }

    fn sample_request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![Sample { value: 1.0, timestamp: 5 }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_snappy_protobuf_body_decodes() {
        let req = sample_request();
        let got = decode_new(&compress(&req.encode_to_vec()), &IngestLimits::default()).expect("valid body");
        assert_eq!(got.to_message(), req);
    }

    #[test]
    fn corrupt_snappy_is_refused() {
        // A header announcing 10 bytes followed by a literal tag that runs
        // past the end of the input.
        let err = decode_new(b"\x0a\xff\xff\xff", &IngestLimits::default()).expect_err("corrupt");
        assert!(matches!(err, IngestError::Snappy(_)), "{err:?}");
        assert!(err.to_string().starts_with("invalid snappy block in request body: "), "{err}");
        // Framed snappy (the stream format) is not the block format.
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut framed, &sample_request().encode_to_vec()).expect("framing");
        let framed = framed.into_inner().expect("framing");
        assert!(matches!(decode_new(&framed, &IngestLimits::default()), Err(IngestError::Snappy(_))));
    }

    #[test]
    fn a_too_large_decoded_length_is_refused_before_allocating() {
        // The varint 0xffff_ffff: a header announcing 4 GiB, with no data.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let limits = IngestLimits::default();
        let (result, largest) = largest_allocation(|| decode_new(&body, &limits));
        match result {
            Err(IngestError::DecodedTooLarge { size, limit }) => {
                assert_eq!((size, limit), (0xffff_ffff, limits.max_decoded_bytes));
            }
            other => panic!("expected DecodedTooLarge, got {other:?}"),
        }
        assert!(largest < 1024, "decode allocated {largest} bytes");
    }

    #[test]
    fn decoded_limit_is_inclusive() {
        let encoded = sample_request().encode_to_vec();
        let body = compress(&encoded);
        let exact = IngestLimits { max_decoded_bytes: encoded.len() as u64, ..IngestLimits::default() };
        assert!(decode_new(&body, &exact).is_ok());
        let under = IngestLimits { max_decoded_bytes: encoded.len() as u64 - 1, ..IngestLimits::default() };
        let err = decode_new(&body, &under).expect_err("over the limit");
        assert!(matches!(err, IngestError::DecodedTooLarge { size, limit } if size == limit + 1), "{err:?}");
    }

    #[test]
    fn a_body_over_the_compressed_limit_is_refused_unread() {
        let limits = IngestLimits { max_body_bytes: 4, ..IngestLimits::default() };
        let err = decode_new(&[0; 5], &limits).expect_err("too large");
        assert!(matches!(err, IngestError::BodyTooLarge { size: 5, limit: 4 }), "{err:?}");
        assert!(decode_new(&compress(b""), &limits).is_ok(), "an empty request within the limit decodes");
    }

    #[test]
    fn a_non_protobuf_payload_is_refused_with_prosts_message() {
        let err = decode_new(&compress(b"\xff\xff\xff\xff\xff"), &IngestLimits::default()).expect_err("not protobuf");
        let IngestError::Protobuf(inner) = &err else { panic!("expected Protobuf, got {err:?}") };
        assert_eq!(err.to_string(), format!("invalid protobuf WriteRequest in request body: {inner}"));
        // Invalid UTF-8 in a label value fails the whole body.
        let mut bytes = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "zz".into() }],
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let at = bytes.iter().position(|&b| b == b'z').expect("value bytes");
        bytes[at] = 0xff;
        assert!(matches!(decode_new(&compress(&bytes), &IngestLimits::default()), Err(IngestError::Protobuf(_))));
    }
}
