//! A YAML tree that remembers where each node was written, so that every problem found
//! in a configuration can name its line.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts in its file (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar as written; `quoted` tells `"5"` (a string) from `5`.
    Scalar {
        text: String,
        quoted: bool,
    },
    Sequence(Vec<Node>),
    /// Keys in the order they were written; duplicate keys are refused while loading.
    Mapping(Vec<(String, Span, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null")
    }

    /// A short name of what the node is, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing (null)",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Sequence(_) => "a list",
            NodeKind::Mapping(_) => "a mapping",
        }
    }

    /// Converts to JSON, typing plain scalars the way YAML 1.2's core schema does.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { text, quoted: true } => Value::String(text.clone()),
            NodeKind::Scalar {
                text,
                quoted: false,
            } => {
                if self.is_null() {
                    Value::Null
                } else if let Some(b) = plain_bool(text) {
                    Value::Bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    Value::from(i)
                } else if let Ok(f) = text.parse::<f64>() {
                    serde_json::Number::from_f64(f)
                        .map_or_else(|| Value::String(text.clone()), Value::Number)
                } else {
                    Value::String(text.clone())
                }
            }
            NodeKind::Sequence(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Mapping(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Every path below (and including) this node, with where it was written.
    /// Mapping keys are indexed at the key's position.
    pub fn index_spans(&self, root: &str) -> HashMap<String, Span> {
        let mut out = HashMap::new();
        fn walk(node: &Node, path: String, out: &mut HashMap<String, Span>) {
            match &node.kind {
                NodeKind::Scalar { .. } => {}
                NodeKind::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = format!("{path}[{i}]");
                        out.insert(p.clone(), item.span);
                        walk(item, p, out);
                    }
                }
                NodeKind::Mapping(entries) => {
                    for (key, key_span, value) in entries {
                        let p = join_path(&path, key);
                        out.insert(p.clone(), *key_span);
                        walk(value, p, out);
                    }
                }
            }
            out.entry(path).or_insert(node.span);
        }
        walk(self, root.to_string(), &mut out);
        out
    }
}

pub fn plain_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Appends a mapping key to a dotted path, quoting keys that would make the path ambiguous.
pub fn join_path(path: &str, key: &str) -> String {
    let key = if key.contains(['.', '[', ']', ' ']) || key.is_empty() {
        format!("\"{key}\"")
    } else {
        key.to_string()
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// A document that could not be read as YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", span.line, span.column)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
}

/// Loads one YAML document. An empty document is an empty mapping. The first problem
/// found, in file order; [`load_all`] reports every one.
pub fn load(text: &str) -> Result<Node, YamlError> {
    load_all(text).map_err(|mut errors| errors.remove(0))
}

/// Loads one YAML document, reporting every duplicate key, merge key and non-string key
/// in one pass (a syntax error stops the reading: what follows it cannot be trusted).
/// The error list is never empty and is in file order.
pub fn load_all(text: &str) -> Result<Node, Vec<YamlError>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        builder
            .errors
            .push(syntax_error(text, *e.marker(), e.info()));
    }
    if !builder.errors.is_empty() {
        let mut errors = builder.errors;
        errors.sort_by_key(|e| (e.span.line, e.span.column));
        return Err(errors);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Mapping(Vec::new()),
        span: Span { line: 1, column: 1 },
    }))
}

/// The scanner marks where the token it was reading began, which for a stray tab is
/// often the line before (or the character after). A tab is reported where it is written.
fn syntax_error(text: &str, marker: Marker, info: &str) -> YamlError {
    if info.contains("tab") {
        // A tab in a line's indentation first (that is what YAML refuses); any tab after
        // the marker's line otherwise.
        let (mut line, mut column, mut indenting) = (1, 1, true);
        let mut any = None;
        for ch in text.chars() {
            if ch == '\t' && line >= marker.line() {
                if indenting {
                    return YamlError {
                        span: Span { line, column },
                        message: "a tab in the indentation: YAML indents with spaces only"
                            .to_string(),
                    };
                }
                any.get_or_insert(Span { line, column });
            }
            if ch == '\n' {
                (line, column, indenting) = (line + 1, 1, true);
            } else {
                column += 1;
                indenting &= ch == ' ' || ch == '\t';
            }
        }
        if let Some(span) = any {
            return YamlError {
                span,
                message: format!("{info} (a tab character here)"),
            };
        }
    }
    YamlError {
        span: span_of(marker),
        message: info.to_string(),
    }
}

