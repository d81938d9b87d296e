use super::*;
use crate::decode::Level;

const EXAMPLE: &str = include_str!("../../../../examples/greenlight.yaml");
const BROKEN: &str = include_str!("../../../../tests/fixtures/broken.yaml");

fn tg(name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{name}/0123456789abcdef"
    )
}
fn listener(lb: &str, id: &str) -> String {
    format!("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/{lb}/0123456789abcdef/{id}")
}

/// One environment in YAML, with `extra` lines appended (indented for an environment).
fn env_yaml(name: &str, trigger: &str, service_prefix: &str, extra: &str) -> String {
    format!(
        "      {name}:\n        trigger: {trigger}\n        cluster: main\n        services: {{ blue: {service_prefix}-blue, green: {service_prefix}-green }}\n        target_groups: {{ blue: {}, green: {} }}\n        listeners: {{ production: {} }}\n{extra}",
        tg(&format!("{service_prefix}-b")),
        tg(&format!("{service_prefix}-g")),
        listener(service_prefix, "1111111111111111"),
        extra = if extra.contains("strategy:") { extra.to_string() } else { format!("        strategy: all_at_once\n{extra}") },
    )
}

fn app_yaml(app: &str, repository: &str, envs: &[String]) -> String {
    format!(
        "  {app}:\n    repository: {repository}\n    container: app\n    environments:\n{}",
        envs.concat()
    )
}

fn config_yaml(apps: &[String]) -> String {
    format!("version: 1\napps:\n{}", apps.concat())
}

fn one_env(extra: &str) -> String {
    config_yaml(&[app_yaml(
        "web",
        "web",
        &[env_yaml(
            "staging",
            "{ on_push: { tags: [\"v*\"] } }",
            "web",
            extra,
        )],
    )])
}

fn errors(report: &Report) -> Vec<(String, String)> {
    report
        .problems
        .iter()
        .filter(|p| p.level == Level::Error)
        .map(|p| (p.path.clone(), p.message.clone()))
        .collect()
}

fn assert_error(text: &str, path: &str, fragment: &str) {
    let report = load(text);
    let errs = errors(&report);
    assert!(
        errs.iter().any(|(p, m)| p == path && m.contains(fragment)),
        "expected an error at {path} containing {fragment:?}; got {errs:#?}\n--- config ---\n{text}"
    );
    assert!(report.config.is_none());
}

#[test]
fn the_example_is_valid_and_means_what_it_says() {
    let report = load(EXAMPLE);
    // One note, on the worker service (what it can be checked by); nothing wrong.
    let notes: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.level == Level::Note)
        .collect();
    assert_eq!(notes.len(), 1, "{:#?}", report.problems);
    assert_eq!(notes[0].path, "apps.worker.environments.staging");
    assert!(
        notes[0].message.contains("share of tasks"),
        "{}",
        notes[0].message
    );
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    let config = report.config.unwrap();
    let worker = &config.apps["worker"].environments["staging"];
    assert!(worker.load_balancer().is_none());
    let web = &config.apps["web"];
    assert_eq!(web.repository, "web");
    let staging = &web.environments["staging"];
    assert_eq!(
        staging.trigger,
        Trigger::OnPush(OnPush {
            tags: vec!["v*".into(), "rc-*".into()]
        })
    );
    assert_eq!(
        staging.strategy,
        Strategy::Canary(Canary {
            percent: 20,
            bake: Duration::from_mins(2)
        })
    );
    assert_eq!(staging.concurrency, Concurrency::Supersede);
    let prod = &web.environments["prod"];
    assert_eq!(prod.trigger, Trigger::PromoteFrom("staging".into()));
    assert!(prod.approval.required);
    assert_eq!(prod.approval.timeout, Duration::from_mins(240));
    assert_eq!(prod.strategy, Strategy::EcsCanary10Percent5Minutes);
    assert_eq!(
        prod.checks.probes[1].url.as_deref(),
        Some("https://web.example.com/healthz")
    );
    assert_eq!(prod.checks.probes[0].expect_status, 200, "default status");
    assert_eq!(
        prod.checks.probes[0].timeout,
        Duration::from_secs(5),
        "default probe timeout"
    );
}

