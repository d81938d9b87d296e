//! Strict reading of a scenario: a key, an operation, an app, an environment or an alarm that
//! the scenario names but nothing knows is an error with its line and column (and the
//! nearest known name), never silently ignored — a typo must not turn a rehearsal of a
//! failure into a rehearsal of a success.

use super::*;

use greenlight_core::decode::closest;
use greenlight_core::yaml::{Node, NodeKind, Span};
use greenlight_sim::FaultKind;

/// Every operation a scenario's `fault` can name: the AWS calls the simulator reports and
/// each function's invocation.
pub const FAULT_OPERATIONS: &[&str] = &[
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ecs:UpdateService",
    "elbv2:DescribeListeners",
    "elbv2:DescribeTargetHealth",
    "elbv2:ModifyListener",
    "elbv2:ModifyRule",
    "elbv2:DescribeRules",
    "events:PutEvents",
    "sns:Publish",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "states:StartExecution",
    "states:DescribeExecution",
    "states:ListExecutions",
    "states:StopExecution",
    "lambda:Invoke/greenlight-prepare",
    "lambda:Invoke/greenlight-deploy",
    "lambda:Invoke/greenlight-check",
    "lambda:Invoke/greenlight-await",
    "lambda:Invoke/greenlight-shift",
    "lambda:Invoke/greenlight-finalize",
    "lambda:Invoke/greenlight-retire",
    "lambda:Invoke/greenlight-rollback",
    "lambda:Invoke/greenlight-notify",
];

const ACTIONS: &[(&str, &[&str])] = &[
    (
        "push",
        &["repository", "tag", "image", "behaviour", "times"],
    ),
    ("promote", &["app", "from", "to", "image", "by"]),
    ("approve", &["app", "environment", "by"]),
    ("reject", &["app", "environment", "by", "reason"]),
    ("rollback", &["app", "environment", "by"]),
    ("alarm", &["name", "state", "for", "reason"]),
    ("fault", &["operation", "error", "times"]),
    ("stale_lock", &["app", "environment", "for"]),
];

pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn at(&mut self, span: Span, path: &str, message: String) {
        self.0
            .push(format!("{}:{}: {path}: {message}", span.line, span.column));
    }

    pub(super) fn unknown(
        &mut self,
        span: Span,
        path: &str,
        what: &str,
        word: &str,
        known: &[&str],
    ) {
        let hint = closest(word, known)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_else(|| format!("; expected one of: {}", known.join(", ")));
        self.at(span, path, format!("unknown {what} `{word}`{hint}"));
    }
}

fn entries(node: &Node) -> &[(String, Span, Node)] {
    match &node.kind {
        NodeKind::Mapping(e) => e,
        _ => &[],
    }
}

fn scalar(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

fn keys(node: &Node, path: &str, known: &[&str], p: &mut Problems) {
    if !matches!(node.kind, NodeKind::Mapping(_)) {
        p.at(
            node.span,
            path,
            format!("expected a mapping, found {}", node.describe()),
        );
        return;
    }
    for (key, span, _) in entries(node) {
        if !known.contains(&key.as_str()) {
            p.unknown(*span, path, "key", key, known);
        }
    }
}

/// What the scenario's structure gets wrong, as `line:column: path: message` lines.
pub fn structure(root: &Node) -> Vec<String> {
    let mut p = Problems(Vec::new());
    keys(
        root,
        "scenario",
        &["name", "seed", "initial", "steps", "expect"],
        &mut p,
    );
    for (key, _, value) in entries(root) {
        match key.as_str() {
            "initial" => keys(value, "initial", &["image", "tasks"], &mut p),
            "expect" => {
                if let NodeKind::Sequence(items) = &value.kind {
                    for (i, item) in items.iter().enumerate() {
                        keys(
                            item,
                            &format!("expect[{i}]"),
                            &["app", "environment", "tag", "outcome"],
                            &mut p,
                        );
                    }
                }
            }
            "steps" => {
                if let NodeKind::Sequence(items) = &value.kind {
                    for (i, step) in items.iter().enumerate() {
                        step_structure(step, &format!("steps[{i}]"), &mut p);
                    }
                }
            }
            _ => {}
        }
    }
    p.0
}

fn step_structure(step: &Node, path: &str, p: &mut Problems) {
    let names: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
    let mut known = vec!["at"];
    known.extend(&names);
    keys(step, path, &known, p);
    let actions: Vec<_> = entries(step)
        .iter()
        .filter(|(k, _, _)| names.contains(&k.as_str()))
        .collect();
    if actions.len() != 1 {
        p.at(
            step.span,
            path,
            format!(
                "a step has `at` and exactly one of: {} (found {})",
                names.join(", "),
                actions.len()
            ),
        );
    }
    for (action, _, body) in actions {
        let fields = ACTIONS.iter().find(|(n, _)| n == action).map(|(_, f)| *f);
        let here = format!("{path}.{action}");
        keys(body, &here, fields.unwrap_or(&[]), p);
        for (key, span, value) in entries(body) {
            match (action.as_str(), key.as_str()) {
                ("fault", "operation") => {
                    if let Some(op) = scalar(value) {
                        if !FAULT_OPERATIONS.contains(&op) {
                            p.unknown(*span, &here, "operation", op, FAULT_OPERATIONS);
                        }
                    }
                }
                ("push", "behaviour") if matches!(value.kind, NodeKind::Mapping(_)) => keys(
                    value,
                    &format!("{here}.behaviour"),
                    &[
                        "start_secs",
                        "crash_on_start",
                        "never_healthy",
                        "error_rate",
                        "unhealthy_after",
                        "latency_p50",
                        "latency_p99",
                        "errors",
                    ],
                    p,
                ),
                _ => {}
            }
        }
    }
}

/// Reads a scenario strictly (see the module's documentation): every problem of its
/// structure, or the scenario.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let node = greenlight_core::yaml::load_all(text).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("not valid YAML: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let problems = structure(&node);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let mut scenario: Scenario =
        serde_json::from_value(node.to_json()).map_err(|e| e.to_string())?;
    let spans = node.index_spans("");
    for (i, step) in scenario.steps.iter_mut().enumerate() {
        step.span = spans
            .get(&format!("steps[{i}]"))
            .copied()
            .unwrap_or_default();
    }
    for (i, s) in scenario.steps.iter().enumerate() {
        if let Action::Push { behaviour, .. } = &s.action {
            behaviour
                .behaviour()
                .map_err(|e| format!("steps[{i}].push.behaviour: {e}"))?;
        }
        if let Action::Fault { error, times, .. } = &s.action {
            fault_kind(error).map_err(|e| format!("steps[{i}].fault.error: {e}"))?;
            times
                .count()
                .map_err(|e| format!("steps[{i}].fault.times: {e}"))?;
        }
        if let Action::Alarm { state, .. } = &s.action {
            if state != "ALARM" && state != "OK" {
                return Err(format!(
                    "steps[{i}].alarm.state: `{state}` is not ALARM or OK"
                ));
            }
        }
    }
    Ok(scenario)
}

pub(super) fn fault_kind(name: &str) -> Result<FaultKind, String> {
    Ok(match name {
        "throttle" => FaultKind::Throttle,
        "server_error" => FaultKind::ServerError,
        "timeout" => FaultKind::Timeout,
        "timeout_landed" => FaultKind::TimeoutLanded,
        "access_denied" => FaultKind::AccessDenied,
        other => {
            return Err(format!(
                "`{other}` is not throttle, server_error, timeout, timeout_landed or access_denied"
            ))
        }
    })
}
