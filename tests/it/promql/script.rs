//! The `.test` script format: lines, blocks, `load`/`clear`/`eval` commands,
//! `@st` lines and `expect` lines. Series descriptions (`<labels> <values…>`)
//! are [`super::series`]'s.
//!
//! The grammar is the spec's (`shared/conformance/promql/README.md`,
//! sections 2–6), checked against upstream's `promql/promqltest/test.go`
//! and series-description lexer and grammar. Parsing never
//! touches the engine: an eval's query text is kept as written and parsed
//! when it runs, because upstream parses it with experimental syntax our
//! parser lacks (a parse failure there is an eval failure, not a file error).
//!
//! Easy to get wrong, each covered by a unit test below: a comment line ends
//! a block; a scalar line ends a block (and is read with Go's base prefixes,
//! unlike value items); an eval line is split by position.

use rampart::duration::parse_duration;
use rampart_storage::Labels;

use super::compare::TextMatch;
use super::series::{parse_go_number, parse_series_desc, parse_series_id, Item};

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// Commands in file order.
    pub commands: Vec<Command>,
}

/// One command.
#[derive(Debug)]
pub enum Command {
    /// `clear`: a fresh, empty store.
    Clear,
    /// `load <interval>` or `load_with_nhcb <interval>`.
    Load(Load),
    /// `eval …` with its expectations.
    Eval(Box<Eval>),
}

/// A `load` block.
#[derive(Debug)]
pub struct Load {
    /// 1-based line of the `load` line.
    pub line: usize,
    /// Time between consecutive slots, milliseconds.
    pub interval_ms: i64,
    /// `load_with_nhcb`: classic histograms also become custom-bucket native histograms.
    pub with_nhcb: bool,
    /// The series, one per label set (a later line for the same labels replaces an earlier one).
    pub series: Vec<LoadSeries>,
}

/// One series of a `load` block.
#[derive(Debug)]
pub struct LoadSeries {
    /// The label set.
    pub labels: Labels,
    /// One item per slot; slot k is at `k × interval`.
    pub values: Vec<Item>,
    /// Start-timestamp offsets per slot from a preceding `@st` line.
    pub start_ts: Option<Vec<Option<i64>>>,
}

impl LoadSeries {
    /// True when some slot holds a histogram sample.
    pub fn has_histograms(&self) -> bool {
        self.values.iter().any(|v| matches!(v, Item::Histogram(_)))
    }

    /// True when some slot has a start timestamp.
    pub fn has_start_timestamps(&self) -> bool {
        self.start_ts.as_ref().is_some_and(|st| st.iter().any(Option::is_some))
    }

    /// The float samples `(t, v)` of the series.
    pub fn float_samples(&self, interval_ms: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::with_capacity(self.values.len());
        for (k, v) in self.values.iter().enumerate() {
            if let Item::Float(f) = v {
                out.push((k as i64 * interval_ms, *f));
            }
        }
        out
    }
}

/// Instant or range evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EvalKind {
    /// `eval instant at <t>`.
    Instant {
        /// Milliseconds.
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        /// Milliseconds.
        start: i64,
        /// Milliseconds.
        end: i64,
        /// Milliseconds.
        step: i64,
    },
}

/// The type of an `expect` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectType {
    /// `expect ordered`.
    Ordered,
    /// `expect fail`.
    Fail,
    /// `expect warn`.
    Warn,
    /// `expect no_warn`.
    NoWarn,
    /// `expect info`.
    Info,
    /// `expect no_info`.
    NoInfo,
}

/// One expected series line.
#[derive(Debug)]
pub struct ExpectedSeries {
    /// Upstream's position counter (1-based among the block's non-`expect` lines).
    pub pos: usize,
    /// The label set.
    pub labels: Labels,
    /// The values, one per step (matrix) or exactly one (vector).
    pub values: Vec<Item>,
}

/// An `eval` command and its expectation block.
#[derive(Debug)]
pub struct Eval {
    /// 1-based line of the `eval` line (upstream names evals by it).
    pub line: usize,
    /// The query, as written.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `eval_fail`.
    pub legacy_fail: bool,
    /// `eval_warn`.
    pub legacy_warn: bool,
    /// `eval_info`.
    pub legacy_info: bool,
    /// `eval_ordered`.
    pub legacy_ordered: bool,
    /// `expected_fail_message` (after `eval_fail`).
    pub expected_fail_message: Option<String>,
    /// `expected_fail_regexp` (after `eval_fail`).
    pub expected_fail_regexp: Option<TextMatch>,
    /// `expect <type> [msg:|regex:]` lines.
    pub expects: Vec<(ExpectType, TextMatch)>,
    /// `expect range vector from … to … step …`: (start, end, step) in ms.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string …`.
    pub expected_string: Option<String>,
    /// A scalar line.
    pub expected_scalar: Option<f64>,
    /// Expected series lines, one per label set (a later line replaces an earlier one).
    pub expected: Vec<ExpectedSeries>,
}

