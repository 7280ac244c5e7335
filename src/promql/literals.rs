//! String literals as Prometheus's Go parser decodes them, for the one case
//! the `promql-parser` crate decodes differently: byte escapes.
//!
//! In Go, `"\xff"` and `"\377"` are single *bytes*, so a literal can hold
//! invalid UTF-8; `promql-parser` turns them into the characters U+00FF etc.
//! No stored label name or value can be invalid UTF-8 (ingest refuses it),
//! so such a literal can never match or name anything: Rampart refuses the
//! query at parse time, naming the literal, instead of evaluating it with a
//! different string than the user wrote.

use super::error::QueryError;

/// Refuses `query` if one of its quoted string literals decodes, Go-style,
/// to bytes that are not UTF-8.
pub fn check_utf8(query: &str) -> Result<(), QueryError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            quote @ (b'"' | b'\'') => {
                let start = i;
                let (decoded, end) = decode_quoted(bytes, i + 1, quote);
                if std::str::from_utf8(&decoded).is_err() {
                    let literal = &query[start..end.min(query.len())];
                    return Err(QueryError::BadData(format!(
                        "1:{}: parse error: string literal {literal} is not valid UTF-8 (byte escapes such as \\xff \
                         cannot match any label name or value)",
                        start + 1
                    )));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Decodes a literal whose body starts at `i`, up to the closing `quote`.
/// Returns the bytes and the index after the closing quote. Escapes other
/// than byte escapes decode to a placeholder character: only their UTF-8
/// validity matters here.
fn decode_quoted(bytes: &[u8], mut i: usize, quote: u8) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    while i < bytes.len() && bytes[i] != quote {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escape = bytes[i + 1];
        let hex = |from: usize, n: usize| {
            bytes
                .get(from..from + n)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        };
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (escape, hex(i + 2, 2), octal) {
            (b'x', Some(b), _) => {
                out.push(b);
                i += 4;
            }
            (b'0'..=b'7', _, Some(b)) => {
                out.push(b);
                i += 4;
            }
            _ => {
                out.push(b'?');
                i += 2;
            }
        }
    }
    (out, i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_escapes_that_are_not_utf8_are_refused() {
        for q in [r#"label_replace(m, "\xff", "", "src", "(.*)")"#, r#"count_values('a\xc5z', v)"#, r#"m{a="\377"}"#] {
            let e = check_utf8(q).expect_err(q);
            assert_eq!(e.error_type(), "bad_data", "{q}");
            assert!(e.message().contains("is not valid UTF-8"), "{e}");
        }
        let e = check_utf8(r#"m{a="ok"} + n{b="\xff"}"#).expect_err("second literal");
        assert!(e.message().starts_with("1:17: parse error: string literal \"\\xff\""), "{e}");
    }

    #[test]
    fn valid_literals_comments_and_raw_strings_pass() {
        for q in [
            r#"m{a="\xc3\xa9", b='\u00e9', c="\"\\"}"#,
            "m{a=`\\xff`}",
            "m # a comment with \"\\xff\"\n",
            r#"label_replace(m, "dst", "$1", "src", "(.*)")"#,
            r#"m{a="\303\251"}"#,
        ] {
            check_utf8(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
}
