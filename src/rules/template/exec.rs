//! The executor of Go's `text/template`: walks a parsed template over the
//! data, evaluating pipelines, fields, variables and calls as Go's
//! reflection-based executor does (including `missingkey=zero`, which
//! Prometheus sets), and reports errors in Go's form:
//! `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`.

use super::funcs::{self, Callable, Env, Func, Ty};
use super::gofmt::{self, format_v, quote};
use super::parse::{Branch, Command, List, Node, Operand, Pipe, Templates};
use super::value::Value;

/// Go allows 100000 nested `{{template}}` calls; a native stack does not,
/// so recursion stops earlier.
const MAX_EXEC_DEPTH: usize = 1000;

/// The node being evaluated, for error locations.
#[derive(Clone, Copy)]
enum At<'a> {
    Node(&'a Node),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Op(&'a Operand),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Node(Node::Action { pos, .. } | Node::Template { pos, .. }) => *pos,
            At::Node(Node::If(b) | Node::With(b) | Node::Range(b)) => b.pipe.pos,
            At::Node(_) => 0,
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Op(o) => o.pos(),
        }
    }

    fn context(&self) -> String {
        match self {
            At::Node(n) => n.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Op(o) => o.to_string(),
        }
    }
}

/// How a walk ended: normally, or at `{{break}}`/`{{continue}}`.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type EResult<T> = Result<T, String>;

struct State<'a> {
    templates: &'a Templates,
    text: &'a str,
    parse_name: &'a str,
    /// The template being executed (changes inside `{{template}}`).
    name: String,
    env: &'a Env<'a>,
    out: String,
    at: Option<At<'a>>,
    vars: Vec<(String, Value)>,
    depth: usize,
}

fn is_hex_int(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && !s.contains(['p', 'P'])
}

impl<'a> State<'a> {
    fn errorf(&self, msg: impl std::fmt::Display) -> String {
        let name = quote(&self.name);
        match self.at {
            None => format!("template: {}: {msg}", self.name),
            Some(at) => {
                let pos = at.pos().min(self.text.len());
                let before = &self.text[..pos];
                let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
                let line = 1 + before.matches('\n').count();
                format!("template: {}:{line}:{col}: executing {name} at <{}>: {msg}", self.parse_name, at.context())
            }
        }
    }