/// The hand decoder (which reports every problem) and the serde derive (which the JSON
/// Schema is generated from, and which the state store uses) must read the same format.
#[test]
fn hand_decoder_and_serde_agree() {
    let decoded = load(EXAMPLE).config.unwrap();
    let json = crate::yaml::load(EXAMPLE).unwrap().to_json();
    let via_serde: Config = serde_json::from_value(json).unwrap();
    assert_eq!(decoded, via_serde);
    let round_trip: Config =
        serde_json::from_value(serde_json::to_value(&decoded).unwrap()).unwrap();
    assert_eq!(decoded, round_trip);
}

#[test]
fn defaults_apply_when_optional_sections_are_absent() {
    let report = load(&one_env(""));
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let env = &report.config.unwrap().apps["web"].environments["staging"];
    assert_eq!(env.checks, Checks::default());
    assert_eq!(env.concurrency, Concurrency::Queue);
    assert_eq!(env.rollback_window, Duration::from_mins(60));
    assert!(!env.approval.required);
    assert_eq!(env.approval.on_timeout, TimeoutAction::Reject);
}

#[test]
fn a_broken_config_lists_every_problem_with_path_and_line() {
    let report = load(BROKEN);
    assert!(report.config.is_none());
    let errs = errors(&report);
    let expect = [
        ("apps.web.repository", "not an ECR repository name", 5),
        ("apps.web.colour", "unknown key `colour`", 7),
        (
            "apps.web.environments.staging.services.green",
            "two different ECS services",
            14,
        ),
        (
            "apps.web.environments.staging.target_groups.green",
            "not a target group ARN",
            17,
        ),
        (
            "apps.web.environments.staging.strategy.canary.percent",
            "150 is out of range",
            21,
        ),
        (
            "apps.web.environments.staging.checks.interval",
            "not a duration",
            23,
        ),
        (
            "apps.web.environments.staging.checks.probes[0].path",
            "must start with `/`",
            25,
        ),
        (
            "apps.web.environments.staging.checks.probes[0].via",
            "listeners.test is not set",
            25,
        ),
        (
            "apps.web.environments.prod.trigger.promote_from",
            "`qa` is not an environment",
            27,
        ),
        (
            "apps.web.environments.prod.strategy",
            "did you mean `canary`",
            35,
        ),
        (
            "apps.web.environments.prod.concurrency",
            "`sometimes` is not one of",
            36,
        ),
    ];
    for (path, fragment, line) in expect {
        let found = report
            .problems
            .iter()
            .find(|p| p.path == path && p.message.contains(fragment))
            .unwrap_or_else(|| panic!("missing {path}: {fragment}; got {errs:#?}"));
        assert_eq!(found.line, Some(line), "line of {path}");
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    // They come in file order.
    let lines: Vec<usize> = report
        .problems
        .iter()
        .map(|p| p.line.expect("a line"))
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn a_decoded_config_is_checked_by_the_same_rules() {
    let mut config = load(EXAMPLE).config.unwrap();
    assert!(validate_config(&config)
        .iter()
        .all(|p| p.level == Level::Note));
    let prod = config
        .apps
        .get_mut("web")
        .unwrap()
        .environments
        .get_mut("prod")
        .unwrap();
    prod.strategy = Strategy::Canary(Canary {
        percent: 100,
        bake: Duration::from_mins(1),
    });
    prod.trigger = Trigger::PromoteFrom("qa".into());
    let problems = validate_config(&config);
    let paths: Vec<&str> = problems
        .iter()
        .filter(|p| p.level != Level::Note)
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "apps.web.environments.prod.trigger.promote_from",
            "apps.web.environments.prod.strategy.canary.percent"
        ]
    );
}

