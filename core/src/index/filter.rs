//! Metadata filters (eq, ne, range, in, and, or), applied inside graph traversal, and their text
//! syntax for the CLI and the bindings:
//!
//! ```text
//! expr  := and ("or" and)*          and := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | KEY op VALUE | KEY "in" "(" VALUE ("," VALUE)* ")"
//! op    := "=" | "!=" | "<" | "<=" | ">" | ">="
//! VALUE := "string" | 'string' | integer | float | true | false
//! ```
//! Keys are bare words (letters, digits, `_`, `-`, `.`). Ints and floats compare numerically with
//! each other; a comparison between different kinds (string vs number) is false, and a passage
//! without the key matches only `!=` and `not`.

use std::cmp::Ordering;

use super::metadata::{Metadata, Value};
use crate::{Error, Result};

/// A predicate over a passage's metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `key = value`.
    Eq(String, Value),
    /// `key != value` (also true when the key is absent).
    Ne(String, Value),
    /// `key < value`.
    Lt(String, Value),
    /// `key <= value`.
    Le(String, Value),
    /// `key > value`.
    Gt(String, Value),
    /// `key >= value`.
    Ge(String, Value),
    /// `key in (v1, v2, …)`.
    In(String, Vec<Value>),
    /// All of them.
    And(Vec<Filter>),
    /// Any of them.
    Or(Vec<Filter>),
    /// The negation.
    Not(Box<Filter>),
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        _ => None,
    }
}

impl Filter {
    /// Whether `meta` satisfies the filter.
    pub fn matches(&self, meta: &Metadata) -> bool {
        let cmp = |k: &String, v: &Value| meta.get(k).and_then(|m| compare(m, v));
        match self {
            Filter::Eq(k, v) => cmp(k, v) == Some(Ordering::Equal),
            Filter::Ne(k, v) => cmp(k, v) != Some(Ordering::Equal),
            Filter::Lt(k, v) => cmp(k, v) == Some(Ordering::Less),
            Filter::Le(k, v) => matches!(cmp(k, v), Some(Ordering::Less | Ordering::Equal)),
            Filter::Gt(k, v) => cmp(k, v) == Some(Ordering::Greater),
            Filter::Ge(k, v) => matches!(cmp(k, v), Some(Ordering::Greater | Ordering::Equal)),
            Filter::In(k, vs) => vs.iter().any(|v| cmp(k, v) == Some(Ordering::Equal)),
            Filter::And(fs) => fs.iter().all(|f| f.matches(meta)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(meta)),
            Filter::Not(f) => !f.matches(meta),
        }
    }

    /// Parse the text syntax (see the module docs).
    pub fn parse(text: &str) -> Result<Filter> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0, depth: 0 };
        let f = p.expr()?;
        match p.tokens.get(p.pos) {
            None => Ok(f),
            Some(t) => Err(bad(format!("unexpected {t:?}"))),
        }
    }
}