impl Eval {
    /// The `expect` lines of one type.
    pub fn expects_of(&self, t: ExpectType) -> impl Iterator<Item = &TextMatch> {
        self.expects.iter().filter(move |(ty, _)| *ty == t).map(|(_, m)| m)
    }

    /// True when any `expect` line of type `t` is present.
    pub fn has_expect(&self, t: ExpectType) -> bool {
        self.expects.iter().any(|(ty, _)| *ty == t)
    }

    /// The query must fail.
    pub fn is_fail(&self) -> bool {
        self.legacy_fail || self.has_expect(ExpectType::Fail)
    }

    /// The vector result's order matters.
    pub fn is_ordered(&self) -> bool {
        self.legacy_ordered || self.has_expect(ExpectType::Ordered)
    }

    /// The instant evaluation time: the `at` time, or the end of an
    /// `expect range vector` line (upstream overrides it so).
    pub fn instant_time(&self) -> Option<i64> {
        match self.kind {
            EvalKind::Instant { at } => Some(self.range_vector.map_or(at, |(_, end, _)| end)),
            EvalKind::Range { .. } => None,
        }
    }

    /// The time grid expected matrix values sit on: (start, end, step).
    /// `None` for an instant query without `expect range vector`.
    pub fn matrix_grid(&self) -> Option<(i64, i64, i64)> {
        match self.kind {
            EvalKind::Range { start, end, step } => Some((start, end, step)),
            EvalKind::Instant { .. } => self.range_vector,
        }
    }

    /// True when an expected value is a native histogram.
    pub fn expects_histogram(&self) -> bool {
        self.expected.iter().any(|s| s.values.iter().any(|v| matches!(v, Item::Histogram(_))))
    }

    /// The eval is excluded from upstream's instant/range consistency check.
    pub fn excluded_from_range_check(&self) -> bool {
        self.range_vector.is_some() || self.expected_string.is_some()
    }
}

/// A script error: 1-based line and what is wrong.
#[derive(Debug)]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// Description.
    pub msg: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

fn err<T>(line_idx: usize, msg: impl Into<String>) -> Result<T, ScriptError> {
    Err(ScriptError { line: line_idx + 1, msg: msg.into() })
}

/// Parses a whole script.
pub fn parse_script(input: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let first = l.split([' ', '\t']).next().unwrap_or("").to_ascii_lowercase();
        let (next, cmd) = if first == "clear" {
            (i, Command::Clear)
        } else if first.starts_with("load") {
            let (next, load) = parse_load(&lines, i)?;
            (next, Command::Load(load))
        } else if first.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i)?;
            (next, Command::Eval(Box::new(eval)))
        } else {
            return err(i, format!("invalid command {l:?}"));
        };
        commands.push(cmd);
        i = next + 1;
    }
    Ok(Script { commands })
}

/// Splits off whitespace-separated words from the front of `s`: returns the
/// first `n` words and the rest (trimmed), or `None` if there are fewer.
fn split_words(s: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut words = Vec::with_capacity(n);
    let mut rest = s.trim_start_matches([' ', '\t']);
    for _ in 0..n {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        words.push(&rest[..end]);
        rest = rest[end..].trim_start_matches([' ', '\t']);
    }
    Some((words, rest))
}

fn duration_ms(s: &str) -> Result<i64, String> {
    parse_duration(s).map(|d| d.as_millis() as i64).map_err(|_| format!("invalid duration {s:?}"))
}

