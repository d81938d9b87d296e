//! `greenlight.yaml`: which apps greenlight deploys, where, and how.
//!
//! Reading a configuration goes through three steps, all of which collect problems rather
//! than stop at the first: YAML with positions ([`crate::yaml`]), typed decoding
//! ([`crate::decode`]), then the rules that span fields ([`validate`]).

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::decode::{one_of, Decode, Diagnostics, Fields, Problem};
use crate::duration::Duration;
use crate::yaml::{join_path, Node, NodeKind, Span};

/// The configuration format version this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be 1.
    pub version: u32,
    /// Apps by name (letters, digits, `-`, `_`).
    pub apps: BTreeMap<String, App>,
}

/// One application: an ECR repository and the environments it is deployed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// ECR repository name (not URI), e.g. `web` or `team/web`.
    pub repository: String,
    /// The container in the task definition whose image greenlight replaces.
    pub container: String,
    /// Environments by name, e.g. `staging`, `prod`.
    pub environments: BTreeMap<String, Environment>,
}

/// Where and how one environment of an app runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// What starts a deployment here.
    pub trigger: Trigger,
    /// Whether a person must approve before traffic moves.
    #[serde(default)]
    pub approval: Approval,
    /// The AWS account (12 digits) of this environment's resources, when it is not the
    /// stack's. Given with `region` and `role`, or not at all (the stack's own account and
    /// region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The region of this environment's resources, e.g. `us-east-1`. Given with `account`
    /// and `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The IAM role in `account` that greenlight assumes to act there (the role of
    /// templates/target-account.yaml). Given with `account` and `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Arn>,
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// The two ECS services, one per colour.
    pub services: Colours<String>,
    /// The two target groups, one per colour, in the same order as `services`. Leave out
    /// with `listeners` for a service without a load balancer (a queue worker): its
    /// canary is then a share of tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_groups: Option<Colours<Arn>>,
    /// The listener that carries production traffic, and optionally a test listener. Leave
    /// out with `target_groups` for a service without a load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Listeners>,
    /// How traffic moves to the new colour.
    pub strategy: Strategy,
    /// What must hold for the rollout to go on.
    #[serde(default)]
    pub checks: Checks,
    /// Canary analysis: the new colour's metrics judged against the old colour's while
    /// both take traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// How long the old colour stays warm after success, for an instant rollback.
    #[serde(default = "default_rollback_window")]
    pub rollback_window: Duration,
    /// Whether the rollback window is watched: an alarm of `checks.alarms` (within
    /// seconds) or `failure_threshold` failed rounds of checks (every
    /// `checks.window_interval`) inside it revert the release; `false` keeps the window for
    /// manual rollbacks only.
    #[serde(default = "watch_by_default")]
    pub rollback_window_watch: bool,
    /// What a new deployment does when one is already running here.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Where this environment's notifications go (defaults to the stack's topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
}

fn watch_by_default() -> bool {
    true
}

fn default_rollback_window() -> Duration {
    Duration::from_mins(60)
}

/// What starts a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A successful push to the app's repository with a tag that matches a pattern.
    OnPush(OnPush),
    /// Only an explicit promotion of what is live in the named environment.
    PromoteFrom(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnPush {
    /// Tag patterns; `*` matches any run of characters, `?` one character.
    pub tags: Vec<String>,
}

impl OnPush {
    /// The first pattern `tag` matches: whether a push of it deploys here.
    pub fn pattern_for(&self, tag: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|p| crate::glob::matches(p, tag))
            .map(String::as_str)
    }
}

/// A pair of values, one per colour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Colours<T> {
    pub blue: T,
    pub green: T,
}

