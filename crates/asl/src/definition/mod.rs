//! Loading a definition: `${...}` substitutions, then every state checked and compiled.
//! A feature the runner does not support is refused here, naming the state and the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::intrinsics;
use crate::path::Path;

mod fields;
mod rules;
mod states;

#[allow(unused_imports)]
use fields::*;
#[allow(unused_imports)]
use rules::*;
#[allow(unused_imports)]
use states::*;

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
