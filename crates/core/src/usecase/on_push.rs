//! on_push: an ECR push event starts the deployments it matches. The execution name is
//! deterministic, so the same event delivered twice starts one deployment.

use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::errors::{ErrorCode, ErrorName};
use crate::event::{parse_event, EcrEvent, EventError};
use crate::matching::match_push;
use crate::notify::{EventKind, Notification};
use crate::ports::{Clock, Executions, Notifier, PortError, StartOutcome, StateStore, TriggerInfo};
use crate::rollout::StartInput;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnPushOutput {
    /// Executions started: (deployment, execution ARN).
    pub started: Vec<(String, String)>,
    /// Deployments that exist already (a duplicate event, or a digest deployed before).
    pub duplicates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnPushError {
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
    #[error("no configuration is stored; run `greenlight config apply greenlight.yaml`")]
    NotConfigured,
    #[error("{0}")]
    Aws(#[from] PortError),
}

impl ErrorName for OnPushError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OnPushError::InvalidEvent(_) => ErrorCode::InvalidEvent,
            OnPushError::NotConfigured => ErrorCode::NotConfigured,
            OnPushError::Aws(e) if e.is_retryable() => ErrorCode::Retryable,
            OnPushError::Aws(_) => ErrorCode::AwsError,
        }
    }
}

pub async fn on_push<P>(
    p: &P,
    event: &serde_json::Value,
    state_machine: &Arn,
    default_topic: &Arn,
) -> Result<OnPushOutput, OnPushError>
where
    P: StateStore + Executions + Notifier + Clock,
{
    let push = match parse_event(event)? {
        EcrEvent::Push(push) => {
            // Only pushes of the stack's own account and region: another account's event
            // (a misrouted bus, a forged put) deploys nothing.
            if let Ok(own) = state_machine.parts() {
                let (account, region) = (
                    push.account.clone().unwrap_or_default(),
                    push.region.clone().unwrap_or_default(),
                );
                if account != own.account || region != own.region {
                    return Err(OnPushError::InvalidEvent(EventError::Foreign {
                        account,
                        region,
                        expected_account: own.account.to_string(),
                        expected_region: own.region.to_string(),
                    }));
                }
            }
            push
        }
        EcrEvent::Ignored(reason) => {
            return Ok(OnPushOutput {
                ignored: Some(reason),
                ..Default::default()
            })
        }
    };
    let config = p
        .get_config()
        .await?
        .ok_or(OnPushError::NotConfigured)?
        .config;
    let matched = match_push(&config, &push);
    let mut out = OnPushOutput {
        ignored: matched.ignored.clone(),
        ..Default::default()
    };
    if matched.deployments.is_empty() {
        // Tell the app's subscribers why their push did nothing (only for repositories
        // greenlight knows; pushes elsewhere are none of its business).
        if let Some(s) = matched.skipped.first() {
            let mut n = Notification::new(EventKind::Ignored, &s.app, "", p.now());
            n.image = Some(push.image.to_string());
            n.tag = push.tag.clone();
            n.reason = matched.ignored.clone();
            p.publish(default_topic, &n).await?;
        }
        return Ok(out);
    }
    for d in matched.deployments {
        let input = StartInput {
            deployment: d.execution_name.clone(),
            app: d.app.clone(),
            environment: d.environment.clone(),
            image: d.image.clone(),
            tag: d.tag.clone(),
            trigger: TriggerInfo::Push {
                tag: d.tag.clone(),
                event_id: push.event_id.clone(),
            },
        };
        let json = serde_json::to_value(&input).expect("start input serializes");
        match p.start(state_machine, &d.execution_name, &json).await? {
            StartOutcome::Started { arn } => out.started.push((d.execution_name, arn)),
            StartOutcome::AlreadyExists { name } => out.duplicates.push(name),
        }
    }
    Ok(out)
}
