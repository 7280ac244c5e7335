//! Byte offsets of AST nodes in the query text, for annotation positions.
//!
//! The parser's AST has no spans, so this module re-reads the query with a
//! light scanner, guided by the AST: it walks the tree in source order and
//! consumes the tokens each node must consist of, recording where each node
//! starts. Positions follow Prometheus's `PositionRange().Start`: a call or
//! aggregation starts at its name, a binary expression at its left operand,
//! a subquery or range selector at its inner expression, a number with a
//! sign at the sign.
//!
//! Two offsets are kept per node: its own start, and the start including
//! unary `+` signs in front of it (the parser drops those, Prometheus keeps
//! them as a node, so an argument written `+x` starts at the `+`).
//!
//! Nodes are keyed by address, so the AST must not move between
//! [`Positions::compute`] and the lookups. When the text does not match the
//! tree as expected, the walk stops and the remaining nodes have no position.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality, VectorSelector};

/// Start offsets of the nodes of one AST.
#[derive(Debug, Default)]
pub struct Positions {
    map: HashMap<usize, (usize, usize)>,
}

fn key(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// `e` without enclosing parentheses.
pub fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl Positions {
    /// Positions of the nodes of `expr`, parsed from `query`.
    pub fn compute(query: &str, expr: &Expr) -> Self {
        let toks = scan(query);
        let mut w = Walker { src: query, toks, i: 0, map: HashMap::new() };
        let _ = w.node(expr);
        Self { map: w.map }
    }

    /// Where the node itself starts.
    pub fn own(&self, e: &Expr) -> Option<usize> {
        self.map.get(&key(e)).map(|p| p.0)
    }

    /// Where the node starts as an operand (including unary `+` in front).
    pub fn outer(&self, e: &Expr) -> Option<usize> {
        self.map.get(&key(e)).map(|p| p.1)
    }

    /// The position of a function argument or aggregation parameter:
    /// Prometheus removes parentheses around those before evaluating.
    pub fn arg(&self, e: &Expr) -> Option<usize> {
        self.outer(unwrap_parens(e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Number,
    Str,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Splits the query into tokens (identifiers, numbers and durations,
/// strings, punctuation), skipping blanks and `#` comments.
fn scan(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let kind = if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            Kind::Str
        } else if c == b'`' {
            i += 1;
            while i < b.len() && b[i] != b'`' {
                i += 1;
            }
            i = (i + 1).min(b.len());
            Kind::Str
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let hex = c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X'));
            i += 1;
            while i < b.len() {
                let d = b[i];
                let exponent_sign = (d == b'+' || d == b'-')
                    && !hex
                    && matches!(b[i - 1], b'e' | b'E')
                    && b.get(i + 1).is_some_and(|x| x.is_ascii_digit());
                if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Number
        } else if is_ident_start(c) {
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            Kind::Ident
        } else {
            let two = b.get(i..i + 2);
            i += match two {
                Some(b"==" | b"!=" | b"=~" | b"!~" | b">=" | b"<=") => 2,
                _ => src[i..].chars().next().map_or(1, char::len_utf8),
            };
            Kind::Punct
        };
        out.push(Tok { kind, start, end: i });
    }
    out
}

struct Walker<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    i: usize,
    map: HashMap<usize, (usize, usize)>,
}

impl Walker<'_> {
    fn peek_at(&self, k: usize) -> Option<(Kind, &str)> {
        self.toks.get(self.i + k).map(|t| (t.kind, &self.src[t.start..t.end]))
    }

    fn peek(&self) -> Option<(Kind, &str)> {
        self.peek_at(0)
    }

    fn pos(&self) -> Option<usize> {
        self.toks.get(self.i).map(|t| t.start)
    }

    fn is_punct(&self, p: &str) -> bool {
        self.peek() == Some((Kind::Punct, p))
    }

    fn is_keyword(&self, k: usize, word: &str) -> bool {
        matches!(self.peek_at(k), Some((Kind::Ident, s)) if s.eq_ignore_ascii_case(word))
    }

    fn expect_punct(&mut self, p: &str) -> Option<()> {
        if self.is_punct(p) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn expect_kind(&mut self, kind: Kind) -> Option<()> {
        match self.peek() {
            Some((k, _)) if k == kind => {
                self.i += 1;
                Some(())
            }
            _ => None,
        }
    }

    fn skip_plus(&mut self) {
        while self.is_punct("+") {
            self.i += 1;
        }
    }

    /// Skips a group from its opening token to the matching close.
    fn skip_group(&mut self, open: &str, close: &str) -> Option<()> {
        self.expect_punct(open)?;
        let mut depth = 1;
        while depth > 0 {
            let (k, s) = self.peek()?;
            if k == Kind::Punct && s == open {
                depth += 1;
            } else if k == Kind::Punct && s == close {
                depth -= 1;
            }
            self.i += 1;
        }
        Some(())
    }

    fn record(&mut self, e: &Expr, own: usize, outer: usize) {
        self.map.insert(key(e), (own, outer));
    }

    fn node(&mut self, e: &Expr) -> Option<()> {
        let outer = self.pos()?;
        match e {
            Expr::NumberLiteral(_) => {
                while self.is_punct("+") || self.is_punct("-") {
                    self.i += 1;
                }
                match self.peek()? {
                    (Kind::Number | Kind::Ident, _) => self.i += 1,
                    _ => return None,
                }
                self.record(e, outer, outer);
            }
            Expr::StringLiteral(_) => {
                self.skip_plus();
                let own = self.pos()?;
                self.expect_kind(Kind::Str)?;
                self.record(e, own, outer);
            }
            Expr::Unary(u) => {
                self.skip_plus();
                let own = self.pos()?;
                self.expect_punct("-")?;
                self.record(e, own, outer);
                self.node(&u.expr)?;
            }
            Expr::Paren(p) => {
                self.skip_plus();
                let own = self.pos()?;
                self.record(e, own, outer);
                self.expect_punct("(")?;
                self.node(&p.expr)?;
                self.expect_punct(")")?;
            }
            Expr::Call(c) => {
                self.skip_plus();
                let own = self.pos()?;
                self.record(e, own, outer);
                self.expect_kind(Kind::Ident)?;
                self.expect_punct("(")?;
                for (n, a) in c.args.args.iter().enumerate() {
                    if n > 0 {
                        self.expect_punct(",")?;
                    }
                    self.node(a)?;
                }
                self.expect_punct(")")?;
            }
            Expr::Aggregate(a) => {
                self.skip_plus();
                let own = self.pos()?;
                self.record(e, own, outer);
                self.aggregate(a)?;
            }
            Expr::VectorSelector(vs) => {
                self.skip_plus();
                let own = self.pos()?;
                self.record(e, own, outer);
                self.selector_body(vs)?;
                self.modifiers(vs.at.is_some(), vs.offset.is_some())?;
            }
            Expr::MatrixSelector(ms) => {
                self.skip_plus();
                let own = self.pos()?;
                self.record(e, own, outer);
                self.selector_body(&ms.vs)?;
                self.skip_group("[", "]")?;
                self.modifiers(ms.vs.at.is_some(), ms.vs.offset.is_some())?;
            }
            Expr::Subquery(sq) => {
                self.record(e, outer, outer);
                self.node(&sq.expr)?;
                self.skip_group("[", "]")?;
                self.modifiers(sq.at.is_some(), sq.offset.is_some())?;
            }
            Expr::Binary(b) => {
                self.record(e, outer, outer);
                self.node(&b.lhs)?;
                self.binary_op(b)?;
                self.node(&b.rhs)?;
            }
            Expr::Extension(_) => return None,
        }
        Some(())
    }

    fn aggregate(&mut self, a: &AggregateExpr) -> Option<()> {
        self.expect_kind(Kind::Ident)?;
        self.grouping()?;
        self.expect_punct("(")?;
        if let Some(p) = &a.param {
            self.node(p)?;
            self.expect_punct(",")?;
        }
        self.node(&a.expr)?;
        self.expect_punct(")")?;
        self.grouping()
    }

    /// An optional `by (…)` / `without (…)`.
    fn grouping(&mut self) -> Option<()> {
        if (self.is_keyword(0, "by") || self.is_keyword(0, "without")) && self.peek_at(1) == Some((Kind::Punct, "(")) {
            self.i += 1;
            self.skip_group("(", ")")?;
        }
        Some(())
    }

    fn selector_body(&mut self, vs: &VectorSelector) -> Option<()> {
        if vs.name.is_some() && matches!(self.peek(), Some((Kind::Ident, _))) {
            self.i += 1;
        }
        if self.is_punct("{") {
            self.skip_group("{", "}")?;
        }
        Some(())
    }

    /// `@ …` and `offset …`, as many as the node has, in any order.
    fn modifiers(&mut self, at: bool, offset: bool) -> Option<()> {
        let (mut at, mut offset) = (at, offset);
        while at || offset {
            if at && self.is_punct("@") {
                self.i += 1;
                if self.is_punct("+") || self.is_punct("-") {
                    self.i += 1;
                }
                if (self.is_keyword(0, "start") || self.is_keyword(0, "end"))
                    && self.peek_at(1) == Some((Kind::Punct, "("))
                {
                    self.i += 1;
                    self.skip_group("(", ")")?;
                } else {
                    match self.peek()? {
                        (Kind::Number | Kind::Ident, _) => self.i += 1,
                        _ => return None,
                    }
                }
                at = false;
            } else if offset && self.is_keyword(0, "offset") {
                self.i += 1;
                if self.is_punct("+") || self.is_punct("-") {
                    self.i += 1;
                }
                self.expect_kind(Kind::Number)?;
                offset = false;
            } else {
                return None;
            }
        }
        Some(())
    }

    /// The operator of a binary expression and the modifiers the AST says
    /// were written.
    fn binary_op(&mut self, b: &BinaryExpr) -> Option<()> {
        match self.peek()? {
            (Kind::Punct, "+" | "-" | "*" | "/" | "%" | "^" | "==" | "!=" | ">" | "<" | ">=" | "<=") => self.i += 1,
            (Kind::Ident, s) if ["and", "or", "unless", "atan2"].iter().any(|k| s.eq_ignore_ascii_case(k)) => {
                self.i += 1
            }
            _ => return None,
        }
        let Some(m) = &b.modifier else { return Some(()) };
        if m.return_bool && self.is_keyword(0, "bool") {
            self.i += 1;
        }
        if let Some(matching) = &m.matching {
            let word = match matching {
                LabelModifier::Include(_) => "on",
                LabelModifier::Exclude(_) => "ignoring",
            };
            if self.is_keyword(0, word) {
                self.i += 1;
                self.skip_group("(", ")")?;
            }
        }
        let group_labels = match &m.card {
            VectorMatchCardinality::ManyToOne(l) => Some(("group_left", l)),
            VectorMatchCardinality::OneToMany(l) => Some(("group_right", l)),
            _ => None,
        };
        if let Some((word, labels)) = group_labels {
            if self.is_keyword(0, word) {
                self.i += 1;
                if self.is_punct("(") && (!labels.labels.is_empty() || self.peek_at(1) == Some((Kind::Punct, ")"))) {
                    self.skip_group("(", ")")?;
                }
            }
        }
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            while (self.is_keyword(0, "fill") || self.is_keyword(0, "fill_left") || self.is_keyword(0, "fill_right"))
                && self.peek_at(1) == Some((Kind::Punct, "("))
            {
                self.i += 1;
                self.skip_group("(", ")")?;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Expr {
        promql_parser::parser::parse(q).unwrap()
    }

    fn call_args(e: &Expr) -> &[Box<Expr>] {
        match unwrap_parens(e) {
            Expr::Call(c) => &c.args.args,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn calls_and_arguments() {
        let q = "sort(x)";
        let e = parse(q);
        let p = Positions::compute(q, &e);
        assert_eq!(p.own(&e), Some(0));
        assert_eq!(p.arg(&call_args(&e)[0]), Some(5));

        let q = "histogram_quantile(0.5, series)";
        let e = parse(q);
        let p = Positions::compute(q, &e);
        let args = call_args(&e);
        assert_eq!(p.arg(&args[0]), Some(19));
        assert_eq!(p.arg(&args[1]), Some(24)); // 1:25
    }

    #[test]
    fn nested_binary_aggregation_and_modifiers() {
        let q = "sum by (job) (rate(foo{a=\"}\"}[5m] offset -1m @ 100)) / on(job) group_left (x) topk(3, -bar)";
        let e = parse(q);
        let p = Positions::compute(q, &e);
        let Expr::Binary(b) = &e else { panic!() };
        assert_eq!(p.own(&e), Some(0));
        assert_eq!(p.own(&b.lhs), Some(0));
        let Expr::Aggregate(sum) = &*b.lhs else { panic!() };
        let rate = &sum.expr;
        assert_eq!(p.own(rate), Some(q.find("rate").unwrap()));
        assert_eq!(p.arg(&call_args(rate)[0]), Some(q.find("foo").unwrap()));
        let Expr::Aggregate(topk) = &*b.rhs else { panic!() };
        assert_eq!(p.own(&b.rhs), Some(q.find("topk").unwrap()));
        assert_eq!(p.arg(topk.param.as_ref().unwrap()), Some(q.find('3').unwrap()));
        assert_eq!(p.arg(&topk.expr), Some(q.find("-bar").unwrap()));
    }

    #[test]
    fn signs_parens_subqueries_and_comments() {
        let q = "abs(+x) + max_over_time((rate(y[1m]))[10m:]) # comment\n  - -1";
        let e = parse(q);
        let p = Positions::compute(q, &e);
        let Expr::Binary(outer) = &e else { panic!() };
        let Expr::Binary(inner) = &*outer.lhs else { panic!() };
        assert_eq!(p.arg(&call_args(&inner.lhs)[0]), Some(4)); // at the '+'
        let sq = &call_args(&inner.rhs)[0];
        assert_eq!(p.arg(sq), Some(q.find("(rate").unwrap()));
        assert_eq!(p.outer(&outer.rhs), Some(q.find("- -1").unwrap() + 2));
    }

    #[test]
    fn keywords_as_metric_names_and_case() {
        let q = "SUM(offset offset 5m) BY (a) + Count_values(\"v\", sum)";
        let e = parse(q);
        let p = Positions::compute(q, &e);
        let Expr::Binary(b) = &e else { panic!() };
        assert_eq!(p.own(&b.rhs), Some(q.find("Count").unwrap()));
        let Expr::Aggregate(cv) = &*b.rhs else { panic!() };
        assert_eq!(p.arg(&cv.expr), Some(q.rfind("sum").unwrap()));
    }
}