/// Parses a `load` block starting at `lines[i]`; returns the index of its last line.
fn parse_load(lines: &[&str], i: usize) -> Result<(usize, Load), ScriptError> {
    let l = lines[i];
    let (with_nhcb, rest) = if let Some(r) = l.strip_prefix("load_with_nhcb") {
        (true, r)
    } else if let Some(r) = l.strip_prefix("load") {
        (false, r)
    } else {
        return err(i, "invalid load command (load[_with_nhcb] <step:duration>)");
    };
    if !rest.starts_with([' ', '\t']) || rest.trim().is_empty() {
        return err(i, "invalid load command (load[_with_nhcb] <step:duration>)");
    }
    let interval_ms = duration_ms(rest.trim()).or_else(|e| err(i, e))?;
    let mut load = Load { line: i + 1, interval_ms, with_nhcb, series: Vec::new() };
    let mut pending_st: Option<(usize, Labels, Vec<Option<i64>>)> = None;
    let mut j = i;
    while j + 1 < lines.len() && !lines[j + 1].is_empty() {
        j += 1;
        let def = lines[j];
        if is_st_line(def) {
            if let Some((line, ..)) = pending_st {
                return err(line, "@st line has no following sample line");
            }
            let (labels, st) = parse_st_line(def).or_else(|e| err(j, e))?;
            pending_st = Some((j, labels, st));
            continue;
        }
        let (labels, values) = parse_series_desc(def).or_else(|e| err(j, e))?;
        let start_ts = match pending_st.take() {
            Some((st_line, st_labels, st)) => {
                if st_labels != labels {
                    return err(st_line, "@st metric does not match the following sample line metric");
                }
                if st.len() != values.len() {
                    return err(
                        st_line,
                        format!("@st line has {} values but sample line has {}", st.len(), values.len()),
                    );
                }
                Some(st)
            }
            None => None,
        };
        let series = LoadSeries { labels, values, start_ts };
        match load.series.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => load.series.push(series),
        }
    }
    if let Some((line, ..)) = pending_st {
        return err(line, "@st line has no following sample line");
    }
    Ok((j, load))
}

/// A start-timestamp line: the series identifier is directly followed by `@st`.
fn is_st_line(def: &str) -> bool {
    def.find([' ', '\t']).is_some_and(|sp| def[..sp].ends_with("@st"))
}

fn parse_st_line(def: &str) -> Result<(Labels, Vec<Option<i64>>), String> {
    let sp = def.find([' ', '\t']).ok_or("invalid @st line: missing value sequence")?;
    let metric = def[..sp].strip_suffix("@st").ok_or("invalid @st line")?;
    let labels = parse_series_id(metric).map_err(|e| format!("invalid @st line metric {metric:?}: {e}"))?;
    let mut out = Vec::new();
    for item in def[sp..].split_whitespace() {
        parse_st_item(item, &mut out).map_err(|e| format!("invalid @st sequence: invalid ST item {item:?}: {e}"))?;
    }
    Ok((labels, out))
}

/// One start-timestamp item: `_`, `_xN`, `<dur>`, `<dur>xN`, `<dur>±<dur>xN`
/// (durations with an optional sign; offsets in ms).
fn parse_st_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: u64 = n.parse().map_err(|_| "invalid repeat count")?;
        if n == 0 {
            return Err("invalid repeat count".into());
        }
        out.extend(std::iter::repeat_n(None, n as usize));
        return Ok(());
    }
    let (base, rest) = parse_duration_prefix(item)?;
    if rest.is_empty() {
        out.push(Some(base));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n: u64 = n.parse().map_err(|_| "invalid repeat count")?;
        out.extend(std::iter::repeat_n(Some(base), n as usize + 1));
        return Ok(());
    }
    let negative = match rest.as_bytes()[0] {
        b'+' => false,
        b'-' => true,
        c => return Err(format!("unexpected character {:?} after duration", c as char)),
    };
    let (delta, rest2) = parse_duration_prefix(&rest[1..]).map_err(|e| format!("invalid step duration: {e}"))?;
    let delta = if negative { -delta } else { delta };
    let n: u64 = rest2
        .strip_prefix('x')
        .ok_or("expected 'x<count>' after step duration")?
        .parse()
        .map_err(|_| "invalid repeat count")?;
    let mut offset = base;
    for _ in 0..=n {
        out.push(Some(offset));
        offset += delta;
    }
    Ok(())
}

/// A signed duration at the front of `s` (one digit run and its unit
/// letters, stopping at `x`), as upstream's ST parser reads it.
fn parse_duration_prefix(s: &str) -> Result<(i64, &str), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        None => return Err("empty duration".into()),
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        Some(_) => false,
    };
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return Err(format!("expected digits in duration {s:?}"));
    }
    while i < b.len() && b[i].is_ascii_alphabetic() && b[i] != b'x' {
        i += 1;
    }
    let ms = duration_ms(&s[start..i])?;
    Ok((if negative { -ms } else { ms }, &s[i..]))
}

