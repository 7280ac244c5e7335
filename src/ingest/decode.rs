//! Body → `WriteRequest`: snappy block format, then protobuf. The snappy
//! header announces the decompressed length, which is checked against the
//! limit before anything is allocated. Invalid UTF-8 in a label is a
//! protobuf decode error (prost checks `string` fields), so it refuses the
//! whole request.

use prost::Message;

use super::{IngestError, IngestLimits};
use crate::proto::prometheus::WriteRequest;

/// Decodes a remote-write 1.0 body.
pub fn decode(body: &[u8], limits: &IngestLimits) -> Result<WriteRequest, IngestError> {
    if body.len() as u64 > limits.max_body_bytes {
        return Err(IngestError::BodyTooLarge { size: body.len() as u64, limit: limits.max_body_bytes });
    }
    let size = snap::raw::decompress_len(body).map_err(IngestError::Snappy)? as u64;
    if size > limits.max_decoded_bytes {
        return Err(IngestError::DecodedTooLarge { size, limit: limits.max_decoded_bytes });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(IngestError::Snappy)?;
    WriteRequest::decode(raw.as_slice()).map_err(IngestError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::prometheus::{Label, Sample, TimeSeries};

    fn compress(b: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(b).expect("snappy")
    }

    #[test]
    fn decodes_valid_and_refuses_invalid_bodies() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![Sample { value: 1.0, timestamp: 5 }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let limits = IngestLimits::default();
        assert_eq!(decode(&compress(&req.encode_to_vec()), &limits).expect("valid"), req);
        assert!(matches!(decode(b"\x0a\xff\xff\xff", &limits), Err(IngestError::Snappy(_))));
        assert!(matches!(decode(&compress(b"\xff\xff\xff"), &limits), Err(IngestError::Protobuf(_))));
        // A header announcing 4 GiB must be refused before allocating.
        assert!(matches!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f], &limits), Err(IngestError::DecodedTooLarge { .. })));
        let small = IngestLimits { max_body_bytes: 4, ..IngestLimits::default() };
        assert!(matches!(decode(&[0; 5], &small), Err(IngestError::BodyTooLarge { size: 5, limit: 4 })));
    }
}
