//! Byte sizes as users write them: `512`, `64KiB`, `128MiB`, `1GiB`, `10MB`.

use serde::{Deserialize, Deserializer};

/// A size string that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid size {0:?}: use a number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)")]
pub struct SizeError(String);

/// Parses a byte size.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| SizeError(s.to_owned()))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(SizeError(s.to_owned())),
    };
    n.checked_mul(mult).ok_or_else(|| SizeError(s.to_owned()))
}

/// Serde helper: a size given as a number of bytes or a string with a unit.
pub fn deserialize_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in
            [("512", 512), ("64KiB", 65536), ("128MiB", 128 << 20), ("10MB", 10_000_000), ("1 GiB", 1 << 30)]
        {
            assert_eq!(parse_size(s).expect(s), want, "{s}");
        }
        for bad in ["", "MiB", "12XB", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
