//! Target expressions: a small language that says which agents may take a task.
//!
//! ```text
//! skill("apparel.sizing") >= 7 and task.tenant in agent.certified and lang == "zh"
//!     and not has_tag("trainee")
//! ```
//!
//! # Grammar
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "has" | "contains") value)?
//! value   := number | string | list | call | path | "(" expr ")" | "true" | "false"
//! list    := "[" (value ("," value)*)? "]"
//! call    := name "(" (value ("," value)*)? ")"
//! path    := name ("." name)*
//! ```
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons. Strings use double quotes with
//! `\"` and `\\` escapes; numbers are decimal (`7`, `-1.5`).
//!
//! # Names
//!
//! | expression | value |
//! |---|---|
//! | `skill("s")` | the agent's level in skill `s`, missing if it has none |
//! | `has_skill("s")`, `has_tag("t")` | whether the agent has the skill / tag |
//! | `agent.tags`, `agent.skills`, `agent.certified` | lists of tag, skill and tenant names |
//! | `agent.kind` | `"human"` or `"bot"` |
//! | `agent.id` | the agent's id, a number (exact up to 2^53) |
//! | `task.tenant`, `task.channel` | the task's tenant name and channel name |
//! | `task.value_tier`, `task.sentiment`, `task.priority` | numbers from the task |
//! | `task.previous_agent` (alias `task.preferred_agent`) | the id of the customer's previous agent, missing if none |
//! | `task.k` for other `k` | a host attribute given to [`Expr::bind`] (missing otherwise) |
//! | any other bare name `k` (e.g. `lang`) | the values `v` of the agent's tags `k:v` (a list) |
//!
//! A **missing** value (an unknown attribute, a skill the agent lacks) makes every comparison
//! false — so `not skill("x") >= 3` is true for an agent without `x`. `a == b` and `a in b`
//! with a list on one side test membership (`lang == "zh"` is true for an agent tagged `lang:zh`
//! and `lang:en`); `a in b` with lists on both sides tests overlap (`lang in ["zh", "yue"]`);
//! `a == b` with two lists tests equality; `has` / `contains` test that the left list holds
//! the right value (or, on strings, that the left contains the right as a substring).
//!
//! # Compiling to index operations
//!
//! [`Expr::compile`] splits the top-level `and` chain: `skill("s") >= n` (and `>`), `has_skill`, `has_tag`, `k == "v"` on tag attributes and `task.tenant in
//! agent.certified` become [`Requirements`] — answered by the router's bitset indexes — and the
//! rest stays a residual predicate evaluated only on the candidates the indexes return.

use crate::{AgentKind, AgentView, Catalog, MAX_LEVEL, Requirements, TaskView};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where in the source an error is: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, for a person.
    pub message: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `has` / `contains`
    Has,
}

/// A parsed target expression.
///
/// # Example
/// ```
/// use switchboard::expr::Expr;
/// let e = Expr::parse(r#"skill("returns") >= 5 and not has_tag("trainee")"#).unwrap();
/// assert_eq!(e.to_string(), r#"(skill("returns") >= 5 and not has_tag("trainee"))"#);
/// let err = Expr::parse("skill(\"returns\") >=").unwrap_err();
/// assert_eq!((err.line, err.column), (1, 20));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A number literal.
    Num(f64),
    /// A string literal.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A list literal.
    List(Vec<Expr>),
    /// A dotted attribute path.
    Path(Vec<String>),
    /// A function call.
    Call(String, Vec<Expr>),
    /// `not e`.
    Not(Box<Expr>),
    /// `a and b and …`.
    And(Vec<Expr>),
    /// `a or b or …`.
    Or(Vec<Expr>),
    /// `a op b`.
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    Op(&'static str),
    End,
}

struct Lexer {
    chars: Vec<(usize, usize, char)>,
    pos: usize,
}