#[test]
fn invalid_yaml_is_one_problem_with_a_line() {
    let report = load("version: 1\napps: [\n");
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].message.starts_with("not valid YAML"));
    assert!(report.problems[0].line.is_some());
}

#[test]
fn every_duplicate_key_is_reported_at_once() {
    // Two environments each with a key written twice, far apart in the file.
    let text = one_env("        concurrency: queue\n        concurrency: reject\n")
        .replace("version: 1\n", "version: 1\nversion: 1\n");
    let report = load(&text);
    let lines: Vec<(Option<usize>, &str)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, Some(2));
    assert!(lines[0].1.contains("duplicate key `version`"), "{lines:?}");
    assert!(
        lines[1].1.contains("duplicate key `concurrency`"),
        "{lines:?}"
    );
    assert!(lines[1].0 > Some(10), "{lines:?}");
}

#[test]
fn wrong_version_is_refused() {
    assert_error(
        &one_env("").replace("version: 1", "version: 2"),
        "version",
        "reads version 1, not 2",
    );
}

#[test]
fn missing_required_fields_are_named() {
    let text = one_env("").replace("        cluster: main\n", "");
    assert_error(
        &text,
        "apps.web.environments.staging.cluster",
        "`cluster` is required",
    );
}

#[test]
fn strategies_decode_in_every_form() {
    let cases = [
        ("strategy: all_at_once", Strategy::AllAtOnce),
        (
            "strategy: { linear: { step: 25, interval: 1m } }",
            Strategy::Linear(Linear {
                step: 25,
                interval: Duration::from_mins(1),
            }),
        ),
        (
            "strategy: { steps: [ { weight: 5, bake: 1m }, { weight: 100, bake: 0 } ] }",
            Strategy::Steps(vec![
                StepSpec {
                    weight: 5,
                    bake: Duration::from_mins(1),
                },
                StepSpec {
                    weight: 100,
                    bake: Duration::ZERO,
                },
            ]),
        ),
        (
            "strategy: CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
            Strategy::EcsLinear10PercentEvery3Minutes,
        ),
    ];
    for (line, expected) in cases {
        let report = load(&one_env(&format!("        {line}\n")));
        assert!(report.problems.is_empty(), "{line}: {:#?}", report.problems);
        assert_eq!(
            report.config.unwrap().apps["web"].environments["staging"].strategy,
            expected,
            "{line}"
        );
    }
}

#[test]
fn strategy_mistakes() {
    let sp = "apps.web.environments.staging.strategy";
    assert_error(
        &one_env("        strategy: canary\n"),
        sp,
        "needs parameters",
    );
    assert_error(&one_env("        strategy: { canary: { percent: 10, bake: 1m }, linear: { step: 1, interval: 1m } }\n"), sp, "exactly one");
    assert_error(
        &one_env("        strategy: { canary: { percent: 0, bake: 1m } }\n"),
        &format!("{sp}.canary.percent"),
        "out of range",
    );
    assert_error(
        &one_env("        strategy: { canary: { percent: 10 } }\n"),
        &format!("{sp}.canary.bake"),
        "required",
    );
    assert_error(
        &one_env("        strategy: { linear: { step: 100, interval: 1m } }\n"),
        &format!("{sp}.linear.step"),
        "out of range",
    );
    assert_error(
        &one_env("        strategy: { linear: { step: 10, interval: 0 } }\n"),
        &format!("{sp}.linear.interval"),
        "above zero",
    );
    assert_error(&one_env("        strategy: { steps: [ { weight: 50, bake: 1m }, { weight: 20, bake: 1m }, { weight: 100, bake: 0 } ] }\n"), &format!("{sp}.steps[1].weight"), "must increase");
    assert_error(
        &one_env("        strategy: { steps: [ { weight: 50, bake: 1m } ] }\n"),
        &format!("{sp}.steps[0].weight"),
        "weight 100",
    );
    assert_error(
        &one_env("        strategy: { steps: [] }\n"),
        &format!("{sp}.steps"),
        "at least one step",
    );
    assert_error(
        &one_env("        strategy: { canary: { percent: 300, bake: 1m } }\n"),
        &format!("{sp}.canary.percent"),
        "whole number from 0 to 255",
    );
}