    fn walk_list(&mut self, dot: &Value, list: &'a List) -> EResult<Flow> {
        for node in &list.nodes {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> EResult<Flow> {
        self.at = Some(At::Node(node));
        match node {
            Node::Text { text } => self.out.push_str(text),
            Node::Action { pipe, .. } => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at = Some(At::Node(node));
                    self.print_value(&v);
                }
            }
            Node::If(b) => return self.walk_if_or_with(false, dot, b),
            Node::With(b) => return self.walk_if_or_with(true, dot, b),
            Node::Range(b) => return self.walk_range(dot, node, b),
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe.as_ref())?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn print_value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.out.push_str("<no value>"),
            // Go prints what a pointer points to.
            Value::Sample(_) => self.out.push_str(&format_v(v)[1..]),
            _ => self.out.push_str(&format_v(v)),
        }
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'a Branch) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.truth() {
            self.walk_list(if with { &val } else { dot }, &b.list)?
        } else if let Some(else_list) = &b.else_list {
            self.walk_list(dot, else_list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value, node: &'a Node, b: &'a Branch) -> EResult<Flow> {
        self.at = Some(At::Node(node));
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let items: Vec<(Value, Value)> = match &val {
            Value::Vector(v) => {
                v.borrow().iter().enumerate().map(|(i, s)| (int(i), Value::Sample(s.clone()))).collect()
            }
            Value::StrMap(m) => m.iter().map(|(k, v)| (Value::str(k), Value::str(v))).collect(),
            Value::AnyMap(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            Value::Int(n) | Value::Int64(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(
                        self.errorf(format!("can't use {} to iterate over more than one variable", format_v(&val)))
                    );
                }
                let wrap = |i| if matches!(val, Value::Int(_)) { Value::Int(i) } else { Value::Int64(i) };
                (0..*n).map(|i| (wrap(i), wrap(i))).collect()
            }
            Value::Nil => Vec::new(),
            _ => return Err(self.errorf(format!("range can't iterate over {}", format_v(&val)))),
        };
        let body_mark = self.vars.len();
        let ran = !items.is_empty();
        for (index, elem) in items {
            let n = self.vars.len();
            if !b.pipe.decl.is_empty() {
                self.vars[n - 1].1 = elem.clone();
            }
            if b.pipe.decl.len() > 1 {
                self.vars[n - 2].1 = index;
            }
            let flow = self.walk_list(&elem, &b.list)?;
            self.vars.truncate(body_mark);
            if flow == Flow::Break {
                break;
            }
        }
        let mut flow = Flow::Normal;
        if !ran {
            if let Some(else_list) = &b.else_list {
                // A `{{break}}` here ends this range, as Go's does.
                if self.walk_list(dot, else_list)? == Flow::Continue {
                    flow = Flow::Continue;
                }
            }
        }
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_template(&mut self, dot: &Value, node: &'a Node, name: &str, pipe: Option<&'a Pipe>) -> EResult<()> {
        self.at = Some(At::Node(node));
        let Some(tree) = self.templates.trees.get(name) else {
            return Err(self.errorf(format!("template {} not defined", quote(name))));
        };
        if self.depth == MAX_EXEC_DEPTH {
            return Err(self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        let dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let saved_name = std::mem::replace(&mut self.name, name.to_owned());
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), dot.clone())]);
        self.depth += 1;
        let result = self.walk_list(&dot, tree);
        self.depth -= 1;
        self.vars = saved_vars;
        self.name = saved_name;
        result.map(|_| ())
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> EResult<Value> {
        self.at = Some(At::Pipe(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn set_var(&mut self, name: &str, value: Value) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str) -> EResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn not_a_function(&self, args: Option<&[Operand]>, fin: &Option<Value>) -> EResult<()> {
        match args {
            Some(args) if args.len() > 1 || fin.is_some() => {
                Err(self.errorf(format!("can't give argument to non-function {}", args[0])))
            }
            _ => Ok(()),
        }
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> EResult<Value> {
        let first = &cmd.args[0];
        let args = Some(cmd.args.as_slice());
        match first {
            Operand::Field { .. } => return self.eval_field_node(dot, first, args, fin),
            Operand::Chain { .. } => return self.eval_chain_node(dot, first, args, fin),
            Operand::Identifier { name, .. } => return self.eval_function(dot, first, name, At::Cmd(cmd), args, fin),
            Operand::Pipe(p) => {
                self.not_a_function(args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Operand::Variable { .. } => return self.eval_variable_node(dot, first, args, fin),
            _ => {}
        }
        self.at = Some(At::Op(first));
        self.not_a_function(args, &fin)?;
        self.eval_literal(dot, first)
    }

    /// A constant, or dot: what may stand where Go takes `interface {}`.
    fn eval_literal(&mut self, dot: &Value, op: &'a Operand) -> EResult<Value> {
        self.at = Some(At::Op(op));
        Ok(match op {
            Operand::Bool { val, .. } => Value::Bool(*val),
            Operand::Dot { .. } => dot.clone(),
            Operand::Nil { .. } => return Err(self.errorf("nil is not a command")),
            Operand::Str { text, .. } => Value::str(text),
            Operand::Number { num, .. } => {
                let t = num.text.as_str();
                if num.is_float && !is_hex_int(t) && !t.starts_with('\'') && t.contains(['.', 'e', 'E', 'p', 'P']) {
                    Value::Float(num.float)
                } else if num.is_int {
                    Value::Int(num.int)
                } else if num.is_uint {
                    return Err(self.errorf(format!("{t} overflows int")));
                } else {
                    Value::Nil
                }
            }
            _ => return Err(self.errorf(format!("can't evaluate command {}", quote(&op.to_string())))),
        })
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        op: &'a Operand,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Op(op));
        let Operand::Field { ident, .. } = op else { unreachable!("a field node") };
        self.eval_field_chain(dot, dot.clone(), op, ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        op: &'a Operand,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Op(op));
        let Operand::Chain { node, field, .. } = op else { unreachable!("a chain node") };
        if matches!(node.as_ref(), Operand::Nil { .. }) {
            return Err(self.errorf(format!("indirection through explicit nil in {op}")));
        }
        let receiver = self.eval_arg(dot, Ty::Any, node)?;
        self.eval_field_chain(dot, receiver, op, field, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Value,
        op: &'a Operand,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Op(op));
        let Operand::Variable { ident, .. } = op else { unreachable!("a variable node") };
        let value = self.var_value(&ident[0])?;
        if ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, op, &ident[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        op: &'a Operand,
        ident: &[String],
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let (last, init) = ident.split_last().expect("fields are never empty");
        let mut r = receiver;
        for id in init {
            r = self.eval_field(dot, id, op, None, None, r)?;
        }
        self.eval_field(dot, last, op, args, fin, r)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        op: &'a Operand,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
        receiver: Value,
    ) -> EResult<Value> {
        if matches!(receiver, Value::Nil) {
            return Ok(Value::Nil);
        }
        if let Some(m) = funcs::method(&receiver, name) {
            return self.eval_call(dot, m, At::Op(op), name, args, fin);
        }
        let has_args = args.is_some_and(|a| a.len() > 1) || fin.is_some();
        let field = match &receiver {
            Value::Data(d) => match name {
                "Labels" => Some(Value::StrMap(d.labels.clone())),
                "ExternalLabels" => Some(Value::StrMap(d.external_labels.clone())),
                "ExternalURL" => Some(Value::str(&d.external_url)),
                "Value" => Some(Value::Float(d.value)),
                _ => None,
            },
            Value::Sample(s) => match name {
                "Labels" => Some(Value::StrMap(s.labels.clone())),
                "Value" => Some(Value::Float(s.value)),
                _ => None,
            },
            Value::StrMap(_) | Value::AnyMap(_) if has_args => {
                return Err(self.errorf(format!("{name} is not a method but has arguments")));
            }
            // missingkey=zero: a missing key reads as the zero value.
            Value::StrMap(m) => return Ok(Value::str(m.get(name).map_or("", String::as_str))),
            Value::AnyMap(m) => return Ok(m.get(name).cloned().unwrap_or(Value::Nil)),
            _ => None,
        };
        match field {
            Some(_) if has_args => Err(self.errorf(format!("{name} has arguments but cannot be invoked as function"))),
            Some(v) => Ok(v),
            None => Err(self.errorf(format!("can't evaluate field {name} in type {}", receiver.type_name()))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        op: &'a Operand,
        name: &str,
        node: At<'a>,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Op(op));
        let Some(f) = funcs::lookup(name) else {
            return Err(self.errorf(format!("{} is not a defined function", quote(name))));
        };
        self.eval_call(dot, Callable::Func(f), node, name, args, fin)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        fun: Callable,
        node: At<'a>,
        name: &str,
        args: Option<&'a [Operand]>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let args: &'a [Operand] = args.map_or(&[], |a| &a[1..]);
        let sig = fun.sig();
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if sig.variadic.is_some() { sig.fixed.len() } else { args.len() };
        if sig.variadic.is_some() {
            if num_in < sig.fixed.len() {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.fixed.len(),
                    args.len()
                )));
            }
        } else if num_in != sig.fixed.len() {
            return Err(self.errorf(format!("wrong number of args for {name}: want {} got {num_in}", sig.fixed.len())));
        }
        if let Callable::Func(f @ (Func::And | Func::Or)) = fun {
            let mut v = Value::Nil;
            for arg in args {
                v = self.eval_arg(dot, Ty::Any, arg)?;
                if v.truth() == (f == Func::Or) {
                    return Ok(v);
                }
            }
            return Ok(fin.unwrap_or(v));
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            let ty = if i < num_fixed { sig.fixed[i] } else { sig.variadic.unwrap_or(Ty::Any) };
            argv.push(self.eval_arg(dot, ty, arg)?);
        }
        if let Some(f) = fin {
            let ty = match sig.variadic {
                Some(tail) if num_in > num_fixed => tail,
                _ => sig.fixed[num_in - 1],
            };
            argv.push(self.validate_type(f, ty)?);
        }
        fun.call(self.env, argv).map_err(|e| {
            self.at = Some(node);
            self.errorf(format!("error calling {name}: {e}"))
        })
    }

    fn validate_type(&self, v: Value, ty: Ty) -> EResult<Value> {
        let ok = match (&v, ty) {
            (Value::Nil, _) if ty.can_be_nil() => return Ok(Value::Nil),
            (Value::Nil, _) => return Err(self.errorf(format!("invalid value; expected {}", ty.name()))),
            (_, Ty::Any)
            | (Value::Str(_), Ty::Str)
            | (Value::Sample(_), Ty::Sample)
            | (Value::Vector(_), Ty::Vector)
            | (Value::Duration(_), Ty::Duration)
            | (Value::Time(_), Ty::Time) => return Ok(v),
            (Value::DurationPtr(d), Ty::Duration) => Value::Duration(*d),
            (Value::TimePtr(t), Ty::Time) => Value::Time(*t),
            _ => {
                return Err(self.errorf(format!("wrong type for value; expected {}; got {}", ty.name(), v.type_name())))
            }
        };
        Ok(ok)
    }

    fn eval_arg(&mut self, dot: &Value, ty: Ty, n: &'a Operand) -> EResult<Value> {
        self.at = Some(At::Op(n));
        let v = match n {
            Operand::Dot { .. } => dot.clone(),
            Operand::Nil { .. } if ty.can_be_nil() => return Ok(Value::Nil),
            Operand::Nil { .. } => return Err(self.errorf(format!("cannot assign nil to {}", ty.name()))),
            Operand::Field { .. } => self.eval_field_node(dot, n, Some(std::slice::from_ref(n)), None)?,
            Operand::Variable { .. } => self.eval_variable_node(dot, n, None, None)?,
            Operand::Pipe(p) => self.eval_pipeline(dot, p)?,
            Operand::Identifier { name, .. } => self.eval_function(dot, n, name, At::Op(n), None, None)?,
            Operand::Chain { .. } => self.eval_chain_node(dot, n, None, None)?,
            Operand::Bool { .. } | Operand::Number { .. } | Operand::Str { .. } => {
                return match (ty, n) {
                    (Ty::Any, _) => self.eval_literal(dot, n),
                    (Ty::Str, Operand::Str { text, .. }) => Ok(Value::str(text)),
                    (Ty::Str, _) => Err(self.errorf(format!("expected string; found {n}"))),
                    (Ty::Duration, Operand::Number { num, .. }) if num.is_int => Ok(Value::Duration(num.int)),
                    (Ty::Duration, _) => Err(self.errorf(format!("expected integer; found {n}"))),
                    _ => Err(self.errorf(format!("can't handle {n} for arg of type {}", ty.name()))),
                };
            }
        };
        self.validate_type(v, ty)
    }
}

fn int(i: usize) -> Value {
    Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
}

/// Executes template `name` of `templates` (parsed from `text`) with `data`
/// as dot. Err is Go's execution error text.
pub(super) fn execute(
    templates: &Templates,
    name: &str,
    text: &str,
    data: Value,
    env: &Env<'_>,
) -> Result<String, String> {
    let mut state = State {
        templates,
        text,
        parse_name: name,
        name: name.to_owned(),
        env,
        out: String::new(),
        at: None,
        vars: vec![("$".to_owned(), data.clone())],
        depth: 0,
    };
    let Some(root) = templates.trees.get(name) else {
        return Err(state.errorf(format!("{} is an incomplete or empty template", gofmt::quote(name))));
    };
    state.walk_list(&data, root)?;
    Ok(state.out)
}
