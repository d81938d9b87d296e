//! Deployment metrics in CloudWatch's Embedded Metric Format: one JSON line per event on
//! standard output, which Lambda sends to the function's log group and CloudWatch turns
//! into metrics in the `greenlight` namespace, by `app` and `environment` and over all of
//! them (the stack's dashboard and alarm read them). Each line also carries the deployment's ID, so
//! a metric can be traced to its deployment in the logs.
//!
//! | metric | unit | emitted by |
//! |---|---|---|
//! | `DeploymentsStarted` | Count | prepare, when a deployment takes its environment |
//! | `DeploymentsSucceeded`, `DeploymentDuration` | Count, Seconds | finalize |
//! | `LeadTime` | Seconds | finalize, for a deployment started by a push (push to live) |
//! | `DeploymentsRolledBack`, `DeploymentsAborted`, `DeploymentsSuperseded`, `DeploymentsRejected`, `DeploymentDuration`, `RollbackDuration` | Count, Seconds | rollback (by outcome) |
//! | `DeploymentsReverted` | Count | the watched rollback window's revert |
//! | `RollbacksFailed` | Count | the escalation (a rollback that failed for good) |

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use greenlight_core::ports::Outcome;
use greenlight_core::rollout::Rollout;
use serde_json::{json, Map, Value};

/// The namespace of greenlight's metrics.
pub const NAMESPACE: &str = "greenlight";

thread_local! {
    /// Lines captured instead of printed (tests).
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// One EMF line: `values` (name, unit, value) for the deployment of `r`.
pub fn line(r: &Rollout, values: &[(&str, &str, f64)], at: DateTime<Utc>) -> String {
    let definitions: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // Per environment, and over all of them (what the stack's alarm reads).
                "Dimensions": [["app", "environment"], []],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert("app".into(), json!(r.app));
    doc.insert("environment".into(), json!(r.environment));
    doc.insert("deployment".into(), json!(r.deployment));
    for (name, _, value) in values {
        doc.insert((*name).into(), json!(value));
    }
    Value::Object(doc).to_string()
}

/// Prints a line for CloudWatch (or keeps it, while [`capture`] is on in this thread).
pub fn emit(line: String) {
    let kept = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(line.clone());
            true
        }
        None => false,
    });
    if !kept {
        println!("{line}");
    }
}

/// Starts keeping this thread's lines instead of printing them; [`captured`] hands them
/// over.
pub fn capture() {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// The lines kept since [`capture`] (capturing goes on).
pub fn captured() -> Vec<String> {
    CAPTURED.with(|c| {
        c.borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// A deployment took its environment.
pub fn started(r: &Rollout, now: DateTime<Utc>) {
    emit(line(r, &[("DeploymentsStarted", "Count", 1.0)], now));
}

/// A deployment succeeded (after its final bake).
pub fn succeeded(r: &Rollout, now: DateTime<Utc>) {
    let duration = seconds(r.started_at, now);
    let mut values = vec![
        ("DeploymentsSucceeded", "Count", 1.0),
        ("DeploymentDuration", "Seconds", duration),
    ];
    // A push starts its deployment within seconds: push to live.
    if matches!(r.trigger, greenlight_core::ports::TriggerInfo::Push { .. }) {
        values.push(("LeadTime", "Seconds", duration));
    }
    emit(line(r, &values, now));
}

/// A deployment ended without success; `rollback_began` is when the rollback started.
pub fn ended(r: &Rollout, outcome: Outcome, rollback_began: DateTime<Utc>, now: DateTime<Utc>) {
    let name = match outcome {
        Outcome::RolledBack => "DeploymentsRolledBack",
        Outcome::Aborted => "DeploymentsAborted",
        Outcome::Superseded => "DeploymentsSuperseded",
        Outcome::Rejected => "DeploymentsRejected",
        Outcome::Reverted => "DeploymentsReverted",
        Outcome::RollbackFailed => "RollbacksFailed",
        Outcome::LockLost => "DeploymentsLockLost",
        Outcome::Succeeded => "DeploymentsSucceeded",
    };
    emit(line(
        r,
        &[
            (name, "Count", 1.0),
            ("DeploymentDuration", "Seconds", seconds(r.started_at, now)),
            ("RollbackDuration", "Seconds", seconds(rollback_began, now)),
        ],
        now,
    ));
}

/// The watched rollback window reverted a release.
pub fn reverted(r: &Rollout, now: DateTime<Utc>) {
    emit(line(r, &[("DeploymentsReverted", "Count", 1.0)], now));
}

/// A rollback failed for good.
pub fn rollback_failed(r: &Rollout, now: DateTime<Utc>) {
    emit(line(r, &[("RollbacksFailed", "Count", 1.0)], now));
}
