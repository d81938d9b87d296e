//! Loading a definition: `${...}` substitutions, then every state checked and compiled.
//! A feature the runner does not support is refused here, naming the state and the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::intrinsics;
use crate::path::Path;

/// Why a definition cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct LoadError {
    /// `States.Prepare.Retry[0].ErrorEquals`, or the top-level field.
    pub location: String,
    pub message: String,
}

fn err<T>(location: impl Into<String>, message: impl Into<String>) -> Result<T, LoadError> {
    Err(LoadError {
        location: location.into(),
        message: message.into(),
    })
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

/// `None`: the field was absent (default `$`); `Some(None)`: explicitly `null`.
pub type OptPath = Option<Option<Path>>;

#[derive(Clone, Debug)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    pub next: Option<String>,
    pub end: bool,
    pub input_path: OptPath,
    pub output_path: OptPath,
}

#[derive(Clone, Debug)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Clone, Debug)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: OptPath,
}

#[derive(Clone, Debug)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Clone, Debug)]
pub enum WaitFor {
    Seconds(Seconds),
    Timestamp(chrono::DateTime<chrono::Utc>),
    TimestampPath(Path),
}

#[derive(Clone, Debug)]
pub enum Operand {
    Value(Value),
    Path(Path),
}

#[derive(Clone, Debug)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare {
        variable: Path,
        op: String,
        operand: Operand,
    },
}

#[derive(Clone, Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
        parameters: Option<Value>,
        result_path: OptPath,
    },
    Task {
        resource: String,
        parameters: Option<Value>,
        result_selector: Option<Value>,
        result_path: OptPath,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
        retry: Vec<Retrier>,
        catch: Vec<Catcher>,
    },
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<String>,
        cause: Option<String>,
        error_path: Option<Path>,
        cause_path: Option<Path>,
    },
    Parallel {
        branches: Vec<Machine>,
        parameters: Option<Value>,
        result_selector: Option<Value>,
        result_path: OptPath,
        retry: Vec<Retrier>,
        catch: Vec<Catcher>,
    },
    Map {
        items_path: OptPath,
        item_selector: Option<Value>,
        processor: Box<Machine>,
        max_concurrency: usize,
        result_selector: Option<Value>,
        result_path: OptPath,
        retry: Vec<Retrier>,
        catch: Vec<Catcher>,
    },
}

