//! Reading the fields states share: paths, templates, Retry, Catch, timeouts.

#[allow(unused_imports)]
use super::*;

pub(super) fn at_or(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

pub(super) const COMMON: &[&str] = &["Type", "Comment", "Next", "End", "InputPath", "OutputPath"];

pub(super) fn opt_path(
    obj: &Map<String, Value>,
    key: &str,
    loc: &str,
    reference: bool,
) -> Result<OptPath, LoadError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            let p = Path::parse(s).map_err(|m| LoadError {
                location: format!("{loc}.{key}"),
                message: m,
            })?;
            if reference && !p.is_reference() {
                return err(format!("{loc}.{key}"), "must be a reference path (no `*`)");
            }
            Ok(Some(Some(p)))
        }
        Some(_) => err(format!("{loc}.{key}"), "must be a path string or null"),
    }
}

pub(super) fn path_field(
    obj: &Map<String, Value>,
    key: &str,
    loc: &str,
) -> Result<Option<Path>, LoadError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Path::parse(s).map(Some).map_err(|m| LoadError {
            location: format!("{loc}.{key}"),
            message: m,
        }),
        Some(_) => err(format!("{loc}.{key}"), "must be a path string"),
    }
}

/// Checks a payload template: every `.$` field holds a valid path or intrinsic call.
pub(super) fn template(
    obj: &Map<String, Value>,
    key: &str,
    loc: &str,
) -> Result<Option<Value>, LoadError> {
    fn check(v: &Value, loc: &str) -> Result<(), LoadError> {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{loc}.{k}");
                    if k.ends_with(".$") {
                        let s = x.as_str().ok_or_else(|| LoadError {
                            location: here.clone(),
                            message: "a `.$` field holds a path or an intrinsic function".into(),
                        })?;
                        if s.starts_with('$') {
                            Path::parse(s).map_err(|m| LoadError {
                                location: here.clone(),
                                message: m,
                            })?;
                        } else {
                            intrinsics::parse(s).map_err(|m| LoadError {
                                location: here.clone(),
                                message: m,
                            })?;
                        }
                    } else {
                        check(x, &here)?;
                    }
                }
                Ok(())
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| check(x, &format!("{loc}[{i}]"))),
            _ => Ok(()),
        }
    }
    match obj.get(key) {
        None => Ok(None),
        Some(v) => {
            check(v, &format!("{loc}.{key}"))?;
            Ok(Some(v.clone()))
        }
    }
}

pub(super) fn errors_list(v: &Value, loc: &str) -> Result<Vec<String>, LoadError> {
    let list: Vec<String> = v
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .ok_or_else(|| LoadError {
            location: format!("{loc}.ErrorEquals"),
            message: "required non-empty array".into(),
        })?
        .iter()
        .map(|e| e.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| LoadError {
            location: format!("{loc}.ErrorEquals"),
            message: "must hold strings".into(),
        })?;
    if list.is_empty() {
        return err(format!("{loc}.ErrorEquals"), "must not be empty");
    }
    if list.contains(&"States.ALL".to_string()) && list.len() > 1 {
        return err(format!("{loc}.ErrorEquals"), "States.ALL must appear alone");
    }
    Ok(list)
}

pub(super) fn retriers(obj: &Map<String, Value>, loc: &str) -> Result<Vec<Retrier>, LoadError> {
    let Some(list) = obj.get("Retry") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| LoadError {
        location: format!("{loc}.Retry"),
        message: "must be an array".into(),
    })?;
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let here = format!("{loc}.Retry[{i}]");
        let m = r.as_object().ok_or_else(|| LoadError {
            location: here.clone(),
            message: "must be an object".into(),
        })?;
        for k in m.keys() {
            if ![
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ]
            .contains(&k.as_str())
            {
                return err(
                    format!("{here}.{k}"),
                    format!("field `{k}` is not supported here"),
                );
            }
        }
        let error_equals = errors_list(r, &here)?;
        if error_equals == ["States.ALL"] && i + 1 != list.len() {
            return err(here, "a retrier on States.ALL must be the last");
        }
        let full_jitter = match m.get("JitterStrategy").and_then(Value::as_str) {
            None | Some("NONE") => false,
            Some("FULL") => true,
            Some(other) => {
                return err(
                    format!("{here}.JitterStrategy"),
                    format!("`{other}` is not FULL or NONE"),
                )
            }
        };
        out.push(Retrier {
            error_equals,
            interval_seconds: m
                .get("IntervalSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            max_attempts: m.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) as u32,
            backoff_rate: m.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
            max_delay_seconds: m.get("MaxDelaySeconds").and_then(Value::as_f64),
            full_jitter,
        });
    }
    Ok(out)
}

pub(super) fn catchers(obj: &Map<String, Value>, loc: &str) -> Result<Vec<Catcher>, LoadError> {
    let Some(list) = obj.get("Catch") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| LoadError {
        location: format!("{loc}.Catch"),
        message: "must be an array".into(),
    })?;
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let here = format!("{loc}.Catch[{i}]");
        let m = c.as_object().ok_or_else(|| LoadError {
            location: here.clone(),
            message: "must be an object".into(),
        })?;
        for k in m.keys() {
            if !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(&k.as_str()) {
                return err(
                    format!("{here}.{k}"),
                    format!("field `{k}` is not supported here"),
                );
            }
        }
        let error_equals = errors_list(c, &here)?;
        if error_equals == ["States.ALL"] && i + 1 != list.len() {
            return err(here, "a catcher on States.ALL must be the last");
        }
        out.push(Catcher {
            error_equals,
            next: m
                .get("Next")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError {
                    location: format!("{here}.Next"),
                    message: "required".into(),
                })?
                .to_string(),
            result_path: opt_path(m, "ResultPath", &here, true)?,
        });
    }
    Ok(out)
}

pub(super) fn seconds(
    obj: &Map<String, Value>,
    fixed: &str,
    path: &str,
    loc: &str,
) -> Result<Option<Seconds>, LoadError> {
    match (obj.get(fixed), obj.get(path)) {
        (Some(_), Some(_)) => err(
            format!("{loc}.{fixed}"),
            format!("give {fixed} or {path}, not both"),
        ),
        (Some(v), None) => v
            .as_u64()
            .map(|s| Some(Seconds::Fixed(s)))
            .ok_or_else(|| LoadError {
                location: format!("{loc}.{fixed}"),
                message: "must be a whole number of seconds".into(),
            }),
        (None, Some(_)) => Ok(path_field(obj, path, loc)?.map(Seconds::Path)),
        (None, None) => Ok(None),
    }
}
