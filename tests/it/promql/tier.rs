//! Tiers: which evals must pass. This is the one place the rules live.
//!
//! Every eval is put in exactly one tier by what it *uses*, decided
//! statically from the query text, its AST and the series its selectors
//! match in the data loaded so far, never by whether it passes:
//!
//! | tier | an eval is in it when | must pass |
//! |---|---|---|
//! | **native-histogram** | its expected result holds a `{{…}}` histogram, or one of its selectors matches a series that holds histogram samples (loaded with `{{…}}`, or produced by `load_with_nhcb` from classic `_bucket`/`_count`/`_sum` series) | no (our engine stores floats only; such samples are not loaded) |
//! | **experimental** | otherwise, if it uses PromQL that upstream runs only behind a feature flag (below) | no |
//! | **core** | everything else | yes: one failing core eval fails the test |
//!
//! Experimental, each detected from the query's tokens (so that queries our
//! parser cannot read are tiered too) or from the data:
//!
//! * a function upstream marks `Experimental: true` in
//!   `promql/parser/functions.go` ([`EXPERIMENTAL_FUNCTIONS`]), called as
//!   `name(…)`; `@ start()`/`@ end()` are the `@` modifier, not calls;
//! * the aggregators `limitk` and `limit_ratio`;
//! * `anchored`/`smoothed` after a selector;
//! * the binary-operator modifiers `fill(…)`, `fill_left(…)`, `fill_right(…)`;
//! * a duration expression: anything but one number or duration literal
//!   inside `[…]` (range and subquery range and step), or after `offset`
//!   (one optional sign allowed) — arithmetic, parentheses, `step()`,
//!   `range()`, `min_of`/`max_of`;
//! * start timestamps: a selector matches a series loaded with `@st`
//!   offsets (`start_timestamp()` itself is an experimental function);
//! * type-and-unit labels: the query names `__type__` or `__unit__`, or a
//!   selector matches a series that carries them.
//!
//! A selector "matches" a series by its label matchers alone (time does not
//! matter). When our parser cannot read the query, a series counts as
//! matched when its metric name occurs in the query as a name or a quoted
//! string. Native-histogram wins over experimental when both apply.

use std::fmt;

use promql_parser::parser::Expr;
use rampart::promql::storage::{selector_matchers, vector_selectors};
use rampart_storage::Labels;

/// Functions upstream gates behind `--enable-feature=promql-experimental-functions`
/// (`Experimental: true` in `promql/parser/functions.go` at the pinned commit).
pub const EXPERIMENTAL_FUNCTIONS: [&str; 17] = [
    "double_exponential_smoothing",
    "end",
    "histogram_quantiles",
    "info",
    "mad_over_time",
    "max_of",
    "min_of",
    "range",
    "sort_by_label",
    "sort_by_label_desc",
    "start",
    "start_timestamp",
    "step",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
];

/// An acceptance tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Plain PromQL over float data: must pass.
    Core,
    /// Feature-flagged PromQL: counted and reported.
    Experimental,
    /// Native histograms: counted and reported.
    NativeHistogram,
}

impl Tier {
    /// All tiers, in report order.
    pub const ALL: [Tier; 3] = [Tier::Core, Tier::Experimental, Tier::NativeHistogram];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Core => "core",
            Tier::Experimental => "experimental",
            Tier::NativeHistogram => "native-histogram",
        }
    }
}

/// A reason an eval is not core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feature {
    /// The expected result holds a `{{…}}` histogram.
    HistogramExpected,
    /// A selector matches a series holding histogram samples.
    HistogramData(String),
    /// An experimental function.
    ExperimentalFunction(String),
    /// `limitk` or `limit_ratio`.
    LimitAggregator(String),
    /// `anchored` or `smoothed`.
    ExtendedSelector(String),
    /// `fill`, `fill_left` or `fill_right`.
    FillModifier(String),
    /// Arithmetic or functions in a duration.
    DurationExpression,
    /// A selector matches a series with start timestamps.
    StartTimestamps(String),
    /// `__type__`/`__unit__` in the query or the matched data.
    TypeAndUnitLabels,
}

