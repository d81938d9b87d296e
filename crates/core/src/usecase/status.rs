//! status: what runs in each environment now, read from AWS (the listener's weights, the
//! live service's image) and the state store (the deployment holding the lock). The view
//! `greenlight status` prints, and prints as JSON with `--json`.

use serde::{Deserialize, Serialize};

use crate::config::{Colour, Config};
use crate::image::Digest;
use crate::ports::{
    Clock, ContainerService, ImageRegistry, LoadBalancer, Phase, PortError, StateStore,
};

/// Every environment asked for, with the configuration version it was read against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub config_version: u64,
    pub environments: Vec<EnvironmentStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentStatus {
    pub app: String,
    pub environment: String,
    /// The colour serving all production traffic; `null` while traffic is split.
    pub live: Option<Colour>,
    /// The live colour's image (`…/web@sha256:…`).
    pub image: Option<String>,
    /// A tag of that image in ECR.
    pub tag: Option<String>,
    /// The commit the live image was built from (its OCI label, as recorded when it was
    /// deployed); `null` when unknown.
    #[serde(default)]
    pub revision: Option<String>,
    /// The production listener's weights, described (`blue 80%, green 20%`); for a worker
    /// service, each colour's tasks (`blue 3 tasks, green 1 task`).
    pub weights: String,
    /// The deployment holding the environment's lock.
    pub in_flight: Option<InFlight>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub deployment: String,
    pub phase: Phase,
    /// The new colour's share of production traffic.
    pub weight: u8,
    pub colour: Option<Colour>,
    /// The commit the deployed image was built from, when its labels say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The canary analysis's last report, when the environment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::AnalysisReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("no configuration is stored; run `greenlight config apply greenlight.yaml`")]
    NotConfigured,
    /// An app or environment the stored configuration does not have.
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Aws(#[from] PortError),
}

impl crate::errors::ErrorName for StatusError {
    fn error_code(&self) -> crate::errors::ErrorCode {
        use crate::errors::ErrorCode;
        match self {
            StatusError::NotConfigured | StatusError::Unknown(_) => ErrorCode::NotConfigured,
            StatusError::Aws(e) => e.error_code(),
        }
    }
}

/// The status of every environment (of `app`, and named `environment`, when given) in the
/// stored configuration.
pub async fn status<P>(
    p: &P,
    app: Option<&str>,
    environment: Option<&str>,
) -> Result<Status, StatusError>
where
    P: StateStore + LoadBalancer + ContainerService + ImageRegistry + Clock,
{
    let stored = p.get_config().await?.ok_or(StatusError::NotConfigured)?;
    let config: &Config = &stored.config;
    known(config, app, environment)?;
    let mut environments = Vec::new();
    for (app_name, a) in config
        .apps
        .iter()
        .filter(|(n, _)| app.is_none_or(|f| f == *n))
    {
        for (env_name, env) in a
            .environments
            .iter()
            .filter(|(n, _)| environment.is_none_or(|f| f == *n))
        {
            let there = super::reach::ports_for(p, env, "greenlight-status")?;
            let live = match super::live_colour(&*there, env).await {
                Ok(c) => Some(c),
                Err(
                    crate::rollout::StepError::Retryable(e) | crate::rollout::StepError::Aws(e),
                ) => return Err(e.into()),
                Err(_) => None,
            };
            let (mut image, mut tag, mut revision) = (None, None, None);
            if let Some(c) = live {
                let service = there
                    .describe_service(&env.cluster, env.services.get(c))
                    .await?;
                let running = there
                    .container_image(&service.task_definition, &a.container)
                    .await?;
                if let Some(d) = running
                    .rsplit_once('@')
                    .and_then(|(_, d)| Digest::parse(d).ok())
                {
                    // A tag is a nicety: an image ECR no longer has is shown by digest.
                    tag = p
                        .image_by_digest(&a.repository, &d)
                        .await
                        .ok()
                        .and_then(|i| i.tags.into_iter().next());
                    // As recorded by the deployment that brought it (labels are read once).
                    revision = p
                        .history(app_name, env_name, 20)
                        .await?
                        .into_iter()
                        .find(|r| r.image.digest == d && r.source.revision.is_some())
                        .and_then(|r| r.source.revision);
                }
                image = Some(running);
            }
            let in_flight = match p.get_lock(app_name, env_name).await? {
                Some(lock) if lock.expires_at > p.now() => {
                    p.get_deployment(&lock.owner).await?.map(|r| InFlight {
                        deployment: r.id,
                        phase: r.phase,
                        weight: r.weight,
                        colour: r.colour,
                        revision: r.source.revision,
                        analysis: r.analysis,
                    })
                }
                _ => None,
            };
            environments.push(EnvironmentStatus {
                app: app_name.clone(),
                environment: env_name.clone(),
                live,
                image,
                tag,
                revision,
                weights: super::describe_traffic(&*there, env).await?,
                in_flight,
            });
        }
    }
    Ok(Status {
        config_version: stored.version,
        environments,
    })
}

/// Refuses an app or environment the configuration does not have (a typo would otherwise
/// show nothing, as if nothing were deployed), naming what it has.
pub(super) fn known(
    config: &Config,
    app: Option<&str>,
    environment: Option<&str>,
) -> Result<(), StatusError> {
    let apps: Vec<&str> = config.apps.keys().map(String::as_str).collect();
    let in_apps: Vec<_> = config
        .apps
        .iter()
        .filter(|(n, _)| app.is_none_or(|a| a == *n))
        .collect();
    if let Some(a) = app.filter(|_| in_apps.is_empty()) {
        return Err(StatusError::Unknown(format!(
            "no app `{a}` in the stored configuration (it has: {})",
            apps.join(", ")
        )));
    }
    if let Some(e) = environment {
        let envs: Vec<&str> = in_apps
            .iter()
            .flat_map(|(_, a)| a.environments.keys().map(String::as_str))
            .collect();
        if !envs.contains(&e) {
            return Err(StatusError::Unknown(format!(
                "no environment `{e}` in the stored configuration{} (it has: {})",
                app.map(|a| format!(" of `{a}`")).unwrap_or_default(),
                envs.join(", ")
            )));
        }
    }
    Ok(())
}

/// `greenlight history`: the newest `limit` deployments of an environment, newest first.
/// An environment with no history that the stored configuration does not have either is an
/// error naming what there is (a typo); the history of one removed from the configuration
/// still shows.
pub async fn history<P: StateStore>(
    p: &P,
    app: &str,
    environment: &str,
    limit: usize,
) -> Result<Vec<crate::ports::DeploymentRecord>, StatusError> {
    let records = p.history(app, environment, limit).await?;
    if records.is_empty() {
        if let Some(stored) = p.get_config().await? {
            known(&stored.config, Some(app), Some(environment))?;
        }
    }
    Ok(records)
}
