//! JSONPath as ASL uses it: `$`, `$.a.b`, `$['a b']`, `$.a[0]`, `$.a[-1]`, `$.a[*].b`, and
//! the context object `$$.…`. Filters and recursive descent are refused when a definition
//! loads, not ignored.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// `$$` (the context object) rather than `$`.
    pub context: bool,
    pub segments: Vec<Segment>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("`{text}` is not a path: it must start with `$`"));
        };
        let mut segments = Vec::new();
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    if chars.get(i + 1) == Some(&'.') {
                        return Err(format!(
                            "`{text}`: recursive descent (`..`) is not supported"
                        ));
                    }
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                        j += 1;
                    }
                    let name: String = chars[start..j].iter().collect();
                    if name.is_empty() {
                        return Err(format!("`{text}`: empty field name"));
                    }
                    segments.push(if name == "*" {
                        Segment::Wildcard
                    } else {
                        Segment::Field(name)
                    });
                    i = j;
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|c| *c == ']')
                        .map(|p| p + i)
                        .ok_or_else(|| format!("`{text}`: unclosed `[`"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    if inner == "*" {
                        segments.push(Segment::Wildcard);
                    } else if let Some(q) =
                        inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
                    {
                        segments.push(Segment::Field(q.to_string()));
                    } else if let Ok(n) = inner.parse::<i64>() {
                        segments.push(Segment::Index(n));
                    } else if inner.starts_with('?') {
                        return Err(format!("`{text}`: filter expressions are not supported"));
                    } else {
                        return Err(format!(
                            "`{text}`: `[{inner}]` is not supported (use an index, `*` or 'name')"
                        ));
                    }
                    i = close + 1;
                }
                c => return Err(format!("`{text}`: unexpected `{c}`")),
            }
        }
        Ok(Path { context, segments })
    }

    /// A reference path (ResultPath, Variable, …) names one node: no wildcards.
    pub fn is_reference(&self) -> bool {
        !self.segments.iter().any(|s| matches!(s, Segment::Wildcard))
    }

    /// Every value the path selects.
    pub fn select<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match (seg, v) {
                    (Segment::Field(f), Value::Object(m)) => next.extend(m.get(f)),
                    (Segment::Index(i), Value::Array(a)) => {
                        next.extend(index(*i, a.len()).and_then(|n| a.get(n)));
                    }
                    (Segment::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Segment::Wildcard, Value::Object(m)) => next.extend(m.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// The value at the path: one node for reference paths, an array for wildcard paths.
    pub fn get(&self, root: &Value) -> Option<Value> {
        let found = self.select(root);
        if self.is_reference() {
            found.first().map(|v| (*v).clone())
        } else {
            Some(Value::Array(found.into_iter().cloned().collect()))
        }
    }

    /// The value at a reference path, moved out of `root` (no copy); `None` when the path
    /// selects nothing or is not a reference path.
    pub fn take(&self, mut root: Value) -> Option<Value> {
        if !self.is_reference() {
            return None;
        }
        let mut node = &mut root;
        for seg in &self.segments {
            node = match (seg, node) {
                (Segment::Field(f), Value::Object(m)) => m.get_mut(f)?,
                (Segment::Index(i), Value::Array(a)) => {
                    let n = index(*i, a.len())?;
                    a.get_mut(n)?
                }
                _ => return None,
            };
        }
        Some(std::mem::take(node))
    }

    /// Writes `value` at the path inside `root`, creating objects on the way (ResultPath).
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        if self.segments.is_empty() {
            *root = value;
            return Ok(());
        }
        let mut node = root;
        for (n, seg) in self.segments.iter().enumerate() {
            let last = n + 1 == self.segments.len();
            match seg {
                Segment::Field(f) => {
                    if !node.is_object() {
                        return Err(format!("cannot set field `{f}` inside {}", kind(node)));
                    }
                    let map = node.as_object_mut().expect("checked");
                    if last {
                        map.insert(f.clone(), value);
                        return Ok(());
                    }
                    node = map
                        .entry(f.clone())
                        .or_insert_with(|| Value::Object(Default::default()));
                }
                Segment::Index(i) => {
                    let arr = node
                        .as_array_mut()
                        .ok_or_else(|| format!("cannot index into a non-array at [{i}]"))?;
                    let idx = usize::try_from(*i)
                        .map_err(|_| "negative index in a ResultPath".to_string())?;
                    let slot = arr
                        .get_mut(idx)
                        .ok_or_else(|| format!("index {i} is out of range"))?;
                    if last {
                        *slot = value;
                        return Ok(());
                    }
                    node = slot;
                }
                Segment::Wildcard => return Err("a ResultPath cannot contain `*`".into()),
            }
        }
        Ok(())
    }
}

/// The position an index segment names in an array of `len` (a negative index counts from
/// the end); `None` before the start.
fn index(i: i64, len: usize) -> Option<usize> {
    usize::try_from(if i < 0 { len as i64 + i } else { i }).ok()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_like_the_spec_examples() {
        let v = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}, "a b": 1});
        assert_eq!(Path::parse("$.foo").unwrap().get(&v), Some(json!(123)));
        assert_eq!(
            Path::parse("$.bar").unwrap().get(&v),
            Some(json!(["a", "b", "c"]))
        );
        assert_eq!(Path::parse("$.car.cdr").unwrap().get(&v), Some(json!(true)));
        assert_eq!(Path::parse("$.bar[1]").unwrap().get(&v), Some(json!("b")));
        assert_eq!(Path::parse("$.bar[-1]").unwrap().get(&v), Some(json!("c")));
        assert_eq!(Path::parse("$['a b']").unwrap().get(&v), Some(json!(1)));
        assert_eq!(Path::parse("$.nope").unwrap().get(&v), None);
        let items = json!({"items": [{"id": 1}, {"id": 2}]});
        assert_eq!(
            Path::parse("$.items[*].id").unwrap().get(&items),
            Some(json!([1, 2]))
        );
    }

    #[test]
    fn takes_what_it_would_get() {
        let v = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": {"x": [1]}}});
        for p in [
            "$",
            "$.foo",
            "$.bar",
            "$.car.cdr",
            "$.bar[1]",
            "$.bar[-1]",
            "$.nope",
            "$.bar[7]",
            "$.foo.bar",
        ] {
            let path = Path::parse(p).unwrap();
            assert_eq!(path.take(v.clone()), path.get(&v), "{p}");
        }
        assert_eq!(Path::parse("$.bar[*]").unwrap().take(v), None);
    }

    #[test]
    fn sets_result_paths_creating_objects() {
        let mut v = json!({"master": {"detail": [1, 2, 3]}});
        Path::parse("$.master.result.sum")
            .unwrap()
            .set(&mut v, json!(6))
            .unwrap();
        assert_eq!(
            v,
            json!({"master": {"detail": [1, 2, 3], "result": {"sum": 6}}})
        );
        Path::parse("$").unwrap().set(&mut v, json!("x")).unwrap();
        assert_eq!(v, json!("x"));
        let mut s = json!("text");
        assert!(Path::parse("$.a").unwrap().set(&mut s, json!(1)).is_err());
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        assert!(Path::parse("$..a").is_err());
        assert!(Path::parse("$.a[?(@.x > 1)]").is_err());
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("$$.Task.Token").unwrap().context);
    }
}
