//! dead letters: the ECR pushes and alarm changes greenlight could not act on. Lambda puts an
//! asynchronous invocation that failed after its retries into the dead-letter queue (its
//! on-failure destination), and EventBridge puts there what it could not deliver at all.
//! `greenlight dead-letters` lists them; `--replay` acts on them.
//!
//! A notification the event relay could not put on EventBridge is put there again.
//!
//! A push is replayed through `on_push`, exactly as if EventBridge delivered it now: its
//! execution names are deterministic, so a push that did start something before starts
//! nothing twice. An alarm change is not replayed: the bake checks read every watched
//! alarm at each interval anyway, so a lost change cost at most one interval, and replaying
//! an old one could fail a bake on a state that no longer holds. `--replay` drops it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::Arn;
use crate::ports::{
    Clock, DeadLetter, DeadLetters, EventBus, Executions, Notifier, PortError, StateStore,
};
use crate::Duration;

/// What a dead letter holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    Push,
    AlarmChange,
    /// A notification the event relay could not put on the EventBridge bus.
    Notification,
    Unknown,
}

impl LetterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LetterKind::Push => "push",
            LetterKind::AlarmChange => "alarm_change",
            LetterKind::Notification => "notification",
            LetterKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for LetterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dead letter, read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Letter {
    pub id: String,
    pub kind: LetterKind,
    /// `web:v2.0.0 (sha256:…)`, `web-prod-5xx → ALARM`.
    pub summary: String,
    /// Why the function failed, when Lambda recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip)]
    pub event: Option<Value>,
    #[serde(skip)]
    pub receipt: String,
}

/// Reads a message body: a raw EventBridge event, or Lambda's on-failure record.
pub fn read(letter: &DeadLetter) -> Letter {
    let body: Option<Value> = serde_json::from_str(&letter.body).ok();
    let (event, failure) = match &body {
        Some(b) if b.get("requestPayload").is_some() => {
            let response = &b["responsePayload"];
            let failure = response["errorMessage"]
                .as_str()
                .or_else(|| response["errorType"].as_str())
                .or_else(|| b["requestContext"]["condition"].as_str())
                .map(str::to_string);
            (Some(b["requestPayload"].clone()), failure)
        }
        Some(b) => (Some(b.clone()), None),
        None => (None, None),
    };
    let text = |v: &Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    let (kind, summary) = match &event {
        Some(e) if e["source"] == "aws.ecr" => (
            LetterKind::Push,
            format!(
                "{}:{} ({})",
                text(e, &["detail", "repository-name"]),
                text(e, &["detail", "image-tag"]),
                text(e, &["detail", "image-digest"])
            ),
        ),
        Some(e) if e["source"] == "aws.cloudwatch" => (
            LetterKind::AlarmChange,
            format!(
                "{} → {}",
                text(e, &["detail", "alarmName"]),
                text(e, &["detail", "state", "value"])
            ),
        ),
        Some(e) if !sns_messages(e).is_empty() => {
            let n: Option<crate::notify::Notification> =
                serde_json::from_str(&sns_messages(e)[0]).ok();
            (
                LetterKind::Notification,
                n.map_or_else(
                    || "a message of the topic".into(),
                    |n| {
                        format!(
                            "{}/{} {} ({})",
                            n.app,
                            n.environment,
                            n.event,
                            n.deployment.as_deref().unwrap_or("-")
                        )
                    },
                ),
            )
        }
        Some(_) => (
            LetterKind::Unknown,
            "an event greenlight does not act on".into(),
        ),
        None => (LetterKind::Unknown, "a message that is not JSON".into()),
    };
    Letter {
        id: letter.id.clone(),
        kind,
        summary,
        failure,
        sent_at: letter.sent_at,
        event,
        receipt: letter.receipt.clone(),
    }
}

/// The messages of the topic a letter holds: SNS's delivery to the event relay (Lambda's
/// on-failure record keeps it), or the SNS message itself (what the subscription's own
/// redrive policy puts in the queue when SNS could not invoke the relay at all).
fn sns_messages(e: &Value) -> Vec<String> {
    if e["Type"] == "Notification" {
        return e["Message"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect();
    }
    e["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Sns"]["Message"].as_str().map(str::to_string))
        .collect()
}

