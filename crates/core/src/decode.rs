//! Decoding a [`Node`] tree into typed values while collecting *every* problem, each with
//! its YAML path and line, instead of stopping at the first one.

use std::collections::BTreeMap;
use std::fmt;

use crate::yaml::{join_path, Node, NodeKind, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    /// Not a problem: what greenlight will do with a valid choice, worth knowing.
    Note,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// One thing wrong (or worth a second look) in a document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub level: Level,
    /// Dotted YAML path, e.g. `apps.web.environments.prod.strategy.canary.percent`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = self.level.as_str();
        match self.line {
            Some(line) => write!(f, "{level}: line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{level}: {}: {}", self.path, self.message),
        }
    }
}

/// Collects problems while decoding and validating.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub problems: Vec<Problem>,
}

impl Diagnostics {
    pub fn error(&mut self, path: &str, span: Option<Span>, message: impl Into<String>) {
        self.push(Level::Error, path, span, message.into());
    }

    pub fn warning(&mut self, path: &str, span: Option<Span>, message: impl Into<String>) {
        self.push(Level::Warning, path, span, message.into());
    }

    pub fn note(&mut self, path: &str, span: Option<Span>, message: impl Into<String>) {
        self.push(Level::Note, path, span, message.into());
    }

    fn push(&mut self, level: Level, path: &str, span: Option<Span>, message: String) {
        self.problems.push(Problem {
            level,
            path: path.to_string(),
            line: span.map(|s| s.line),
            column: span.map(|s| s.column),
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.level == Level::Error)
    }

    pub fn error_count(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .count()
    }
}

/// A type that can be read from a YAML node. Returns `None` after recording at least one
/// error in `dx` when the node does not hold a valid value.
pub trait Decode: Sized {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self>;
}

/// The text of a scalar node, or an error naming what was found instead.
pub fn scalar<'n>(
    node: &'n Node,
    path: &str,
    dx: &mut Diagnostics,
    expected: &str,
) -> Option<&'n str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } if !node.is_null() => Some(text),
        _ => {
            dx.error(
                path,
                Some(node.span),
                format!("expected {expected}, found {}", node.describe()),
            );
            None
        }
    }
}

impl Decode for String {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let text = scalar(node, path, dx, "a string")?;
        if text.trim().is_empty() {
            dx.error(path, Some(node.span), "must not be empty");
            return None;
        }
        Some(text.to_string())
    }
}

impl Decode for bool {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let text = scalar(node, path, dx, "true or false")?;
        match crate::yaml::plain_bool(text) {
            Some(b) => Some(b),
            None => {
                dx.error(
                    path,
                    Some(node.span),
                    format!("expected true or false, found `{text}`"),
                );
                None
            }
        }
    }
}

macro_rules! decode_unsigned {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
                let text = scalar(node, path, dx, "a whole number")?;
                match text.trim().parse::<$t>() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        dx.error(path, Some(node.span), format!("expected a whole number from 0 to {}, found `{text}`", <$t>::MAX));
                        None
                    }
                }
            }
        }
    )*};
}
decode_unsigned!(u8, u16, u32, u64);