impl Feature {
    /// The tier the feature puts an eval in.
    pub fn tier(&self) -> Tier {
        match self {
            Feature::HistogramExpected | Feature::HistogramData(_) => Tier::NativeHistogram,
            _ => Tier::Experimental,
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::HistogramExpected => f.write_str("expects a histogram"),
            Feature::HistogramData(s) => write!(f, "histogram data in {s}"),
            Feature::ExperimentalFunction(n) => write!(f, "experimental function {n}()"),
            Feature::LimitAggregator(n) => write!(f, "{n} aggregator"),
            Feature::ExtendedSelector(n) => write!(f, "{n} selector"),
            Feature::FillModifier(n) => write!(f, "{n}() modifier"),
            Feature::DurationExpression => f.write_str("duration expression"),
            Feature::StartTimestamps(s) => write!(f, "start timestamps in {s}"),
            Feature::TypeAndUnitLabels => f.write_str("type-and-unit labels"),
        }
    }
}

/// An eval's tier and the features that put it there.
#[derive(Clone, Debug)]
pub struct Classification {
    /// The tier.
    pub tier: Tier,
    /// Every non-core feature found (empty for core).
    pub features: Vec<Feature>,
}

/// What loaded series hold that the engine cannot store or that is experimental.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataFlags {
    /// Histogram samples.
    pub histograms: bool,
    /// Start timestamps.
    pub start_timestamps: bool,
}

/// The flagged series of the current store (reset on `clear`).
#[derive(Debug, Default)]
pub struct LoadedData {
    series: Vec<(Labels, DataFlags)>,
}

impl LoadedData {
    /// Forgets everything (a `clear`).
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Records a loaded series; flags accumulate until the next `clear`.
    /// Series with `__type__`/`__unit__` labels are kept even without flags.
    pub fn record(&mut self, labels: &Labels, flags: DataFlags) {
        let typed = labels.get("__type__").is_some() || labels.get("__unit__").is_some();
        if flags == DataFlags::default() && !typed {
            return;
        }
        match self.series.iter_mut().find(|(l, _)| l == labels) {
            Some((_, f)) => {
                f.histograms |= flags.histograms;
                f.start_timestamps |= flags.start_timestamps;
            }
            None => self.series.push((labels.clone(), flags)),
        }
    }
}

/// Classifies an eval: `expr` is the parsed query when our parser reads it.
pub fn classify(query: &str, expr: Option<&Expr>, expects_histogram: bool, data: &LoadedData) -> Classification {
    let tokens = tokenize(query);
    let mut features = syntax_features(&tokens);
    if expects_histogram {
        features.push(Feature::HistogramExpected);
    }
    for (labels, flags) in &data.series {
        if !touches(expr, &tokens, labels) {
            continue;
        }
        if flags.histograms {
            features.push(Feature::HistogramData(labels.to_string()));
        }
        if flags.start_timestamps {
            features.push(Feature::StartTimestamps(labels.to_string()));
        }
        if labels.get("__type__").is_some() || labels.get("__unit__").is_some() {
            features.push(Feature::TypeAndUnitLabels);
        }
    }
    let mut unique: Vec<Feature> = Vec::new();
    for f in features {
        if !unique.contains(&f) {
            unique.push(f);
        }
    }
    let tier = unique.iter().map(Feature::tier).max().unwrap_or(Tier::Core);
    Classification { tier, features: unique }
}

/// True when a selector of the query matches `labels`.
fn touches(expr: Option<&Expr>, tokens: &[Token<'_>], labels: &Labels) -> bool {
    if let Some(expr) = expr {
        let matched: Option<bool> = vector_selectors(expr)
            .iter()
            .map(|vs| selector_matchers(vs).ok().map(|ms| ms.iter().all(|m| m.matches_labels(labels))))
            .try_fold(false, |any, m| m.map(|m| any || m));
        if let Some(m) = matched {
            return m;
        }
    }
    let Some(name) = labels.metric_name() else { return false };
    tokens.iter().any(|t| match t.tok {
        Tok::Ident(i) => !t.in_braces && i == name,
        Tok::Str(s) => t.in_braces && s == name,
        _ => false,
    })
}

// ---- tokens ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    /// A name or keyword.
    Ident(&'a str),
    /// A number or duration literal.
    Num(&'a str),
    /// A string literal's raw contents.
    Str(&'a str),
    /// Any other character.
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Inside `{…}` label matchers.
    in_braces: bool,
}

/// A rough PromQL lexer: enough to find names, literals and brackets.
fn tokenize(q: &str) -> Vec<Token<'_>> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inside `[…]` a colon separates range and step; elsewhere it is part of a name.
    let mut brackets = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => break,
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                let inner = q.get(start + 1..i.min(b.len())).unwrap_or("");
                i += 1;
                Tok::Str(inner)
            }
            c if c.is_ascii_alphabetic() || c == b'_' || (c == b':' && brackets == 0) => {
                let colon = brackets == 0;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || (colon && b[i] == b':')) {
                    i += 1;
                }
                Tok::Ident(&q[start..i])
            }
            c if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                while i < b.len() {
                    let d = b[i];
                    let plain = q[start..i].bytes().all(|x| x.is_ascii_digit() || matches!(x, b'.' | b'e' | b'E'));
                    let exponent_sign = matches!(d, b'+' | b'-') && plain && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Num(&q[start..i])
            }
            _ => {
                i += 1;
                Tok::Punct(c)
            }
        };
        match tok {
            Tok::Punct(b'}') => depth = depth.saturating_sub(1),
            Tok::Punct(b'[') => brackets += 1,
            Tok::Punct(b']') => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        out.push(Token { tok, in_braces: depth > 0 && tok != Tok::Punct(b'{') });
        if tok == Tok::Punct(b'{') {
            depth += 1;
        }
    }
    out
}