impl Lexer {
    fn new(src: &str) -> Self {
        let mut chars = Vec::new();
        let (mut line, mut col) = (1, 1);
        for c in src.chars() {
            chars.push((line, col, c));
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        chars.push((line, col, '\0'));
        Lexer { chars, pos: 0 }
    }

    fn err(line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    /// All tokens with their positions.
    fn tokens(mut self) -> Result<Vec<(usize, usize, Tok)>, ParseError> {
        let mut out = Vec::new();
        loop {
            while self.chars[self.pos].2.is_whitespace() {
                self.pos += 1;
            }
            let (line, col, c) = self.chars[self.pos];
            if self.pos + 1 == self.chars.len() {
                out.push((line, col, Tok::End));
                return Ok(out);
            }
            let next = self.chars[self.pos + 1].2;
            let two = |a: char, b: char| c == a && next == b;
            let tok = if two('=', '=') {
                self.pos += 2;
                Tok::Op("==")
            } else if two('!', '=') {
                self.pos += 2;
                Tok::Op("!=")
            } else if two('<', '=') {
                self.pos += 2;
                Tok::Op("<=")
            } else if two('>', '=') {
                self.pos += 2;
                Tok::Op(">=")
            } else if let Some(op) = ["<", ">", "(", ")", "[", "]", ",", "."]
                .into_iter()
                .find(|o| o.starts_with(c))
            {
                self.pos += 1;
                Tok::Op(op)
            } else if c == '"' {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    let (_, _, ch) = self.chars[self.pos];
                    if self.pos + 1 == self.chars.len() {
                        return Err(Self::err(
                            line,
                            col,
                            "unterminated string: add a closing \"",
                        ));
                    }
                    self.pos += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let (l2, c2, esc) = self.chars[self.pos];
                            self.pos += 1;
                            match esc {
                                '"' | '\\' => s.push(esc),
                                'n' => s.push('\n'),
                                _ => {
                                    return Err(Self::err(
                                        l2,
                                        c2,
                                        format!("unknown escape \\{esc}: use \\\" or \\\\"),
                                    ));
                                }
                            }
                        }
                        _ => s.push(ch),
                    }
                }
                Tok::Str(s)
            } else if c.is_ascii_digit() || (c == '-' && next.is_ascii_digit()) {
                let start = self.pos;
                self.pos += 1;
                while self.chars[self.pos].2.is_ascii_digit() || self.chars[self.pos].2 == '.' {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().map(|x| x.2).collect();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Num(v),
                    _ => return Err(Self::err(line, col, format!("bad number {text:?}"))),
                }
            } else if c.is_alphabetic() || c == '_' {
                let start = self.pos;
                while {
                    let ch = self.chars[self.pos].2;
                    (ch.is_alphanumeric() || ch == '_') && self.pos + 1 < self.chars.len()
                } {
                    self.pos += 1;
                }
                Tok::Name(self.chars[start..self.pos].iter().map(|x| x.2).collect())
            } else {
                return Err(Self::err(line, col, format!("unexpected character {c:?}")));
            };
            out.push((line, col, tok));
        }
    }
}

struct Parser {
    toks: Vec<(usize, usize, Tok)>,
    pos: usize,
    /// Current nesting (parentheses, lists, calls, `not` chains); bounded by [`MAX_DEPTH`] so
    /// no input can exhaust the stack.
    depth: usize,
}

