//! Choice rules and error matching.

#[allow(unused_imports)]
use super::*;

/// Error matching: `States.ALL` matches any error (the engine never offers it
/// `States.Runtime`); `States.TaskFailed` any but `States.Timeout`.
pub fn matches_error(list: &[String], error: &str) -> bool {
    list.iter().any(|e| {
        e == error
            || e == "States.ALL"
            // AWS documents `States.Timeout` as covering a heartbeat that expired;
            // `States.HeartbeatTimeout` is the narrower, later name.
            || (e == "States.Timeout" && error == "States.HeartbeatTimeout")
            || (e == "States.TaskFailed"
                && error != "States.Timeout"
                && !error.starts_with("States.Heartbeat"))
    })
}

pub(super) fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn glob(pattern: &str, text: &str) -> bool {
    // StringMatches: `*` any run, `\*` a literal star.
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    pub(super) fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('\\') if p.len() > 1 => !t.is_empty() && t[0] == p[1] && go(&p[2..], &t[1..]),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some(c) => !t.is_empty() && t[0] == *c && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// Evaluates a choice rule. A variable of the wrong type makes a comparison false.
pub fn evaluate(rule: &Rule, input: &Value) -> Result<bool, TaskError> {
    Ok(match rule {
        Rule::And(rs) => {
            for r in rs {
                if !evaluate(r, input)? {
                    return Ok(false);
                }
            }
            true
        }
        Rule::Or(rs) => {
            for r in rs {
                if evaluate(r, input)? {
                    return Ok(true);
                }
            }
            false
        }
        Rule::Not(r) => !evaluate(r, input)?,
        Rule::Compare {
            variable,
            op,
            operand,
        } => {
            let found = variable.get(input);
            if op == "IsPresent" {
                return Ok(found.is_some() == (operand_value(operand, input)? == json!(true)));
            }
            let Some(v) = found else {
                return Err(TaskError::runtime(format!("invalid path {}: the choice state's condition path references an invalid value", display(variable))));
            };
            let expect = operand_value(operand, input)?;
            let want = |b: bool| expect == json!(b);
            match op.as_str() {
                "IsNull" => want(v.is_null()),
                "IsNumeric" => want(v.is_number()),
                "IsString" => want(v.is_string()),
                "IsBoolean" => want(v.is_boolean()),
                "IsTimestamp" => want(timestamp(&v).is_some()),
                "BooleanEquals" => v.is_boolean() && v == expect,
                "StringMatches" => {
                    matches!((v.as_str(), expect.as_str()), (Some(t), Some(p)) if glob(p, t))
                }
                o if o.starts_with("String") => match (v.as_str(), expect.as_str()) {
                    (Some(a), Some(b)) => compare(o.trim_start_matches("String"), a.cmp(b)),
                    _ => false,
                },
                o if o.starts_with("Numeric") => match (v.as_f64(), expect.as_f64()) {
                    (Some(a), Some(b)) => compare(
                        o.trim_start_matches("Numeric"),
                        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Less),
                    ),
                    _ => false,
                },
                o if o.starts_with("Timestamp") => match (timestamp(&v), timestamp(&expect)) {
                    (Some(a), Some(b)) => compare(o.trim_start_matches("Timestamp"), a.cmp(&b)),
                    _ => false,
                },
                other => return Err(TaskError::runtime(format!("unknown comparison {other}"))),
            }
        }
    })
}

pub(super) fn operand_value(o: &Operand, input: &Value) -> Result<Value, TaskError> {
    match o {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Path(p) => p.get(input).ok_or_else(|| {
            TaskError::runtime(format!("{} could not be found in the input", display(p)))
        }),
    }
}

pub(super) fn compare(suffix: &str, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match suffix {
        "Equals" => ord == Equal,
        "LessThan" => ord == Less,
        "GreaterThan" => ord == Greater,
        "LessThanEquals" => ord != Greater,
        "GreaterThanEquals" => ord != Less,
        _ => false,
    }
}