/// True when the token ends a selector or a modifier, so that a following
/// `offset`/`anchored`/`smoothed` is a modifier and not a metric name.
fn ends_operand(t: Option<&Token<'_>>) -> bool {
    matches!(t.map(|t| t.tok), Some(Tok::Punct(b']' | b'}' | b')') | Tok::Ident(_) | Tok::Num(_)))
}

/// Index of the token closing the bracket opened at `open`.
fn matching(tokens: &[Token<'_>], open: usize, l: u8, r: u8) -> usize {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.tok == Tok::Punct(l) {
            depth += 1;
        } else if t.tok == Tok::Punct(r) {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len().saturating_sub(1)
}

fn is_type_unit(s: &str) -> bool {
    s == "__type__" || s == "__unit__"
}

fn syntax_features(tokens: &[Token<'_>]) -> Vec<Feature> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let next = tokens.get(i + 1).map(|t| t.tok);
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        if let Tok::Ident(s) | Tok::Str(s) = t.tok {
            if is_type_unit(s) {
                out.push(Feature::TypeAndUnitLabels);
            }
        }
        if t.in_braces {
            i += 1;
            continue;
        }
        match t.tok {
            Tok::Punct(b'[') => {
                let close = matching(tokens, i, b'[', b']');
                let inner = &tokens[i + 1..close];
                let parts: Vec<&[Token<'_>]> = inner.split(|t| t.tok == Tok::Punct(b':')).collect();
                let plain = parts.iter().enumerate().all(|(k, p)| match p {
                    [] => k == 1,
                    [one] => matches!(one.tok, Tok::Num(_)),
                    _ => false,
                });
                if !plain {
                    out.push(Feature::DurationExpression);
                }
                i = close + 1;
                continue;
            }
            Tok::Ident("offset") if ends_operand(prev) => {
                let mut j = i + 1;
                if matches!(tokens.get(j).map(|t| t.tok), Some(Tok::Punct(b'+' | b'-'))) {
                    j += 1;
                }
                match tokens.get(j).map(|t| t.tok) {
                    Some(Tok::Num(_)) => i = j + 1,
                    Some(Tok::Punct(b'(')) => {
                        out.push(Feature::DurationExpression);
                        i = matching(tokens, j, b'(', b')') + 1;
                    }
                    Some(Tok::Ident(_)) if tokens.get(j + 1).map(|t| t.tok) == Some(Tok::Punct(b'(')) => {
                        out.push(Feature::DurationExpression);
                        i = matching(tokens, j + 1, b'(', b')') + 1;
                    }
                    _ => {
                        out.push(Feature::DurationExpression);
                        i = j;
                    }
                }
                continue;
            }
            Tok::Ident(name @ ("anchored" | "smoothed")) if ends_operand(prev) && next != Some(Tok::Punct(b'(')) => {
                out.push(Feature::ExtendedSelector(name.into()));
            }
            Tok::Ident(name @ ("limitk" | "limit_ratio")) => out.push(Feature::LimitAggregator(name.into())),
            Tok::Ident(name) if next == Some(Tok::Punct(b'(')) => {
                let at_modifier = matches!(name, "start" | "end") && prev.is_some_and(|p| p.tok == Tok::Punct(b'@'));
                if matches!(name, "fill" | "fill_left" | "fill_right") {
                    out.push(Feature::FillModifier(name.into()));
                } else if !at_modifier && EXPERIMENTAL_FUNCTIONS.contains(&name) {
                    out.push(Feature::ExperimentalFunction(name.into()));
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(q: &str) -> Vec<String> {
        syntax_features(&tokenize(q)).iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn core_syntax_has_no_features() {
        for q in [
            "sum by (job) (rate(http_requests_total{job=~\"a|b\"}[5m] offset -1m))",
            "foo @ start() + bar @ end()",
            "max_over_time(deriv(rate(foo[1m])[5m:1m])[10m:])",
            "foo[10] offset 10",
            "foo offset 5m * 2",
            "1e+3 + 2e-3",
            "label_replace(x, \"start\", \"$1\", \"range\", \"step(.*)\")",
            "x{step=\"1\", range=\"2\"}",
            "sum without (start, end) (x)",
            "offset + anchored",
            "fill + fill_left",
            "topk(3, x[1h30m10s53ms:10s])",
            "a:b:c[5m:] + :x",
        ] {
            assert_eq!(features(q), Vec::<String>::new(), "{q}");
        }
    }

    #[test]
    fn experimental_syntax_is_found() {
        let cases: &[(&str, &str)] = &[
            ("sort_by_label(x, \"a\")", "experimental function sort_by_label()"),
            ("info(x)", "experimental function info()"),
            ("time() - start_timestamp(x)", "experimental function start_timestamp()"),
            ("limitk(2, x)", "limitk aggregator"),
            ("limit_ratio by (a) (0.5, x)", "limit_ratio aggregator"),
            ("rate(x[5m] anchored)", "anchored selector"),
            ("x smoothed", "smoothed selector"),
            ("a + fill(0) b", "fill() modifier"),
            ("a + on(x) fill_left (1) b", "fill_left() modifier"),
            ("x[5m+1m]", "duration expression"),
            ("x[step()]", "duration expression"),
            ("x[5m:step()*2]", "duration expression"),
            ("x[(5m)]", "duration expression"),
            ("x offset (1m + 1m)", "duration expression"),
            ("x offset -step()", "duration expression"),
            ("x offset min_of(1m, 2m)", "duration expression"),
            ("sum by (__type__) (x)", "type-and-unit labels"),
            ("x{__unit__=\"s\"}", "type-and-unit labels"),
        ];
        for &(q, want) in cases {
            assert_eq!(features(q), vec![want.to_owned()], "{q}");
        }
    }

    #[test]
    fn data_features_follow_selectors() {
        let mut data = LoadedData::default();
        let hist = Labels::from_pairs([("__name__", "h"), ("job", "a")]);
        let st = Labels::from_pairs([("__name__", "c"), ("type", "st")]);
        data.record(&hist, DataFlags { histograms: true, start_timestamps: false });
        data.record(&st, DataFlags { histograms: false, start_timestamps: true });
        data.record(&Labels::from_pairs([("__name__", "plain")]), DataFlags::default());
        let tier = |q: &str| {
            let expr = rampart::promql::parse(q).ok();
            classify(q, expr.as_ref(), false, &data).tier
        };
        assert_eq!(tier("h"), Tier::NativeHistogram);
        assert_eq!(tier("h{job=\"b\"}"), Tier::Core);
        assert_eq!(tier("sum({__name__=~\".+\"})"), Tier::NativeHistogram);
        assert_eq!(tier("rate(c[5m])"), Tier::Experimental);
        assert_eq!(tier("c{type!=\"st\"}"), Tier::Core);
        assert_eq!(tier("plain + h_bucket"), Tier::Core);
        assert_eq!(tier("sort_by_label(h, \"a\")"), Tier::NativeHistogram);
        // Unparsable by our parser: names in the text decide.
        assert_eq!(tier("rate(h[5m] anchored)"), Tier::NativeHistogram);
        assert_eq!(tier("rate(plain[5m] anchored)"), Tier::Experimental);
        assert_eq!(classify("plain", None, true, &data).tier, Tier::NativeHistogram);
        data.clear();
        assert_eq!(classify("h", rampart::promql::parse("h").ok().as_ref(), false, &data).tier, Tier::Core);
    }
}
