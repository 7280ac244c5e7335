//! Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`, regexes
//! fully anchored, and an absent label treated as the empty value.
//!
//! Regexes are built with the `regex` crate's engine and syntax, but never
//! as a full DFA: the build enables full DFAs (tracing-subscriber's
//! `env-filter` turns on `regex-automata/dfa-build` for every user), and
//! building one costs tens of microseconds per matcher, per query, while a
//! matcher runs once per distinct label value, where the lazy DFA is as
//! fast.

use regex_automata::meta::{BuildError, Regex};

use crate::error::{Error, Result};
use crate::labels::Labels;

/// The matcher operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One `name op "value"` matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub kind: MatchKind,
    /// Value or pattern as given.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regex patterns are anchored as Prometheus does.
    pub fn new(kind: MatchKind, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let regex = match kind {
            MatchKind::Regex | MatchKind::NotRegex => Some(
                Regex::builder()
                    .configure(Regex::config().dfa(false))
                    .build(&format!("^(?s:{value})$"))
                    .map_err(|e| Error::Regex { pattern: value.clone(), source: Box::new(regex_error(&e)) })?,
            ),
            MatchKind::Equal | MatchKind::NotEqual => None,
        };
        Ok(Self { name: name.into(), kind, value, regex })
    }

    /// Shorthand for an `=` matcher.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), kind: MatchKind::Equal, value: value.into(), regex: None }
    }

    /// True when `value` (empty for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.kind, &self.regex) {
            (MatchKind::Equal, _) => value == self.value,
            (MatchKind::NotEqual, _) => value != self.value,
            (MatchKind::Regex, Some(re)) => re.is_match(value),
            (MatchKind::NotRegex, Some(re)) => !re.is_match(value),
            (MatchKind::Regex | MatchKind::NotRegex, None) => false,
        }
    }

    /// True when the matcher accepts a series that lacks the label; such a
    /// matcher cannot select series through postings alone.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// True when the series' labels satisfy the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// The error `regex::Regex::new` reports for a pattern the engine refused.
fn regex_error(e: &BuildError) -> regex::Error {
    match (e.size_limit(), e.syntax_error()) {
        (Some(limit), _) => regex::Error::CompiledTooBig(limit),
        (None, Some(syntax)) => regex::Error::Syntax(syntax.to_string()),
        (None, None) => regex::Error::Syntax(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_semantics() {
        let l = Labels::from_pairs([("job", "api"), ("env", "")]);
        let cases = [
            (MatchKind::Equal, "job", "api", true),
            (MatchKind::Equal, "job", "ap", false),
            (MatchKind::NotEqual, "job", "api", false),
            (MatchKind::Regex, "job", "a.*", true),
            (MatchKind::Regex, "job", "p", false), // anchored
            (MatchKind::NotRegex, "job", "x|y", true),
            (MatchKind::Equal, "missing", "", true),
            (MatchKind::Regex, "missing", ".+", false),
            (MatchKind::Regex, "job", "(?i)API", true),
        ];
        for (kind, name, value, want) in cases {
            let m = Matcher::new(kind, name, value).expect("valid");
            assert_eq!(m.matches_labels(&l), want, "{name} {kind:?} {value}");
        }
        let refused = Matcher::new(MatchKind::Regex, "a", "(").expect_err("unclosed group");
        let anchored = format!("^(?s:{})$", "(");
        let from_regex = regex::Regex::new(&anchored).expect_err("unclosed group");
        assert!(refused.to_string().ends_with(&from_regex.to_string()), "{refused}: the regex crate's text");
        assert!(Matcher::new(MatchKind::Regex, "a", ".*").expect("valid").matches_empty());
    }
}
