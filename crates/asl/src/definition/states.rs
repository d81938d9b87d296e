//! One state of each type: its allowed fields, Next/End, and what it compiles to.

#[allow(unused_imports)]
use super::*;

pub(super) fn compile_state(name: &str, v: &Value, loc: &str) -> Result<State, LoadError> {
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
pub(super) fn fields_of(kind_name: &str) -> Option<&'static [&'static str]> {
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
pub(super) fn compile_choice(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
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
pub(super) fn compile_wait(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
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
pub(super) fn compile_parallel(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
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
pub(super) fn compile_map(obj: &Map<String, Value>, loc: &str) -> Result<Kind, LoadError> {
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
