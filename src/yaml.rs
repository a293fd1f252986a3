//! YAML with positions: the loader every human-written file goes through (policies,
//! scenarios, gates, grids).
//!
//! Owns a small document tree whose every node and key knows its `line:column`, and a serde
//! `Deserializer` over that tree that *collects* problems instead of stopping at the first:
//! unknown keys are reported (with a "did you mean" hint) and skipped; a value of the wrong
//! type is reported, cut out, and deserialization retried, so one pass finds every problem.
//! Raw types keep `#[serde(deny_unknown_fields)]`; this deserializer honours it by checking
//! the field list serde hands to `deserialize_struct`.
//!
//! It does no validation of meaning (that is each format's `TryFrom`) and no file I/O.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Code, Diagnostic, Pos, did_you_mean};

/// A key in a mapping, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// One node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// Cut out after a problem was reported in it; invisible to deserialization.
    poisoned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing at all.
    Null,
    /// A scalar; `quoted` scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing (null)".to_string(),
            Value::Scalar { text, quoted: true } => format!("the string \"{}\"", clip(text)),
            Value::Scalar { text, .. } => format!("`{}`", clip(text)),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }

    /// The text of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Keys of a mapping node, in file order.
    pub fn keys(&self) -> Vec<&str> {
        match &self.value {
            Value::Map(m) => m.iter().filter(|(_, n)| !n.poisoned).map(|(k, _)| k.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// The value under `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, n)| k.name == key && !n.poisoned).map(|(_, n)| n),
            _ => None,
        }
    }

    /// Where the thing at `path` was written, counting list indices among the entries that
    /// survived deserialization (the indices the raw types see). Falls back to the nearest
    /// ancestor that exists. For a map key, returns the key's position.
    pub fn locate(&self, path: &[Seg]) -> Pos {
        let mut node = self;
        let mut pos = self.pos;
        for seg in path {
            match (seg, &node.value) {
                (Seg::Key(k), Value::Map(m)) => match m.iter().find(|(key, n)| key.name == *k && !n.poisoned) {
                    Some((key, n)) => {
                        pos = key.pos;
                        node = n;
                    }
                    None => return pos,
                },
                (Seg::Index(i), Value::Seq(items)) => match items.iter().filter(|n| !n.poisoned).nth(*i) {
                    Some(n) => {
                        pos = n.pos;
                        node = n;
                    }
                    None => return pos,
                },
                _ => return pos,
            }
        }
        pos
    }

    /// Like [`Node::locate`] but the position of the *value* (not the key) at `path`.
    pub fn locate_value(&self, path: &[Seg]) -> Pos {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(m)) => m.iter().find(|(key, n)| key.name == *k && !n.poisoned).map(|(_, n)| n),
                (Seg::Index(i), Value::Seq(items)) => items.iter().filter(|n| !n.poisoned).nth(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return self.locate(path),
            }
        }
        node.pos
    }

    /// Poison the node at `path`, given in *original* indices. Returns false at the root.
    fn poison(&mut self, path: &[Seg]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for seg in parents {
            let next = match (seg, &mut node.value) {
                (Seg::Key(k), Value::Map(m)) => m.iter_mut().find(|(key, _)| key.name == *k).map(|(_, n)| n),
                (Seg::Index(i), Value::Seq(items)) => items.get_mut(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return false,
            }
        }
        let target = match (last, &mut node.value) {
            (Seg::Key(k), Value::Map(m)) => m.iter_mut().find(|(key, _)| key.name == *k).map(|(_, n)| n),
            (Seg::Index(i), Value::Seq(items)) => items.get_mut(*i),
            _ => None,
        };
        match target {
            Some(n) => {
                n.poisoned = true;
                true
            }
            None => false,
        }
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s.to_string() }
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    pub fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }
}

