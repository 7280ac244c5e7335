//! Parsing PromQL text into `promql-parser`'s AST, through a small cache of
//! recent query texts.
//!
//! Dashboards send the same query texts again and again (a Grafana panel
//! changes only `start`, `end` and `step` between refreshes), and parsing
//! is not free: `promql-parser` compiles every `=~`/`!~` regex with the
//! `regex` crate, whose full-DFA build is most of the cost of a small
//! `/api/v1/series` call. The cache keeps the last [`CACHED_QUERIES`]
//! distinct texts (syntax errors too) and hands out clones, which share
//! the compiled regexes.
//!
//! Invariant: a cached entry is exactly what parsing the text gives; the
//! parser is a pure function of the text (and of the function extensions,
//! which are registered once, before the first parse).

use std::num::NonZeroUsize;
use std::sync::{Arc, LazyLock, Once};

use lru::LruCache;
use parking_lot::Mutex;
use promql_parser::parser::Expr;

use super::{functions, literals, QueryError};

/// How many distinct query texts the cache keeps.
pub const CACHED_QUERIES: usize = 512;
/// Texts longer than this are parsed every time and not cached, so the
/// cache's memory stays bounded by about `CACHED_QUERIES` small queries.
const LONGEST_CACHED_TEXT: usize = 4096;

type Parsed = Result<Arc<Expr>, QueryError>;

static CACHE: LazyLock<Mutex<LruCache<String, Parsed>>> =
    LazyLock::new(|| Mutex::new(LruCache::new(NonZeroUsize::new(CACHED_QUERIES).expect("non-zero"))));

/// Parses a PromQL expression, mapping syntax errors to `bad_data`. The
/// parser also knows the 2.x function name `holt_winters`.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    if query.len() > LONGEST_CACHED_TEXT {
        return parse_uncached(query);
    }
    if let Some(parsed) = CACHE.lock().get(query) {
        return parsed.as_ref().map(|e| Expr::clone(e)).map_err(Clone::clone);
    }
    let parsed = parse_uncached(query).map(Arc::new);
    CACHE.lock().put(query.to_owned(), parsed.clone());
    parsed.map(|e| Expr::clone(&e))
}

fn parse_uncached(query: &str) -> Result<Expr, QueryError> {
    static EXTENSIONS: Once = Once::new();
    EXTENSIONS.call_once(functions::register_parser_extensions);
    literals::check_utf8(query)?;
    promql_parser::parser::parse(query).map_err(|e| QueryError::BadData(format!("1:1: parse error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_text_parses_to_what_the_parser_gives_errors_included() {
        for text in
            ["sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))", "up{", "holt_winters(x[5m], 0.5, 0.5)"]
        {
            let first = parse(text);
            let again = parse(text);
            assert!(CACHE.lock().contains(text), "{text} is cached");
            assert_eq!(first, again, "{text}");
            assert_eq!(again, parse_uncached(text), "{text}");
        }
        assert!(parse("up{").is_err_and(|e| e.message().contains("parse error")));
    }

    #[test]
    fn long_texts_are_not_cached() {
        let long = format!("vector(1){}", " + vector(1)".repeat(LONGEST_CACHED_TEXT / 10));
        assert!(parse(&long).is_ok());
        assert!(!CACHE.lock().contains(long.as_str()));
    }
}
