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
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// The two ECS services, one per colour.
    pub services: Colours<String>,
    /// The two target groups, one per colour, in the same order as `services`.
    pub target_groups: Colours<Arn>,
    /// The listener that carries production traffic, and optionally a test listener.
    pub listeners: Listeners,
    /// How traffic moves to the new colour.
    pub strategy: Strategy,
    /// What must hold for the rollout to go on.
    #[serde(default)]
    pub checks: Checks,
    /// How long the old colour stays warm after success, for an instant rollback.
    #[serde(default = "default_rollback_window")]
    pub rollback_window: Duration,
    /// What a new deployment does when one is already running here.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Where this environment's notifications go (defaults to the stack's topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
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
    /// ALB listener ARN that serves production traffic.
    pub production: Arn,
    /// ALB listener ARN pointed at the idle colour for checks before traffic.
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

impl Default for Checks {
    fn default() -> Self {
        Checks {
            stable_timeout: default_stable_timeout(),
            interval: default_interval(),
            alarms: Vec::new(),
            probes: Vec::new(),
            failure_threshold: default_threshold(),
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

// ---------------------------------------------------------------------------------------
// Decoding

impl Decode for Config {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let version = f.required::<u32>("version", dx);
        if let Some(v) = version {
            if v != CONFIG_VERSION {
                dx.error(
                    &f.path_of("version"),
                    None,
                    format!("this greenlight reads version {CONFIG_VERSION}, not {v}"),
                );
            }
        }
        let apps_node = f.node("apps");
        let apps = f.required::<BTreeMap<String, App>>("apps", dx);
        f.finish(dx);
        if let Some(apps_node) = apps_node {
            let names = mapping_keys(apps_node);
            if names.is_empty() {
                dx.error("apps", None, "no apps are configured");
            }
            for name in names.iter().filter(|n| !valid_name(n)) {
                dx.error(&join_path("apps", name), None, format!("app name `{name}`: use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit"));
            }
        }
        Some(Config {
            version: version?,
            apps: apps?,
        })
    }
}

fn mapping_keys(node: &Node) -> Vec<&str> {
    match &node.kind {
        NodeKind::Mapping(entries) => entries.iter().map(|(k, _, _)| k.as_str()).collect(),
        _ => Vec::new(),
    }
}

impl Decode for App {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let repository: Option<String> = f.required("repository", dx);
        let container: Option<String> = f.required("container", dx);
        let envs_path = f.path_of("environments");
        let envs_node = f.node("environments");
        f.finish(dx);
        if let Some(repository) = &repository {
            check_repository(&mut Checker { dx }, &f_path(path, "repository"), repository);
        }
        let Some(envs_node) = envs_node else {
            dx.error(&envs_path, Some(node.span), "`environments` is required");
            return None;
        };
        let NodeKind::Mapping(entries) = &envs_node.kind else {
            dx.error(
                &envs_path,
                Some(envs_node.span),
                format!("expected a mapping, found {}", envs_node.describe()),
            );
            return None;
        };
        if entries.is_empty() {
            dx.error(
                &envs_path,
                Some(envs_node.span),
                "no environments are configured",
            );
        }
        let names: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
        let mut environments = BTreeMap::new();
        for (name, _, env_node) in entries {
            let ep = join_path(&envs_path, name);
            if !valid_name(name) {
                dx.error(&ep, None, format!("environment name `{name}`: use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit"));
            }
            let Some(parts) = EnvParts::decode(env_node, &ep, dx) else {
                continue;
            };
            check_environment(&mut Checker { dx }, &names, name, &parts, &ep);
            if let Some(env) = parts.complete() {
                environments.insert(name.clone(), env);
            }
        }
        Some(App {
            repository: repository?,
            container: container?,
            environments,
        })
    }
}

fn f_path(path: &str, key: &str) -> String {
    join_path(path, key)
}

/// An environment's fields as far as they decoded: a field is `None` when it was invalid
/// (or missing and required). Optional fields hold their default when absent.
#[derive(Default)]
struct EnvParts {
    trigger: Option<Trigger>,
    approval: Option<Approval>,
    cluster: Option<String>,
    services: Option<Colours<String>>,
    target_groups: Option<Colours<Arn>>,
    listeners: Option<Listeners>,
    strategy: Option<Strategy>,
    checks: Option<Checks>,
    rollback_window: Option<Duration>,
    concurrency: Option<Concurrency>,
    notifications: Option<Option<Notifications>>,
}

impl EnvParts {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let parts = EnvParts {
            trigger: f.required("trigger", dx),
            approval: Some(opt_or(&mut f, "approval", Approval::default(), dx)),
            cluster: f.required("cluster", dx),
            services: f.required("services", dx),
            target_groups: f.required("target_groups", dx),
            listeners: f.required("listeners", dx),
            strategy: f.required("strategy", dx),
            checks: Some(opt_or(&mut f, "checks", Checks::default(), dx)),
            rollback_window: Some(opt_or(
                &mut f,
                "rollback_window",
                default_rollback_window(),
                dx,
            )),
            concurrency: Some(opt_or(&mut f, "concurrency", Concurrency::default(), dx)),
            notifications: match f.node("notifications") {
                None => Some(None),
                Some(n) => Notifications::decode(n, &f.path_of("notifications"), dx).map(Some),
            },
        };
        f.finish(dx);
        Some(parts)
    }

