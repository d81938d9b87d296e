//! Intrinsic functions (`States.Format('{} of {}', $.a, $.b)`, …) in `.$` fields.

use serde_json::{json, Value};

use crate::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Literal(Value),
    Path(Path),
    Call(Call),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

pub const SUPPORTED: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.MathAdd",
    "States.StringSplit",
    "States.JsonMerge",
    "States.UUID",
];

pub fn parse(text: &str) -> Result<Call, String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut pos = 0;
    let call = parse_call(&chars, &mut pos)?;
    if pos != chars.len() {
        return Err(format!("`{text}`: unexpected text after the call"));
    }
    Ok(call)
}

fn skip_ws(c: &[char], pos: &mut usize) {
    while *pos < c.len() && c[*pos].is_whitespace() {
        *pos += 1;
    }
}

fn parse_call(c: &[char], pos: &mut usize) -> Result<Call, String> {
    let start = *pos;
    while *pos < c.len() && (c[*pos].is_alphanumeric() || c[*pos] == '.') {
        *pos += 1;
    }
    let name: String = c[start..*pos].iter().collect();
    if !SUPPORTED.contains(&name.as_str()) {
        return Err(format!(
            "intrinsic function `{name}` is not supported (supported: {})",
            SUPPORTED.join(", ")
        ));
    }
    skip_ws(c, pos);
    if c.get(*pos) != Some(&'(') {
        return Err(format!("`{name}` must be followed by `(`"));
    }
    *pos += 1;
    let mut args = Vec::new();
    loop {
        skip_ws(c, pos);
        if c.get(*pos) == Some(&')') {
            *pos += 1;
            break;
        }
        args.push(parse_arg(c, pos)?);
        skip_ws(c, pos);
        match c.get(*pos) {
            Some(',') => *pos += 1,
            Some(')') => {
                *pos += 1;
                break;
            }
            _ => return Err(format!("`{name}`: expected `,` or `)`")),
        }
    }
    Ok(Call { name, args })
}