impl Decode for crate::duration::Duration {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let text = scalar(node, path, dx, "a duration such as `30s`, `5m` or `1h`")?;
        match text.parse() {
            Ok(d) => Some(d),
            Err(e) => {
                dx.error(path, Some(node.span), e.to_string());
                None
            }
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let NodeKind::Sequence(items) = &node.kind else {
            dx.error(
                path,
                Some(node.span),
                format!("expected a list, found {}", node.describe()),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match T::decode(item, &format!("{path}[{i}]"), dx) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Decodes a mapping of user-chosen names. Entries that fail are reported and left out, so
/// that the rest of the document can still be checked; the result is `None` only when the
/// node is not a mapping at all.
impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let NodeKind::Mapping(entries) = &node.kind else {
            dx.error(
                path,
                Some(node.span),
                format!("expected a mapping, found {}", node.describe()),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (key, _, value) in entries {
            if let Some(v) = T::decode(value, &join_path(path, key), dx) {
                out.insert(key.clone(), v);
            }
        }
        Some(out)
    }
}

/// Reads the fields of a mapping one by one and, at [`Fields::finish`], reports the keys
/// nobody asked for, suggesting the closest known key.
pub struct Fields<'n> {
    node: &'n Node,
    path: String,
    entries: &'n [(String, Span, Node)],
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    pub fn new(node: &'n Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        match &node.kind {
            NodeKind::Mapping(entries) => Some(Fields {
                node,
                path: path.to_string(),
                entries,
                known: Vec::new(),
            }),
            _ => {
                dx.error(
                    path,
                    Some(node.span),
                    format!("expected a mapping, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    pub fn span(&self) -> Span {
        self.node.span
    }

    /// The raw node under `key`, marking the key as known.
    pub fn node(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn optional<T: Decode>(&mut self, key: &'static str, dx: &mut Diagnostics) -> Option<T> {
        let node = self.node(key)?;
        T::decode(node, &self.path_of(key), dx)
    }

    /// Decodes a required field. The outer `Option` is `None` when the field is missing or
    /// invalid (and the problem has been recorded).
    pub fn required<T: Decode>(&mut self, key: &'static str, dx: &mut Diagnostics) -> Option<T> {
        match self.node(key) {
            Some(node) => T::decode(node, &self.path_of(key), dx),
            None => {
                dx.error(
                    &self.path_of(key),
                    Some(self.node.span),
                    format!("`{key}` is required"),
                );
                None
            }
        }
    }

    /// Tells whether the mapping has `key`, without marking it known.
    pub fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, _, v)| k == key && !v.is_null())
    }

    pub fn finish(self, dx: &mut Diagnostics) {
        for (key, span, _) in self.entries {
            if self.known.contains(&key.as_str()) {
                continue;
            }
            let hint = closest(key, &self.known)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| format!("; expected one of: {}", self.known.join(", ")));
            dx.error(
                &join_path(&self.path, key),
                Some(*span),
                format!("unknown key `{key}`{hint}"),
            );
        }
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                *c,
            )
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Decodes a scalar into one of a fixed set of names.
pub fn one_of<T: Copy>(
    node: &Node,
    path: &str,
    dx: &mut Diagnostics,
    choices: &[(&'static str, T)],
) -> Option<T> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let text = scalar(node, path, dx, &format!("one of: {}", names.join(", ")))?;
    if let Some((_, v)) = choices.iter().find(|(n, _)| *n == text) {
        return Some(*v);
    }
    let hint = closest(text, &names)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    dx.error(
        path,
        Some(node.span),
        format!("`{text}` is not one of: {}{hint}", names.join(", ")),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load;

    #[test]
    fn unknown_keys_suggest_the_nearest_known_one() {
        let doc = load("repositry: web\n").unwrap();
        let mut dx = Diagnostics::default();
        let mut f = Fields::new(&doc, "apps.web", &mut dx).unwrap();
        let _: Option<String> = f.optional("repository", &mut dx);
        f.finish(&mut dx);
        assert_eq!(dx.problems.len(), 1);
        assert_eq!(dx.problems[0].path, "apps.web.repositry");
        assert!(dx.problems[0].message.contains("did you mean `repository`"));
        assert_eq!(dx.problems[0].line, Some(1));
    }

    #[test]
    fn lists_keep_going_after_a_bad_item() {
        let doc = load("[1, x, 3, y]").unwrap();
        let mut dx = Diagnostics::default();
        assert_eq!(Vec::<u32>::decode(&doc, "n", &mut dx), None);
        let paths: Vec<_> = dx.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["n[1]", "n[3]"]);
    }

    #[test]
    fn missing_required_field_is_named() {
        let doc = load("a: 1\n").unwrap();
        let mut dx = Diagnostics::default();
        let mut f = Fields::new(&doc, "x", &mut dx).unwrap();
        let b: Option<u32> = f.required("b", &mut dx);
        assert!(b.is_none());
        assert_eq!(dx.problems[0].path, "x.b");
        assert!(dx.problems[0].message.contains("required"));
    }

    #[test]
    fn the_closest_name_is_offered_only_when_near() {
        assert_eq!(closest("canery", &["canary", "linear"]), Some("canary"));
        assert_eq!(closest("zzzzzz", &["canary", "linear"]), None);
    }
}