/// Replaces `${Name}` in every string. An unknown name is an error, not left in place.
pub fn substitute(v: &Value, subs: &BTreeMap<String, String>) -> Result<Value, LoadError> {
    Ok(match v {
        Value::String(s) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let end = rest[start..]
                    .find('}')
                    .map(|e| e + start)
                    .ok_or_else(|| LoadError {
                        location: "definition".into(),
                        message: format!("unclosed `${{` in `{s}`"),
                    })?;
                let name = &rest[start + 2..end];
                let value = subs.get(name).ok_or_else(|| LoadError {
                    location: "definition".into(),
                    message: format!("no substitution for ${{{name}}}"),
                })?;
                out.push_str(&rest[..start]);
                out.push_str(value);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, subs))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k.clone(), substitute(x, subs)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

impl Machine {
    /// Loads a definition (after substitutions).
    pub fn load(definition: &Value, subs: &BTreeMap<String, String>) -> Result<Machine, LoadError> {
        let v = substitute(definition, subs)?;
        if let Some(q) = v.get("QueryLanguage") {
            if q != "JSONPath" {
                return err(
                    "QueryLanguage",
                    format!("{q} is not supported; this runner speaks JSONPath"),
                );
            }
        }
        Machine::compile(
            &v,
            "",
            &[
                "StartAt",
                "States",
                "Comment",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ],
        )
    }

    fn compile(v: &Value, at: &str, allowed: &[&str]) -> Result<Machine, LoadError> {
        let obj = v.as_object().ok_or_else(|| LoadError {
            location: at_or(at, "definition"),
            message: "must be an object".into(),
        })?;
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return err(at_or(at, k), format!("field `{k}` is not supported here"));
            }
        }
        let start_at = obj
            .get("StartAt")
            .and_then(Value::as_str)
            .ok_or_else(|| LoadError {
                location: at_or(at, "StartAt"),
                message: "required string".into(),
            })?
            .to_string();
        let states_v = obj
            .get("States")
            .and_then(Value::as_object)
            .ok_or_else(|| LoadError {
                location: at_or(at, "States"),
                message: "required object".into(),
            })?;
        let mut states = BTreeMap::new();
        for (name, sv) in states_v {
            let loc = format!(
                "{}States.{name}",
                if at.is_empty() {
                    String::new()
                } else {
                    format!("{at}.")
                }
            );
            states.insert(name.clone(), compile_state(name, sv, &loc)?);
        }
        if !states.contains_key(&start_at) {
            return err(at_or(at, "StartAt"), format!("no state named `{start_at}`"));
        }
        for s in states.values() {
            let loc = format!("States.{}", s.name);
            let mut targets: Vec<(&str, &String)> = s.next.iter().map(|n| ("Next", n)).collect();
            match &s.kind {
                Kind::Choice { choices, default } => {
                    targets.extend(choices.iter().map(|(_, n)| ("Choices[].Next", n)));
                    targets.extend(default.iter().map(|n| ("Default", n)));
                }
                Kind::Task { catch, .. }
                | Kind::Parallel { catch, .. }
                | Kind::Map { catch, .. } => {
                    targets.extend(catch.iter().map(|c| ("Catch[].Next", &c.next)));
                }
                _ => {}
            }
            for (field, t) in targets {
                if !states.contains_key(t) {
                    return err(format!("{loc}.{field}"), format!("no state named `{t}`"));
                }
            }
        }
        Ok(Machine {
            start_at,
            states,
            timeout_seconds: obj.get("TimeoutSeconds").and_then(Value::as_u64),
        })
    }

    /// Every Task resource, including those in branches and map processors.
    pub fn resources(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in self.states.values() {
            match &s.kind {
                Kind::Task { resource, .. } => out.push(resource.clone()),
                Kind::Parallel { branches, .. } => {
                    branches.iter().for_each(|b| out.extend(b.resources()))
                }
                Kind::Map { processor, .. } => out.extend(processor.resources()),
                _ => {}
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn at_or(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

const COMMON: &[&str] = &["Type", "Comment", "Next", "End", "InputPath", "OutputPath"];

fn opt_path(
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

fn path_field(obj: &Map<String, Value>, key: &str, loc: &str) -> Result<Option<Path>, LoadError> {
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
fn template(obj: &Map<String, Value>, key: &str, loc: &str) -> Result<Option<Value>, LoadError> {
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

fn errors_list(v: &Value, loc: &str) -> Result<Vec<String>, LoadError> {
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

fn retriers(obj: &Map<String, Value>, loc: &str) -> Result<Vec<Retrier>, LoadError> {
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

fn catchers(obj: &Map<String, Value>, loc: &str) -> Result<Vec<Catcher>, LoadError> {
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

fn seconds(
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

const COMPARISONS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

fn rule(v: &Value, loc: &str, top: bool) -> Result<Rule, LoadError> {
    let m = v.as_object().ok_or_else(|| LoadError {
        location: loc.into(),
        message: "must be an object".into(),
    })?;
    for k in m.keys() {
        let known = ["And", "Or", "Not", "Variable", "Comment"].contains(&k.as_str())
            || (top && k == "Next")
            || COMPARISONS.contains(&k.as_str())
            || COMPARISONS.iter().any(|c| k == &format!("{c}Path"));
        if !known {
            return err(
                format!("{loc}.{k}"),
                format!("field `{k}` is not supported in a choice rule"),
            );
        }
    }
    if let Some(list) = m.get("And").or(m.get("Or")) {
        let rules = list
            .as_array()
            .ok_or_else(|| LoadError {
                location: loc.into(),
                message: "And/Or take an array".into(),
            })?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                rule(
                    r,
                    &format!(
                        "{loc}.{}[{i}]",
                        if m.contains_key("And") { "And" } else { "Or" }
                    ),
                    false,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if m.contains_key("And") {
            Rule::And(rules)
        } else {
            Rule::Or(rules)
        });
    }
    if let Some(inner) = m.get("Not") {
        return Ok(Rule::Not(Box::new(rule(
            inner,
            &format!("{loc}.Not"),
            false,
        )?)));
    }
    let variable = path_field(m, "Variable", loc)?.ok_or_else(|| LoadError {
        location: format!("{loc}.Variable"),
        message: "required".into(),
    })?;
    let (op, raw) = m
        .iter()
        .find(|(k, _)| !["Variable", "Next", "Comment"].contains(&k.as_str()))
        .ok_or_else(|| LoadError {
            location: loc.into(),
            message: "a comparison is required".into(),
        })?;
    let (op, operand) = match op.strip_suffix("Path") {
        Some(base) if COMPARISONS.contains(&base) => {
            let s = raw.as_str().ok_or_else(|| LoadError {
                location: format!("{loc}.{op}"),
                message: "must be a path".into(),
            })?;
            (
                base.to_string(),
                Operand::Path(Path::parse(s).map_err(|m| LoadError {
                    location: format!("{loc}.{op}"),
                    message: m,
                })?),
            )
        }
        _ => (op.clone(), Operand::Value(raw.clone())),
    };
    Ok(Rule::Compare {
        variable,
        op,
        operand,
    })
}

fn compile_state(name: &str, v: &Value, loc: &str) -> Result<State, LoadError> {
    let obj = v.as_object().ok_or_else(|| LoadError {
        location: loc.into(),
        message: "a state is an object".into(),
    })?;
    let kind_name = obj
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError {
            location: format!("{loc}.Type"),
            message: "required".into(),
        })?;
    let Some(extra) = fields_of(kind_name) else {
        return err(
            format!("{loc}.Type"),
            format!("state type `{kind_name}` does not exist"),
        );
    };
    let mut allowed: Vec<&str> = vec!["Type", "Comment"];
    match kind_name {
        "Fail" => {}
        "Choice" | "Succeed" => allowed.extend(["InputPath", "OutputPath"]),
        _ => allowed.extend(COMMON.iter().copied()),
    }
    allowed.extend(extra.iter().copied());
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return err(
                format!("{loc}.{k}"),
                format!("field `{k}` is not supported in a {kind_name} state"),
            );
        }
    }
    let next = obj.get("Next").and_then(Value::as_str).map(str::to_string);
    let end = obj.get("End").and_then(Value::as_bool).unwrap_or(false);
    if !matches!(kind_name, "Choice" | "Succeed" | "Fail") && next.is_none() != end {
        return err(loc, "needs exactly one of Next and End: true");
    }
    let kind = match kind_name {
        "Pass" => Kind::Pass {
            result: obj.get("Result").cloned(),
            parameters: template(obj, "Parameters", loc)?,
            result_path: opt_path(obj, "ResultPath", loc, true)?,
        },
        "Task" => Kind::Task {
            resource: obj
                .get("Resource")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError {
                    location: format!("{loc}.Resource"),
                    message: "required string".into(),
                })?
                .to_string(),
            parameters: template(obj, "Parameters", loc)?,
            result_selector: template(obj, "ResultSelector", loc)?,
            result_path: opt_path(obj, "ResultPath", loc, true)?,
            timeout: seconds(obj, "TimeoutSeconds", "TimeoutSecondsPath", loc)?,
            heartbeat: seconds(obj, "HeartbeatSeconds", "HeartbeatSecondsPath", loc)?,
            retry: retriers(obj, loc)?,
            catch: catchers(obj, loc)?,
        },
        "Choice" => compile_choice(obj, loc)?,
        "Wait" => compile_wait(obj, loc)?,
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: obj.get("Error").and_then(Value::as_str).map(str::to_string),
            cause: obj.get("Cause").and_then(Value::as_str).map(str::to_string),
            error_path: path_field(obj, "ErrorPath", loc)?,
            cause_path: path_field(obj, "CausePath", loc)?,
        },
        "Parallel" => compile_parallel(obj, loc)?,
        "Map" => compile_map(obj, loc)?,
        other => {
            return err(
                format!("{loc}.Type"),
                format!("state type `{other}` does not exist"),
            )
        }
    };
    Ok(State {
        name: name.to_string(),
        kind,
        next,
        end,
        input_path: opt_path(obj, "InputPath", loc, false)?,
        output_path: opt_path(obj, "OutputPath", loc, false)?,
    })
}

/// The fields a state of each type may have besides `Type`, `Comment` and the common ones;
/// `None` for a type that does not exist.
fn fields_of(kind_name: &str) -> Option<&'static [&'static str]> {
    Some(match kind_name {
        "Pass" => &["Result", "ResultPath", "Parameters"],
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Branches",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        _ => return None,
    })
}

/// A Choice state: its rules, each with its Next, and the Default.
fn compile_choice(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
    Ok({
        let list = obj
            .get("Choices")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| LoadError {
                location: format!("{loc}.Choices"),
                message: "required non-empty array".into(),
            })?;
        let mut choices = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let here = format!("{loc}.Choices[{i}]");
            let next = c
                .get("Next")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError {
                    location: format!("{here}.Next"),
                    message: "required".into(),
                })?;
            choices.push((rule(c, &here, true)?, next.to_string()));
        }
        Kind::Choice {
            choices,
            default: obj
                .get("Default")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    })
}

/// A Wait state: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath.
fn compile_wait(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
    Ok({
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if given.len() != 1 {
            return err(
                loc,
                "a Wait state takes exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
            );
        }
        match given[0] {
            "Timestamp" => {
                let s = obj["Timestamp"].as_str().unwrap_or_default();
                let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| LoadError {
                    location: format!("{loc}.Timestamp"),
                    message: e.to_string(),
                })?;
                Kind::Wait(WaitFor::Timestamp(t.with_timezone(&chrono::Utc)))
            }
            "TimestampPath" => Kind::Wait(WaitFor::TimestampPath(
                path_field(obj, "TimestampPath", loc)?.expect("present"),
            )),
            _ => Kind::Wait(WaitFor::Seconds(
                seconds(obj, "Seconds", "SecondsPath", loc)?.expect("present"),
            )),
        }
    })
}

/// A Parallel state: its branches (each a machine of its own), shaping, retries, catchers.
fn compile_parallel(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
    Ok({
        let list = obj
            .get("Branches")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| LoadError {
                location: format!("{loc}.Branches"),
                message: "required non-empty array".into(),
            })?;
        let branches = list
            .iter()
            .enumerate()
            .map(|(i, b)| {
                Machine::compile(
                    b,
                    &format!("{loc}.Branches[{i}]"),
                    &["StartAt", "States", "Comment"],
                )
            })
            .collect::<Result<_, _>>()?;
        Kind::Parallel {
            branches,
            parameters: template(obj, "Parameters", loc)?,
            result_selector: template(obj, "ResultSelector", loc)?,
            result_path: opt_path(obj, "ResultPath", loc, true)?,
            retry: retriers(obj, loc)?,
            catch: catchers(obj, loc)?,
        }
    })
}

/// An inline Map state: its processor, items, selector and concurrency.
fn compile_map(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
    Ok({
        let (key, proc_v) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(p)) => ("Iterator", p),
            _ => return err(loc, "a Map state takes one of ItemProcessor or Iterator"),
        };
        if let Some(cfg) = proc_v.get("ProcessorConfig") {
            if cfg.get("Mode").and_then(Value::as_str).unwrap_or("INLINE") != "INLINE" {
                return err(
                    format!("{loc}.{key}.ProcessorConfig.Mode"),
                    "only INLINE maps are supported (no distributed map)",
                );
            }
        }
        if obj.contains_key("ItemSelector") && obj.contains_key("Parameters") {
            return err(
                format!("{loc}.Parameters"),
                "give ItemSelector or Parameters, not both",
            );
        }
        let processor = Machine::compile(
            proc_v,
            &format!("{loc}.{key}"),
            &["StartAt", "States", "Comment", "ProcessorConfig"],
        )?;
        Kind::Map {
            items_path: opt_path(obj, "ItemsPath", loc, true)?,
            item_selector: template(obj, "ItemSelector", loc)?.or(template(
                obj,
                "Parameters",
                loc,
            )?),
            processor: Box::new(processor),
            max_concurrency: obj
                .get("MaxConcurrency")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize,
            result_selector: template(obj, "ResultSelector", loc)?,
            result_path: opt_path(obj, "ResultPath", loc, true)?,
            retry: retriers(obj, loc)?,
            catch: catchers(obj, loc)?,
        }
    })
}
