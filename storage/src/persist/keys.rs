//! Key and value encodings of the RocksDB column families.
//!
//! The layout is documented in `storage/docs/format/rocksdb.md`; a change here
//! changes that document in the same commit. All integers in keys are
//! big-endian so that byte order equals numeric order; timestamps are stored
//! with their sign bit flipped so that negative times sort first.

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::tombstone::Tombstone;

/// Length of a tenant id in keys.
pub const TENANT_LEN: usize = 4;
/// Length of a series id in keys.
pub const SERIES_LEN: usize = 8;
/// Length of a chunk key: tenant, series, chunk min time.
pub const CHUNK_KEY_LEN: usize = TENANT_LEN + SERIES_LEN + 8;
/// Separator between label name and value in postings keys (never in UTF-8).
const SEP: u8 = 0xFF;

/// Chunk value layout version (the first byte of every chunk value).
pub const CHUNK_VALUE_VERSION: u8 = 1;
/// Bytes before the encoded chunk: version, encoding, max time.
const CHUNK_HEADER_LEN: usize = 1 + 1 + 8;
/// Bytes after the encoded chunk: CRC-32 of everything before it.
const CHUNK_TRAILER_LEN: usize = 4;

/// A timestamp as a big-endian key part that sorts numerically.
pub fn time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`time_key`].
pub fn time_from_key(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// `tenant | series | min_t`: the key of a chunk in a partition family.
pub fn chunk_key(tenant: u32, series: u64, min_t: i64) -> [u8; CHUNK_KEY_LEN] {
    let mut k = [0u8; CHUNK_KEY_LEN];
    k[..4].copy_from_slice(&tenant.to_be_bytes());
    k[4..12].copy_from_slice(&series.to_be_bytes());
    k[12..].copy_from_slice(&time_key(min_t));
    k
}

/// `tenant | series`: the prefix of all chunks of a series.
pub fn series_prefix(tenant: u32, series: u64) -> [u8; TENANT_LEN + SERIES_LEN] {
    let mut k = [0u8; TENANT_LEN + SERIES_LEN];
    k[..4].copy_from_slice(&tenant.to_be_bytes());
    k[4..].copy_from_slice(&series.to_be_bytes());
    k
}

/// Splits a chunk key into `(tenant, series, min_t)`.
pub fn parse_chunk_key(k: &[u8]) -> Result<(u32, u64, i64)> {
    if k.len() != CHUNK_KEY_LEN {
        return Err(corrupt("chunk key", k, "wrong length"));
    }
    let tenant = u32::from_be_bytes(k[..4].try_into().unwrap_or_default());
    let series = u64::from_be_bytes(k[4..12].try_into().unwrap_or_default());
    let min_t = time_from_key(k[12..].try_into().unwrap_or_default());
    Ok((tenant, series, min_t))
}

/// A chunk value: `version | encoding | max_t | chunk bytes | crc32`.
pub fn encode_chunk_value(encoding: u8, max_t: i64, chunk: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(CHUNK_HEADER_LEN + chunk.len() + CHUNK_TRAILER_LEN);
    v.push(CHUNK_VALUE_VERSION);
    v.push(encoding);
    v.extend_from_slice(&max_t.to_be_bytes());
    v.extend_from_slice(chunk);
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

/// A decoded chunk value, borrowing the chunk bytes.
#[derive(Debug)]
pub struct ChunkValue<'a> {
    /// The chunk encoding byte.
    pub encoding: u8,
    /// Timestamp of the chunk's last sample.
    pub max_t: i64,
    /// The encoded chunk.
    pub chunk: &'a [u8],
}

/// Checks and splits a chunk value. `key` is only used in the error.
pub fn decode_chunk_value<'a>(key: &[u8], v: &'a [u8]) -> Result<ChunkValue<'a>> {
    if v.len() < CHUNK_HEADER_LEN + CHUNK_TRAILER_LEN {
        return Err(corrupt("chunk value", key, "too short"));
    }
    let (body, crc) = v.split_at(v.len() - CHUNK_TRAILER_LEN);
    let want = u32::from_le_bytes(crc.try_into().unwrap_or_default());
    if crc32fast::hash(body) != want {
        return Err(corrupt("chunk value", key, "crc mismatch"));
    }
    if body[0] != CHUNK_VALUE_VERSION {
        return Err(corrupt("chunk value", key, "unknown version"));
    }
    Ok(ChunkValue {
        encoding: body[1],
        max_t: i64::from_be_bytes(body[2..10].try_into().unwrap_or_default()),
        chunk: &body[CHUNK_HEADER_LEN..],
    })
}