/// Parses an `eval` block starting at `lines[i]`; returns the index of its last line.
fn parse_eval(lines: &[&str], i: usize) -> Result<(usize, Eval), ScriptError> {
    let l = lines[i];
    let bad = || {
        err(
            i,
            "invalid evaluation command: must be 'eval[_fail|_warn|_info|_ordered] instant at <time> <query>' \
             or 'eval[_fail|_warn|_info] range from <start> to <end> step <step> <query>'",
        )
    };
    let Some((head, _)) = split_words(l, 2) else { return bad() };
    let modifier = match head[0] {
        "eval" => "",
        "eval_fail" => "fail",
        "eval_warn" => "warn",
        "eval_info" => "info",
        "eval_ordered" => "ordered",
        _ => return bad(),
    };
    let (kind, expr) = match head[1] {
        "instant" => {
            let Some((w, expr)) = split_words(l, 4) else { return bad() };
            if w[2] != "at" || expr.is_empty() {
                return bad();
            }
            let at = duration_ms(w[3]).or_else(|e| err(i, format!("invalid timestamp definition: {e}")))?;
            (EvalKind::Instant { at }, expr)
        }
        "range" if modifier != "ordered" => {
            let Some((w, expr)) = split_words(l, 8) else { return bad() };
            if w[2] != "from" || w[4] != "to" || w[6] != "step" || expr.is_empty() {
                return bad();
            }
            let (start, end, step) = parse_range_times(w[3], w[5], w[7]).or_else(|e| err(i, e))?;
            (EvalKind::Range { start, end, step }, expr)
        }
        _ => return bad(),
    };
    let mut ev = Eval {
        line: i + 1,
        expr: expr.to_owned(),
        kind,
        legacy_fail: modifier == "fail",
        legacy_warn: modifier == "warn",
        legacy_info: modifier == "info",
        legacy_ordered: modifier == "ordered",
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Vec::new(),
        range_vector: None,
        expected_string: None,
        expected_scalar: None,
        expected: Vec::new(),
    };
    let is_instant = matches!(kind, EvalKind::Instant { .. });
    let mut j = i;
    let mut pos = 0;
    let context = format!("error in eval {} (line {})", ev.expr, ev.line);
    while j + 1 < lines.len() && !lines[j + 1].is_empty() {
        j += 1;
        pos += 1;
        let def = lines[j];
        let fail_line = |e: String| ScriptError { line: j + 1, msg: format!("{context}: {e}") };
        if ev.legacy_fail {
            if let Some(m) = def.strip_prefix("expected_fail_message") {
                ev.expected_fail_message = Some(m.trim().to_owned());
                break;
            }
            if let Some(p) = def.strip_prefix("expected_fail_regexp") {
                let p = p.trim();
                let re = TextMatch::regex(p).map_err(|e| format!("invalid regexp '{p}' for expected_fail_regexp: {e}"));
                ev.expected_fail_regexp = Some(re.map_err(fail_line)?);
                break;
            }
        }
        if def.starts_with("expect range vector") {
            let r = parse_range_vector(def).map_err(fail_line)?;
            ev.range_vector = Some(r);
            continue;
        }
        if def.starts_with("expect string") {
            ev.expected_string = Some(parse_expect_string(def).map_err(fail_line)?);
            continue;
        }
        if def.split(' ').next() == Some("expect") {
            let e = parse_expect(def).map_err(fail_line)?;
            ev.expects.push(e);
            pos -= 1;
            validate_expects(&ev).map_err(fail_line)?;
            continue;
        }
        if let Some(f) = parse_go_number(def) {
            ev.expected_scalar = Some(f);
            break;
        }
        let (labels, values) = parse_series_desc(def).or_else(|e| err(j, e))?;
        if values.len() > 1 && is_instant && ev.range_vector.is_none() {
            return Err(fail_line(
                "expecting multiple values in instant evaluation not allowed; consider using \
                 'expect range vector' to enable a range vector result for an instant query"
                    .into(),
            ));
        }
        let series = ExpectedSeries { pos, labels, values };
        match ev.expected.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => ev.expected.push(series),
        }
    }
    Ok((j, ev))
}