/// Deepest nesting an expression may have.
pub const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].2
    }
    fn at(&self) -> (usize, usize) {
        (self.toks[self.pos].0, self.toks[self.pos].1)
    }
    fn err(&self, message: impl Into<String>) -> ParseError {
        let (line, column) = self.at();
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
    fn describe(t: &Tok) -> String {
        match t {
            Tok::Num(n) => format!("number {n}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Name(n) => format!("`{n}`"),
            Tok::Op(o) => format!("`{o}`"),
            Tok::End => "the end of the expression".into(),
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == w)
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Tok::Op(o) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_op(&mut self, op: &str, what: &str) -> Result<(), ParseError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.err(format!(
                "expected `{op}` {what}, found {}",
                Self::describe(self.peek())
            )))
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.and()?];
        while self.is_word("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }
    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.not()?];
        while self.is_word("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }
    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.is_word("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.compare()
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        Ok(())
    }
    fn value(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let v = self.value_inner();
        self.depth -= 1;
        v
    }
    fn compare(&mut self) -> Result<Expr, ParseError> {
        let left = self.value()?;
        let op = match self.peek() {
            Tok::Op("==") => Some(CmpOp::Eq),
            Tok::Op("!=") => Some(CmpOp::Ne),
            Tok::Op("<") => Some(CmpOp::Lt),
            Tok::Op("<=") => Some(CmpOp::Le),
            Tok::Op(">") => Some(CmpOp::Gt),
            Tok::Op(">=") => Some(CmpOp::Ge),
            Tok::Name(n) if n == "in" => Some(CmpOp::In),
            Tok::Name(n) if n == "has" || n == "contains" => Some(CmpOp::Has),
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        self.pos += 1;
        let right = self.value()?;
        Ok(Expr::Cmp(Box::new(left), op, Box::new(right)))
    }
    fn value_inner(&mut self) -> Result<Expr, ParseError> {
        let tok = self.peek().clone();
        match tok {
            Tok::Num(n) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Expr::Str(s))
            }
            Tok::Op("(") => {
                self.pos += 1;
                let e = self.or()?;
                self.expect_op(")", "to close `(`")?;
                Ok(e)
            }
            Tok::Op("[") => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat_op("]") {
                    loop {
                        items.push(self.value()?);
                        if self.eat_op("]") {
                            break;
                        }
                        self.expect_op(",", "between list items")?;
                    }
                }
                Ok(Expr::List(items))
            }
            Tok::Name(n) if n == "true" || n == "false" => {
                self.pos += 1;
                Ok(Expr::Bool(n == "true"))
            }
            Tok::Name(n) if ["and", "or", "not", "in", "has", "contains"].contains(&n.as_str()) => {
                Err(self.err(format!("expected a value, found the keyword `{n}`")))
            }
            Tok::Name(n) => {
                self.pos += 1;
                if self.eat_op("(") {
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.value()?);
                            if self.eat_op(")") {
                                break;
                            }
                            self.expect_op(",", "between arguments")?;
                        }
                    }
                    return Ok(Expr::Call(n, args));
                }
                let mut path = vec![n];
                while self.eat_op(".") {
                    match self.peek().clone() {
                        Tok::Name(part) => {
                            self.pos += 1;
                            path.push(part);
                        }
                        other => {
                            return Err(self.err(format!(
                                "expected a name after `.`, found {}",
                                Self::describe(&other)
                            )));
                        }
                    }
                }
                Ok(Expr::Path(path))
            }
            other => Err(self.err(format!(
                "expected a value, found {}",
                Self::describe(&other)
            ))),
        }
    }
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Str(String),
    Bool(bool),
    List(Vec<Val>),
    Missing,
}