fn parse_arg(c: &[char], pos: &mut usize) -> Result<Arg, String> {
    match c.get(*pos) {
        Some('\'') => {
            *pos += 1;
            let mut s = String::new();
            while *pos < c.len() && c[*pos] != '\'' {
                if c[*pos] == '\\' && *pos + 1 < c.len() {
                    *pos += 1;
                }
                s.push(c[*pos]);
                *pos += 1;
            }
            if *pos >= c.len() {
                return Err("unterminated string".into());
            }
            *pos += 1;
            Ok(Arg::Literal(Value::String(s)))
        }
        Some('$') => {
            let start = *pos;
            let mut depth = 0;
            while *pos < c.len() && (depth > 0 || (c[*pos] != ',' && c[*pos] != ')')) {
                match c[*pos] {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                *pos += 1;
            }
            let text: String = c[start..*pos].iter().collect();
            Path::parse(text.trim()).map(Arg::Path)
        }
        Some(ch) if ch.is_ascii_digit() || *ch == '-' => {
            let start = *pos;
            while *pos < c.len() && (c[*pos].is_ascii_digit() || "-.eE+".contains(c[*pos])) {
                *pos += 1;
            }
            let text: String = c[start..*pos].iter().collect();
            serde_json::from_str(&text)
                .map(Arg::Literal)
                .map_err(|_| format!("`{text}` is not a number"))
        }
        Some('S') => parse_call(c, pos).map(Arg::Call),
        _ => {
            for (word, v) in [
                ("null", Value::Null),
                ("true", json!(true)),
                ("false", json!(false)),
            ] {
                let w: Vec<char> = word.chars().collect();
                if c.len() >= *pos + w.len() && c[*pos..*pos + w.len()] == w[..] {
                    *pos += w.len();
                    return Ok(Arg::Literal(v));
                }
            }
            Err("expected a string, number, path or intrinsic function".into())
        }
    }
}

/// Evaluates a call. `lookup` resolves paths (input or context object).
pub fn eval(
    call: &Call,
    lookup: &dyn Fn(&Path) -> Result<Value, String>,
    uuid: &mut dyn FnMut() -> String,
) -> Result<Value, String> {
    let mut args = Vec::new();
    for a in &call.args {
        args.push(match a {
            Arg::Literal(v) => v.clone(),
            Arg::Path(p) => lookup(p)?,
            Arg::Call(c) => eval(c, lookup, uuid)?,
        });
    }
    let n = &call.name;
    let want = |count: usize| {
        if args.len() == count {
            Ok(())
        } else {
            Err(format!("{n} takes {count} argument(s), got {}", args.len()))
        }
    };
    let int = |v: &Value| {
        v.as_i64()
            .ok_or_else(|| format!("{n}: {v} is not an integer"))
    };
    let arr = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("{n}: {v} is not an array"))
    };
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{n}: {v} is not a string"))
    };
    match n.as_str() {
        "States.Format" => format(
            &string(args.first().ok_or("States.Format needs a template")?)?,
            &args[1..],
        ),
        "States.StringToJson" => {
            want(1)?;
            serde_json::from_str(&string(&args[0])?)
                .map_err(|e| format!("States.StringToJson: {e}"))
        }
        "States.JsonToString" => {
            want(1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            want(2)?;
            let size = int(&args[1])?;
            if size < 1 {
                return Err("States.ArrayPartition: size must be at least 1".into());
            }
            Ok(Value::Array(
                arr(&args[0])?
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => {
            want(2)?;
            Ok(Value::Bool(arr(&args[0])?.contains(&args[1])))
        }
        "States.ArrayRange" => {
            want(3)?;
            array_range(int(&args[0])?, int(&args[1])?, int(&args[2])?)
        }
        "States.ArrayGetItem" => {
            want(2)?;
            let a = arr(&args[0])?;
            let i = int(&args[1])?;
            a.get(i as usize)
                .cloned()
                .ok_or_else(|| format!("States.ArrayGetItem: index {i} out of range"))
        }
        "States.ArrayLength" => {
            want(1)?;
            Ok(json!(arr(&args[0])?.len()))
        }
        "States.ArrayUnique" => {
            want(1)?;
            Ok(Value::Array(unique(arr(&args[0])?)))
        }
        "States.MathAdd" => {
            want(2)?;
            int(&args[0])?
                .checked_add(int(&args[1])?)
                .map(|sum| json!(sum))
                .ok_or_else(|| "States.MathAdd: the sum is out of range".to_string())
        }
        "States.StringSplit" => {
            want(2)?;
            let (s, d) = (string(&args[0])?, string(&args[1])?);
            Ok(Value::Array(
                s.split(|c| d.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| json!(p))
                    .collect(),
            ))
        }
        "States.JsonMerge" => {
            want(3)?;
            json_merge(&args[0], &args[1], &args[2])
        }
        "States.UUID" => {
            want(0)?;
            Ok(Value::String(uuid()))
        }
        other => Err(format!("intrinsic function `{other}` is not supported")),
    }
}

/// `States.Format`: each `{}` of the template replaced by the next argument (strings as
/// they are, anything else as JSON).
fn format(template: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut rest = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '{' && chars.peek() == Some(&'}') {
            chars.next();
            let v = rest.next().ok_or("States.Format: more {} than arguments")?;
            out.push_str(&match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        } else {
            out.push(ch);
        }
    }
    if rest.next().is_some() {
        return Err("States.Format: more arguments than {}".into());
    }
    Ok(Value::String(out))
}

/// `States.ArrayRange`: from `start` to `end` (inclusive) by `step`, at most 1000 items.
fn array_range(start: i64, end: i64, step: i64) -> Result<Value, String> {
    if step == 0 {
        return Err("States.ArrayRange: step must not be 0".into());
    }
    let mut out = Vec::new();
    let mut i = Some(start);
    while let Some(n) = i.filter(|n| (step > 0 && *n <= end) || (step < 0 && *n >= end)) {
        out.push(json!(n));
        if out.len() > 1000 {
            return Err("States.ArrayRange: more than 1000 items".into());
        }
        i = n.checked_add(step);
    }
    Ok(Value::Array(out))
}

/// `States.ArrayUnique`: the first of each value, in order.
fn unique(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// `States.JsonMerge`: a shallow merge of two objects (the second wins).
fn json_merge(a: &Value, b: &Value, deep: &Value) -> Result<Value, String> {
    if *deep != json!(false) {
        return Err("States.JsonMerge: only shallow merges (false) are supported".into());
    }
    let mut a = a.clone();
    match (a.as_object_mut(), b.as_object()) {
        (Some(a), Some(b)) => {
            for (k, v) in b {
                a.insert(k.clone(), v.clone());
            }
        }
        _ => return Err("States.JsonMerge: both arguments must be objects".into()),
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, input: Value) -> Result<Value, String> {
        let call = parse(text)?;
        let lookup = |p: &Path| p.get(&input).ok_or_else(|| "missing".to_string());
        let mut n = 0;
        eval(&call, &lookup, &mut || {
            n += 1;
            format!("uuid-{n}")
        })
    }

    #[test]
    fn spec_examples() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            run(
                "States.Format('Hello, my name is {}.', $.name)",
                input.clone()
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            run("States.Format($.template, $.name)", input).unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            run("States.StringToJson('{\"number\": 20}')", json!({})).unwrap(),
            json!({"number": 20})
        );
        assert_eq!(
            run("States.JsonToString($.a)", json!({"a": {"b": 1}})).unwrap(),
            json!("{\"b\":1}")
        );
        assert_eq!(
            run("States.Array('Foo', 2020, $.x, null)", json!({"x": true})).unwrap(),
            json!(["Foo", 2020, true, null])
        );
        assert_eq!(
            run(
                "States.ArrayPartition($.a, 4)",
                json!({"a": [1, 2, 3, 4, 5, 6, 7]})
            )
            .unwrap(),
            json!([[1, 2, 3, 4], [5, 6, 7]])
        );
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            run("States.ArrayGetItem($.a, 1)", json!({"a": [10, 20]})).unwrap(),
            json!(20)
        );
        assert_eq!(
            run("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(3)
        );
        assert_eq!(
            run("States.ArrayUnique($.a)", json!({"a": [1, 2, 2, 1]})).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            run("States.MathAdd($.v, -1)", json!({"v": 111})).unwrap(),
            json!(110)
        );
        assert_eq!(
            run("States.StringSplit('1,2,3', ',')", json!({})).unwrap(),
            json!(["1", "2", "3"])
        );
        assert_eq!(
            run("States.ArrayContains($.a, 2)", json!({"a": [1, 2]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            run(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1}, "b": {"y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(
            run("States.Format('{}', States.MathAdd(1, 2))", json!({})).unwrap(),
            json!("3")
        );
        assert_eq!(run("States.UUID()", json!({})).unwrap(), json!("uuid-1"));
    }

    #[test]
    fn refuses_unknown_functions_and_bad_arity() {
        assert!(parse("States.Hash($.a, 'MD5')")
            .unwrap_err()
            .contains("not supported"));
        assert!(run("States.MathAdd(1)", json!({})).is_err());
        assert!(run("States.Format('{} {}', 1)", json!({})).is_err());
    }

    #[test]
    fn arithmetic_at_the_edges_is_an_error_not_a_panic() {
        let max = i64::MAX;
        assert!(run(&format!("States.MathAdd({max}, 1)"), json!({})).is_err());
        let near = max - 1;
        assert_eq!(
            run(&format!("States.ArrayRange({near}, {max}, 5)"), json!({})).unwrap(),
            json!([near])
        );
    }
}
