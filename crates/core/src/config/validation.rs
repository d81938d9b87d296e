//! Validation: the rules that span fields and environments (bounds, names, promotions,
//! races between push rules), on a decoded configuration.

#[allow(unused_imports)]
use super::*;

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
pub(super) fn ecs_name(name: &str, kind: &str) -> Result<(), String> {
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

/// An app or environment name: 1 to 40 letters, digits, `-` or `_`, starting with a letter
/// or digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

pub(super) fn check_repository(c: &mut Checker<'_>, path: &str, name: &str) {
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
pub(super) struct Checker<'a> {
    pub(super) dx: &'a mut Diagnostics,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.dx.error(path, None, message);
    }
    fn warning(&mut self, path: &str, message: impl Into<String>) {
        self.dx.warning(path, None, message);
    }
    fn note(&mut self, path: &str, message: impl Into<String>) {
        self.dx.note(path, None, message);
    }
}

/// Rules that span several apps or environments.
pub(super) fn check_across(c: &mut Checker<'_>, config: &Config) {
    for (app_name, app) in &config.apps {
        check_promotions(c, &join_path("apps", app_name), app);
    }
    check_push_races(c, config);
}

/// The rules of one environment, over whatever of it decoded. `siblings` are the names of
/// every environment of the app, including those that failed to decode.
pub(super) fn check_environment(
    c: &mut Checker<'_>,
    siblings: &[&str],
    env_name: &str,
    env: &EnvParts,
    ep: &str,
) {
    let p = |s: &str| format!("{ep}.{s}");
    check_trigger(c, siblings, env_name, env, ep);

    check_resources(c, env, ep);
    super::place::check_place(c, env, ep);
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
        let has_test_listener = env
            .listeners
            .as_ref()
            .map(|l| l.as_ref().is_some_and(|l| l.test.is_some()));
        check_checks(c, checks, has_test_listener, &p("checks"));
    }
    if let Some(approval) = &env.approval {
        check_approval(c, approval, ep);
    }
    if matches!(
        (&env.target_groups, &env.listeners),
        (Some(None), Some(None))
    ) {
        check_worker(c, env, ep);
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

/// `trigger`: tag patterns that compile, and a promotion source that is another environment
/// of the app.
fn check_trigger(c: &mut Checker<'_>, siblings: &[&str], env_name: &str, env: &EnvParts, ep: &str) {
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
}

/// A worker service (no target groups, no listeners): what it can be checked by, and the
/// checks that need a load balancer refused.
fn check_worker(c: &mut Checker<'_>, env: &EnvParts, ep: &str) {
    c.note(
        ep,
        "no load balancer: a worker service. Its canary is a share of tasks (the new colour runs ceil(tasks × percent) of them, the old colour the rest); it is checked by alarms, ECS task health (running count, container health checks, tasks that exit non-zero) and custom analysis metrics with a colour dimension; probes by `path`, target health and the ALB metrics are not available; its old colour is not kept warm (a revert starts its tasks again)",
    );
    if let Some(checks) = &env.checks {
        for (i, probe) in checks.probes.iter().enumerate() {
            if probe.path.is_some() {
                c.error(
                    &format!("{ep}.checks.probes[{i}].path"),
                    "a probe by `path` goes through a listener, and a worker service has none; give it a `url`",
                );
            }
        }
    }
    if let Some(Some(analysis)) = &env.analysis {
        for (i, m) in analysis.metrics.iter().enumerate() {
            if m.metric != MetricKind::Custom {
                c.error(
                    &format!("{ep}.analysis.metrics[{i}].metric"),
                    format!(
                        "{} is read from the load balancer, and a worker service has none; use a custom metric with a colour dimension",
                        m.metric.as_str()
                    ),
                );
            }
        }
    }
}

/// The AWS resources of an environment: ECS names, distinct colours, target groups and
/// listeners of the right kind, all in one region and account.
fn check_resources(c: &mut Checker<'_>, env: &EnvParts, ep: &str) {
    let p = |s: &str| format!("{ep}.{s}");
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
    match (&env.target_groups, &env.listeners) {
        (Some(Some(_)), Some(None)) | (Some(None), Some(Some(_))) => c.error(
            &p(if matches!(env.target_groups, Some(Some(_))) {
                "listeners"
            } else {
                "target_groups"
            }),
            "target_groups and listeners go together: give both (a service behind a load balancer) or neither (a worker service, whose canary is a share of tasks)",
        ),
        _ => {}
    }
    if let Some(Some(tgs)) = &env.target_groups {
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
    if let Some(Some(listeners)) = &env.listeners {
        // A listener (greenlight rewrites its default action) or a listener rule on a
        // shared load balancer (its forward action).
        let listener_or_rule = |arn: &Arn| {
            const WHAT: &str = "an Application Load Balancer listener or listener rule";
            arn.expect("elasticloadbalancing", "listener/app/", WHAT)
                .or_else(|_| arn.expect("elasticloadbalancing", "listener-rule/app/", WHAT))
        };
        if let Err(e) = listener_or_rule(&listeners.production) {
            c.error(&p("listeners.production"), e);
        }
        if let Some(test) = &listeners.test {
            if let Err(e) = listener_or_rule(test) {
                c.error(&p("listeners.test"), e);
            }
            if *test == listeners.production {
                c.error(
                    &p("listeners.test"),
                    "the test listener must differ from the production listener",
                );
            }
        }
    }
}

/// `approval`: time to answer, approvers to answer it, and a warning on `on_timeout: approve`.
fn check_approval(c: &mut Checker<'_>, approval: &Approval, ep: &str) {
    let p = |s: &str| format!("{ep}.{s}");
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

pub(super) fn check_strategy(
    c: &mut Checker<'_>,
    strategy: &Strategy,
    sp: &str,
    interval: Duration,
) {
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

pub(super) fn check_checks(
    c: &mut Checker<'_>,
    checks: &Checks,
    has_test_listener: Option<bool>,
    cp: &str,
) {
    if checks.interval.is_zero() {
        c.error(
            &format!("{cp}.interval"),
            "the check interval must be above zero",
        );
    }
    if checks.final_bake.is_some_and(|b| b > MAX_BAKE) {
        c.error(
            &format!("{cp}.final_bake"),
            format!("at most {MAX_BAKE}: the release is not announced before it ends"),
        );
    }
    if checks.window_interval.is_zero() || checks.window_interval > MAX_INTERVAL {
        c.error(
            &format!("{cp}.window_interval"),
            format!("between 1s and {MAX_INTERVAL}"),
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
pub(super) fn check_promotions(c: &mut Checker<'_>, ap: &str, app: &App) {
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
pub(super) fn check_push_races(c: &mut Checker<'_>, config: &Config) {
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
            let shares_listener = matches!(
                (&a.env.listeners, &b.env.listeners),
                (Some(la), Some(lb)) if la.production == lb.production
            );
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
pub(super) fn example_tag(a: &str, b: &str) -> String {
    if a == b {
        format!("a tag matching `{a}`")
    } else {
        format!("a tag matching both `{a}` and `{b}`")
    }
}