    fn of(env: &Environment) -> Self {
        EnvParts {
            trigger: Some(env.trigger.clone()),
            approval: Some(env.approval.clone()),
            cluster: Some(env.cluster.clone()),
            services: Some(env.services.clone()),
            target_groups: Some(env.target_groups.clone()),
            listeners: Some(env.listeners.clone()),
            strategy: Some(env.strategy.clone()),
            checks: Some(env.checks.clone()),
            rollback_window: Some(env.rollback_window),
            concurrency: Some(env.concurrency),
            notifications: Some(env.notifications.clone()),
        }
    }

    fn complete(self) -> Option<Environment> {
        Some(Environment {
            trigger: self.trigger?,
            approval: self.approval?,
            cluster: self.cluster?,
            services: self.services?,
            target_groups: self.target_groups?,
            listeners: self.listeners?,
            strategy: self.strategy?,
            checks: self.checks?,
            rollback_window: self.rollback_window?,
            concurrency: self.concurrency?,
            notifications: self.notifications?,
        })
    }
}

/// A mapping with exactly one key, naming a variant: `{canary: {...}}`.
fn single_key<'n>(
    node: &'n Node,
    path: &str,
    dx: &mut Diagnostics,
    what: &str,
    variants: &[&str],
) -> Option<(&'n str, &'n Node, String)> {
    let NodeKind::Mapping(entries) = &node.kind else {
        return None;
    };
    if entries.len() != 1 {
        dx.error(
            path,
            Some(node.span),
            format!("{what} takes exactly one of: {}", variants.join(", ")),
        );
        return None;
    }
    let (key, _, value) = &entries[0];
    Some((key.as_str(), value, join_path(path, key)))
}

fn unknown_variant(
    dx: &mut Diagnostics,
    path: &str,
    span: Span,
    what: &str,
    found: &str,
    variants: &[&str],
) {
    let hint = crate::decode::closest(found, variants)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    dx.error(
        path,
        Some(span),
        format!(
            "unknown {what} `{found}`; expected one of: {}{hint}",
            variants.join(", ")
        ),
    );
}

impl Decode for Trigger {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        const VARIANTS: &[&str] = &["on_push", "promote_from"];
        if !matches!(node.kind, NodeKind::Mapping(_)) {
            dx.error(
                path,
                Some(node.span),
                "expected `on_push: {tags: [...]}` or `promote_from: ENVIRONMENT`",
            );
            return None;
        }
        let (key, value, vpath) = single_key(node, path, dx, "a trigger", VARIANTS)?;
        match key {
            "on_push" => OnPush::decode(value, &vpath, dx).map(Trigger::OnPush),
            "promote_from" => String::decode(value, &vpath, dx).map(Trigger::PromoteFrom),
            other => {
                unknown_variant(dx, &vpath, node.span, "trigger", other, VARIANTS);
                None
            }
        }
    }
}

impl Decode for OnPush {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let tags = f.required("tags", dx);
        f.finish(dx);
        Some(OnPush { tags: tags? })
    }
}

impl<T: Decode> Decode for Colours<T> {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let blue = f.required("blue", dx);
        let green = f.required("green", dx);
        f.finish(dx);
        Some(Colours {
            blue: blue?,
            green: green?,
        })
    }
}

impl Decode for Listeners {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let production = f.required("production", dx);
        let has_test = f.has("test");
        let test = f.optional("test", dx);
        f.finish(dx);
        if has_test && test.is_none() {
            return None;
        }
        Some(Listeners {
            production: production?,
            test,
        })
    }
}

