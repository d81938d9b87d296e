//! The notifications a rollout publishes, and the notice (topic and rendered message) the
//! state machine's `sns:publish` sends.

use chrono::{DateTime, Utc};

use crate::notify::{EventKind, Notification, Traffic};
use crate::rollout::{Notice, Rollout};

/// A notification about a rollout.
pub fn notification(r: &Rollout, kind: EventKind, now: DateTime<Utc>) -> Notification {
    let mut n = Notification::new(kind, &r.app, &r.environment, now);
    n.deployment = Some(r.deployment.clone());
    n.image = Some(r.image.to_string());
    n.tag = r.tag.clone();
    n.traffic = Some(Traffic {
        colour: r.target,
        weight: r.weight,
        step: r.step,
        steps: r.plan.steps.len(),
    });
    n.analysis = r
        .analysis
        .as_ref()
        .map(crate::analysis::AnalysisReport::summary);
    n.execution = r.execution.clone();
    n.revision = r.source.revision.clone();
    n.service = service_arn(r);
    n
}

/// The ARN of the service receiving the new image, in the partition, region and account of
/// the task definition it runs.
fn service_arn(r: &Rollout) -> Option<String> {
    let service = r.env.services.get(r.target);
    // The configuration may name the service, or the cluster, by its ARN.
    if service.starts_with("arn:") {
        return Some(service.to_string());
    }
    let cluster = r.env.cluster.rsplit('/').next().unwrap_or(&r.env.cluster);
    let td = crate::arn::Arn::parse(&r.live_task_definition).ok()?;
    let p = td.parts().ok()?;
    Some(format!(
        "arn:{}:ecs:{}:{}:service/{cluster}/{service}",
        p.partition, p.region, p.account
    ))
}

pub fn notice(r: &Rollout, n: &Notification) -> Option<Notice> {
    crate::arn::Arn::parse(&r.topic)
        .ok()
        .map(|topic| Notice::render(&topic, n))
}