impl Expr {
    /// Parses an expression.
    ///
    /// # Errors
    /// [`ParseError`] with the line and column of the first problem.
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        let toks = Lexer::new(src).tokens()?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let e = p.or()?;
        if *p.peek() != Tok::End {
            return Err(p.err(format!(
                "expected `and`, `or` or the end, found {}",
                Parser::describe(p.peek())
            )));
        }
        Ok(e)
    }

    /// Whether `agent` satisfies the expression for `task`. Names are looked up in `catalog`.
    #[must_use]
    pub fn eval(&self, agent: &AgentView<'_>, task: &TaskView<'_>, catalog: &Catalog) -> bool {
        matches!(self.value(agent, Some(task), catalog), Val::Bool(true))
    }

    /// Whether `agent` satisfies the expression when no task is known: every `task.…`
    /// attribute is missing. This is how a [`Filter`] (a target bound to its task) is evaluated.
    #[must_use]
    pub fn eval_agent(&self, agent: &AgentView<'_>, catalog: &Catalog) -> bool {
        matches!(self.value(agent, None, catalog), Val::Bool(true))
    }

    fn value(&self, a: &AgentView<'_>, t: Option<&TaskView<'_>>, cat: &Catalog) -> Val {
        match self {
            Expr::Num(n) => Val::Num(*n),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Bool(b) => Val::Bool(*b),
            Expr::List(items) => Val::List(items.iter().map(|e| e.value(a, t, cat)).collect()),
            Expr::Not(e) => match e.value(a, t, cat) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Bool(true),
            },
            Expr::And(parts) => Val::Bool(
                parts
                    .iter()
                    .all(|p| matches!(p.value(a, t, cat), Val::Bool(true))),
            ),
            Expr::Or(parts) => Val::Bool(
                parts
                    .iter()
                    .any(|p| matches!(p.value(a, t, cat), Val::Bool(true))),
            ),
            Expr::Cmp(l, op, r) => {
                Val::Bool(compare(&l.value(a, t, cat), *op, &r.value(a, t, cat)))
            }
            Expr::Call(f, args) => {
                let arg = |i: usize| match args.get(i) {
                    Some(Expr::Str(s)) => Some(s.as_str()),
                    _ => None,
                };
                match (f.as_str(), arg(0)) {
                    ("skill", Some(s)) => cat
                        .find_skill(s)
                        .and_then(|id| a.level(id))
                        .map_or(Val::Missing, |l| Val::Num(f64::from(l))),
                    ("has_skill", Some(s)) => {
                        Val::Bool(cat.find_skill(s).and_then(|id| a.level(id)).is_some())
                    }
                    ("has_tag", Some(s)) => {
                        Val::Bool(cat.find_tag(s).is_some_and(|id| a.has_tag(id)))
                    }
                    _ => Val::Missing,
                }
            }
            Expr::Path(path) => {
                let parts: Vec<&str> = path.iter().map(String::as_str).collect();
                match parts.as_slice() {
                    ["agent", "tags"] => Val::List(
                        a.tags
                            .iter()
                            .filter_map(|t| cat.tag_name(*t))
                            .map(|s| Val::Str(s.to_owned()))
                            .collect(),
                    ),
                    ["agent", "skills"] => Val::List(
                        a.skills
                            .iter()
                            .filter_map(|(s, _)| cat.skill_name(*s))
                            .map(|s| Val::Str(s.to_owned()))
                            .collect(),
                    ),
                    ["agent", "certified"] => Val::List(
                        a.certifications
                            .iter()
                            .filter_map(|t| cat.tenant_name(*t))
                            .map(|s| Val::Str(s.to_owned()))
                            .collect(),
                    ),
                    ["agent", "kind"] => Val::Str(
                        match a.kind {
                            AgentKind::Human => "human",
                            AgentKind::Bot => "bot",
                        }
                        .into(),
                    ),
                    ["agent", "id"] => Val::Num(id_number(a.id.0)),
                    ["task", attr] => t.map_or(Val::Missing, |t| task_attr(t, attr, cat)),
                    [key] => {
                        let prefix = format!("{key}:");
                        let vals: Vec<Val> = a
                            .tags
                            .iter()
                            .filter_map(|t| cat.tag_name(*t))
                            .filter_map(|n| n.strip_prefix(&prefix))
                            .map(|v| Val::Str(v.to_owned()))
                            .collect();
                        if vals.is_empty() {
                            Val::Missing
                        } else {
                            Val::List(vals)
                        }
                    }
                    _ => Val::Missing,
                }
            }
        }
    }

    /// Splits the expression into index requirements and a residual predicate (see the
    /// [module docs](self)). Names not in `catalog` are reported.
    ///
    /// # Errors
    /// [`ParseError`] (line 1, column 1) naming an unknown skill or tag, with a suggestion.
    ///
    /// # Example
    /// ```
    /// use switchboard::{Catalog, expr::Expr};
    /// let mut cat = Catalog::new();
    /// let sizing = cat.skill("apparel.sizing");
    /// cat.tag("lang:zh");
    /// let e = Expr::parse(r#"skill("apparel.sizing") >= 7 and lang == "zh" and task.value_tier > 1"#).unwrap();
    /// let c = e.compile(&cat).unwrap();
    /// assert_eq!(c.requirements.skills[0].skill, sizing);
    /// assert_eq!(c.requirements.tags.len(), 1);
    /// assert!(c.residual.is_some()); // task.value_tier > 1 is checked per candidate
    /// ```
    pub fn compile(&self, catalog: &Catalog) -> Result<Compiled, ParseError> {
        let parts: Vec<&Expr> = match self {
            Expr::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        let mut req = Requirements::default();
        let mut rest = Vec::new();
        for p in parts {
            if !absorb(p, catalog, &mut req)? {
                rest.push(p.clone());
            }
        }
        req.canonicalize();
        let residual = match rest.len() {
            0 => None,
            1 => rest.pop(),
            _ => Some(Expr::And(rest)),
        };
        Ok(Compiled {
            requirements: req,
            residual,
        })
    }
}