impl Decode for Approval {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let d = Approval::default();
        let required = opt_or(&mut f, "required", d.required, dx);
        let timeout = opt_or(&mut f, "timeout", d.timeout, dx);
        let on_timeout = opt_or(&mut f, "on_timeout", d.on_timeout, dx);
        let approvers = opt_or(&mut f, "approvers", d.approvers, dx);
        let separate_approver = opt_or(&mut f, "separate_approver", d.separate_approver, dx);
        f.finish(dx);
        Some(Approval {
            required,
            timeout,
            on_timeout,
            approvers,
            separate_approver,
        })
    }
}

/// An optional field with a default. When present but invalid, the problem is recorded and
/// the default stands in, so that the rest of the document is still checked (a document
/// with any error is refused as a whole, so the stand-in never reaches a deployment).
fn opt_or<T: Decode>(f: &mut Fields<'_>, key: &'static str, default: T, dx: &mut Diagnostics) -> T {
    match f.node(key) {
        None => default,
        Some(node) => T::decode(node, &f.path_of(key), dx).unwrap_or(default),
    }
}

impl Decode for TimeoutAction {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        one_of(
            node,
            path,
            dx,
            &[
                ("reject", TimeoutAction::Reject),
                ("approve", TimeoutAction::Approve),
            ],
        )
    }
}

impl Decode for Concurrency {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        one_of(
            node,
            path,
            dx,
            &[
                ("supersede", Concurrency::Supersede),
                ("queue", Concurrency::Queue),
                ("reject", Concurrency::Reject),
            ],
        )
    }
}

impl Decode for ProbeVia {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        one_of(
            node,
            path,
            dx,
            &[
                ("test", ProbeVia::Test),
                ("production", ProbeVia::Production),
            ],
        )
    }
}

impl Decode for Notifications {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let topic = f.required("topic", dx);
        f.finish(dx);
        Some(Notifications { topic: topic? })
    }
}

/// The strategy names that stand alone (no parameters).
pub const PRESETS: &[(&str, Strategy)] = &[
    ("all_at_once", Strategy::AllAtOnce),
    ("CodeDeployDefault.ECSAllAtOnce", Strategy::EcsAllAtOnce),
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        Strategy::EcsCanary10Percent5Minutes,
    ),
    (
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        Strategy::EcsCanary10Percent15Minutes,
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        Strategy::EcsLinear10PercentEvery1Minutes,
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        Strategy::EcsLinear10PercentEvery3Minutes,
    ),
];

impl Decode for Strategy {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        const WITH_PARAMS: &[&str] = &["canary", "linear", "steps"];
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => {
                if let Some((_, s)) = PRESETS.iter().find(|(n, _)| n == text) {
                    return Some(s.clone());
                }
                let mut names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                if WITH_PARAMS.contains(&text.as_str()) {
                    dx.error(
                        path,
                        Some(node.span),
                        format!("`{text}` needs parameters, e.g. `{text}: {{...}}`"),
                    );
                    return None;
                }
                names.extend(WITH_PARAMS.iter().copied());
                unknown_variant(dx, path, node.span, "strategy", text, &names);
                None
            }
            NodeKind::Mapping(_) => {
                let (key, value, vpath) = single_key(node, path, dx, "a strategy", WITH_PARAMS)?;
                match key {
                    "canary" => Canary::decode(value, &vpath, dx).map(Strategy::Canary),
                    "linear" => Linear::decode(value, &vpath, dx).map(Strategy::Linear),
                    "steps" => Vec::<StepSpec>::decode(value, &vpath, dx).map(Strategy::Steps),
                    other => {
                        unknown_variant(dx, &vpath, node.span, "strategy", other, WITH_PARAMS);
                        None
                    }
                }
            }
            _ => {
                dx.error(
                    path,
                    Some(node.span),
                    format!(
                        "expected a strategy name or a mapping, found {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }
}

impl Decode for Canary {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let percent = f.required("percent", dx);
        let bake = f.required("bake", dx);
        f.finish(dx);
        Some(Canary {
            percent: percent?,
            bake: bake?,
        })
    }
}

impl Decode for Linear {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let step = f.required("step", dx);
        let interval = f.required("interval", dx);
        f.finish(dx);
        Some(Linear {
            step: step?,
            interval: interval?,
        })
    }
}

impl Decode for StepSpec {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let weight = f.required("weight", dx);
        let bake = f.required("bake", dx);
        f.finish(dx);
        Some(StepSpec {
            weight: weight?,
            bake: bake?,
        })
    }
}

