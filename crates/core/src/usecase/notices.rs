//! The notifications a rollout publishes: those its functions publish themselves
//! ([`announce`]), and the notice (topic and rendered message) the state machine's
//! `sns:publish` states send on the failure paths.

use chrono::{DateTime, Utc};

use crate::notify::{EventKind, Notification, Traffic};
use crate::ports::{Clock, Notifier, StateStore};
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

/// Publishes the rollout's `kind` notification on its topic: what the functions that end a
/// phase do themselves (prepare: `started`, shift: `traffic_shifted`, finalize:
/// `succeeded`), so that the state machine spends no state on it. A notice never holds a
/// rollout back: why it could not be published is returned, for the log.
pub async fn announce<P: Notifier + Clock>(p: &P, r: &Rollout, kind: EventKind) -> Option<String> {
    let n = notification(r, kind, p.now());
    match crate::arn::Arn::parse(&r.topic) {
        Ok(topic) => p.publish(&topic, &n).await.err().map(|e| e.to_string()),
        Err(e) => Some(e),
    }
}

/// [`announce`] once per deployment: not when the deployment record lists `kind` among
/// the notices already published (a retried step whose first attempt announced it, its
/// answer lost on the way back), and listed there once published (so that a step retried
/// after its work but before its notice still announces it). Two attempts that both get
/// past the record's check may both publish: at least once, never none.
pub async fn announce_once<P>(p: &P, r: &Rollout, kind: EventKind) -> Option<String>
where
    P: StateStore + Notifier + Clock,
{
    if let Ok(Some(rec)) = p.get_deployment(&r.deployment).await {
        if rec.announced.contains(&kind) {
            return None;
        }
    }
    if let Some(error) = announce(p, r, kind).await {
        return Some(error);
    }
    let noted = super::record::update(
        p,
        &r.deployment,
        || None,
        |rec| {
            let new = !rec.announced.contains(&kind);
            if new {
                rec.announced.push(kind);
            }
            new
        },
    )
    .await;
    noted
        .err()
        .map(|e| format!("published, but not noted in the deployment record: {e}"))
}

/// The notice (topic and rendered message) the state machine's `sns:publish` states send.
pub fn notice(r: &Rollout, n: &Notification) -> Option<Notice> {
    crate::arn::Arn::parse(&r.topic)
        .ok()
        .map(|topic| Notice::render(&topic, n))
}