/// How long a listing or replay hides the messages it read from other readers.
const HIDE: Duration = Duration::from_secs(60);
/// At most this many letters are read in one run.
const MAX: usize = 1000;

/// Every letter in the queue (they stay there).
pub async fn list<P: DeadLetters>(p: &P, queue: &str) -> Result<Vec<Letter>, PortError> {
    Ok(p.dead_letters(queue, MAX, Duration::ZERO)
        .await?
        .iter()
        .map(read)
        .collect())
}

/// What `greenlight dead-letters` lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub letters: Vec<Letter>,
}

/// What `greenlight dead-letters --replay` did, letter by letter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub replayed: Vec<Replayed>,
}

/// What `--replay` did with one letter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replayed {
    #[serde(flatten)]
    pub letter: Letter,
    /// Whether it left the queue.
    pub removed: bool,
    pub result: String,
}

/// Acts on every letter: pushes go through `on_push` again; alarm changes are dropped
/// (see the module doc); what greenlight does not understand stays in the queue. A push
/// whose replay fails stays too, with the reason.
pub async fn replay<P>(
    p: &P,
    queue: &str,
    state_machine: &Arn,
    topic: &Arn,
) -> Result<Vec<Replayed>, PortError>
where
    P: DeadLetters + StateStore + Executions + Notifier + EventBus + Clock,
{
    let mut out = Vec::new();
    for letter in p.dead_letters(queue, MAX, HIDE).await?.iter().map(read) {
        let (remove, result) = match (letter.kind, &letter.event) {
            (LetterKind::Push, Some(event)) => {
                match super::on_push::on_push(p, event, state_machine, topic).await {
                    Ok(o) => (
                        true,
                        format!(
                            "replayed: {} started, {} already started before{}",
                            o.started.len(),
                            o.duplicates.len(),
                            o.ignored
                                .map(|i| format!(", ignored: {i}"))
                                .unwrap_or_default()
                        ),
                    ),
                    Err(e) => (false, format!("still failing, left in the queue: {e}")),
                }
            }
            (LetterKind::AlarmChange, _) => (
                true,
                "dropped: the bake checks read alarm states at every interval".into(),
            ),
            (LetterKind::Notification, Some(event)) => {
                match super::events::forward(p, &sns_messages(event)).await {
                    Ok(f) => (
                        true,
                        format!("replayed: {} event(s) put on the bus", f.forwarded),
                    ),
                    Err(e) => (false, format!("still failing, left in the queue: {e}")),
                }
            }
            _ => (
                false,
                "left in the queue: not an event greenlight acts on".into(),
            ),
        };
        let removed = remove && p.delete_dead_letter(queue, &letter.receipt).await.is_ok();
        if !removed {
            // What stays is shown again at once, so the next listing sees it.
            let _ = p.show_dead_letter(queue, &letter.receipt).await;
        }
        out.push(Replayed {
            letter,
            removed,
            result,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &str) -> DeadLetter {
        DeadLetter {
            id: "m-1".into(),
            receipt: "r-1".into(),
            body: body.into(),
            sent_at: None,
        }
    }

    #[test]
    fn reads_both_shapes_and_says_why_it_failed() {
        let event = serde_json::json!({"source": "aws.ecr", "detail": {"repository-name": "web", "image-tag": "v2", "image-digest": "sha256:ab"}});
        let raw = read(&letter(&event.to_string()));
        assert_eq!(raw.kind, LetterKind::Push);
        assert_eq!(raw.summary, "web:v2 (sha256:ab)");
        assert_eq!(raw.failure, None);
        let record = serde_json::json!({
            "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": event,
            "responsePayload": {"errorType": "Greenlight.Retryable", "errorMessage": "dynamodb:GetItem: throttled"}
        });
        let failed = read(&letter(&record.to_string()));
        assert_eq!(failed.kind, LetterKind::Push);
        assert_eq!(
            failed.failure.as_deref(),
            Some("dynamodb:GetItem: throttled")
        );
        let alarm = serde_json::json!({"source": "aws.cloudwatch", "detail": {"alarmName": "web-5xx", "state": {"value": "ALARM"}}});
        assert_eq!(read(&letter(&alarm.to_string())).summary, "web-5xx → ALARM");
        assert_eq!(read(&letter("not json")).kind, LetterKind::Unknown);
    }
}