#[test]
fn a_short_bake_is_a_warning_not_an_error() {
    let report = load(&one_env(
        "        strategy: { steps: [ { weight: 10, bake: 10s }, { weight: 100, bake: 0 } ] }\n",
    ));
    assert!(report.config.is_some());
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].level, Level::Warning);
    assert!(report.problems[0].message.contains("checked once"));
}

#[test]
fn probes_take_path_or_url() {
    let pp = "apps.web.environments.staging.checks.probes[0]";
    assert_error(
        &one_env("        checks: { probes: [ { expect_status: 200 } ] }\n"),
        pp,
        "either `path` or `url`",
    );
    assert_error(
        &one_env("        checks: { probes: [ { path: /a, url: http://x.example } ] }\n"),
        pp,
        "either `path` or `url`",
    );
    assert_error(
        &one_env("        checks: { probes: [ { url: ftp://x.example } ] }\n"),
        &format!("{pp}.url"),
        "not an http(s) URL",
    );
    assert_error(
        &one_env("        checks: { probes: [ { path: /a, via: production, timeout: 1m } ] }\n"),
        &format!("{pp}.timeout"),
        "shorter than checks.interval",
    );
    assert_error(
        &one_env(
            "        checks: { probes: [ { path: /a, via: production, expect_status: 42 } ] }\n",
        ),
        &format!("{pp}.expect_status"),
        "not an HTTP status",
    );
    assert_error(
        &one_env("        checks: { probes: [ { path: /a, via: sideways } ] }\n"),
        &format!("{pp}.via"),
        "not one of",
    );
    let ok = load(&one_env(
        "        checks: { probes: [ { path: /a, via: production } ] }\n",
    ));
    assert!(ok.problems.is_empty(), "{:#?}", ok.problems);
}

#[test]
fn check_settings_are_checked() {
    let cp = "apps.web.environments.staging.checks";
    assert_error(
        &one_env("        checks: { stable_timeout: 10s, interval: 30s }\n"),
        &format!("{cp}.stable_timeout"),
        "shorter than one check interval",
    );
    assert_error(
        &one_env("        checks: { failure_threshold: 0 }\n"),
        &format!("{cp}.failure_threshold"),
        "at least 1",
    );
}

#[test]
fn arns_must_be_of_the_right_kind_and_place() {
    let ep = "apps.web.environments.staging";
    let wrong_listener = one_env("").replace("listener/app/web/", "listener/net/web/");
    assert_error(
        &wrong_listener,
        &format!("{ep}.listeners.production"),
        "Application Load Balancer listener",
    );
    let other_region = one_env("").replace(
        "eu-west-1:123456789012:targetgroup/web-g",
        "us-east-1:123456789012:targetgroup/web-g",
    );
    assert_error(
        &other_region,
        &format!("{ep}.target_groups.green"),
        "this ARN is in account 123456789012, us-east-1; `target_groups.blue` says account 123456789012, eu-west-1",
    );
    let same_test = one_env("").replace(
        &format!(
            "listeners: {{ production: {} }}",
            listener("web", "1111111111111111")
        ),
        &format!(
            "listeners: {{ production: {0}, test: {0} }}",
            listener("web", "1111111111111111")
        ),
    );
    assert_error(&same_test, &format!("{ep}.listeners.test"), "must differ");
    assert_error(
        &one_env("        notifications: { topic: arn:aws:sqs:eu-west-1:123456789012:q }\n"),
        &format!("{ep}.notifications.topic"),
        "SNS topic",
    );
    assert_error(
        &one_env("").replace("123456789012:targetgroup/web-b", "1234:targetgroup/web-b"),
        &format!("{ep}.target_groups.blue"),
        "12 digits",
    );
}