fn parse_range_times(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = duration_ms(from).map_err(|e| format!("invalid start timestamp definition: {e}"))?;
    let end = duration_ms(to).map_err(|e| format!("invalid end timestamp definition: {e}"))?;
    if end < start {
        return Err(format!("invalid test definition, end timestamp ({to}) is before start timestamp ({from})"));
    }
    let step = duration_ms(step).map_err(|e| format!("invalid step definition: {e}"))?;
    Ok((start, end, step))
}

/// `expect range vector from <start> to <end> step <step>`.
fn parse_range_vector(def: &str) -> Result<(i64, i64, i64), String> {
    match split_words(def, 9) {
        Some((w, rest)) if rest.is_empty() && w[3] == "from" && w[5] == "to" && w[7] == "step" => {
            parse_range_times(w[4], w[6], w[8])
        }
        _ => Err(format!("invalid range vector definition {def:?}")),
    }
}

/// `expect string "…"` or ``expect string `…` ``, with Go quoting.
fn parse_expect_string(def: &str) -> Result<String, String> {
    let quoted = def.strip_prefix("expect string ").filter(|s| !s.is_empty());
    let quoted = quoted.ok_or("expected string literal not valid - a quoted string literal is required")?;
    promql_parser::util::unquote_string(quoted)
        .map_err(|_| "expected string literal not valid - check that the string is correctly quoted".into())
}

/// `expect <type>` or `expect <type> msg:<text>` / `regex:<pattern>`.
fn parse_expect(def: &str) -> Result<(ExpectType, TextMatch), String> {
    let invalid = || "invalid expect statement, must match `expect <type> <match_type>: <string>` format".to_owned();
    let rest = def.strip_prefix("expect").ok_or_else(invalid)?;
    if !rest.starts_with(|c: char| c.is_whitespace()) {
        return Err(invalid());
    }
    let rest = rest.trim_start();
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let ty = match &rest[..end] {
        "ordered" => ExpectType::Ordered,
        "fail" => ExpectType::Fail,
        "warn" => ExpectType::Warn,
        "no_warn" => ExpectType::NoWarn,
        "info" => ExpectType::Info,
        "no_info" => ExpectType::NoInfo,
        _ => return Err(invalid()),
    };
    let tail = rest[end..].trim_start();
    if tail.is_empty() {
        return Ok((ty, TextMatch::any()));
    }
    let m = if let Some(text) = tail.strip_prefix("msg:") {
        if text.is_empty() {
            return Err(invalid());
        }
        TextMatch::Exact(text.trim().to_owned())
    } else if let Some(pattern) = tail.strip_prefix("regex:") {
        if pattern.is_empty() {
            return Err(invalid());
        }
        let pattern = pattern.trim();
        TextMatch::regex(pattern).map_err(|_| format!("invalid regex {pattern} for {}", &rest[..end]))?
    } else {
        return Err(invalid());
    };
    Ok((ty, m))
}