impl Decode for Checks {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let d = Checks::default();
        let stable_timeout = opt_or(&mut f, "stable_timeout", d.stable_timeout, dx);
        let interval = opt_or(&mut f, "interval", d.interval, dx);
        let alarms = opt_or(&mut f, "alarms", d.alarms, dx);
        let probes = opt_or(&mut f, "probes", d.probes, dx);
        let failure_threshold = opt_or(&mut f, "failure_threshold", d.failure_threshold, dx);
        f.finish(dx);
        Some(Checks {
            stable_timeout,
            interval,
            alarms,
            probes,
            failure_threshold,
        })
    }
}

impl Decode for Probe {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let has_path = f.has("path");
        let has_url = f.has("url");
        let probe_path = f.optional::<String>("path", dx);
        let url = f.optional::<String>("url", dx);
        let expect_status = opt_or(&mut f, "expect_status", default_status(), dx);
        let timeout = opt_or(&mut f, "timeout", default_probe_timeout(), dx);
        let via = opt_or(&mut f, "via", ProbeVia::default(), dx);
        let span = f.span();
        f.finish(dx);
        if has_path == has_url {
            dx.error(
                path,
                Some(span),
                "a probe takes either `path` or `url`, not both and not neither",
            );
            return None;
        }
        if (has_path && probe_path.is_none()) || (has_url && url.is_none()) {
            return None;
        }
        Some(Probe {
            path: probe_path,
            url,
            expect_status,
            timeout,
            via,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Loading and validation

/// The outcome of reading a configuration: the config when it has no errors, and every
/// problem found (errors and warnings), in file order.
#[derive(Debug)]
pub struct Report {
    pub config: Option<Config>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.config.is_some()
    }
}

/// Reads and validates a configuration from YAML text.
pub fn load(text: &str) -> Report {
    let root = match crate::yaml::load_all(text) {
        Ok(root) => root,
        Err(errors) => {
            return Report {
                config: None,
                problems: errors
                    .into_iter()
                    .map(|e| Problem {
                        level: crate::decode::Level::Error,
                        path: String::new(),
                        line: Some(e.span.line),
                        column: Some(e.span.column),
                        message: format!("not valid YAML: {}", e.message),
                    })
                    .collect(),
            }
        }
    };
    let mut dx = Diagnostics::default();
    let decoded = Config::decode(&root, "", &mut dx);
    if let Some(config) = &decoded {
        check_across(&mut Checker { dx: &mut dx }, config);
    }
    // Problems found after decoding know their path; the document knows where it is.
    let spans = root.index_spans("");
    let mut problems = dx.problems;
    for p in problems.iter_mut().filter(|p| p.line.is_none()) {
        if let Some(span) = nearest_span(&spans, &p.path) {
            p.line = Some(span.line);
            p.column = Some(span.column);
        }
    }
    problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0), p.level));
    problems.dedup();
    let has_errors = problems
        .iter()
        .any(|p| p.level == crate::decode::Level::Error);
    Report {
        config: decoded.filter(|_| !has_errors),
        problems,
    }
}

/// The position of `path`, or of its nearest written ancestor.
fn nearest_span(spans: &HashMap<String, Span>, path: &str) -> Option<Span> {
    let mut p = path.to_string();
    loop {
        if let Some(span) = spans.get(&p) {
            return Some(*span);
        }
        let cut = p.rfind(['.', '['])?;
        p.truncate(cut);
    }
}

/// Checks a decoded configuration (from the state store, say) by the same rules as
/// [`load`], without positions.
pub fn validate_config(config: &Config) -> Vec<Problem> {
    let mut dx = Diagnostics::default();
    let mut c = Checker { dx: &mut dx };
    if config.version != CONFIG_VERSION {
        c.error(
            "version",
            format!(
                "this greenlight reads version {CONFIG_VERSION}, not {}",
                config.version
            ),
        );
    }
    if config.apps.is_empty() {
        c.error("apps", "no apps are configured");
    }
    for (app_name, app) in &config.apps {
        let ap = join_path("apps", app_name);
        if !valid_name(app_name) {
            c.error(&ap, format!("app name `{app_name}`: use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit"));
        }
        check_repository(&mut c, &join_path(&ap, "repository"), &app.repository);
        let names: Vec<&str> = app.environments.keys().map(String::as_str).collect();
        if names.is_empty() {
            c.error(
                &join_path(&ap, "environments"),
                "no environments are configured",
            );
        }
        for (env_name, env) in &app.environments {
            let ep = join_path(&join_path(&ap, "environments"), env_name);
            if !valid_name(env_name) {
                c.error(&ep, format!("environment name `{env_name}`: use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit"));
            }
            check_environment(&mut c, &names, env_name, &EnvParts::of(env), &ep);
        }
    }
    check_across(&mut c, config);
    dx.problems
}