/// Render a path as people write it: `remediation_policies[1].action.kind`.
pub fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn pos_of(m: Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

/// Builds the tree from parser events.
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes by anchor id, with how many nodes each holds.
    anchors: std::collections::BTreeMap<usize, (Node, usize)>,
    docs: Vec<Node>,
    problems: Vec<(Pos, Code, String, Option<String>)>,
    /// Nodes built so far, every use of an alias counted in full.
    nodes: usize,
    /// Where a limit was passed, which, and what to do: nothing more is built after it.
    over: Option<(Pos, String, &'static str)>,
}

/// Nodes in a tree (its depth is bounded by [`crate::limits::MAX_DEPTH`]).
fn size(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(_, n)| size(n)).sum(),
        _ => 0,
    }
}

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Option<Pos>, anchor: usize, entries: Vec<(Key, Node)>, key: Option<Key> },
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            // The copy kept for later aliases counts against the budget too.
            let n = size(&node);
            self.nodes = self.nodes.saturating_add(n);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { pos, entries, key, .. }) => match key.take() {
                None => {
                    let name = match &node.value {
                        Value::Scalar { text, .. } => text.clone(),
                        Value::Null => String::new(),
                        _ => {
                            self.problems.push((
                                node.pos,
                                Code::Syntax,
                                "a mapping key must be a plain name, not a list or mapping".into(),
                                None,
                            ));
                            "<complex key>".to_string()
                        }
                    };
                    if pos.is_none() {
                        *pos = Some(node.pos);
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                        self.problems.push((
                            node.pos,
                            Code::Duplicate,
                            format!("key `{name}` appears twice in this mapping"),
                            Some(format!("the first `{name}` is at line {}; keep one", first.pos.line)),
                        ));
                    }
                    *key = Some(Key { name, pos: node.pos });
                }
                Some(k) => {
                    // A duplicate key keeps its first value; the problem is already recorded.
                    if !entries.iter().any(|(e, _)| e.name == k.name) {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(mark);
        if self.over.is_some() {
            return;
        }
        let (added, deeper) = match &ev {
            Event::Scalar(..) => (1, false),
            Event::SequenceStart(..) | Event::MappingStart(..) => (1, true),
            Event::Alias(id) => (self.anchors.get(id).map_or(1, |(_, n)| *n), false),
            _ => (0, false),
        };
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > crate::limits::MAX_YAML_NODES {
            self.over = Some((
                pos,
                format!(
                    "the document expands to more than {} nodes (aliases counted each time they are used)",
                    crate::limits::MAX_YAML_NODES
                ),
                "a policy, scenario or grid is far smaller; write the values out instead of nesting aliases",
            ));
            return;
        }
        if deeper && self.stack.len() >= crate::limits::MAX_DEPTH {
            self.over = Some((
                pos,
                format!("lists and mappings nest more than {} deep", crate::limits::MAX_DEPTH),
                "a policy, scenario or grid nests a few levels; this is not one",
            ));
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar { text, quoted }
                };
                self.push_node(Node { value, pos, poisoned: false }, anchor);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).map(|(n, _)| Node { pos, ..n.clone() }).unwrap_or(Node {
                    value: Value::Null,
                    pos,
                    poisoned: false,
                });
                self.push_node(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { pos, anchor, items: Vec::new() }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { pos: None, anchor, entries: Vec::new(), key: None })
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { pos, anchor, items }) = self.stack.pop() {
                    self.push_node(Node { value: Value::Seq(items), pos, poisoned: false }, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { pos: p, anchor, entries, .. }) = self.stack.pop() {
                    let p = p.unwrap_or(pos);
                    self.push_node(Node { value: Value::Map(entries), pos: p, poisoned: false }, anchor);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

/// Parse YAML text into a tree. `Ok(None)` means the file holds no document (empty or only
/// comments). Syntax errors, duplicate keys and a second document are diagnostics.
pub fn parse(file: &Path, text: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: std::collections::BTreeMap::new(),
        docs: Vec::new(),
        problems: Vec::new(),
        nodes: 0,
        over: None,
    };
    if let Some((line, col, c)) = crate::limits::control_char(text) {
        return Err(vec![
            Diagnostic::error(
                Code::NotText,
                file,
                Some(Pos { line, col }),
                format!("control character U+{:04X} in a text file", u32::from(c)),
            )
            .with_hint("remove it: everything after it could be read differently by another tool"),
        ]);
    }
    let parsed = Parser::new_from_str(text).load(&mut b, true);
    if let Some((pos, what, hint)) = b.over {
        return Err(vec![Diagnostic::error(Code::TooLarge, file, Some(pos), what).with_hint(hint)]);
    }
    if let Err(e) = parsed {
        let pos = pos_of(*e.marker());
        if e.info().contains("recursion limit") {
            return Err(vec![
                Diagnostic::error(
                    Code::TooLarge,
                    file,
                    Some(pos),
                    format!("lists and mappings nest more than {} deep", crate::limits::MAX_DEPTH),
                )
                .with_hint("a policy, scenario or grid nests a few levels; this is not one"),
            ]);
        }
        return Err(vec![
            Diagnostic::error(Code::Syntax, file, Some(pos), format!("YAML syntax error: {}", e.info()))
                .with_hint("check indentation (spaces, not tabs) and that every `key: value` is on its own line"),
        ]);
    }
    let mut diags: Vec<Diagnostic> = b
        .problems
        .into_iter()
        .map(|(pos, code, msg, hint)| {
            let d = Diagnostic::error(code, file, Some(pos), msg);
            match hint {
                Some(h) => d.with_hint(h),
                None => d,
            }
        })
        .collect();
    if b.docs.len() > 1 {
        diags.push(
            Diagnostic::error(Code::Syntax, file, Some(b.docs[1].pos), "more than one YAML document in this file")
                .with_hint("remove the `---` separator; one file holds one document"),
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(b.docs.into_iter().next().filter(|n| n.value != Value::Null))
}

/// Deserialize `T` from a tree, reporting every problem found. Parts that failed are cut out
/// and deserialization retried, so the value may be returned *with* diagnostics: it then holds
/// only what survived, and is good for finding further problems, never for use. The pruned
/// tree is returned so callers can locate validation problems by the indices `T` sees.
pub fn from_node<T: DeserializeOwned>(file: &Path, root: &Node) -> Deserialized<T> {
    let mut tree = root.clone();
    let mut hard: Vec<Diagnostic> = Vec::new();
    let mut cut: Vec<Vec<Seg>> = Vec::new();
    for _ in 0..256 {
        let mut soft = Vec::new();
        let result = T::deserialize(NodeDe { node: &tree, file, soft: &mut soft });
        match result {
            Ok(v) => {
                hard.extend(soft);
                return Deserialized { value: Some(v), tree, diagnostics: dedup(hard), cut };
            }
            Err(e) => {
                let mut path = e.path.clone();
                path.reverse();
                let suppressed = e.code == Code::MissingField
                    && e.field.as_ref().is_some_and(|f| {
                        let mut p = path.clone();
                        p.push(Seg::Key(f.clone()));
                        cut.contains(&p)
                    });
                // What this pass found on the way is real even when its error is only the echo
                // of a part cut out before (a misspelt field beside a wrongly typed one).
                hard.extend(soft);
                if !suppressed {
                    hard.push(e.into_diagnostic(file));
                }
                // Cut out the failing node (or, for a missing field, the mapping that lacks it)
                // and try again so the next problem shows up too.
                if path.is_empty() || !tree.poison(&path) {
                    return Deserialized { value: None, tree, diagnostics: dedup(hard), cut };
                }
                cut.push(path);
            }
        }
    }
    Deserialized { value: None, tree, diagnostics: dedup(hard), cut }
}

/// What [`from_node`] found.
pub struct Deserialized<T> {
    /// The value, possibly built from what survived after parts were cut out.
    pub value: Option<T>,
    /// The tree with failed parts cut out.
    pub tree: Node,
    pub diagnostics: Vec<Diagnostic>,
    /// Paths (original indices) of the parts cut out.
    pub cut: Vec<Vec<Seg>>,
}

fn dedup(mut ds: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = Vec::new();
    ds.retain(|d| {
        let key = (d.pos, d.message.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    ds
}

/// A deserialization error with where it happened (boxed: it travels through every
/// `Result` of the deserializer).
#[derive(Debug, Clone)]
pub struct DeError(Box<DeErrorInner>);

#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct DeErrorInner {
    code: Code,
    message: String,
    hint: Option<String>,
    pos: Option<Pos>,
    /// Path from the failing node up to the root (reversed), in original indices.
    path: Vec<Seg>,
    /// For `MissingField`: the field that was missing.
    field: Option<String>,
}

impl std::ops::Deref for DeError {
    type Target = DeErrorInner;
    fn deref(&self) -> &DeErrorInner {
        &self.0
    }
}

impl std::ops::DerefMut for DeError {
    fn deref_mut(&mut self) -> &mut DeErrorInner {
        &mut self.0
    }
}

impl DeError {
    fn new(code: Code, message: String) -> Self {
        DeError(Box::new(DeErrorInner { code, message, hint: None, pos: None, path: Vec::new(), field: None }))
    }

    fn at(mut self, pos: Pos) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
        }
        self
    }

    fn into_diagnostic(self, file: &Path) -> Diagnostic {
        let inner = *self.0;
        let d = Diagnostic::error(inner.code, file, inner.pos, inner.message);
        match inner.hint {
            Some(h) => d.with_hint(h),
            None => d,
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(Code::BadValue, msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(Code::WrongType, format!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(Code::BadValue, format!("expected {exp}, found {unexp}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(
            Code::BadValue,
            format!("unknown value `{variant}`; expected one of: {}", expected.join(", ")),
        );
        e.hint = did_you_mean(variant, expected.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = DeError::new(Code::MissingField, format!("missing field `{field}`"));
        e.hint = Some(format!("add `{field}:` to this mapping"));
        e.field = Some(field.to_string());
        e
    }
}

/// Deserializer over one node.
struct NodeDe<'a> {
    node: &'a Node,
    file: &'a Path,
    soft: &'a mut Vec<Diagnostic>,
}

impl NodeDe<'_> {
    fn wrong(&self, expected: &str) -> DeError {
        DeError::new(Code::WrongType, format!("expected {expected}, found {}", self.node.describe())).at(self.node.pos)
    }

    fn scalar(&self) -> Option<(&str, bool)> {
        match &self.node.value {
            Value::Scalar { text, quoted } => Some((text.as_str(), *quoted)),
            _ => None,
        }
    }

    fn int<T: std::str::FromStr>(&self, expected: &str) -> Result<T, DeError> {
        match self.scalar() {
            Some((s, false)) => {
                let clean = s.replace('_', "");
                clean.parse::<T>().map_err(|_| {
                    let mut e = self.wrong(expected);
                    if clean.parse::<f64>().is_ok() {
                        e.message = format!("expected {expected}, found `{s}`, which is not a whole number in range");
                    }
                    e
                })
            }
            _ => Err(self.wrong(expected)),
        }
    }
}

fn plain_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => {
            let first = s.chars().next()?;
            if first.is_ascii_digit() || matches!(first, '-' | '+' | '.') {
                s.replace('_', "").parse().ok()
            } else {
                None
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Scalar { text, quoted: false } => {
                if matches!(text.as_str(), "true" | "True" | "TRUE") {
                    v.visit_bool(true)
                } else if matches!(text.as_str(), "false" | "False" | "FALSE") {
                    v.visit_bool(false)
                } else if let Ok(i) = text.parse::<i64>() {
                    v.visit_i64(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    v.visit_u64(u)
                } else if let Some(f) = plain_float(text) {
                    v.visit_f64(f)
                } else {
                    v.visit_str(text)
                }
            }
            Value::Scalar { text, quoted: true } => v.visit_str(text),
            Value::Seq(_) => self.deserialize_seq(v),
            Value::Map(_) => self.deserialize_map(v),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some(("true" | "True" | "TRUE", false)) => v.visit_bool(true),
            Some(("false" | "False" | "FALSE", false)) => v.visit_bool(false),
            Some((s @ ("yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "On" | "Off"), false)) => {
                let mut e = self.wrong("true or false");
                let b = matches!(s, "yes" | "on" | "y" | "Yes" | "On");
                e.hint = Some(format!("write `{b}`: YAML 1.2 reads `{s}` as a string, not a boolean"));
                Err(e)
            }
            _ => Err(self.wrong("true or false")),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i8(self.int("a whole number")?)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i16(self.int("a whole number")?)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i32(self.int("a whole number")?)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i64(self.int("a whole number")?)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u8(self.int("a whole number ≥ 0")?)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u16(self.int("a whole number ≥ 0")?)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u32(self.int("a whole number ≥ 0")?)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u64(self.int("a whole number ≥ 0")?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((s, false)) => match plain_float(s) {
                Some(f) => v.visit_f64(f),
                None => Err(self.wrong("a number")),
            },
            _ => Err(self.wrong("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((s, _)) => v.visit_str(s),
            None => Err(self.wrong("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => v.visit_unit(),
            _ => Err(self.wrong("nothing")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => {
                let pos = self.node.pos;
                v.visit_seq(SeqAcc { items, idx: 0, file: self.file, soft: self.soft }).map_err(|e| e.at(pos))
            }
            _ => Err(self.wrong("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => {
                let pos = self.node.pos;
                v.visit_map(MapAcc { entries, idx: 0, fields: None, file: self.file, soft: self.soft })
                    .map_err(|e| e.at(pos))
            }
            Value::Null => v.visit_map(MapAcc { entries: &[], idx: 0, fields: None, file: self.file, soft: self.soft }),
            _ => Err(self.wrong("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => {
                let pos = self.node.pos;
                v.visit_map(MapAcc { entries, idx: 0, fields: Some(fields), file: self.file, soft: self.soft })
                    .map_err(|e| e.at(pos))
            }
            Value::Null => {
                let pos = self.node.pos;
                v.visit_map(MapAcc { entries: &[], idx: 0, fields: Some(fields), file: self.file, soft: self.soft })
                    .map_err(|e| e.at(pos))
            }
            _ => Err(self.wrong(&format!("a mapping with fields {}", fields.join(", ")))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((s, _)) => {
                let pos = self.node.pos;
                let de: de::value::StrDeserializer<'_, DeError> = s.into_deserializer();
                v.visit_enum(de).map_err(|e| e.at(pos))
            }
            None => Err(self.wrong(&format!("one of: {}", variants.join(", ")))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
}

struct SeqAcc<'a> {
    items: &'a [Node],
    idx: usize,
    file: &'a Path,
    soft: &'a mut Vec<Diagnostic>,
}

impl<'de> de::SeqAccess<'de> for SeqAcc<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        while let Some(node) = self.items.get(self.idx) {
            let i = self.idx;
            self.idx += 1;
            if node.poisoned {
                continue;
            }
            return seed.deserialize(NodeDe { node, file: self.file, soft: self.soft }).map(Some).map_err(|mut e| {
                e.path.push(Seg::Index(i));
                e.at(node.pos)
            });
        }
        Ok(None)
    }
}

struct MapAcc<'a> {
    entries: &'a [(Key, Node)],
    idx: usize,
    fields: Option<&'static [&'static str]>,
    file: &'a Path,
    soft: &'a mut Vec<Diagnostic>,
}

impl<'de> de::MapAccess<'de> for MapAcc<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        while let Some((key, node)) = self.entries.get(self.idx) {
            if node.poisoned {
                self.idx += 1;
                continue;
            }
            if let Some(fields) = self.fields
                && !fields.contains(&key.name.as_str())
            {
                self.idx += 1;
                let mut d = Diagnostic::error(
                    Code::UnknownField,
                    self.file,
                    Some(key.pos),
                    format!("unknown field `{}`", key.name),
                )
                .with_width(key.name.chars().count());
                d = match did_you_mean(&key.name, fields.iter().copied()) {
                    _ if key.name == "<<" => d.with_hint(
                        "YAML merge keys (`<<: *anchor`) are not read: write the fields out, or alias the whole mapping (`- *anchor`)",
                    ),
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d.with_hint(format!("allowed here: {}", fields.join(", "))),
                };
                self.soft.push(d);
                continue;
            }
            let de: de::value::StrDeserializer<'_, DeError> = key.name.as_str().into_deserializer();
            return seed.deserialize(de).map(Some).map_err(|e| e.at(key.pos));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node) = &self.entries[self.idx];
        self.idx += 1;
        seed.deserialize(NodeDe { node, file: self.file, soft: self.soft }).map_err(|mut e| {
            e.path.push(Seg::Key(key.name.clone()));
            e.at(node.pos)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        threshold: f64,
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Inner>,
        flag: Option<bool>,
    }

    fn load(text: &str) -> (Option<Outer>, Vec<Diagnostic>) {
        let f = Path::new("t.yaml");
        let node = parse(f, text).unwrap().unwrap();
        let r = from_node::<Outer>(f, &node);
        (r.value, r.diagnostics)
    }

    #[test]
    fn reads_a_good_document() {
        let (v, d) = load("items:\n  - threshold: 0.5\n    name: a\nflag: true\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(v.unwrap().items[0].threshold, 0.5);
    }

    #[test]
    fn collects_every_problem_with_positions() {
        let text = "items:\n  - threshold: high\n    name: a\n  - treshold: 0.5\n    name: b\nflg: true\n";
        let (v, d) = load(text);
        assert!(v.unwrap().items.is_empty(), "both entries were cut out");
        let lines: Vec<(usize, Code)> = d.iter().map(|d| (d.pos.unwrap().line, d.code)).collect();
        assert!(lines.contains(&(2, Code::WrongType)), "{d:#?}");
        assert!(lines.contains(&(4, Code::UnknownField)), "{d:#?}");
        assert!(lines.contains(&(6, Code::UnknownField)), "{d:#?}");
        let typo = d.iter().find(|d| d.pos.unwrap().line == 4).unwrap();
        assert_eq!(typo.hint.as_deref(), Some("did you mean `threshold`?"));
        assert_eq!(typo.pos.unwrap().col, 5);
    }

    #[test]
    fn a_wrong_type_does_not_hide_a_misspelt_field_beside_it() {
        let (_, d) = load("items:\n  - threshold: high\n    nmae: a\n");
        let lines: Vec<(usize, Code)> = d.iter().map(|d| (d.pos.unwrap().line, d.code)).collect();
        assert!(lines.contains(&(2, Code::WrongType)), "{d:#?}");
        assert!(lines.contains(&(3, Code::UnknownField)), "{d:#?}");
    }

    #[test]
    fn duplicate_keys_and_two_documents_are_errors() {
        let f = Path::new("t.yaml");
        assert_eq!(parse(f, "a: 1\na: 2\n").unwrap_err()[0].code, Code::Duplicate);
        assert_eq!(parse(f, "a: 1\n---\nb: 2\n").unwrap_err()[0].code, Code::Syntax);
        assert!(parse(f, "# only a comment\n").unwrap().is_none());
        assert!(parse(f, "").unwrap().is_none());
    }

    #[test]
    fn locate_counts_surviving_entries() {
        let f = Path::new("t.yaml");
        let node = parse(f, "items:\n  - threshold: x\n    name: a\n  - threshold: 1\n    name: b\n").unwrap().unwrap();
        let tree = from_node::<Outer>(f, &node).tree;
        // Entry 0 was cut out; raw index 0 is now the second entry, on line 4.
        let p = tree.locate(&[Seg::key("items"), Seg::Index(0), Seg::key("threshold")]);
        assert_eq!(p.line, 4);
    }
}

/// A problem found while validating meaning, located by path; turned into a [`Diagnostic`]
/// once the tree is at hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: Vec<Seg>,
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    pub warning: bool,
}

impl Problem {
    pub fn error(path: Vec<Seg>, code: Code, message: impl Into<String>) -> Self {
        Problem { path, code, message: message.into(), hint: None, warning: false }
    }

    pub fn warning(path: Vec<Seg>, code: Code, message: impl Into<String>) -> Self {
        Problem { warning: true, ..Problem::error(path, code, message) }
    }

    pub fn hint(&mut self, h: impl Into<String>) -> &mut Self {
        self.hint = Some(h.into());
        self
    }

    pub fn with_hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    /// Locate in `tree` (the tree `from_node` returned) and render as a diagnostic. Values are
    /// pointed at, except for missing-field problems, which point at the key that holds them.
    pub fn into_diagnostic(self, file: &Path, tree: &Node) -> Diagnostic {
        let pos = if self.code == Code::MissingField { tree.locate(&self.path) } else { tree.locate_value(&self.path) };
        let mut d = if self.warning {
            Diagnostic::warning(self.code, file, Some(pos), self.message)
        } else {
            Diagnostic::error(self.code, file, Some(pos), self.message)
        };
        if let Some(h) = self.hint {
            d = d.with_hint(h);
        }
        d
    }
}

/// Builds paths for problems without noise: `at(&base, "key")`.
pub fn at(base: &[Seg], key: &str) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.push(Seg::key(key));
    p
}

/// Load a human-written YAML file of type `Raw` and validate it into `T` with `validate`,
/// collecting every problem. Returns the value and its warnings, or every diagnostic.
pub fn load_validated<Raw, T>(
    file: &Path,
    text: &str,
    what: &str,
    validate: impl FnOnce(&Raw) -> (Option<T>, Vec<Problem>),
) -> Result<(T, Vec<Diagnostic>), Vec<Diagnostic>>
where
    Raw: DeserializeOwned,
{
    let Some(root) = parse(file, text)? else {
        return Err(vec![
            Diagnostic::error(Code::Empty, file, None, format!("the file is empty; expected {what}"))
                .with_hint("see scenarios/ for examples of each file kind"),
        ]);
    };
    let secrets = crate::secrets::scan(file, &root);
    let Deserialized { value: raw, tree, diagnostics: mut diags, cut } = from_node::<Raw>(file, &root);
    // A key such as `routing_key:` is unknown *and* a secret: the secret is the message.
    let secret_lines: Vec<usize> = secrets.iter().filter_map(|(d, _)| d.pos.map(|p| p.line)).collect();
    diags.retain(|d| !(d.code == Code::UnknownField && d.pos.is_some_and(|p| secret_lines.contains(&p.line))));
    let texts: Vec<String> = secrets.iter().map(|(_, t)| t.clone()).collect();
    diags.extend(secrets.into_iter().map(|(d, _)| d));
    let structural = diags.iter().any(Diagnostic::is_error);
    let mut value = None;
    if let Some(raw) = raw.as_ref() {
        let (v, problems) = validate(raw);
        value = v;
        // After a structural error parts of the file were cut out; a complaint that something
        // is missing, or that a list holding a cut entry is empty, only repeats that error.
        let repeats = |p: &Problem| {
            structural
                && (p.code == Code::MissingField
                    || cut.iter().any(|c| c.len() > p.path.len() && c.starts_with(&p.path)))
        };
        let problems: Vec<Problem> = problems.into_iter().filter(|p| !repeats(p)).collect();
        diags.extend(problems.into_iter().map(|p| p.into_diagnostic(file, &tree)));
    }
    for d in diags.iter_mut().filter(|d| d.code != Code::Secret) {
        for t in &texts {
            crate::secrets::hide(d, t);
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    match value {
        Some(v) => Ok((v, diags)),
        None => Err(diags),
    }
}

/// Collects validation problems, with the checks every format shares. Validators hold one
/// and reach these helpers through `Deref`.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn err(&mut self, path: Vec<Seg>, code: Code, msg: impl Into<String>) -> &mut Problem {
        self.list.push(Problem::error(path, code, msg));
        self.list.last_mut().expect("just pushed")
    }

    pub fn warn(&mut self, path: Vec<Seg>, code: Code, msg: impl Into<String>) -> &mut Problem {
        self.list.push(Problem::warning(path, code, msg));
        self.list.last_mut().expect("just pushed")
    }

    /// A duration such as `10m`; `positive` refuses zero.
    pub fn duration(&mut self, path: Vec<Seg>, s: &str, positive: bool) -> Option<std::time::Duration> {
        match crate::clock::parse_duration(s) {
            Ok(d) if positive && d.is_zero() => {
                self.err(path, Code::BadValue, format!("`{s}` must be longer than zero"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.err(path, Code::BadValue, e);
                None
            }
        }
    }

    /// Errors (not warnings) recorded since the list had `since` entries.
    pub fn errors_since(&self, since: usize) -> bool {
        self.list[since..].iter().any(|p| !p.warning)
    }
}