/// An environment in another account names `account`, `region` and `role`; every ARN of
/// it must be there, and a mixed-account environment is refused at the ARN that differs.
#[test]
fn an_environment_in_another_account_is_checked_against_its_place() {
    let ep = "apps.web.environments.staging";
    let moved = |text: &str| text.replace(":123456789012:", ":222222222222:");
    let place = "        account: \"222222222222\"\n        region: eu-west-1\n        role: arn:aws:iam::222222222222:role/greenlight-target-eu-west-1\n";
    let ok = load(&moved(&one_env(place)));
    assert!(errors(&ok).is_empty(), "{:#?}", ok.problems);
    let env = &ok.config.as_ref().unwrap().apps["web"].environments["staging"];
    let p = env.place().expect("the environment has a place");
    assert_eq!(
        (p.account.as_str(), p.region.as_str()),
        ("222222222222", "eu-west-1")
    );

    // An ARN still in the stack's account: pointed at, with the line.
    let mixed = moved(&one_env(place)).replace(
        "222222222222:targetgroup/web-g",
        "123456789012:targetgroup/web-g",
    );
    assert_error(
        &mixed,
        &format!("{ep}.target_groups.green"),
        "this ARN is in account 123456789012, eu-west-1; this environment's `account` and `region` say account 222222222222, eu-west-1",
    );
    let report = load(&mixed);
    let problem = report
        .problems
        .iter()
        .find(|p| p.path.ends_with("target_groups.green"))
        .unwrap();
    assert!(problem.line.is_some(), "the error has a line and column");

    // Without `account`: the ARNs agree among themselves, and the error says how to move.
    let unplaced = one_env("").replace(
        "123456789012:targetgroup/web-g",
        "222222222222:targetgroup/web-g",
    );
    assert_error(
        &unplaced,
        &format!("{ep}.target_groups.green"),
        "names it with `account`, `region` and `role`",
    );
    // All three or none.
    assert_error(
        &moved(&one_env("        account: \"222222222222\"\n")),
        ep,
        "add region and role",
    );
    assert_error(
        &moved(&one_env(&place.replace("222222222222\"", "22222\""))),
        &format!("{ep}.account"),
        "12 digits",
    );
    assert_error(
        &moved(&one_env(
            &place.replace("region: eu-west-1", "region: europe"),
        )),
        &format!("{ep}.region"),
        "not an AWS region name",
    );
    assert_error(
        &moved(&one_env(&place.replace(
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::333333333333:role/",
        ))),
        &format!("{ep}.role"),
        "not in this environment's account 222222222222",
    );
    assert_error(
        &moved(&one_env(&place.replace(":role/", ":user/"))),
        &format!("{ep}.role"),
        "not an IAM role ARN",
    );
}

#[test]
fn promotion_cycles_are_found() {
    let text = config_yaml(&[app_yaml(
        "web",
        "web",
        &[
            env_yaml("a", "{ promote_from: c }", "a", ""),
            env_yaml("b", "{ promote_from: a }", "b", ""),
            env_yaml("c", "{ promote_from: b }", "c", ""),
        ],
    )]);
    let report = load(&text);
    let cycles: Vec<_> = errors(&report)
        .into_iter()
        .filter(|(_, m)| m.contains("promotion cycle"))
        .collect();
    assert_eq!(cycles.len(), 1, "one cycle, reported once: {cycles:#?}");
    assert!(cycles[0].1.contains("a → c → b → a"), "{cycles:#?}");
    let self_loop = config_yaml(&[app_yaml(
        "web",
        "web",
        &[env_yaml("a", "{ promote_from: a }", "a", "")],
    )]);
    assert_error(
        &self_loop,
        "apps.web.environments.a.trigger.promote_from",
        "cannot promote from itself",
    );
}

