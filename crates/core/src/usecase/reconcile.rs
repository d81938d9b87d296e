//! reconcile: the scheduled safety net for lost pushes. ECR's events are best-effort, and an
//! on-push invocation that fails after Lambda's retries ends in the dead-letter queue; either
//! way a push can go unacted on. Every period, for every environment that deploys on push,
//! reconcile finds the newest tagged image in the app's repository whose tag matches the
//! environment's patterns and starts its deployment when nothing has acted on it yet:
//!
//! - **attempted**: a deployment of that digest is in the environment's history (in flight,
//!   live, or ended — a digest that failed is not retried on a timer);
//! - **superseded**: a deployment started in the environment after the image was pushed (an
//!   operator's rollback or a later push moved the environment on; deploying the older
//!   image now would undo that);
//! - **live**: the live colour already runs that digest (an environment adopted with its
//!   current image, or deployed outside greenlight);
//! - otherwise it is **missing**, and reconcile starts it exactly as on-push would have, under
//!   the same deterministic execution name, so a push whose event arrives late, or is
//!   replayed from the dead-letter queue, does not deploy twice.
//!
//! Only the newest matching image counts: a lost push that a newer one has overtaken stays
//! undeployed, as it would have been replaced anyway. A lost re-push of a digest that was
//! already attempted is not recovered (ECR keeps the first push time of a digest, so
//! reconcile cannot tell a re-push from the first one): push it again, or replay it from the
//! dead-letter queue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::config::{Environment, Trigger};
use crate::errors::{ErrorCode, ErrorName};
use crate::matching::{execution_name, DeploymentRequest};
use crate::ports::{
    Clock, ContainerService, Executions, ImageInfo, ImageRegistry, LoadBalancer, PortError,
    StartOutcome, StateStore,
};
use crate::rollout::StepError;

/// What reconcile found in one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// No tagged image matches the environment's patterns.
    NoImage,
    Attempted,
    Superseded,
    Live,
    /// Missing, and started now.
    Started,
    /// Missing, but an execution of that name exists already (its event arrived meanwhile).
    AlreadyStarted,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::NoImage => "no_image",
            Finding::Attempted => "attempted",
            Finding::Superseded => "superseded",
            Finding::Live => "live",
            Finding::Started => "started",
            Finding::AlreadyStarted => "already_started",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One environment's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    pub app: String,
    pub environment: String,
    pub finding: Finding,
    /// The newest matching image (`web:v2.0.0@sha256:…`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The deployment started (or found started), for `started`/`already_started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileOutput {
    pub checked: Vec<Checked>,
}

impl ReconcileOutput {
    /// The deployments this run started.
    pub fn started(&self) -> Vec<&str> {
        self.checked
            .iter()
            .filter(|c| c.finding == Finding::Started)
            .filter_map(|c| c.deployment.as_deref())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("no configuration is stored; run `greenlight config apply greenlight.yaml`")]
    NotConfigured,
    /// Some environments could not be checked (the others were): each with why. The next
    /// period tries them again.
    #[error("could not check {}", .failed.join("; "))]
    Incomplete {
        failed: Vec<String>,
        retryable: bool,
        done: ReconcileOutput,
    },
}

impl ErrorName for ReconcileError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ReconcileError::NotConfigured => ErrorCode::NotConfigured,
            ReconcileError::Incomplete {
                retryable: true, ..
            } => ErrorCode::Retryable,
            ReconcileError::Incomplete { .. } => ErrorCode::AwsError,
        }
    }
}

