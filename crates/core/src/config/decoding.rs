//! Decoding: the YAML tree into the schema types, every problem collected with its path.

#[allow(unused_imports)]
use super::*;

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

pub(super) fn mapping_keys(node: &Node) -> Vec<&str> {
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

pub(super) fn f_path(path: &str, key: &str) -> String {
    join_path(path, key)
}

/// An environment's fields as far as they decoded: a field is `None` when it was invalid
/// (or missing and required). Optional fields hold their default when absent.
#[derive(Default)]
pub(super) struct EnvParts {
    pub(super) trigger: Option<Trigger>,
    pub(super) approval: Option<Approval>,
    pub(super) account: Option<Option<String>>,
    pub(super) region: Option<Option<String>>,
    pub(super) role: Option<Option<Arn>>,
    pub(super) cluster: Option<String>,
    pub(super) services: Option<Colours<String>>,
    pub(super) target_groups: Option<Option<Colours<Arn>>>,
    pub(super) listeners: Option<Option<Listeners>>,
    pub(super) strategy: Option<Strategy>,
    pub(super) checks: Option<Checks>,
    pub(super) analysis: Option<Option<Analysis>>,
    pub(super) rollback_window: Option<Duration>,
    pub(super) rollback_window_watch: Option<bool>,
    pub(super) concurrency: Option<Concurrency>,
    pub(super) notifications: Option<Option<Notifications>>,
}

impl EnvParts {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let parts = EnvParts {
            trigger: f.required("trigger", dx),
            approval: Some(opt_or(&mut f, "approval", Approval::default(), dx)),
            account: match f.node("account") {
                None => Some(None),
                Some(n) => String::decode(n, &f.path_of("account"), dx).map(Some),
            },
            region: match f.node("region") {
                None => Some(None),
                Some(n) => String::decode(n, &f.path_of("region"), dx).map(Some),
            },
            role: match f.node("role") {
                None => Some(None),
                Some(n) => Arn::decode(n, &f.path_of("role"), dx).map(Some),
            },
            cluster: f.required("cluster", dx),
            services: f.required("services", dx),
            target_groups: match f.node("target_groups") {
                None => Some(None),
                Some(n) => Colours::<Arn>::decode(n, &f.path_of("target_groups"), dx).map(Some),
            },
            listeners: match f.node("listeners") {
                None => Some(None),
                Some(n) => Listeners::decode(n, &f.path_of("listeners"), dx).map(Some),
            },
            strategy: f.required("strategy", dx),
            checks: Some(opt_or(&mut f, "checks", Checks::default(), dx)),
            analysis: match f.node("analysis") {
                None => Some(None),
                Some(n) => Analysis::decode(n, &f.path_of("analysis"), dx).map(Some),
            },
            rollback_window: Some(opt_or(
                &mut f,
                "rollback_window",
                default_rollback_window(),
                dx,
            )),
            rollback_window_watch: Some(opt_or(&mut f, "rollback_window_watch", true, dx)),
            concurrency: Some(opt_or(&mut f, "concurrency", Concurrency::default(), dx)),
            notifications: match f.node("notifications") {
                None => Some(None),
                Some(n) => Notifications::decode(n, &f.path_of("notifications"), dx).map(Some),
            },
        };
        f.finish(dx);
        Some(parts)
    }

    pub(super) fn of(env: &Environment) -> Self {
        EnvParts {
            trigger: Some(env.trigger.clone()),
            approval: Some(env.approval.clone()),
            account: Some(env.account.clone()),
            region: Some(env.region.clone()),
            role: Some(env.role.clone()),
            cluster: Some(env.cluster.clone()),
            services: Some(env.services.clone()),
            target_groups: Some(env.target_groups.clone()),
            listeners: Some(env.listeners.clone()),
            strategy: Some(env.strategy.clone()),
            checks: Some(env.checks.clone()),
            analysis: Some(env.analysis.clone()),
            rollback_window: Some(env.rollback_window),
            rollback_window_watch: Some(env.rollback_window_watch),
            concurrency: Some(env.concurrency),
            notifications: Some(env.notifications.clone()),
        }
    }

    fn complete(self) -> Option<Environment> {
        Some(Environment {
            trigger: self.trigger?,
            approval: self.approval?,
            account: self.account?,
            region: self.region?,
            role: self.role?,
            cluster: self.cluster?,
            services: self.services?,
            target_groups: self.target_groups?,
            listeners: self.listeners?,
            strategy: self.strategy?,
            checks: self.checks?,
            analysis: self.analysis?,
            rollback_window: self.rollback_window?,
            rollback_window_watch: self.rollback_window_watch?,
            concurrency: self.concurrency?,
            notifications: self.notifications?,
        })
    }
}

/// A mapping with exactly one key, naming a variant: `{canary: {...}}`.
pub(super) fn single_key<'n>(
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

pub(super) fn unknown_variant(
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
pub(super) fn opt_or<T: Decode>(
    f: &mut Fields<'_>,
    key: &'static str,
    default: T,
    dx: &mut Diagnostics,
) -> T {
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
        let final_bake = f.optional("final_bake", dx);
        let window_interval = opt_or(&mut f, "window_interval", d.window_interval, dx);
        f.finish(dx);
        Some(Checks {
            stable_timeout,
            interval,
            alarms,
            probes,
            failure_threshold,
            final_bake,
            window_interval,
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