/// ECS's own grammar for cluster and service names: up to 255 letters, digits, hyphens and
/// underscores — or the full ARN of one (`arn:aws:ecs:…:cluster/NAME`, `…:service/…/NAME`).
fn ecs_name(name: &str, kind: &str) -> Result<(), String> {
    let what = kind.trim_end_matches('/');
    if name.starts_with("arn:") {
        return match crate::arn::Arn::parse(name) {
            Ok(arn) => arn
                .expect("ecs", kind, &format!("an ECS {what}"))
                .map(|_| ())
                .and_then(|_| {
                    let last = name.rsplit('/').next().unwrap_or_default();
                    ecs_name(last, kind)
                }),
            Err(e) => Err(e),
        };
    }
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an ECS {what} name: up to 255 letters, digits, hyphens and underscores, or the {what}'s ARN",
            name.escape_debug()
        ))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

fn check_repository(c: &mut Checker<'_>, path: &str, name: &str) {
    // ECR: lowercase letters and digits, separated by one of `._-` within a segment and
    // by `/` between segments; 2 to 256 characters.
    let valid = (2..=256).contains(&name.len())
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && seg.as_bytes()[0].is_ascii_alphanumeric()
                && seg.as_bytes()[seg.len() - 1].is_ascii_alphanumeric()
        });
    if !valid {
        c.error(
            path,
            format!("`{name}` is not an ECR repository name (lowercase letters, digits, `._-`, `/` between segments; not a URI)"),
        );
    }
}

/// Records problems at a path; positions are filled in by [`load`].
struct Checker<'a> {
    dx: &'a mut Diagnostics,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.dx.error(path, None, message);
    }
    fn warning(&mut self, path: &str, message: impl Into<String>) {
        self.dx.warning(path, None, message);
    }
}

/// Rules that span several apps or environments.
fn check_across(c: &mut Checker<'_>, config: &Config) {
    for (app_name, app) in &config.apps {
        check_promotions(c, &join_path("apps", app_name), app);
    }
    check_push_races(c, config);
}