/// Checks every environment that deploys on push (see the module's documentation). An
/// environment that cannot be checked does not stop the others; the run then fails, naming
/// each, so that the failure is seen (the function's error metric) and the next period
/// retries.
pub async fn reconcile<P>(p: &P, state_machine: &Arn) -> Result<ReconcileOutput, ReconcileError>
where
    P: StateStore + Executions + ImageRegistry + LoadBalancer + ContainerService + Clock,
{
    let config = p
        .get_config()
        .await
        .map_err(|e| ReconcileError::Incomplete {
            failed: vec![format!("the stored configuration: {e}")],
            retryable: e.is_retryable(),
            done: ReconcileOutput::default(),
        })?
        .ok_or(ReconcileError::NotConfigured)?
        .config;
    let mut out = ReconcileOutput::default();
    let mut failed = Vec::new();
    let mut retryable = true;
    let mut images: BTreeMap<String, Result<Vec<ImageInfo>, PortError>> = BTreeMap::new();
    for (app_name, app) in &config.apps {
        for (env_name, env) in &app.environments {
            if !matches!(env.trigger, Trigger::OnPush(_)) {
                continue;
            }
            if !images.contains_key(&app.repository) {
                let listed = p.tagged_images(&app.repository).await;
                images.insert(app.repository.clone(), listed);
            }
            let listed = match &images[&app.repository] {
                Ok(listed) => listed,
                Err(e) => {
                    retryable &= e.is_retryable();
                    failed.push(format!("{app_name}/{env_name}: {e}"));
                    continue;
                }
            };
            match check(
                p,
                state_machine,
                app_name,
                env_name,
                env,
                &app.container,
                listed,
            )
            .await
            {
                Ok(c) => out.checked.push(c),
                Err(e) => {
                    retryable &= e.code() == ErrorCode::Retryable;
                    failed.push(format!("{app_name}/{env_name}: {e}"));
                }
            }
        }
    }
    if failed.is_empty() {
        Ok(out)
    } else {
        Err(ReconcileError::Incomplete {
            failed,
            retryable,
            done: out,
        })
    }
}

/// The newest image (by first push time) with a tag the environment deploys on push, that
/// tag, and the pattern it matches (the rule on-push applies). Ties go to the image listed
/// last.
pub fn newest_matching<'a>(
    env: &'a Environment,
    images: &'a [ImageInfo],
) -> Option<(&'a ImageInfo, &'a str, &'a str)> {
    let Trigger::OnPush(rule) = &env.trigger else {
        return None;
    };
    images
        .iter()
        .filter_map(|i| {
            i.tags
                .iter()
                .find_map(|t| Some((i, t.as_str(), rule.pattern_for(t)?)))
        })
        .max_by_key(|(i, _, _)| i.pushed_at)
}

async fn check<P>(
    p: &P,
    state_machine: &Arn,
    app: &str,
    environment: &str,
    env: &Environment,
    container: &str,
    images: &[ImageInfo],
) -> Result<Checked, StepError>
where
    P: StateStore + Executions + LoadBalancer + ContainerService,
{
    let mut checked = Checked {
        app: app.to_string(),
        environment: environment.to_string(),
        finding: Finding::NoImage,
        image: None,
        deployment: None,
    };
    let Some((newest, tag, pattern)) = newest_matching(env, images) else {
        return Ok(checked);
    };
    let digest = &newest.image.digest;
    checked.image = Some(format!("{}:{tag}@{digest}", newest.image.repository));
    let history = p.history(app, environment, 1000).await?;
    if history.iter().any(|r| r.image.digest == *digest) {
        checked.finding = Finding::Attempted;
        return Ok(checked);
    }
    if let Some(pushed) = newest.pushed_at {
        if history.iter().any(|r| r.started_at > pushed) {
            checked.finding = Finding::Superseded;
            return Ok(checked);
        }
    }
    let there = super::reach::ports_for(p, env, "greenlight-reconcile")?;
    let (_, _, _, live) = super::promote::live_service(&*there, env, container).await?;
    if live == *digest {
        checked.finding = Finding::Live;
        return Ok(checked);
    }
    // Exactly what on-push starts for this push: the same request, the same name.
    let request = DeploymentRequest {
        app: app.to_string(),
        environment: environment.to_string(),
        image: newest.image.clone(),
        tag: Some(tag.to_string()),
        execution_name: execution_name(app, environment, digest, 1),
        matched: pattern.to_string(),
    };
    checked.finding = match super::on_push::start(p, state_machine, &request, None).await? {
        StartOutcome::Started { .. } => Finding::Started,
        StartOutcome::AlreadyExists { .. } => Finding::AlreadyStarted,
    };
    checked.deployment = Some(request.execution_name);
    Ok(checked)
}