/// Reads only the max time of a chunk value without checking the CRC (used
/// for bounds checks: to pass over chunks outside a read's range, and
/// before decoding, and checking, the others).
pub fn chunk_value_max_t(v: &[u8]) -> Option<i64> {
    v.get(2..10).map(|b| i64::from_be_bytes(b.try_into().unwrap_or_default()))
}

/// `series` family key: the series id.
pub fn series_key(series: u64) -> [u8; SERIES_LEN] {
    series.to_be_bytes()
}

/// `series` family value: `tenant | labels`.
pub fn series_value(tenant: u32, labels: &Labels) -> Vec<u8> {
    let mut v = tenant.to_be_bytes().to_vec();
    labels.encode_into(&mut v);
    v
}

/// Parses a `series` family value into `(tenant, labels)`.
pub fn parse_series_value(key: &[u8], v: &[u8]) -> Result<(u32, Labels)> {
    if v.len() < TENANT_LEN {
        return Err(corrupt("series entry", key, "too short"));
    }
    let tenant = u32::from_be_bytes(v[..4].try_into().unwrap_or_default());
    let labels = Labels::decode(&v[4..]).ok_or_else(|| corrupt("series entry", key, "bad labels"))?;
    Ok((tenant, labels))
}

/// `series_by_labels` family key: `tenant | labels`.
pub fn series_by_labels_key(tenant: u32, labels: &Labels) -> Vec<u8> {
    series_value(tenant, labels)
}

/// `postings` family key prefix for every value of `name`: `tenant | name 0xFF`.
pub fn postings_name_prefix(tenant: u32, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(TENANT_LEN + name.len() + 1);
    k.extend_from_slice(&tenant.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k.push(SEP);
    k
}

/// `postings` family key prefix for one label pair: `tenant | name 0xFF value 0xFF`.
pub fn postings_prefix(tenant: u32, name: &str, value: &str) -> Vec<u8> {
    let mut k = postings_name_prefix(tenant, name);
    k.extend_from_slice(value.as_bytes());
    k.push(SEP);
    k
}

/// `postings` family key: `tenant | name 0xFF value 0xFF series`.
pub fn postings_key(tenant: u32, name: &str, value: &str, series: u64) -> Vec<u8> {
    let mut k = postings_prefix(tenant, name, value);
    k.extend_from_slice(&series.to_be_bytes());
    k
}

/// Splits the part of a postings key after a name prefix into `(value, series)`.
pub fn parse_postings_suffix(key: &[u8], suffix: &[u8]) -> Result<(String, u64)> {
    if suffix.len() < SERIES_LEN + 1 || suffix[suffix.len() - SERIES_LEN - 1] != SEP {
        return Err(corrupt("postings key", key, "bad layout"));
    }
    let value = &suffix[..suffix.len() - SERIES_LEN - 1];
    let value = std::str::from_utf8(value).map_err(|_| corrupt("postings key", key, "value is not utf-8"))?;
    let series = u64::from_be_bytes(suffix[suffix.len() - SERIES_LEN..].try_into().unwrap_or_default());
    Ok((value.to_owned(), series))
}

/// `series` id at the end of a postings key.
pub fn postings_series(key: &[u8]) -> Result<u64> {
    if key.len() < SERIES_LEN {
        return Err(corrupt("postings key", key, "too short"));
    }
    Ok(u64::from_be_bytes(key[key.len() - SERIES_LEN..].try_into().unwrap_or_default()))
}

/// `meta` key suffix of a tombstone (after `tombstone/`): `series | seq`.
pub fn tombstone_key_suffix(t: &Tombstone) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&t.series.to_be_bytes());
    k[8..].copy_from_slice(&t.seq.to_be_bytes());
    k
}

