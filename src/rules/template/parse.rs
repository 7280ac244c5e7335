//! The parser of Go's `text/template`: builds the tree of each template
//! (the top-level one and every `{{define}}`/`{{block}}`) with the byte
//! offsets that error messages report, and rejects what Go rejects at parse
//! time (undefined functions and variables, misplaced `{{else}}`/`{{end}}`,
//! `{{break}}` outside `{{range}}`, ...), with Go's messages.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use super::gofmt;
use super::lex::{lex, Item, ItemType};

/// A sequence of nodes.
#[derive(Debug)]
pub(super) struct List {
    pub nodes: Vec<Node>,
}

/// A node of a template's tree.
#[derive(Debug)]
pub(super) enum Node {
    Text { text: String },
    Action { pos: usize, pipe: Pipe },
    If(Branch),
    With(Branch),
    Range(Branch),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

/// The parts of `if`, `with` and `range`.
#[derive(Debug)]
pub(super) struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// A pipeline with its optional variable declarations.
#[derive(Debug)]
pub(super) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One command of a pipeline: a function, method, field or constant and its
/// arguments.
#[derive(Debug)]
pub(super) struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

/// A number constant as Go's parser classifies it.
#[derive(Debug, Clone)]
pub(super) struct Number {
    pub text: String,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub int: i64,
    pub float: f64,
}

/// An argument or the first word of a command.
#[derive(Debug)]
pub(super) enum Operand {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    /// `$x.a.b`: the variable name first, then fields.
    Variable {
        pos: usize,
        ident: Vec<String>,
    },
    /// `.a.b`.
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    /// `(pipeline).a.b`.
    Chain {
        pos: usize,
        node: Box<Operand>,
        field: Vec<String>,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Number,
    },
    Str {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Identifier { pos, .. }
            | Operand::Dot { pos }
            | Operand::Nil { pos }
            | Operand::Variable { pos, .. }
            | Operand::Field { pos, .. }
            | Operand::Chain { pos, .. }
            | Operand::Bool { pos, .. }
            | Operand::Number { pos, .. }
            | Operand::Str { pos, .. } => *pos,
            Operand::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Identifier { name, .. } => f.write_str(name),
            Operand::Dot { .. } => f.write_str("."),
            Operand::Nil { .. } => f.write_str("nil"),
            Operand::Variable { ident, .. } => f.write_str(&ident.join(".")),
            Operand::Field { ident, .. } => ident.iter().try_for_each(|i| write!(f, ".{i}")),
            Operand::Chain { node, field, .. } => {
                match node.as_ref() {
                    Operand::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                field.iter().try_for_each(|i| write!(f, ".{i}"))
            }
            Operand::Bool { val, .. } => write!(f, "{val}"),
            Operand::Number { num, .. } => f.write_str(&num.text),
            Operand::Str { quoted, .. } => f.write_str(quoted),
            Operand::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match arg {
                Operand::Pipe(p) => write!(f, "({p})")?,
                a => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} := ", self.decl.join(", "))?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.nodes.iter().try_for_each(|n| write!(f, "{n}"))
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch| {
            write!(f, "{{{{{kw} {}}}}}{}", b.pipe, b.list)?;
            if let Some(e) = &b.else_list {
                write!(f, "{{{{else}}}}{e}")?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text { text } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => branch(f, "if", b),
            Node::With(b) => branch(f, "with", b),
            Node::Range(b) => branch(f, "range", b),
            Node::Template { name, pipe: None, .. } => write!(f, "{{{{template {}}}}}", gofmt::quote(name)),
            Node::Template { name, pipe: Some(p), .. } => write!(f, "{{{{template {} {p}}}}}", gofmt::quote(name)),
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}

/// The parsed templates of one text: the top-level one under its name and
/// each `{{define}}`d one.
pub(super) struct Templates {
    pub trees: HashMap<String, Rc<List>>,
}

/// What ends an item list.
enum Terminator {
    End,
    /// `{{else}}`; `chains` when `if` or `with` follows (`{{else if x}}`).
    Else {
        chains: bool,
    },
}

impl fmt::Display for Terminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Terminator::End => f.write_str("{{end}}"),
            Terminator::Else { .. } => f.write_str("{{else}}"),
        }
    }
}

/// A parse error, already in Go's words (`template: NAME:LINE: ...`).
type PResult<T> = Result<T, String>;

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    next_item: usize,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    has_function: &'a dyn Fn(&str) -> bool,
    trees: HashMap<String, Rc<List>>,
}

fn is_empty_list(list: &List) -> bool {
    list.nodes
        .iter()
        .all(|n| matches!(n, Node::Text { text } if text.trim_matches(|c: char| c.is_whitespace()).is_empty()))
}

impl Parser<'_> {
    fn lex_next(&mut self) -> Item {
        let i = self.next_item.min(self.items.len() - 1);
        self.next_item += 1;
        self.items[i].clone()
    }