/// A task attribute as a value (`Missing` for unknown names).
fn task_attr(t: &TaskView<'_>, attr: &str, cat: &Catalog) -> Val {
    match attr {
        "tenant" => cat
            .tenant_name(t.tenant)
            .map_or(Val::Missing, |s| Val::Str(s.to_owned())),
        "channel" => Val::Str(t.channel.name().into()),
        "value_tier" => Val::Num(f64::from(t.customer.value_tier)),
        "sentiment" => Val::Num(t.customer.sentiment),
        "priority" => Val::Num(f64::from(t.priority.class)),
        "previous_agent" | "preferred_agent" => t
            .preferences
            .preferred_agent
            .map_or(Val::Missing, |a| Val::Num(id_number(a.0))),
        _ => Val::Missing,
    }
}

/// An id as an expression number (exact up to 2^53).
#[allow(clippy::cast_precision_loss)]
fn id_number(id: u64) -> f64 {
    id as f64
}

/// A literal for a value, if it has one (`Missing` has none).
fn literal(v: Val) -> Option<Expr> {
    Some(match v {
        Val::Num(n) => Expr::Num(n),
        Val::Str(s) => Expr::Str(s),
        Val::Bool(b) => Expr::Bool(b),
        Val::List(items) => Expr::List(items.into_iter().map(literal).collect::<Option<_>>()?),
        Val::Missing => return None,
    })
}