fn bad(msg: String) -> Error {
    Error::InvalidArgument(format!("filter: {msg}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(Value),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(op) = ["!=", "<=", ">=", "=="].into_iter().find(|op| *op == two) {
            out.push(Tok::Op(if op == "==" { "=" } else { op }));
            i += 2;
            continue;
        }
        match c {
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '=' => out.push(Tok::Op("=")),
            '<' => out.push(Tok::Op("<")),
            '>' => out.push(Tok::Op(">")),
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("unterminated string".into())),
                        Some('\\') => {
                            s.extend(chars.get(i + 1));
                            i += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric() || ".+-".contains(chars[i + 1]))
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let v = match word.parse::<i64>() {
                    Ok(n) => Value::Int(n),
                    Err(_) => match word.parse::<f64>() {
                        Ok(f) if !f.is_nan() => Value::Float(f),
                        _ => return Err(bad(format!("bad number {word:?}"))),
                    },
                };
                out.push(Tok::Num(v));
            }
            _ if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || "_-.".contains(chars[i + 1]))
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..=i].iter().collect()));
            }
            _ => return Err(bad(format!("unexpected character {c:?}"))),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn expr(&mut self) -> Result<Filter> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(bad("nested too deeply".into()));
        }
        let mut any = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            any.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if any.len() == 1 { any.remove(0) } else { Filter::Or(any) })
    }

    fn and(&mut self) -> Result<Filter> {
        let mut all = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Filter::And(all) })
    }

    fn unary(&mut self) -> Result<Filter> {
        if self.keyword("not") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > 64 {
                return Err(bad("nested too deeply".into()));
            }
            let f = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(f)));
        }
        match self.next() {
            Some(Tok::Open) => {
                let f = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(f),
                    _ => Err(bad("missing )".into())),
                }
            }
            Some(Tok::Word(key)) => {
                if self.keyword("in") {
                    self.pos += 1;
                    if self.next() != Some(Tok::Open) {
                        return Err(bad("expected ( after in".into()));
                    }
                    let mut values = vec![self.value()?];
                    loop {
                        match self.next() {
                            Some(Tok::Comma) => values.push(self.value()?),
                            Some(Tok::Close) => break,
                            _ => return Err(bad("expected , or ) in list".into())),
                        }
                    }
                    return Ok(Filter::In(key, values));
                }
                let op = match self.next() {
                    Some(Tok::Op(op)) => op,
                    other => return Err(bad(format!("expected an operator after {key:?}, found {other:?}"))),
                };
                let v = self.value()?;
                Ok(match op {
                    "=" => Filter::Eq(key, v),
                    "!=" => Filter::Ne(key, v),
                    "<" => Filter::Lt(key, v),
                    "<=" => Filter::Le(key, v),
                    ">" => Filter::Gt(key, v),
                    _ => Filter::Ge(key, v),
                })
            }
            other => Err(bad(format!("expected a key or (, found {other:?}"))),
        }
    }

    fn value(&mut self) -> Result<Value> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Num(v)) => Ok(v),
            Some(Tok::Word(w)) if w == "true" => Ok(Value::Bool(true)),
            Some(Tok::Word(w)) if w == "false" => Ok(Value::Bool(false)),
            other => Err(bad(format!("expected a value, found {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, Value)]) -> Metadata {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn parses_and_evaluates() {
        let m = meta(&[
            ("lang", Value::Str("en".into())),
            ("year", Value::Int(2021)),
            ("score", Value::Float(0.75)),
            ("draft", Value::Bool(false)),
        ]);
        let cases = [
            ("lang = \"en\"", true),
            ("lang == 'fr'", false),
            ("lang != 'fr'", true),
            ("missing != 1", true),
            ("missing = 1", false),
            ("year >= 2020 and year < 2022", true),
            ("year > 2021", false),
            ("year <= 2021.0", true),
            ("score > 0.5 and score < 1", true),
            ("draft = false", true),
            ("lang in ('de', 'en')", true),
            ("year in (1, 2)", false),
            ("lang = 'fr' or year = 2021", true),
            ("not (lang = 'en')", false),
            ("(lang = 'fr' or lang = 'en') and not draft = true", true),
            ("lang > 5", false),
            ("year = -3", false),
        ];
        for (text, want) in cases {
            let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(f.matches(&m), want, "{text} → {f:?}");
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        for text in [
            "",
            "lang",
            "lang =",
            "= 3",
            "(a = 1",
            "a = 1)",
            "a in 1",
            "a in (1",
            "a = 'x",
            "a ~ 1",
            "a = nan",
            "a = 1 b = 2",
        ] {
            assert!(matches!(Filter::parse(text), Err(Error::InvalidArgument(_))), "{text:?} parsed");
        }
        let deep = "(".repeat(1000) + "a = 1" + &")".repeat(1000);
        assert!(Filter::parse(&deep).is_err());
        let nots = "not ".repeat(1000) + "a = 1";
        assert!(Filter::parse(&nots).is_err());
    }
}
