//! Secrets stored as hashes, and a verifier that pays for a slow hash only
//! once per distinct credential.
//!
//! A secret (bearer token or password) is kept in config only as an
//! Argon2id hash in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$...`),
//! produced by `rampart hash-secret`. Checking a presented secret against
//! such a hash costs tens of milliseconds on purpose, so [`VerifiedCache`]
//! remembers outcomes keyed by the SHA-256 of what the client presented:
//! the plaintext is never kept, and a credential seen before costs one
//! SHA-256 and a map lookup.
//!
//! Invariant: a cache entry is only ever the outcome of a full Argon2
//! verification against the config the cache was built for; the config is
//! fixed for the life of the process, so entries never go stale.

use std::collections::HashMap;
use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Distinct credentials remembered before the cache is emptied, so clients
/// sending random tokens cannot grow memory without bound.
const CACHE_CAPACITY: usize = 10_000;

/// A hash that is not a valid Argon2 PHC string.
#[derive(Debug, thiserror::Error)]
#[error("{0}: not an Argon2 hash; produce one with `rampart hash-secret`")]
pub struct BadHash(String);

/// An Argon2 hash of a secret, parsed and checked at config load.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SecretHash(String);

impl TryFrom<String> for SecretHash {
    type Error = BadHash;

    fn try_from(phc: String) -> Result<Self, BadHash> {
        Self::parse(&phc)
    }
}

impl SecretHash {
    /// Parses a PHC string, refusing anything that is not an Argon2 hash.
    pub fn parse(phc: &str) -> Result<Self, BadHash> {
        let parsed = PasswordHash::new(phc).map_err(|e| BadHash(e.to_string()))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(BadHash(format!("algorithm {}", parsed.algorithm)));
        }
        Ok(Self(phc.to_owned()))
    }

    /// True when `secret` hashes to this hash (slow: a full Argon2 run).
    pub fn verify(&self, secret: &[u8]) -> bool {
        PasswordHash::new(&self.0).is_ok_and(|h| Argon2::default().verify_password(secret, &h).is_ok())
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// Hashes a secret with Argon2id and a random salt (what `rampart
/// hash-secret` prints).
pub fn hash_secret(secret: &[u8]) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .expect("argon2 with default parameters and a generated salt cannot fail")
}

/// Bytes of a token made by `rampart hash-secret --generate`.
const GENERATED_TOKEN_BYTES: usize = 32;

/// `rampart hash-secret`: hashes the first line of `input` (without its line
/// ending), or with `generate` a new random token, and prints the result.
pub fn hash_secret_command(
    generate: bool,
    input: impl std::io::BufRead,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    if generate {
        let bytes: [u8; GENERATED_TOKEN_BYTES] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "token: {token}")?;
        writeln!(out, "hash:  {}", hash_secret(token.as_bytes()))?;
        return Ok(());
    }
    let mut line = String::new();
    let mut input = input;
    input.read_line(&mut line)?;
    let secret = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if secret.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no secret on standard input: e.g. `printf %s \"$TOKEN\" | rampart hash-secret`, or use --generate",
        ));
    }
    writeln!(out, "{}", hash_secret(secret.as_bytes()))
}

/// Outcomes of full verifications, keyed by the SHA-256 of the presented
/// credential. `V` is what a verification found (e.g. the tenant index, or
/// `None` for a credential that matched nothing).
pub struct VerifiedCache<V> {
    /// Digest of a presented credential → outcome.
    entries: Mutex<HashMap<[u8; 32], V>>,
}

impl<V: Clone> Default for VerifiedCache<V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone> VerifiedCache<V> {
    /// The outcome for `presented`, running `verify` (slow) only the first
    /// time a credential is seen.
    pub fn get_or_verify(&self, presented: &[u8], verify: impl FnOnce() -> V) -> V {
        let key: [u8; 32] = Sha256::digest(presented).into();
        if let Some(v) = self.entries.lock().get(&key) {
            return v.clone();
        }
        let outcome = verify();
        let mut entries = self.entries.lock();
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, outcome.clone());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn hashes_verify_their_secret_only() {
        let phc = hash_secret(b"s3cret");
        let h = SecretHash::parse(&phc).expect("own hash parses");
        assert!(h.verify(b"s3cret"));
        assert!(!h.verify(b"s3cret "));
        assert!(!h.verify(b""));
        assert_ne!(hash_secret(b"s3cret"), phc, "salts differ");
        assert_eq!(format!("{h:?}"), "SecretHash(<redacted>)");
    }

    #[test]
    fn the_command_hashes_stdin_or_a_generated_token() {
        let mut out = Vec::new();
        hash_secret_command(false, &b"tok\n"[..], &mut out).expect("hash");
        let phc = String::from_utf8(out).expect("utf-8");
        assert!(SecretHash::parse(phc.trim()).expect("parses").verify(b"tok"));
        assert!(hash_secret_command(false, &b""[..], &mut Vec::new()).is_err());
        let mut out = Vec::new();
        hash_secret_command(true, &b""[..], &mut out).expect("generate");
        let text = String::from_utf8(out).expect("utf-8");
        let token = text.lines().next().and_then(|l| l.strip_prefix("token: ")).expect("token line");
        let hash = text.lines().nth(1).and_then(|l| l.strip_prefix("hash:  ")).expect("hash line");
        assert_eq!(token.len(), 64);
        assert!(SecretHash::parse(hash).expect("parses").verify(token.as_bytes()));
    }

    #[test]
    fn non_argon2_hashes_are_refused_with_advice() {
        for bad in ["plaintext", "", "$5$rounds=5000$abc$def"] {
            let err = SecretHash::parse(bad).expect_err(bad);
            assert!(err.to_string().ends_with("produce one with `rampart hash-secret`"), "{err}");
        }
    }

    #[test]
    fn the_cache_verifies_each_credential_once() {
        let cache: VerifiedCache<Option<usize>> = VerifiedCache::default();
        let runs = Cell::new(0);
        let verify = |v| {
            runs.set(runs.get() + 1);
            v
        };
        assert_eq!(cache.get_or_verify(b"a", || verify(Some(1))), Some(1));
        assert_eq!(cache.get_or_verify(b"a", || verify(Some(2))), Some(1));
        assert_eq!(cache.get_or_verify(b"b", || verify(None)), None);
        assert_eq!(cache.get_or_verify(b"b", || verify(Some(3))), None);
        assert_eq!(runs.get(), 2);
    }
}
