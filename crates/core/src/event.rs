//! ECR push events as EventBridge delivers them (`source: aws.ecr`,
//! `detail-type: ECR Image Action`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::image::{Digest, ImageRef};

pub const ECR_SOURCE: &str = "aws.ecr";
pub const ECR_DETAIL_TYPE: &str = "ECR Image Action";

/// The `detail` of an ECR Image Action event. Fields are optional here so that a missing
/// one is reported by name rather than as a serde message.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    pub result: Option<String>,
    pub repository_name: Option<String>,
    pub image_digest: Option<String>,
    pub action_type: Option<String>,
    pub image_tag: Option<String>,
}

/// A successful push: what can start deployments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePush {
    pub image: ImageRef,
    /// `None` for a push by digest only.
    pub tag: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// The EventBridge event ID, for tracing a deployment back to its push.
    pub event_id: Option<String>,
}

/// What an ECR event means for greenlight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcrEvent {
    Push(ImagePush),
    /// A well-formed ECR event that starts nothing, and why.
    Ignored(String),
}

/// An event greenlight cannot read. These are mistakes in routing or in the event itself,
/// never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an EventBridge event: {0}")]
    Malformed(String),
    #[error("event is `{event_source}` / `{detail_type}`, not an ECR Image Action from aws.ecr; check the EventBridge rule's pattern")]
    WrongSource {
        event_source: String,
        detail_type: String,
    },
    #[error("ECR event has no `detail.{0}`")]
    MissingField(&'static str),
    #[error("ECR event `detail.image-digest`: {0}")]
    InvalidDigest(String),
    #[error("the event comes from account {account} in {region}; this stack acts only on its own account {expected_account} in {expected_region}")]
    Foreign {
        account: String,
        region: String,
        expected_account: String,
        expected_region: String,
    },
    #[error("ECR event `detail.image-tag` {0} is not an image tag: letters, digits, `_`, `.` and `-`, at most 128, not starting with `.` or `-`")]
    InvalidTag(String),
}

impl EventError {
    /// Stable Step Functions error name.
    pub fn error_name(&self) -> &'static str {
        crate::errors::ErrorCode::InvalidEvent.as_str()
    }
}

/// The OCI distribution grammar for tags, which ECR follows:
/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Reads an event from JSON.
pub fn parse_event(json: &serde_json::Value) -> Result<EcrEvent, EventError> {
    let envelope: EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(json.clone()).map_err(|e| EventError::Malformed(e.to_string()))?;
    classify(envelope)
}