impl Expr {
    /// Replaces every `task.…` attribute by its value for `task` — `attrs` first (host-defined
    /// attributes such as `task.lang`), then the built-in ones — leaving an agent-only
    /// expression. Attributes the task lacks stay as they are and evaluate as missing.
    ///
    /// # Example
    /// ```
    /// use switchboard::{Catalog, Channel, CustomerProfile, Preferences, Priority, Requirements, TaskView};
    /// use switchboard::expr::{Expr, AttrValue};
    /// let mut cat = Catalog::new();
    /// let acme = cat.tenant("acme");
    /// let (r, p) = (Requirements::default(), Preferences::default());
    /// let task = TaskView { tenant: acme, channel: Channel::Chat, requirements: &r, preferences: &p,
    ///     customer: CustomerProfile::default(), priority: Priority::default(), sla_ms: 0 };
    /// let attrs = [("lang".to_string(), AttrValue::Str("zh".into()))].into_iter().collect();
    /// let e = Expr::parse("task.tenant in agent.certified and lang == task.lang").unwrap();
    /// assert_eq!(e.bind(&task, &cat, &attrs).to_string(), r#"("acme" in agent.certified and lang == "zh")"#);
    /// ```
    #[must_use]
    pub fn bind(
        &self,
        task: &TaskView<'_>,
        catalog: &Catalog,
        attrs: &std::collections::BTreeMap<String, AttrValue>,
    ) -> Expr {
        let go = |e: &Expr| e.bind(task, catalog, attrs);
        match self {
            Expr::Path(p) if p.len() == 2 && p[0] == "task" => attrs
                .get(&p[1])
                .map(AttrValue::to_expr)
                .or_else(|| literal(task_attr(task, &p[1], catalog)))
                .unwrap_or_else(|| self.clone()),
            Expr::List(items) => Expr::List(items.iter().map(go).collect()),
            Expr::Call(f, args) => Expr::Call(f.clone(), args.iter().map(go).collect()),
            Expr::Not(e) => Expr::Not(Box::new(go(e))),
            Expr::And(parts) => Expr::And(parts.iter().map(go).collect()),
            Expr::Or(parts) => Expr::Or(parts.iter().map(go).collect()),
            Expr::Cmp(l, op, r) => Expr::Cmp(Box::new(go(l)), *op, Box::new(go(r))),
            Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) | Expr::Path(_) => self.clone(),
        }
    }

    /// Compiles the target for one task: [`compile`](Expr::compile), with the residual
    /// [bound](Expr::bind) to the task and put in [`Requirements::filter`] — so the router
    /// evaluates it once per agent and queue, and routing decisions only read bitsets.
    ///
    /// # Errors
    /// As [`compile`](Expr::compile).
    ///
    /// # Example
    /// ```
    /// use switchboard::{Catalog, Channel, CustomerProfile, Preferences, Priority, Requirements, TaskView, AgentId};
    /// use switchboard::expr::Expr;
    /// let mut cat = Catalog::new();
    /// cat.skill("returns");
    /// let acme = cat.tenant("acme");
    /// let r = Requirements::default();
    /// let p = Preferences::default().agent(AgentId(42));
    /// let task = TaskView { tenant: acme, channel: Channel::Chat, requirements: &r, preferences: &p,
    ///     customer: CustomerProfile::default(), priority: Priority::default(), sla_ms: 0 };
    /// let e = Expr::parse(r#"has_skill("returns") and agent.id == task.previous_agent"#).unwrap();
    /// let req = e.compile_for(&task, &cat, &Default::default()).unwrap();
    /// assert_eq!(req.skills.len(), 1);
    /// assert_eq!(req.filter.unwrap().source(), "agent.id == 42");
    /// ```
    pub fn compile_for(
        &self,
        task: &TaskView<'_>,
        catalog: &Catalog,
        attrs: &std::collections::BTreeMap<String, AttrValue>,
    ) -> Result<Requirements, ParseError> {
        // Index-shaped parts first (so `task.tenant in agent.certified` still becomes the
        // certification index), then what is left is bound to the task; a residual that binds
        // to index-shaped conjuncts (`skill("s") >= task.level`) is absorbed in a second pass.
        let c = self.compile(catalog)?;
        let mut req = c.requirements;
        if let Some(rest) = c.residual {
            let bound = rest.bind(task, catalog, attrs).compile(catalog)?;
            req.skills.extend(bound.requirements.skills);
            req.tags.extend(bound.requirements.tags);
            req.certification |= bound.requirements.certification;
            req.canonicalize();
            req.filter = bound.residual.map(Filter::from_expr);
        }
        Ok(req)
    }
}

/// A host-defined task attribute value, for [`Expr::bind`].
///
/// # Example
/// ```
/// use switchboard::expr::AttrValue;
/// let v: AttrValue = serde_json::from_str(r#""zh""#).unwrap();
/// assert_eq!(v, AttrValue::Str("zh".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A list of strings.
    List(Vec<String>),
}

impl AttrValue {
    fn to_expr(&self) -> Expr {
        match self {
            AttrValue::Bool(b) => Expr::Bool(*b),
            AttrValue::Num(n) => Expr::Num(*n),
            AttrValue::Str(s) => Expr::Str(s.clone()),
            AttrValue::List(v) => Expr::List(v.iter().map(|s| Expr::Str(s.clone())).collect()),
        }
    }
}