impl<T> Colours<T> {
    pub fn get(&self, colour: Colour) -> &T {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

/// Blue or green.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// ALB listener ARN that serves production traffic — or a listener rule's ARN, for an
    /// environment on a shared load balancer routed by host or path (greenlight then moves
    /// the weights of the rule's forward action).
    pub production: Arn,
    /// ALB listener (or listener rule) ARN pointed at the idle colour for checks before
    /// traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Arn>,
}

/// A person's approval before traffic shifts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default)]
    pub required: bool,
    /// How long to wait for an answer.
    #[serde(default = "default_approval_timeout")]
    pub timeout: Duration,
    /// What no answer within `timeout` means.
    #[serde(default)]
    pub on_timeout: TimeoutAction,
    /// Who may approve or reject, as AWS establishes it through the stack's approval URL
    /// (IAM-authenticated): principal ARNs (`arn:aws:iam::123456789012:role/release`
    /// also admits that role's sessions), with `*` wildcards, or role and user names
    /// (`ops-lead`, `release-*`). Required when `required` is true.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// The principal who promoted a deployment may not approve it.
    #[serde(default)]
    pub separate_approver: bool,
}

fn default_approval_timeout() -> Duration {
    Duration::from_mins(240)
}

impl Default for Approval {
    fn default() -> Self {
        Approval {
            required: false,
            timeout: default_approval_timeout(),
            on_timeout: TimeoutAction::default(),
            approvers: Vec::new(),
            separate_approver: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// No answer is a rejection: the deployment rolls back (the safe default).
    #[default]
    Reject,
    /// No answer is consent: the deployment goes on.
    Approve,
}

/// What to do when a deployment starts while another one holds the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// Stop the running deployment (it rolls back) and start the new one.
    Supersede,
    /// Wait for the running deployment to end, then start.
    #[default]
    Queue,
    /// Refuse the new deployment and notify.
    Reject,
}

impl Concurrency {
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Supersede => "supersede",
            Concurrency::Queue => "queue",
            Concurrency::Reject => "reject",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// SNS topic ARN.
    pub topic: Arn,
}

/// How traffic moves from the live colour to the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Strategy {
    /// All traffic at once, then the checks.
    #[serde(rename = "all_at_once")]
    AllAtOnce,
    /// `percent` of traffic for `bake`, then the rest.
    #[serde(rename = "canary")]
    Canary(Canary),
    /// `step` percent more every `interval` until all traffic has moved.
    #[serde(rename = "linear")]
    Linear(Linear),
    /// Explicit weights, each held for its bake time; the last weight is 100.
    #[serde(rename = "steps")]
    Steps(Vec<StepSpec>),
    #[serde(rename = "CodeDeployDefault.ECSAllAtOnce")]
    EcsAllAtOnce,
    #[serde(rename = "CodeDeployDefault.ECSCanary10Percent5Minutes")]
    EcsCanary10Percent5Minutes,
    #[serde(rename = "CodeDeployDefault.ECSCanary10Percent15Minutes")]
    EcsCanary10Percent15Minutes,
    #[serde(rename = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]
    EcsLinear10PercentEvery1Minutes,
    #[serde(rename = "CodeDeployDefault.ECSLinear10PercentEvery3Minutes")]
    EcsLinear10PercentEvery3Minutes,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Share of traffic for the canary, 1 to 99.
    pub percent: u8,
    pub bake: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Percent added at each step, 1 to 99.
    pub step: u8,
    pub interval: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Percent of traffic on the new colour, 1 to 100.
    pub weight: u8,
    /// How long to hold it while the checks run.
    pub bake: Duration,
}

/// What is checked while a deployment waits and bakes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// How long the new colour may take to become stable before the deployment fails.
    #[serde(default = "default_stable_timeout")]
    pub stable_timeout: Duration,
    /// Time between two checks.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// CloudWatch alarm names; any of them in ALARM fails the deployment at once.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// HTTP probes.
    #[serde(default)]
    pub probes: Vec<Probe>,
    /// Consecutive failed probe or target-health checks that fail the deployment.
    #[serde(default = "default_threshold")]
    pub failure_threshold: u32,
    /// How long all traffic on the new colour is checked, alarms watched, before the
    /// release is announced `succeeded` (default: `interval` × `failure_threshold`, the time
    /// the checks need to fail it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_bake: Option<Duration>,
    /// Time between two rounds of checks (target health, probes) in the watched rollback
    /// window; alarms cut in within seconds all window long. A probe that keeps failing
    /// reverts the release after `failure_threshold` rounds.
    #[serde(default = "default_window_interval")]
    pub window_interval: Duration,
}