fn validate_expects(ev: &Eval) -> Result<(), String> {
    if ev.has_expect(ExpectType::Info) && ev.has_expect(ExpectType::NoInfo) {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if ev.has_expect(ExpectType::Warn) && ev.has_expect(ExpectType::NoWarn) {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if ev.expects_of(ExpectType::Fail).count() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(s: &str) -> Script {
        parse_script(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn evals(s: &Script) -> Vec<&Eval> {
        s.commands
            .iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some(&**e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comment_line_ends_a_block() {
        let s = script("load 1m\n  a 1\n# comment\n  \neval instant at 1m a\n# empty\n");
        let e = evals(&s);
        assert_eq!(e.len(), 1);
        assert!(e[0].expected.is_empty());
        // A series line after a comment is not part of the load block.
        assert!(parse_script("load 1m\n  a 1\n# c\n  b 2\n").is_err());
    }

    #[test]
    fn scalar_line_ends_a_block() {
        let s = script("eval instant at 0 1+1\n  2\n\neval instant at 0 2\n\t+Inf\n");
        let e = evals(&s);
        assert_eq!(e[0].expected_scalar, Some(2.0));
        assert_eq!(e[1].expected_scalar, Some(f64::INFINITY));
        // The line after a scalar line starts a new command.
        assert!(parse_script("eval instant at 0 1\n  1\n  {} 1\n").is_err());
    }

    #[test]
    fn eval_lines_split_by_position() {
        let s = script(
            "eval instant at 50m sum by (a) (x)\n\n\
             eval range from 0 to 2m step 1m  foo  +  bar\n  {} 1 _ 3\n\n\
             eval_fail instant at 0 -{job=\"api\"}\n  expected_fail_message boom\n\n\
             eval_ordered instant at 1m sort(x)\n",
        );
        let e = evals(&s);
        assert_eq!(e[0].expr, "sum by (a) (x)");
        assert_eq!(e[0].kind, EvalKind::Instant { at: 3_000_000 });
        assert_eq!(e[1].expr, "foo  +  bar");
        assert_eq!(e[1].kind, EvalKind::Range { start: 0, end: 120_000, step: 60_000 });
        assert_eq!(e[1].expected[0].values, vec![Item::Float(1.0), Item::Omitted, Item::Float(3.0)]);
        assert!(e[2].is_fail());
        assert_eq!(e[2].expected_fail_message.as_deref(), Some("boom"));
        assert!(e[3].is_ordered());
        assert_eq!(e[0].line, 1);
        assert_eq!(e[1].line, 3);
        assert!(parse_script("eval instant 50m x\n").is_err());
        assert!(parse_script("eval range from 2m to 1m step 1m x\n").is_err());
        assert!(parse_script("eval_ordered range from 0 to 1m step 1m x\n").is_err());
    }

    #[test]
    fn expect_lines() {
        let s = script(
            "eval instant at 1m x\n  expect fail msg:vector cannot contain metrics\n\n\
             eval instant at 1m x\n  expect warn regex: PromQL warning: .* \\(1:1\\)\n  expect no_info\n  x 1\n\n\
             eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x 1 2 3\n\n\
             eval instant at 1m \"a\"\n  expect string `a b`\n",
        );
        let e = evals(&s);
        assert!(
            matches!(&e[0].expects[0], (ExpectType::Fail, TextMatch::Exact(m)) if m == "vector cannot contain metrics")
        );
        assert!(e[1].expects_of(ExpectType::Warn).next().is_some_and(|m| m.is_match("PromQL warning: w (1:1)")));
        assert!(e[1].has_expect(ExpectType::NoInfo));
        assert_eq!(e[1].expected[0].pos, 1);
        assert_eq!(e[2].range_vector, Some((10_000, 60_000, 10_000)));
        assert_eq!(e[2].instant_time(), Some(60_000));
        assert_eq!(e[3].expected_string.as_deref(), Some("a b"));
        for bad in [
            "eval instant at 1m x\n  expect warn\n  expect no_warn\n",
            "eval instant at 1m x\n  expect fail\n  expect fail\n",
            "eval instant at 1m x\n  expect bogus\n",
            "eval instant at 1m x\n  expect warn msg:\n",
            "eval instant at 1m x\n  x 1 2\n",
        ] {
            assert!(parse_script(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_blocks() {
        let s = script("load 5m\n  a{x=\"1\"} 1 2\n  a{x=\"1\"} 3\n  b 0+1x2\n\nclear\nload_with_nhcb 1m\n  c_bucket{le=\"1\"} 1\n");
        let Command::Load(l) = &s.commands[0] else { panic!("load") };
        assert_eq!(l.interval_ms, 300_000);
        assert_eq!(l.series.len(), 2);
        assert_eq!(l.series[0].values, vec![Item::Float(3.0)]);
        assert_eq!(l.series[1].float_samples(l.interval_ms), vec![(0, 0.0), (300_000, 1.0), (600_000, 2.0)]);
        assert!(matches!(s.commands[1], Command::Clear));
        assert!(matches!(&s.commands[2], Command::Load(l) if l.with_nhcb));
        assert!(parse_script("load x\n").is_err());
        assert!(parse_script("loadx 1m\n").is_err());
    }

    #[test]
    fn start_timestamp_lines() {
        let s = script("load 1m\n  c{type=\"a\"}@st  _ _ -30s-1mx2 -1m-1mx1 0 1ms\n  c{type=\"a\"}     _ _ 0+60x6\n");
        let Command::Load(l) = &s.commands[0] else { panic!("load") };
        let st = l.series[0].start_ts.as_ref().expect("st");
        assert_eq!(
            st,
            &vec![
                None,
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(-60_000),
                Some(-120_000),
                Some(0),
                Some(1)
            ]
        );
        assert!(l.series[0].has_start_timestamps());
        for bad in [
            "load 1m\n  c@st 0\n",
            "load 1m\n  c@st 0 0\n  c 1\n",
            "load 1m\n  c@st 0\n  d 1\n",
            "load 1m\n  c@st _x0\n  c\n",
        ] {
            assert!(parse_script(bad).is_err(), "{bad}");
        }
    }
}