#[test]
fn pushes_that_would_race_on_shared_resources_are_errors() {
    // Two apps on the same repository whose patterns overlap, deploying to the same services.
    let text = config_yaml(&[
        app_yaml(
            "web",
            "shared",
            &[env_yaml(
                "staging",
                "{ on_push: { tags: [\"v*\"] } }",
                "svc",
                "",
            )],
        ),
        app_yaml(
            "web2",
            "shared",
            &[env_yaml(
                "staging",
                "{ on_push: { tags: [\"*-rc\"] } }",
                "svc",
                "",
            )],
        ),
    ]);
    assert_error(
        &text,
        "apps.web2.environments.staging.trigger.on_push.tags",
        "would race",
    );
    // Disjoint patterns do not race.
    let disjoint = text.replace("\"*-rc\"", "\"release-*\"");
    assert!(
        load(&disjoint).is_valid(),
        "{:#?}",
        load(&disjoint).problems
    );
    // Overlapping patterns on separate resources in one app are only a warning.
    let two_envs = config_yaml(&[app_yaml(
        "web",
        "web",
        &[
            env_yaml("a", "{ on_push: { tags: [\"v*\"] } }", "a", ""),
            env_yaml("b", "{ on_push: { tags: [\"v1*\"] } }", "b", ""),
        ],
    )]);
    let report = load(&two_envs);
    assert!(report.is_valid());
    assert!(report
        .problems
        .iter()
        .any(|p| p.level == Level::Warning && p.message.contains("deploys to both")));
}

#[test]
fn tag_patterns_are_checked() {
    let text = one_env("").replace("tags: [\"v*\"]", "tags: [\"v[0-9]*\"]");
    assert_error(
        &text,
        "apps.web.environments.staging.trigger.on_push.tags[0]",
        "contains `[`",
    );
    let empty = one_env("").replace("tags: [\"v*\"]", "tags: []");
    assert_error(
        &empty,
        "apps.web.environments.staging.trigger.on_push.tags",
        "at least one tag pattern",
    );
}

#[test]
fn names_are_checked() {
    let text = one_env("").replace("  web:\n", "  \"web app\":\n");
    assert_error(&text, "apps.\"web app\"", "app name");
}

#[test]
fn an_invalid_optional_section_does_not_fall_back_to_defaults() {
    let report = load(&one_env("        approval: { required: maybe }\n"));
    assert!(report.config.is_none());
    assert_eq!(errors(&report).len(), 1, "{:#?}", report.problems);
    assert_eq!(
        errors(&report)[0].0,
        "apps.web.environments.staging.approval.required"
    );
}

#[test]
fn cluster_and_service_names_follow_ecs_grammar() {
    for (bad, fragment) in [
        ("\"web\\0staging\"", "is not an ECS cluster name"),
        ("\"🚀🚀🚀\"", "is not an ECS cluster name"),
        ("\"v*\"", "is not an ECS cluster name"),
        ("\"arn:aws:::\"", "is not an ARN"),
        (
            "arn:aws:ecs:eu-west-1:123456789012:service/staging/web",
            "is not an ECS cluster ARN",
        ),
    ] {
        let text = EXAMPLE.replace("cluster: staging", &format!("cluster: {bad}"));
        assert_error(&text, "apps.web.environments.staging.cluster", fragment);
    }
    let text = EXAMPLE.replace("blue: web-staging-blue", "blue: \"web staging\"");
    assert_error(
        &text,
        "apps.web.environments.staging.services.blue",
        "is not an ECS service name",
    );
    // A full ARN is a name too.
    let arn = EXAMPLE.replace(
        "cluster: staging",
        "cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/staging",
    );
    assert!(crate::config::load(&arn).is_valid());
}