/// An agent-only predicate: the residual of a target expression once bound to its task, kept in
/// [`Requirements::filter`]. Equal filters have equal canonical source text, so tasks with the
/// same target share a queue; the router evaluates a filter once per (agent, queue) — when either
/// appears or the agent changes — and stores the answer in the queue's eligibility bitset.
///
/// # Example
/// ```
/// use switchboard::expr::Filter;
/// let f = Filter::new("not  has_tag( \"trainee\" )").unwrap();
/// assert_eq!(f.source(), r#"not has_tag("trainee")"#);
/// assert_eq!(f, Filter::new(r#"not has_tag("trainee")"#).unwrap());
/// assert!(Filter::new("has_tag(").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Filter {
    src: std::sync::Arc<str>,
    expr: std::sync::Arc<Expr>,
}

impl Filter {
    /// Parses a filter.
    ///
    /// # Errors
    /// [`ParseError`] with the position of the problem.
    pub fn new(src: &str) -> Result<Filter, ParseError> {
        Ok(Filter::from_expr(Expr::parse(src)?))
    }
    /// A filter from a parsed expression.
    #[must_use]
    pub fn from_expr(expr: Expr) -> Filter {
        Filter {
            src: expr.to_string().into(),
            expr: std::sync::Arc::new(expr),
        }
    }
    /// The canonical source text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.src
    }
    /// The expression.
    #[must_use]
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
    /// Whether `agent` passes.
    #[must_use]
    pub fn matches(&self, agent: &AgentView<'_>, catalog: &Catalog) -> bool {
        self.expr.eval_agent(agent, catalog)
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.src == other.src
    }
}
impl Eq for Filter {}
impl std::hash::Hash for Filter {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.src.hash(state);
    }
}
impl Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.src)
    }
}
impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Filter::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An expression split for routing: hard requirements the indexes answer, plus what is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    /// The index-answerable part.
    pub requirements: Requirements,
    /// The rest, evaluated per candidate (`None` when everything compiled to requirements).
    pub residual: Option<Expr>,
}