/// The rules of one environment, over whatever of it decoded. `siblings` are the names of
/// every environment of the app, including those that failed to decode.
fn check_environment(
    c: &mut Checker<'_>,
    siblings: &[&str],
    env_name: &str,
    env: &EnvParts,
    ep: &str,
) {
    let p = |s: &str| format!("{ep}.{s}");
    match &env.trigger {
        Some(Trigger::OnPush(on_push)) => {
            if on_push.tags.is_empty() {
                c.error(&p("trigger.on_push.tags"), "list at least one tag pattern");
            }
            for (i, tag) in on_push.tags.iter().enumerate() {
                if let Err(e) = crate::glob::check_pattern(tag) {
                    c.error(&p(&format!("trigger.on_push.tags[{i}]")), e);
                }
                if on_push.tags[..i].contains(tag) {
                    c.warning(
                        &p(&format!("trigger.on_push.tags[{i}]")),
                        format!("`{tag}` is listed twice"),
                    );
                }
            }
        }
        Some(Trigger::PromoteFrom(source)) => {
            let path = p("trigger.promote_from");
            if source == env_name {
                c.error(&path, "an environment cannot promote from itself");
            } else if !siblings.contains(&source.as_str()) {
                let hint = crate::decode::closest(source, siblings)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_else(|| format!("; this app has: {}", siblings.join(", ")));
                c.error(
                    &path,
                    format!("`{source}` is not an environment of this app{hint}"),
                );
            }
        }
        None => {}
    }

    if let Some(cluster) = &env.cluster {
        if let Err(why) = ecs_name(cluster, "cluster/") {
            c.error(&p("cluster"), why);
        }
    }
    if let Some(services) = &env.services {
        for (colour, name) in [("blue", &services.blue), ("green", &services.green)] {
            if let Err(why) = ecs_name(name, "service/") {
                c.error(&p(&format!("services.{colour}")), why);
            }
        }
        if services.blue == services.green {
            c.error(
                &p("services.green"),
                "blue and green must be two different ECS services",
            );
        }
    }
    if let Some(tgs) = &env.target_groups {
        for colour in [Colour::Blue, Colour::Green] {
            if let Err(e) =
                tgs.get(colour)
                    .expect("elasticloadbalancing", "targetgroup/", "a target group")
            {
                c.error(&p(&format!("target_groups.{colour}")), e);
            }
        }
        if tgs.blue == tgs.green {
            c.error(
                &p("target_groups.green"),
                "blue and green must be two different target groups",
            );
        }
    }
    if let Some(listeners) = &env.listeners {
        if let Err(e) = listeners.production.expect(
            "elasticloadbalancing",
            "listener/app/",
            "an Application Load Balancer listener",
        ) {
            c.error(&p("listeners.production"), e);
        }
        if let Some(test) = &listeners.test {
            if let Err(e) = test.expect(
                "elasticloadbalancing",
                "listener/app/",
                "an Application Load Balancer listener",
            ) {
                c.error(&p("listeners.test"), e);
            }
            if *test == listeners.production {
                c.error(
                    &p("listeners.test"),
                    "the test listener must differ from the production listener",
                );
            }
        }
        let home = listeners.production.home();
        let mut related: Vec<(&str, &Arn)> = Vec::new();
        if let Some(tgs) = &env.target_groups {
            related.push(("target_groups.blue", &tgs.blue));
            related.push(("target_groups.green", &tgs.green));
        }
        if let Some(test) = &listeners.test {
            related.push(("listeners.test", test));
        }
        for (path, arn) in related {
            if home.is_some() && arn.home().is_some() && arn.home() != home {
                c.error(
                    &p(path),
                    "must be in the same region and account as listeners.production",
                );
            }
        }
    }
    if let Some(Some(n)) = &env.notifications {
        if let Err(e) = n.topic.expect("sns", "", "an SNS topic") {
            c.error(&p("notifications.topic"), e);
        }
    }
    let interval = env
        .checks
        .as_ref()
        .map_or_else(default_interval, |c| c.interval);
    if let Some(strategy) = &env.strategy {
        check_strategy(c, strategy, &p("strategy"), interval);
    }
    if let Some(checks) = &env.checks {
        let has_test_listener = env.listeners.as_ref().map(|l| l.test.is_some());
        check_checks(c, checks, has_test_listener, &p("checks"));
    }
    if let Some(approval) = &env.approval {
        if approval.required && approval.timeout.is_zero() {
            c.error(
                &p("approval.timeout"),
                "an approval needs time to be given; use e.g. `1h`",
            );
        }
        if approval.timeout > Duration::from_secs(365 * 86_400) {
            c.error(
                &p("approval.timeout"),
                "Step Functions waits at most one year",
            );
        }
        if approval.required && approval.approvers.is_empty() {
            c.error(
                &p("approval.approvers"),
                "an approval needs approvers: the principal ARNs or role names allowed to answer it (e.g. `[ops-lead, \"arn:aws:iam::123456789012:role/release-*\"]`)",
            );
        }
        for (i, a) in approval.approvers.iter().enumerate() {
            if let Err(e) = crate::approvers::check_pattern(a) {
                c.error(&format!("{}[{i}]", p("approval.approvers")), &e);
            }
        }
        if approval.required && approval.on_timeout == TimeoutAction::Approve {
            c.warning(
                &p("approval.on_timeout"),
                "`approve` lets a deployment proceed when nobody answered",
            );
        }
    }
    if env
        .rollback_window
        .is_some_and(|w| w > Duration::from_secs(30 * 86_400))
    {
        c.error(
            &p("rollback_window"),
            "at most 30d: the old colour runs, and costs, for the whole window",
        );
    }
}