#[test]
fn a_worker_service_has_neither_target_groups_nor_listeners_and_no_load_balancer_checks() {
    let worker = |extra: &str| {
        format!(
            "version: 1\napps:\n  worker:\n    repository: worker\n    container: worker\n    environments:\n      staging:\n        trigger: {{ on_push: {{ tags: [\"v*\"] }} }}\n        cluster: staging\n        services: {{ blue: w-blue, green: w-green }}\n        strategy: {{ linear: {{ step: 50, interval: 1m }} }}\n{extra}"
        )
    };
    let fine = load(&worker(""));
    assert!(fine.config.is_some(), "{:#?}", fine.problems);
    assert_eq!(fine.problems.len(), 1);
    assert_eq!(fine.problems[0].level, Level::Note);
    let path = "apps.worker.environments.staging";
    assert_error(
        &worker("        checks:\n          probes: [{ path: /healthz }]\n"),
        &format!("{path}.checks.probes[0].path"),
        "a worker service has none; give it a `url`",
    );
    assert_error(
        &worker(
            "        analysis:\n          metrics: [{ metric: latency_p99, max_increase: 20% }]\n",
        ),
        &format!("{path}.analysis.metrics[0].metric"),
        "latency_p99 is read from the load balancer",
    );
    assert_error(
        &worker("        target_groups:\n          blue: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/b/1\n          green: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/g/2\n"),
        &format!("{path}.listeners"),
        "target_groups and listeners go together",
    );
}

#[test]
fn an_analysis_names_its_metrics_and_tolerances_clearly() {
    let with = |analysis: &str| {
        let text = EXAMPLE.replace(
            "        analysis:\n          min_requests: 200\n          metrics:\n            - { metric: error_rate, max_increase: 0.5pp }   # percentage points\n            - { metric: latency_p99, max_increase: 20% }    # relative to the old colour\n",
            analysis,
        );
        assert_ne!(text, EXAMPLE, "the example's analysis moved");
        text
    };
    let path = "apps.web.environments.staging.analysis";
    assert_error(
        &with("        analysis:\n          metrics: [{ metric: latency_p99, max_increase: 0.5pp }]\n"),
        &format!("{path}.metrics[0].max_increase"),
        "percentage points (`pp`) apply to error_rate only",
    );
    assert_error(
        &with(
            "        analysis:\n          metrics: [{ metric: error_rate, max_increase: lots }]\n",
        ),
        &format!("{path}.metrics[0].max_increase"),
        "`lots` is not a tolerance",
    );
    assert_error(
        &with(
            "        analysis:\n          metrics: [{ metric: latency_p95, max_increase: 20% }]\n",
        ),
        &format!("{path}.metrics[0].metric"),
        "`latency_p95` is not one of",
    );
    assert_error(
        &with("        analysis:\n          metrics: [{ metric: custom, max_increase: 20% }]\n"),
        &format!("{path}.metrics[0]"),
        "`metric: custom` needs `custom:`",
    );
    for interval in ["30s", "2h"] {
        assert_error(
            &with(&format!(
                "        analysis:\n          interval: {interval}\n          metrics: [{{ metric: error_rate, max_increase: 0.5pp }}]\n"
            )),
            &format!("{path}.interval"),
            "between 1m (the load balancer's metrics have a one-minute resolution) and 1h",
        );
    }
    let every_five = crate::config::load(&with(
        "        analysis:\n          interval: 5m\n          metrics: [{ metric: error_rate, max_increase: 0.5pp }]\n",
    ));
    let config = every_five.config.expect("a 5m interval is valid");
    let analysis = config.apps["web"].environments["staging"].analysis.clone();
    assert_eq!(
        analysis.map(|a| a.interval),
        Some(crate::Duration::from_mins(5))
    );
    assert_error(
        &with("        analysis:\n          metrics: []\n"),
        path,
        "names no metric",
    );
}