impl Checks {
    /// The bake at 100%: `final_bake`, or `interval` × `failure_threshold`.
    pub fn final_bake(&self) -> Duration {
        self.final_bake.unwrap_or_else(|| {
            Duration::from_secs(
                self.interval
                    .as_secs()
                    .saturating_mul(u64::from(self.failure_threshold)),
            )
        })
    }
}

/// The load balancer's side of an environment.
#[derive(Clone, Copy, Debug)]
pub struct LoadBalanced<'a> {
    pub target_groups: &'a Colours<Arn>,
    pub listeners: &'a Listeners,
}

impl Environment {
    /// The target groups and listeners, for an environment behind a load balancer; `None`
    /// for a worker service, whose canary is a share of tasks.
    pub fn load_balancer(&self) -> Option<LoadBalanced<'_>> {
        match (&self.target_groups, &self.listeners) {
            (Some(target_groups), Some(listeners)) => Some(LoadBalanced {
                target_groups,
                listeners,
            }),
            _ => None,
        }
    }

    /// The traffic steps of this environment's strategy, the last one (100%) held for
    /// `checks.final_bake` unless the strategy gives it a bake of its own.
    pub fn plan(&self) -> Result<crate::plan::Plan, crate::plan::PlanError> {
        let mut plan = self.strategy.plan()?;
        if let Some(last) = plan.steps.last_mut().filter(|s| s.bake.is_zero()) {
            last.bake = self.checks.final_bake();
        }
        Ok(plan)
    }
}

fn default_stable_timeout() -> Duration {
    Duration::from_mins(10)
}
fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_threshold() -> u32 {
    3
}
fn default_window_interval() -> Duration {
    Duration::from_mins(5)
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            stable_timeout: default_stable_timeout(),
            interval: default_interval(),
            alarms: Vec::new(),
            probes: Vec::new(),
            failure_threshold: default_threshold(),
            final_bake: None,
            window_interval: default_window_interval(),
        }
    }
}

/// An HTTP request that must answer with the expected status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Path on the load balancer, e.g. `/healthz` (give `path` or `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Absolute URL (give `path` or `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// Which listener a `path` goes through.
    #[serde(default)]
    pub via: ProbeVia,
}

fn default_status() -> u16 {
    200
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVia {
    /// The test listener (reaches the new colour before it takes traffic).
    #[default]
    Test,
    /// The production listener (reaches whatever the weights say).
    Production,
}

/// Where an environment's resources are when they are not in the stack's own account and
/// region, and the role greenlight assumes to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    pub account: String,
    pub region: String,
    pub role: Arn,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account {} in {}", self.account, self.region)
    }
}

impl Environment {
    /// Where this environment is, when it is not in the stack's account and region (all of
    /// `account`, `region` and `role` given; validation refuses a partial set).
    pub fn place(&self) -> Option<Place> {
        match (&self.account, &self.region, &self.role) {
            (Some(account), Some(region), Some(role)) => Some(Place {
                account: account.clone(),
                region: region.clone(),
                role: role.clone(),
            }),
            _ => None,
        }
    }
}

impl Config {
    /// The environment `(app, env)`, if configured.
    pub fn environment(&self, app: &str, env: &str) -> Option<(&App, &Environment)> {
        let a = self.apps.get(app)?;
        a.environments.get(env).map(|e| (a, e))
    }
}

mod analysis;
mod decoding;
mod loading;
mod place;
mod validation;

pub use analysis::{Analysis, CustomMetric, MetricCheck, MetricKind, Tolerance, Worse};

#[allow(unused_imports)]
use decoding::*;
#[allow(unused_imports)]
use validation::*;

pub use decoding::PRESETS;
pub use loading::{load, Report};
pub use validation::{
    valid_name, validate_config, MAX_BAKE, MAX_FAILURE_THRESHOLD, MAX_INTERVAL, MAX_STABLE_TIMEOUT,
};

#[cfg(test)]
mod tests;