fn check_strategy(c: &mut Checker<'_>, strategy: &Strategy, sp: &str, interval: Duration) {
    if let Ok(plan) = strategy.plan() {
        if let Some(i) = plan.steps.iter().position(|s| s.bake > MAX_BAKE) {
            c.error(
                sp,
                format!(
                    "step {} bakes {}; at most {MAX_BAKE} per step",
                    i + 1,
                    plan.steps[i].bake
                ),
            );
        }
    }
    match strategy {
        Strategy::Canary(canary) => {
            if !(1..=99).contains(&canary.percent) {
                c.error(
                    &format!("{sp}.canary.percent"),
                    format!(
                        "{} is out of range: a canary takes 1 to 99 percent",
                        canary.percent
                    ),
                );
            }
            if canary.bake.is_zero() {
                c.error(
                    &format!("{sp}.canary.bake"),
                    "a canary needs a bake time above zero",
                );
            }
        }
        Strategy::Linear(linear) => {
            if !(1..=99).contains(&linear.step) {
                c.error(
                    &format!("{sp}.linear.step"),
                    format!(
                        "{} is out of range: a linear step is 1 to 99 percent",
                        linear.step
                    ),
                );
            }
            if linear.interval.is_zero() {
                c.error(
                    &format!("{sp}.linear.interval"),
                    "a linear strategy needs an interval above zero",
                );
            }
        }
        Strategy::Steps(steps) => {
            if steps.is_empty() {
                c.error(
                    &format!("{sp}.steps"),
                    "list at least one step; the last has weight 100",
                );
            }
            let mut previous = 0u8;
            for (i, step) in steps.iter().enumerate() {
                let path = format!("{sp}.steps[{i}].weight");
                if !(1..=100).contains(&step.weight) {
                    c.error(
                        &path,
                        format!(
                            "{} is out of range: a weight is 1 to 100 percent",
                            step.weight
                        ),
                    );
                } else if step.weight <= previous {
                    c.error(
                        &path,
                        format!("weights must increase: {} follows {previous}", step.weight),
                    );
                }
                previous = previous.max(step.weight);
                if step.weight == 100 && i + 1 < steps.len() {
                    c.error(&path, "weight 100 must be the last step");
                }
                if step.weight < 100 && !step.bake.is_zero() && step.bake < interval {
                    c.warning(
                        &format!("{sp}.steps[{i}].bake"),
                        format!("bake {} is shorter than checks.interval {interval}: this step is checked once, at its end", step.bake),
                    );
                }
            }
            if let Some(last) = steps.last() {
                if last.weight != 100 {
                    c.error(
                        &format!("{sp}.steps[{}].weight", steps.len() - 1),
                        format!(
                            "the last step must send all traffic (weight 100), not {}",
                            last.weight
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

/// Upper bounds of the check settings: beyond them a rollout cannot finish within Step
/// Functions' limits, and the lock's lease (which adds them up) would be meaningless.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3_600);
pub const MAX_STABLE_TIMEOUT: Duration = Duration::from_secs(86_400);
pub const MAX_BAKE: Duration = Duration::from_secs(7 * 86_400);
pub const MAX_FAILURE_THRESHOLD: u32 = 100;

fn check_checks(c: &mut Checker<'_>, checks: &Checks, has_test_listener: Option<bool>, cp: &str) {
    if checks.interval.is_zero() {
        c.error(
            &format!("{cp}.interval"),
            "the check interval must be above zero",
        );
    }
    if checks.interval > MAX_INTERVAL {
        c.error(
            &format!("{cp}.interval"),
            format!("at most {MAX_INTERVAL}: an alarm must not wait longer than that to be seen"),
        );
    }
    if checks.stable_timeout > MAX_STABLE_TIMEOUT {
        c.error(
            &format!("{cp}.stable_timeout"),
            format!(
                "at most {MAX_STABLE_TIMEOUT}: new tasks that are not healthy by then will not be"
            ),
        );
    }
    if checks.failure_threshold > MAX_FAILURE_THRESHOLD {
        c.error(
            &format!("{cp}.failure_threshold"),
            format!("at most {MAX_FAILURE_THRESHOLD}"),
        );
    }
    if checks.stable_timeout < checks.interval {
        c.error(
            &format!("{cp}.stable_timeout"),
            format!(
                "{} is shorter than one check interval ({})",
                checks.stable_timeout, checks.interval
            ),
        );
    }
    if checks.failure_threshold == 0 {
        c.error(
            &format!("{cp}.failure_threshold"),
            "at least 1: the number of consecutive failures that fail the deployment",
        );
    }
    for (i, alarm) in checks.alarms.iter().enumerate() {
        if alarm.len() > 255 {
            c.error(
                &format!("{cp}.alarms[{i}]"),
                "a CloudWatch alarm name is at most 255 characters",
            );
        }
        if checks.alarms[..i].contains(alarm) {
            c.warning(
                &format!("{cp}.alarms[{i}]"),
                format!("`{alarm}` is listed twice"),
            );
        }
    }
    for (i, probe) in checks.probes.iter().enumerate() {
        let pp = format!("{cp}.probes[{i}]");
        if let Some(path) = &probe.path {
            if !path.starts_with('/') {
                c.error(
                    &format!("{pp}.path"),
                    format!("`{path}` must start with `/`"),
                );
            }
            if probe.via == ProbeVia::Test && has_test_listener == Some(false) {
                c.error(&format!("{pp}.via"), "probes go through the test listener by default, but listeners.test is not set; set it, or `via: production`");
            }
        }
        if let Some(url) = &probe.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
                c.error(
                    &format!("{pp}.url"),
                    format!("`{url}` is not an http(s) URL"),
                );
            }
        }
        if !(100..=599).contains(&probe.expect_status) {
            c.error(
                &format!("{pp}.expect_status"),
                format!("{} is not an HTTP status", probe.expect_status),
            );
        }
        if probe.timeout.is_zero() {
            c.error(
                &format!("{pp}.timeout"),
                "a probe needs a timeout above zero",
            );
        } else if probe.timeout >= checks.interval {
            c.error(
                &format!("{pp}.timeout"),
                format!(
                    "{} must be shorter than checks.interval ({})",
                    probe.timeout, checks.interval
                ),
            );
        }
    }
}

/// `promote_from` must form chains, not cycles.
fn check_promotions(c: &mut Checker<'_>, ap: &str, app: &App) {
    let mut reported: Vec<&str> = Vec::new();
    for start in app.environments.keys() {
        let mut seen = vec![start.as_str()];
        let mut current = start.as_str();
        while let Some(Trigger::PromoteFrom(next)) =
            app.environments.get(current).map(|e| &e.trigger)
        {
            if next == current {
                break; // reported as promoting from itself
            }
            if let Some(pos) = seen.iter().position(|s| s == next) {
                let cycle = &seen[pos..];
                if !cycle.iter().any(|e| reported.contains(e)) {
                    let mut names: Vec<&str> = cycle.to_vec();
                    names.push(next);
                    let path = format!("{ap}.environments.{}.trigger.promote_from", cycle[0]);
                    c.error(
                        &path,
                        format!("promotion cycle {}: none of these environments can ever receive an image", names.join(" → ")),
                    );
                    reported.extend(cycle.iter().copied());
                }
                break;
            }
            seen.push(next.as_str());
            current = next.as_str();
        }
    }
}

/// Two environments that one push deploys to at once must not share ECS services or
/// listeners: the two rollouts would fight over them.
fn check_push_races(c: &mut Checker<'_>, config: &Config) {
    struct PushRule<'a> {
        app: &'a str,
        env_name: &'a str,
        repository: &'a str,
        tags: &'a [String],
        env: &'a Environment,
    }
    let rules: Vec<PushRule<'_>> = config
        .apps
        .iter()
        .flat_map(|(app_name, app)| {
            app.environments
                .iter()
                .filter_map(move |(env_name, env)| match &env.trigger {
                    Trigger::OnPush(p) => Some(PushRule {
                        app: app_name,
                        env_name,
                        repository: &app.repository,
                        tags: &p.tags,
                        env,
                    }),
                    Trigger::PromoteFrom(_) => None,
                })
        })
        .collect();
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if a.repository != b.repository {
                continue;
            }
            let Some((ta, tb)) = a
                .tags
                .iter()
                .flat_map(|ta| b.tags.iter().map(move |tb| (ta, tb)))
                .find(|(ta, tb)| crate::glob::overlap(ta, tb))
            else {
                continue;
            };
            let shares_service = a.env.cluster == b.env.cluster
                && [&a.env.services.blue, &a.env.services.green]
                    .iter()
                    .any(|s| *s == &b.env.services.blue || *s == &b.env.services.green);
            let shares_listener = a.env.listeners.production == b.env.listeners.production;
            let bp = format!(
                "apps.{}.environments.{}.trigger.on_push.tags",
                b.app, b.env_name
            );
            if shares_service || shares_listener {
                let what = if shares_service {
                    "ECS services"
                } else {
                    "a production listener"
                };
                c.error(
                    &bp,
                    format!(
                        "a push of {} to `{}` would start both {}/{} (pattern `{ta}`) and {}/{} (pattern `{tb}`), which share {what}: the two rollouts would race",
                        example_tag(ta, tb), a.repository, a.app, a.env_name, b.app, b.env_name
                    ),
                );
            } else if a.app == b.app {
                c.warning(
                    &bp,
                    format!(
                        "a push of {} deploys to both `{}` and `{}`; promote between them instead if one should follow the other",
                        example_tag(ta, tb), a.env_name, b.env_name
                    ),
                );
            }
        }
    }
}

/// A short description of the tags two overlapping patterns both match.
fn example_tag(a: &str, b: &str) -> String {
    if a == b {
        format!("a tag matching `{a}`")
    } else {
        format!("a tag matching both `{a}` and `{b}`")
    }
}

impl Config {
    /// The environment `(app, env)`, if configured.
    pub fn environment(&self, app: &str, env: &str) -> Option<(&App, &Environment)> {
        let a = self.apps.get(app)?;
        a.environments.get(env).map(|e| (a, e))
    }
}

#[cfg(test)]
mod tests;