fn span_of(m: Marker) -> Span {
    Span {
        line: m.line(),
        column: m.col() + 1,
    }
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    /// Entries so far, where the mapping starts, its anchor, and the key waiting for its
    /// value (`None` as the key's text: a refused key whose value is read and dropped).
    Map(
        Vec<(String, Span, Node)>,
        Span,
        usize,
        Option<(Option<String>, Span)>,
    ),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    errors: Vec<YamlError>,
}

impl Builder {
    fn fail(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(YamlError {
            span,
            message: message.into(),
        });
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, _, _, pending)) => match pending.take() {
                None => {
                    // This node is a key. A refused key still waits for its value, so
                    // that the rest of the document is read and every problem reported.
                    let span = node.span;
                    let (key, problem) = match node.kind {
                        NodeKind::Scalar { text, .. } if text == "<<" => (None, Some("merge keys (`<<`) are not supported; repeat the values or use an alias for a whole value".to_string())),
                        NodeKind::Scalar { text, .. } => {
                            match entries.iter().find(|(k, _, _)| *k == text) {
                                Some((_, first, _)) => {
                                    let first = first.line;
                                    (None, Some(format!("duplicate key `{text}` (first written on line {first})")))
                                }
                                None => (Some(text), None),
                            }
                        }
                        _ => (None, Some("mapping keys must be plain strings".to_string())),
                    };
                    *pending = Some((key, span));
                    if let Some(message) = problem {
                        self.fail(span, message);
                    }
                }
                Some((Some(key), key_span)) => entries.push((key, key_span, node)),
                Some((None, _)) => {}
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let span = span_of(mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(
                    Node {
                        kind: NodeKind::Scalar { text, quoted },
                        span,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), span, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), span, anchor, None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, span, anchor)) => (
                        Node {
                            kind: NodeKind::Sequence(items),
                            span,
                        },
                        anchor,
                    ),
                    Some(Frame::Map(entries, span, anchor, _)) => (
                        Node {
                            kind: NodeKind::Mapping(entries),
                            span,
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.push_value(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.span = span;
                    self.push_value(node, 0);
                }
                None => self.fail(span, "alias refers to an unknown anchor"),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_lines_of_nested_keys() {
        let doc = load("apps:\n  web:\n    repository: web\n    tags: [a, b]\n").unwrap();
        let spans = doc.index_spans("");
        assert_eq!(spans["apps.web.repository"].line, 3);
        assert_eq!(spans["apps.web.tags[1]"].line, 4);
        assert_eq!(spans["apps"].line, 1);
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let doc = load("a: \"5\"\nb: 5\nc: true\nd: ~\n").unwrap();
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"a": "5", "b": 5, "c": true, "d": null})
        );
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let err = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.span.line, 3);
        assert!(err.message.contains("duplicate key `a`"), "{err}");
    }

    #[test]
    fn every_duplicate_key_is_reported_in_one_pass() {
        let errors = load_all("a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\nb: 4\n<<: {}\n").unwrap_err();
        let found: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.span.line, e.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (3, "duplicate key `a` (first written on line 1)"),
                (6, "duplicate key `x` (first written on line 5)"),
                (7, "duplicate key `b` (first written on line 2)"),
                (8, "merge keys (`<<`) are not supported; repeat the values or use an alias for a whole value"),
            ]
        );
    }

    #[test]
    fn a_tab_is_reported_where_it_is_written() {
        // The scanner marks the start of the scalar before the tab (6:15) or the
        // character after it; the tab itself is at 7:1 and 3:1.
        let doc = "environments:\n  staging:\n    app: web\n    cluster: staging\n    service: web-staging\n    listener: arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/x/1/2\n\tstrategy: canary\n";
        let err = load(doc).unwrap_err();
        assert_eq!((err.span.line, err.span.column), (7, 1), "{err}");
        assert!(err.message.contains("tab"), "{err}");
        let err = load("apps:\n  web:\n\trepository: web\n").unwrap_err();
        assert_eq!((err.span.line, err.span.column), (3, 1), "{err}");
        // A legal tab after a value on line 4 is not blamed for the one indenting line 5.
        let err = load("a: 1\nb:\n  - x\n  - \"y\"\t\n\t- z\n").unwrap_err();
        assert_eq!((err.span.line, err.span.column), (5, 1), "{err}");
    }

    #[test]
    fn aliases_are_expanded() {
        let doc = load("base: &b {x: 1}\nother: *b\n").unwrap();
        assert_eq!(doc.to_json()["other"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn syntax_errors_name_a_line() {
        let err = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.span.line >= 1, "{err}");
    }
}