/// Classifies an EventBridge envelope (as the Lambda runtime hands it over).
pub fn classify(envelope: EventBridgeEvent<serde_json::Value>) -> Result<EcrEvent, EventError> {
    if envelope.source != ECR_SOURCE || envelope.detail_type != ECR_DETAIL_TYPE {
        return Err(EventError::WrongSource {
            event_source: envelope.source,
            detail_type: envelope.detail_type,
        });
    }
    let detail: EcrImageAction = serde_json::from_value(envelope.detail)
        .map_err(|e| EventError::Malformed(format!("detail: {e}")))?;
    let action = detail
        .action_type
        .as_deref()
        .ok_or(EventError::MissingField("action-type"))?;
    let result = detail
        .result
        .as_deref()
        .ok_or(EventError::MissingField("result"))?;
    let repository = detail
        .repository_name
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or(EventError::MissingField("repository-name"))?;
    if action != "PUSH" {
        return Ok(EcrEvent::Ignored(format!(
            "{action} of an image in `{repository}`: only pushes start deployments"
        )));
    }
    if result != "SUCCESS" {
        return Ok(EcrEvent::Ignored(format!(
            "push to `{repository}` did not succeed (result {result})"
        )));
    }
    let digest_text = detail
        .image_digest
        .as_deref()
        .ok_or(EventError::MissingField("image-digest"))?;
    let digest = Digest::parse(digest_text).map_err(EventError::InvalidDigest)?;
    let tag = detail.image_tag.filter(|t| !t.is_empty());
    if let Some(t) = &tag {
        if !valid_tag(t) {
            // Quoted and cut short: a tag never reaches a name or a notification unchecked.
            let shown: String = t.chars().take(40).collect();
            return Err(EventError::InvalidTag(format!("{:?}", shown)));
        }
    }
    Ok(EcrEvent::Push(ImagePush {
        image: ImageRef { repository, digest },
        tag,
        account: envelope.account,
        region: envelope.region,
        time: envelope.time,
        event_id: envelope.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: serde_json::Value) -> serde_json::Value {
        json!({
            "version": "0", "id": "4f5ec4d5-4de4-7aad-a046-56d5cfe1df0e",
            "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-20T12:00:00Z", "region": "eu-west-1",
            "resources": [], "detail": detail
        })
    }

    fn digest() -> String {
        format!("sha256:{}", "1f".repeat(32))
    }

    #[test]
    fn a_tagged_push() {
        let e = parse_event(&event(json!({"result": "SUCCESS", "repository-name": "web", "image-digest": digest(), "action-type": "PUSH", "image-tag": "v1.2.0"}))).unwrap();
        let EcrEvent::Push(push) = e else {
            panic!("{e:?}")
        };
        assert_eq!(push.tag.as_deref(), Some("v1.2.0"));
        assert_eq!(push.image.to_string(), format!("web@{}", digest()));
        assert_eq!(push.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn tags_outside_the_grammar_are_refused_before_they_reach_a_name() {
        for bad in ["-x", ".x", "v1 ; rm", "v1\n\u{7}", &"a".repeat(129), "ü"] {
            let e = parse_event(&event(
                json!({"result": "SUCCESS", "repository-name": "web", "image-digest": digest(), "action-type": "PUSH", "image-tag": bad}),
            ));
            assert!(
                matches!(e, Err(EventError::InvalidTag(_))),
                "{bad:?}: {e:?}"
            );
        }
        for good in ["v1.2.0", "_x", "rc-1", "A_b.c-d", &"a".repeat(128)] {
            assert!(valid_tag(good), "{good}");
        }
        let e = parse_event(&event(json!({"result": "SUCCESS", "repository-name": "web", "image-digest": digest(), "action-type": "PUSH", "image-tag": "x\u{1b}[31m"}))).unwrap_err();
        assert!(
            !e.to_string().contains('\u{1b}'),
            "no raw control characters: {e}"
        );
    }

    #[test]
    fn a_digest_only_push_has_no_tag() {
        let e = parse_event(&event(json!({"result": "SUCCESS", "repository-name": "web", "image-digest": digest(), "action-type": "PUSH"}))).unwrap();
        assert!(matches!(e, EcrEvent::Push(ImagePush { tag: None, .. })));
    }

    #[test]
    fn failures_and_deletes_are_ignored_with_a_reason() {
        let failed = parse_event(&event(json!({"result": "FAILURE", "repository-name": "web", "action-type": "PUSH", "image-tag": "v1"}))).unwrap();
        assert_eq!(
            failed,
            EcrEvent::Ignored("push to `web` did not succeed (result FAILURE)".into())
        );
        let deleted = parse_event(&event(json!({"result": "SUCCESS", "repository-name": "web", "image-digest": digest(), "action-type": "DELETE", "image-tag": "v1"}))).unwrap();
        assert!(matches!(deleted, EcrEvent::Ignored(r) if r.starts_with("DELETE")));
    }

    #[test]
    fn malformed_events_are_typed_errors() {
        let mut wrong = event(json!({}));
        wrong["source"] = json!("aws.s3");
        assert!(matches!(
            parse_event(&wrong),
            Err(EventError::WrongSource { .. })
        ));
        assert_eq!(
            parse_event(&json!({"hello": 1})).unwrap_err().error_name(),
            "Greenlight.InvalidEvent"
        );
        assert!(matches!(
            parse_event(&json!({"hello": 1})),
            Err(EventError::Malformed(_))
        ));
        assert_eq!(
            parse_event(&event(
                json!({"result": "SUCCESS", "repository-name": "web", "action-type": "PUSH"})
            )),
            Err(EventError::MissingField("image-digest"))
        );
        assert!(matches!(
            parse_event(&event(
                json!({"result": "SUCCESS", "repository-name": "web", "image-digest": "sha256:xyz", "action-type": "PUSH"})
            )),
            Err(EventError::InvalidDigest(_))
        ));
        assert_eq!(
            parse_event(&event(json!({"result": "SUCCESS", "action-type": "PUSH"}))),
            Err(EventError::MissingField("repository-name"))
        );
        assert!(matches!(
            parse_event(&event(json!("text"))),
            Err(EventError::Malformed(_))
        ));
    }
}
