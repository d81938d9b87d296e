//! on_push: an ECR push event starts the deployments it matches. The execution name is
//! deterministic, so the same event delivered twice starts one deployment.
//!
//! A digest pushed again is a new attempt (`-r2`, `-r3`, …) when its last attempt in the
//! environment did not leave it live (rolled back, rejected, aborted, or replaced since);
//! while it is in flight or live, another push of it (a second tag, a re-tag) starts
//! nothing. A push event already recorded on an attempt is a duplicate delivery.

use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::errors::{ErrorCode, ErrorName};
use crate::event::{parse_event, EcrEvent, EventError};
use crate::matching::{execution_name, match_push, DeploymentRequest};
use crate::notify::{EventKind, Notification};
use crate::ports::{Clock, Executions, Notifier, PortError, StartOutcome, StateStore, TriggerInfo};
use crate::rollout::StartInput;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnPushOutput {
    /// Executions started: (deployment, execution ARN).
    pub started: Vec<(String, String)>,
    /// Deployments that exist already: a duplicate delivery of the event, or a digest
    /// that is in flight or live in that environment.
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
            OnPushError::Aws(e) => e.error_code(),
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
    for mut d in matched.deployments {
        match attempt(
            p,
            &d.app,
            &d.environment,
            &push.image.digest,
            &push.event_id,
        )
        .await?
        {
            Attempt::Existing(id) => {
                out.duplicates.push(id);
                continue;
            }
            Attempt::New(n) => {
                d.execution_name = execution_name(&d.app, &d.environment, &push.image.digest, n)
            }
        }
        match start(p, state_machine, &d, push.event_id.clone()).await? {
            StartOutcome::Started { arn } => out.started.push((d.execution_name, arn)),
            StartOutcome::AlreadyExists { name } => out.duplicates.push(name),
        }
    }
    Ok(out)
}

/// Starts the deployment a push asks for, under its execution name: an execution of that
/// name that exists already (a duplicate delivery, or reconcile's start of the same push)
/// starts nothing.
pub(crate) async fn start<E: Executions>(
    p: &E,
    state_machine: &Arn,
    d: &DeploymentRequest,
    event_id: Option<String>,
) -> Result<StartOutcome, PortError> {
    let input = StartInput {
        deployment: d.execution_name.clone(),
        app: d.app.clone(),
        environment: d.environment.clone(),
        image: d.image.clone(),
        tag: d.tag.clone(),
        trigger: TriggerInfo::Push {
            tag: d.tag.clone(),
            event_id,
        },
    };
    let json = serde_json::to_value(&input).map_err(|e| PortError::Invalid {
        operation: "states:StartExecution".into(),
        message: format!("the start input does not serialize: {e}"),
    })?;
    p.start(state_machine, &d.execution_name, &json).await
}

enum Attempt {
    /// A deployment this push is already part of (its id).
    Existing(String),
    /// Start attempt N.
    New(u32),
}

/// Which attempt a push of `digest` to (app, environment) is, from the environment's
/// history (see the module's documentation).
async fn attempt<S: StateStore>(
    store: &S,
    app: &str,
    environment: &str,
    digest: &crate::Digest,
    event_id: &Option<String>,
) -> Result<Attempt, PortError> {
    let history = store.history(app, environment, 1000).await?;
    let tried: Vec<_> = history
        .iter()
        .filter(|r| r.image.digest == *digest)
        .collect();
    let same_event = tried.iter().find(|r| {
        event_id.is_some()
            && matches!(&r.trigger, TriggerInfo::Push { event_id: e, .. } if e == event_id)
    });
    if let Some(r) = same_event {
        return Ok(Attempt::Existing(r.id.clone()));
    }
    let Some(last) = tried.first() else {
        return Ok(Attempt::New(1));
    };
    let live = history
        .iter()
        .find(|r| r.took_environment())
        .is_some_and(|r| r.id == last.id && r.outcome == Some(crate::ports::Outcome::Succeeded));
    if last.outcome.is_none() || live {
        return Ok(Attempt::Existing(last.id.clone()));
    }
    Ok(Attempt::New(tried.len() as u32 + 1))
}
