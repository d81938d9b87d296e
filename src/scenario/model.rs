//! What a scenario is: its steps, the actions they take, and the outcomes it expects.

use chrono::{DateTime, Utc};
use greenlight_core::Duration;
use greenlight_sim::Behaviour;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario rehearses.
    pub name: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// What every environment runs before the first step.
    #[serde(default)]
    pub initial: Initial,
    pub steps: Vec<Step>,
    /// Outcomes the scenario expects; any that does not happen fails it.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Initial {
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default = "default_tasks")]
    pub tasks: u32,
}

fn default_image() -> String {
    "initial".into()
}
fn default_tasks() -> u32 {
    2
}

impl Default for Initial {
    fn default() -> Self {
        Initial {
            image: default_image(),
            tasks: default_tasks(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, from the start: `0s`, `5m`, `1h30m`.
    pub at: Duration,
    /// Where the step was written (for messages); not part of the format.
    #[serde(skip)]
    pub span: greenlight_core::yaml::Span,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An image pushed to ECR (the push event reaches greenlight `times` times). Without a
    /// tag, a push by digest.
    Push {
        repository: String,
        #[serde(default)]
        tag: Option<String>,
        /// A name for the image; the same name is the same digest.
        image: String,
        #[serde(default)]
        behaviour: BehaviourSpec,
        #[serde(default = "one")]
        times: u32,
    },
    /// `greenlight promote`; with `image`, `--digest` of that image.
    Promote {
        app: String,
        from: String,
        to: String,
        #[serde(default)]
        image: Option<String>,
        #[serde(default = "someone")]
        by: String,
    },
    Approve {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
    },
    Reject {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
        #[serde(default)]
        reason: String,
    },
    /// `greenlight rollback`: stop a running deployment, or flip a finished one back.
    Rollback {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
    },
    /// Forces an alarm's state (ALARM or OK) for a while, as if CloudWatch said so.
    Alarm {
        name: String,
        state: String,
        #[serde(default, rename = "for")]
        duration: Option<Duration>,
        /// The reason CloudWatch gives (default: "forced by the scenario").
        #[serde(default)]
        reason: Option<String>,
    },
    /// The next `times` calls of `operation` fail (e.g. `elbv2:ModifyListener`,
    /// `ecs:UpdateService`, `lambda:Invoke/greenlight-shift`); `times: always` for good.
    Fault {
        operation: String,
        error: String,
        #[serde(default)]
        times: Times,
    },
    /// A lock held by a deployment that died, expiring after `for`.
    StaleLock {
        app: String,
        environment: String,
        #[serde(rename = "for")]
        duration: Duration,
    },
}

fn one() -> u32 {
    1
}

/// How many calls a fault hits: a number, or `always`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Times {
    Count(u32),
    Word(String),
}

impl Default for Times {
    fn default() -> Self {
        Times::Count(1)
    }
}

impl Times {
    pub fn count(&self) -> Result<u32, String> {
        match self {
            Times::Count(n) => Ok(*n),
            Times::Word(w) if w == "always" => Ok(u32::MAX),
            Times::Word(w) => Err(format!("`{w}` is not a number of calls or `always`")),
        }
    }
}
fn someone() -> String {
    "scenario".into()
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(untagged)]
pub enum BehaviourSpec {
    #[default]
    #[serde(skip)]
    Default,
    Named(String),
    Custom {
        #[serde(default)]
        start_secs: Option<u64>,
        #[serde(default)]
        crash_on_start: bool,
        #[serde(default)]
        never_healthy: bool,
        #[serde(default)]
        error_rate: f64,
        /// How long after they start the tasks' health check stops passing.
        #[serde(default)]
        unhealthy_after: Option<Duration>,
        /// Median response time: `40ms`, `1.5s`.
        #[serde(default)]
        latency_p50: Option<String>,
        /// 99th percentile response time: `480ms`.
        #[serde(default)]
        latency_p99: Option<String>,
        /// Share of requests answered with 500, in percent: `1.2%` (instead of `error_rate`).
        #[serde(default)]
        errors: Option<String>,
    },
}

/// `480ms` or `1.5s`, in milliseconds.
fn milliseconds(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, factor) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!(
            "`{text}` is not a response time; write e.g. `480ms` or `1.5s`"
        ));
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * factor),
        _ => Err(format!(
            "`{text}` is not a response time; write e.g. `480ms` or `1.5s`"
        )),
    }
}

/// `1.2%`, as a fraction.
fn percent(text: &str) -> Result<f64, String> {
    match text
        .trim()
        .strip_suffix('%')
        .map(|n| n.trim().parse::<f64>())
    {
        Some(Ok(v)) if (0.0..=100.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!(
            "`{text}` is not a share of requests; write e.g. `1.2%`"
        )),
    }
}

impl BehaviourSpec {
    pub fn behaviour(&self) -> Result<Behaviour, String> {
        Ok(match self {
            BehaviourSpec::Default => Behaviour::healthy(),
            BehaviourSpec::Named(n) => match n.as_str() {
                "healthy" => Behaviour::healthy(),
                "crash_on_start" => Behaviour::crashing(),
                "never_healthy" => Behaviour::never_healthy(),
                "5xx" => Behaviour::erroring(0.5),
                "slow" => Behaviour::slow(300),
                other => return Err(format!("unknown behaviour `{other}`; use healthy, crash_on_start, never_healthy, 5xx, slow or a mapping")),
            },
            BehaviourSpec::Custom {
                start_secs,
                crash_on_start,
                never_healthy,
                error_rate,
                unhealthy_after,
                latency_p50,
                latency_p99,
                errors,
            } => {
                let healthy = Behaviour::healthy();
                let p50 = latency_p50.as_deref().map(milliseconds).transpose()?;
                let p99 = latency_p99.as_deref().map(milliseconds).transpose()?;
                let latency_p50_ms = p50.unwrap_or(healthy.latency_p50_ms);
                let latency_p99_ms = p99.unwrap_or(healthy.latency_p99_ms.max(latency_p50_ms));
                if latency_p99_ms < latency_p50_ms {
                    return Err(format!(
                        "latency_p99 ({latency_p99_ms}ms) is below latency_p50 ({latency_p50_ms}ms)"
                    ));
                }
                let error_rate = match errors {
                    Some(e) if *error_rate != 0.0 => {
                        return Err(format!("give `errors: {e}` or `error_rate`, not both"))
                    }
                    Some(e) => percent(e)?,
                    None => *error_rate,
                };
                Behaviour {
                    start_secs: start_secs.unwrap_or(healthy.start_secs),
                    crash_on_start: *crash_on_start,
                    never_healthy: *never_healthy,
                    error_rate,
                    unhealthy_after_secs: unhealthy_after.map(Duration::as_secs),
                    latency_p50_ms,
                    latency_p99_ms,
                }
            }
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub app: String,
    pub environment: String,
    /// The tag (or image name) of the deployment.
    pub tag: String,
    pub outcome: String,
}

/// The outcome an expectation names when nothing may be deployed.
pub const NO_DEPLOYMENT: &str = "none";

/// When every scenario starts (virtual time): step `at` offsets count from here.
pub const START: DateTime<Utc> = DateTime::from_timestamp(1_795_165_200, 0).unwrap();