fn unknown(kind: &str, name: &str, known: impl Iterator<Item = String>) -> ParseError {
    let best = known
        .map(|k| (edit_distance(&k, name), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = best.map_or(String::new(), |(_, k)| format!(" (did you mean {k:?}?)"));
    ParseError {
        line: 1,
        column: 1,
        message: format!("unknown {kind} {name:?}{hint}"),
    }
}

/// Levenshtein distance in characters (for "did you mean" suggestions).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns one conjunct into requirements if it is index-shaped; `Ok(false)` leaves it residual.
fn absorb(e: &Expr, cat: &Catalog, req: &mut Requirements) -> Result<bool, ParseError> {
    let skills = || {
        (0..cat.skill_count())
            .filter_map(|i| cat.skill_name(crate::SkillId(i as u32)).map(str::to_owned))
    };
    let tags = || {
        (0..cat.tag_count()).filter_map(|i| cat.tag_name(crate::TagId(i as u32)).map(str::to_owned))
    };
    match e {
        Expr::Cmp(l, op, r) => match (l.as_ref(), op, r.as_ref()) {
            (Expr::Call(f, args), op, Expr::Num(n)) if f == "skill" => {
                let Some(Expr::Str(name)) = args.first() else {
                    return Ok(false);
                };
                let Some(id) = cat.find_skill(name) else {
                    return Err(unknown("skill", name, skills()));
                };
                let min = match op {
                    CmpOp::Ge => n.ceil(),
                    CmpOp::Gt => n.floor() + 1.0,
                    _ => return Ok(false),
                };
                if !(1.0..=f64::from(MAX_LEVEL)).contains(&min) {
                    return Ok(false);
                }
                // In range 1..=MAX_LEVEL: the cast is exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                req.skills.push(crate::SkillReq::new(id, min as u8));
                Ok(true)
            }
            (Expr::Path(p), CmpOp::Eq, Expr::Str(v))
                if p.len() == 1 && !["task", "agent"].contains(&p[0].as_str()) =>
            {
                let name = format!("{}:{v}", p[0]);
                let Some(id) = cat.find_tag(&name) else {
                    return Err(unknown("tag", &name, tags()));
                };
                req.tags.push(id);
                Ok(true)
            }
            (Expr::Path(l), CmpOp::In, Expr::Path(r))
                if l == &["task", "tenant"] && r == &["agent", "certified"] =>
            {
                req.certification = true;
                Ok(true)
            }
            _ => Ok(false),
        },
        Expr::Call(f, args) if f == "has_skill" || f == "has_tag" => {
            let Some(Expr::Str(name)) = args.first() else {
                return Ok(false);
            };
            if f == "has_skill" {
                let Some(id) = cat.find_skill(name) else {
                    return Err(unknown("skill", name, skills()));
                };
                req.skills.push(crate::SkillReq::new(id, 1));
            } else {
                let Some(id) = cat.find_tag(name) else {
                    return Err(unknown("tag", name, tags()));
                };
                req.tags.push(id);
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn compare(l: &Val, op: CmpOp, r: &Val) -> bool {
    use Val::{Bool, List, Missing, Num, Str};
    if matches!(l, Missing) || matches!(r, Missing) {
        return false;
    }
    match op {
        CmpOp::Eq | CmpOp::In => match (l, r) {
            // `lang in ["zh", "en"]`: some value on the left is in the right list.
            (List(xs), List(ys)) if op == CmpOp::In => xs.iter().any(|x| ys.contains(x)),
            (List(xs), y) if !matches!(y, List(_)) => xs.contains(y),
            (x, List(ys)) => ys.contains(x),
            (Num(a), Num(b)) => a == b,
            (x, y) => op == CmpOp::Eq && x == y,
        },
        CmpOp::Ne => !compare(l, CmpOp::Eq, r),
        CmpOp::Has => match l {
            List(xs) => xs.contains(r),
            Str(s) => matches!(r, Str(t) if s.contains(t.as_str())),
            _ => false,
        },
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let ord = match (l, r) {
                (Num(a), Num(b)) => a.partial_cmp(b),
                (Str(a), Str(b)) => Some(a.cmp(b)),
                (Bool(_), _) | (_, Bool(_)) => None,
                _ => None,
            };
            ord.is_some_and(|o| match op {
                CmpOp::Lt => o.is_lt(),
                CmpOp::Le => o.is_le(),
                CmpOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical source text: parsing it gives back an equal expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Expr], sep: &str| -> fmt::Result {
            write!(f, "(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {sep} ")?;
                }
                write!(f, "{p}")?;
            }
            write!(f, ")")
        };
        let list = |f: &mut fmt::Formatter<'_>, items: &[Expr]| -> fmt::Result {
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{}", Operand(p))?;
            }
            Ok(())
        };
        match self {
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Str(s) => {
                write!(f, "\"")?;
                for c in s.chars() {
                    match c {
                        '"' => write!(f, "\\\"")?,
                        '\\' => write!(f, "\\\\")?,
                        '\n' => write!(f, "\\n")?,
                        c => write!(f, "{c}")?,
                    }
                }
                write!(f, "\"")
            }
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::List(items) => {
                write!(f, "[")?;
                list(f, items)?;
                write!(f, "]")
            }
            Expr::Path(p) => write!(f, "{}", p.join(".")),
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                list(f, args)?;
                write!(f, ")")
            }
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::And(parts) => join(f, parts, "and"),
            Expr::Or(parts) => join(f, parts, "or"),
            Expr::Cmp(l, op, r) => {
                let o = match op {
                    CmpOp::Eq => "==",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::In => "in",
                    CmpOp::Has => "has",
                };
                write!(f, "{} {o} {}", Operand(l), Operand(r))
            }
        }
    }
}

/// An expression in operand position: comparisons and negations get parentheses.
struct Operand<'a>(&'a Expr);

impl fmt::Display for Operand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            e @ (Expr::Cmp(..) | Expr::Not(_)) => write!(f, "({e})"),
            e => write!(f, "{e}"),
        }
    }
}