/// `meta` value of a tombstone: `tenant u32 | start i64 | end i64`.
pub fn tombstone_value(t: &Tombstone) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[..4].copy_from_slice(&t.tenant.to_be_bytes());
    v[4..12].copy_from_slice(&t.start.to_be_bytes());
    v[12..].copy_from_slice(&t.end.to_be_bytes());
    v
}

/// Inverse of [`tombstone_key_suffix`] and [`tombstone_value`].
pub fn parse_tombstone(suffix: &[u8], v: &[u8]) -> Option<Tombstone> {
    let u64_at = |b: &[u8], i: usize| b.get(i..i + 8).and_then(|x| x.try_into().ok()).map(u64::from_be_bytes);
    if suffix.len() != 16 || v.len() != 20 {
        return None;
    }
    Some(Tombstone {
        series: u64_at(suffix, 0)?,
        seq: u64_at(suffix, 8)?,
        tenant: u32::from_be_bytes(v[..4].try_into().ok()?),
        start: u64_at(v, 4)? as i64,
        end: u64_at(v, 12)? as i64,
    })
}

/// The smallest key greater than every key that starts with `prefix`, or
/// `None` when no such key exists (the prefix is all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn corrupt(what: &'static str, key: &[u8], detail: &'static str) -> Error {
    Error::Corrupt { what, location: format!("key {}", hex(key)), detail }
}

/// Lowercase hex of a key, for error messages.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_numerically_across_zero() {
        let ts = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(time_key(w[0]) < time_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        for t in ts {
            assert_eq!(time_from_key(time_key(t)), t);
        }
    }

    #[test]
    fn chunk_values_round_trip_and_detect_corruption() {
        let v = encode_chunk_value(1, 42, b"chunk");
        let d = decode_chunk_value(b"k", &v).expect("valid");
        assert_eq!((d.encoding, d.max_t, d.chunk), (1, 42, &b"chunk"[..]));
        let mut bad = v.clone();
        bad[11] ^= 1;
        assert!(matches!(decode_chunk_value(b"k", &bad), Err(Error::Corrupt { detail: "crc mismatch", .. })));
        assert!(decode_chunk_value(b"k", &v[..5]).is_err());
    }

    #[test]
    fn chunk_keys_round_trip() {
        let k = chunk_key(7, 9, -3);
        assert_eq!(parse_chunk_key(&k).expect("valid"), (7, 9, -3));
        assert!(k.starts_with(&series_prefix(7, 9)));
    }

    #[test]
    fn postings_suffix_parses_values_with_any_utf8() {
        let k = postings_key(1, "job", "a\u{e9}b", 77);
        let prefix = postings_name_prefix(1, "job");
        assert_eq!(parse_postings_suffix(&k, &k[prefix.len()..]).expect("valid"), ("a\u{e9}b".to_owned(), 77));
        assert_eq!(postings_series(&k).expect("valid"), 77);
    }

    #[test]
    fn tombstones_round_trip() {
        let t = Tombstone { seq: 3, tenant: 2, series: 9, start: -5, end: i64::MAX };
        assert_eq!(parse_tombstone(&tombstone_key_suffix(&t), &tombstone_value(&t)), Some(t));
        assert_eq!(parse_tombstone(&[0; 15], &tombstone_value(&t)), None);
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