    fn next(&mut self) -> Item {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex_next();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex_next();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn error<T>(&self, msg: impl fmt::Display) -> PResult<T> {
        Err(format!("template: {}:{}: {msg}", self.name, self.token[0].line))
    }

    fn unexpected<T>(&self, token: &Item, context: &str) -> PResult<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_owned();
                }
            }
            return self.error(format!("{token}{extra}"));
        }
        self.error(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, typ: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != typ {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn add(&mut self, name: String, root: List) -> PResult<()> {
        match self.trees.get(&name) {
            Some(existing) if !is_empty_list(existing) => {
                if !is_empty_list(&root) {
                    return self.error(format!("template: multiple definition of template {}", gofmt::quote(&name)));
                }
            }
            _ => {
                self.trees.insert(name, Rc::new(root));
            }
        }
        Ok(())
    }

    /// The top level: nodes up to EOF, with `{{define}}`s set aside.
    fn parse(&mut self) -> PResult<List> {
        let mut root = List { nodes: Vec::new() };
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Ok(n) => root.nodes.push(n),
                Err(t) => return self.error(format!("unexpected {t}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if t.typ != ItemType::String && t.typ != ItemType::RawString {
            return self.unexpected(&t, CONTEXT);
        }
        let name = match gofmt::unquote(&t.val) {
            Ok(n) => n,
            Err(e) => return self.error(e),
        };
        self.expect(ItemType::RightDelim, CONTEXT)?;
        // A definition starts with no variables but `$`.
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, Terminator::End) {
            return self.error(format!("unexpected {end} in {CONTEXT}"));
        }
        self.add(name, list)
    }

    fn item_list(&mut self) -> PResult<(List, Terminator)> {
        let mut list = List { nodes: Vec::new() };
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Ok(n) => list.nodes.push(n),
                Err(t) => return Ok((list, t)),
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Result<Node, Terminator>> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Ok(Node::Text { text: token.val })),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Result<Node, Terminator>> {
        let token = self.next_non_space();
        let node = match token.typ {
            ItemType::Block => self.block_control()?,
            ItemType::Break | ItemType::Continue => {
                let word = if token.typ == ItemType::Break { "break" } else { "continue" };
                let t = self.next_non_space();
                if t.typ != ItemType::RightDelim {
                    return self.unexpected(&t, &format!("{{{{{word}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.error(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                if token.typ == ItemType::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if peek.typ == ItemType::If || peek.typ == ItemType::With {
                    return Ok(Err(Terminator::Else { chains: true }));
                }
                self.expect(ItemType::RightDelim, "else")?;
                return Ok(Err(Terminator::Else { chains: false }));
            }
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Err(Terminator::End));
            }
            ItemType::If => Node::If(self.parse_control("if")?),
            ItemType::Range => Node::Range(self.parse_control("range")?),
            ItemType::With => Node::With(self.parse_control("with")?),
            ItemType::Template => self.template_control()?,
            _ => {
                self.backup();
                let pos = self.peek().pos;
                Node::Action { pos, pipe: self.pipeline("command", ItemType::RightDelim)? }
            }
        };
        Ok(Ok(node))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let vars = self.vars.len();
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Terminator::End => None,
            Terminator::Else { chains } => {
                // `{{else if x}}` and `{{else with x}}` (the latter in `with`
                // only) chain a nested control that shares the final `{{end}}`.
                let peek = self.peek();
                let chained = chains
                    && ((context == "if" && peek.typ == ItemType::If)
                        || (context == "with" && peek.typ == ItemType::With));
                if chained {
                    self.next();
                    let node = if context == "if" {
                        Node::If(self.parse_control("if")?)
                    } else {
                        Node::With(self.parse_control("with")?)
                    };
                    Some(List { nodes: vec![node] })
                } else {
                    let (else_list, next) = self.item_list()?;
                    if !matches!(next, Terminator::End) {
                        return self.error(format!("expected end; found {next}"));
                    }
                    Some(else_list)
                }
            }
        };
        self.vars.truncate(vars);
        Ok(Branch { pipe, list, else_list })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let saved_depth = std::mem::take(&mut self.range_depth);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        if !matches!(end, Terminator::End) {
            return self.error(format!("unexpected {end} in {CONTEXT}"));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template { pos: token.pos, name, pipe: Some(pipe) })
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, ItemType::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template { pos: token.pos, name, pipe })
    }

    fn parse_template_name(&self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => gofmt::unquote(&token.val).or_else(|e| self.error(e)),
            _ => self.unexpected(token, context),
        }
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe { pos: token.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        // Declarations or assignments: `$x :=`, `$x =`, `$i, $e :=`.
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            self.next();
            let after = self.peek();
            let next = self.peek_non_space();
            if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                break;
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => continue,
                        _ => return self.error("range can only initialize variables"),
                    }
                }
                return self.error(format!("too many declarations in {context}"));
            } else if after.typ == ItemType::Space {
                self.backup3(v, after);
            } else {
                self.backup2(v);
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.error(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Operand::Bool { .. }
                    | Operand::Dot { .. }
                    | Operand::Nil { .. }
                    | Operand::Number { .. }
                    | Operand::Str { .. }
            ) {
                return self.error(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.error("empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            fields.push(self.next().val[1..].to_owned());
        }
        Ok(Some(match node {
            Operand::Field { ident, .. } => Operand::Field { pos, ident: ident.into_iter().chain(fields).collect() },
            Operand::Variable { ident, .. } => {
                Operand::Variable { pos, ident: ident.into_iter().chain(fields).collect() }
            }
            Operand::Bool { .. }
            | Operand::Str { .. }
            | Operand::Number { .. }
            | Operand::Nil { .. }
            | Operand::Dot { .. } => {
                return self.error(format!("unexpected . after term {}", gofmt::quote(&node.to_string())));
            }
            node => Operand::Chain { pos, node: Box::new(node), field: fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_function)(&token.val) {
                    return self.error(format!("function {} not defined", gofmt::quote(&token.val)));
                }
                Operand::Identifier { pos, name: token.val }
            }
            ItemType::Dot => Operand::Dot { pos },
            ItemType::Nil => Operand::Nil { pos },
            ItemType::Variable => {
                let ident: Vec<String> = token.val.split('.').map(str::to_owned).collect();
                if !self.vars.iter().any(|v| *v == ident[0]) {
                    return self.error(format!("undefined variable {}", gofmt::quote(&ident[0])));
                }
                Operand::Variable { pos, ident }
            }
            ItemType::Field => Operand::Field { pos, ident: token.val[1..].split('.').map(str::to_owned).collect() },
            ItemType::Bool => Operand::Bool { pos, val: token.val == "true" },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => match parse_number(&token) {
                Ok(num) => Operand::Number { pos, num },
                Err(e) => return self.error(e),
            },
            ItemType::LeftParen => {
                Operand::Pipe(Box::new(self.pipeline("parenthesized pipeline", ItemType::RightParen)?))
            }
            ItemType::String | ItemType::RawString => match gofmt::unquote(&token.val) {
                Ok(text) => Operand::Str { pos, quoted: token.val, text },
                Err(e) => return self.error(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`-style integer syntax: sign, `0x`/`0o`/
/// `0b`/leading-`0` octal prefixes and `_` separators.
fn parse_go_int(text: &str) -> Option<i128> {
    let (neg, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits = gofmt::strip_underscores(digits)?;
    if digits.is_empty() {
        return None;
    }
    let v = u128::from_str_radix(&digits, radix).ok()?;
    let v = i128::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// Classifies a number constant as Go's parser does (`newNumber`).
fn parse_number(item: &Item) -> Result<Number, String> {
    let text = item.val.clone();
    let mut n = Number { text: text.clone(), is_int: false, is_uint: false, is_float: false, int: 0, float: 0.0 };
    if item.typ == ItemType::CharConstant {
        let c = gofmt::unquote(&text).map_err(|_| format!("malformed character constant: {text}"))?;
        let mut chars = c.chars();
        let (Some(r), None) = (chars.next(), chars.next()) else {
            return Err(format!("malformed character constant: {text}"));
        };
        n.is_int = true;
        n.is_uint = true;
        n.is_float = true;
        n.int = i64::from(u32::from(r));
        n.float = f64::from(u32::from(r));
        return Ok(n);
    }
    if item.typ == ItemType::Complex || text.ends_with('i') {
        return Err(format!("complex constants are not supported: {}", gofmt::quote(&text)));
    }
    if let Some(v) = parse_go_int(&text) {
        if let Ok(i) = i64::try_from(v) {
            n.is_int = true;
            n.int = i;
        }
        if v >= 0 && u64::try_from(v).is_ok() {
            n.is_uint = true;
        }
    }
    if n.is_int || n.is_uint {
        n.is_float = true;
        n.float = if n.is_int { n.int as f64 } else { parse_go_int(&text).unwrap_or_default() as f64 };
    } else if let Ok(f) = gofmt::parse_float(&text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", gofmt::quote(&text)));
        }
        n.is_float = true;
        n.float = f;
        if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
            n.is_int = true;
            n.int = f as i64;
        }
        if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", gofmt::quote(&text)));
    }
    Ok(n)
}

/// Parses `text` as template `name`, with `has_function` telling which
/// function names exist. Err is Go's message.
pub(super) fn parse(name: &str, text: &str, has_function: &dyn Fn(&str) -> bool) -> Result<Templates, String> {
    let items = lex(text);
    let first = items[0].clone();
    let mut p = Parser {
        name,
        items,
        next_item: 0,
        token: [first.clone(), first.clone(), first],
        peek_count: 0,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        action_line: 0,
        has_function,
        trees: HashMap::new(),
    };
    let root = p.parse()?;
    p.add(name.to_owned(), root)?;
    Ok(Templates { trees: p.trees })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("t", text, &|f| f == "printf") {
            Ok(_) => "ok".into(),
            Err(e) => e,
        }
    }

    #[test]
    fn parse_errors_read_like_go() {
        assert_eq!(err("{{"), "template: t:1: unclosed action");
        assert_eq!(err("{{ nope 1 }}"), "template: t:1: function \"nope\" not defined");
        assert_eq!(err("{{ $x }}"), "template: t:1: undefined variable \"$x\"");
        assert_eq!(err("{{ end }}"), "template: t:1: unexpected {{end}}");
        assert_eq!(err("{{ if 1 }}"), "template: t:1: unexpected EOF");
        assert_eq!(err("{{ break }}"), "template: t:1: {{break}} outside {{range}}");
        assert_eq!(err("{{ 1 | 2 }}"), "template: t:1: non executable command in pipeline stage 2");
        assert_eq!(err("{{}}"), "template: t:1: missing value for command");
        assert_eq!(err("a\n{{ .x ) }}"), "template: t:2: unexpected \")\" in command");
        assert_eq!(err("{{ \"a\".b }}"), "template: t:1: unexpected . after term \"\\\"a\\\"\"");
        assert_eq!(err("{{ 99999999999999999999 }}"), "template: t:1: integer overflow: \"99999999999999999999\"");
    }

    #[test]
    fn prints_nodes_as_go_does() {
        let t =
            parse("t", "{{ $x := printf \"%d\" (.a.b) | printf }}{{ if .c }}x{{ else }}y{{ end }}", &|_| true).unwrap();
        let root = &t.trees["t"];
        assert_eq!(root.to_string(), "{{$x := printf \"%d\" (.a.b) | printf}}{{if .c}}x{{else}}y{{end}}");
    }
}
