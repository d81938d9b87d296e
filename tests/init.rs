//! `greenlight init`: adopting an existing ECS service. On moto: a service created by the
//! test behind a load balancer is read, the template `init` writes lints (cfn-lint) and
//! deploys (moto's CloudFormation), and the second run writes a configuration that
//! validates. In the simulator: the use case finds what the example configuration built.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use greenlight::init::{config, template};
use greenlight_aws::testing::{self, moto, query, unique, xml};
use greenlight_core::ports::Inventory;
use greenlight_core::usecase::init::{adopt, InitError, InitRequest};
use greenlight_sim::Sim;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn init(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("init")
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        // init reads the service, not the greenlight stack (which may not exist yet).
        .env("GREENLIGHT_STACK", "no-such-stack")
        .output()
        .expect("greenlight runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// cfn-lint from the test command's virtualenv, as the test command runs it.
fn cfn_lint(file: &Path) {
    let bin = root().join(".venv/bin/cfn-lint");
    assert!(
        bin.exists(),
        "cfn-lint not found at {}: run ./scripts/test (it installs it into .venv)",
        bin.display()
    );
    let o = Command::new(bin).arg(file).output().unwrap();
    assert!(
        o.status.success(),
        "cfn-lint {}:\n{}{}",
        file.display(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn validate(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["config", "validate"])
        .arg(file)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Existing {
    cluster: String,
    service: String,
    load_balancer: String,
    target_group: String,
    listener: String,
}

/// An application as a team has it before greenlight: one Fargate service behind one
/// target group, an HTTP listener forwarding to it, a 5xx alarm on the target group.
async fn existing_service(cloud: &greenlight_aws::AwsCloud, by_rule: bool) -> Existing {
    use aws_sdk_ecs::types as ecs;
    use aws_sdk_elasticloadbalancingv2::types as elb;
    let (vpc, subnets) = testing::vpc().await;
    let sg = xml(
        &query(
            "ec2",
            &[
                ("Action", "CreateSecurityGroup"),
                ("Version", "2016-11-15"),
                ("GroupName", &unique("tasks")),
                ("GroupDescription", "tasks"),
                ("VpcId", &vpc),
            ],
        )
        .await,
        "groupId",
    );
    let lb = cloud
        .elb
        .create_load_balancer()
        .name(unique("shop"))
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let tg = cloud
        .elb
        .create_target_group()
        .name(unique("shop"))
        .protocol(elb::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&vpc)
        .target_type(elb::TargetTypeEnum::Ip)
        .health_check_path("/healthz")
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let forward = elb::Action::builder()
        .r#type(elb::ActionTypeEnum::Forward)
        .target_group_arn(&tg_arn)
        .build();
    let not_found = elb::Action::builder()
        .r#type(elb::ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            elb::FixedResponseActionConfig::builder()
                .status_code("404")
                .build(),
        )
        .build();
    let listener = cloud
        .elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(elb::ProtocolEnum::Http)
        .port(80)
        .default_actions(if by_rule { not_found } else { forward.clone() })
        .send()
        .await
        .unwrap();
    let mut listener_arn = listener.listeners()[0].listener_arn().unwrap().to_string();
    if by_rule {
        // A shared load balancer: the service is reached by host, through a rule.
        let rule = cloud
            .elb
            .create_rule()
            .listener_arn(&listener_arn)
            .priority(10)
            .conditions(
                elb::RuleCondition::builder()
                    .field("host-header")
                    .values("shop.example.com")
                    .build(),
            )
            .actions(forward)
            .send()
            .await
            .unwrap();
        listener_arn = rule.rules()[0].rule_arn().unwrap().to_string();
    }
    let cluster = unique("shop");
    cloud
        .ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let td = cloud
        .ecs
        .register_task_definition()
        .family(unique("shop"))
        .network_mode(ecs::NetworkMode::Awsvpc)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name("app")
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:v1")
                .essential(true)
                .build(),
        )
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name("log-router")
                .image("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")
                .essential(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let td_arn = td
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    let service = unique("shop");
    cloud
        .ecs
        .create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&td_arn)
        .desired_count(2)
        .launch_type(ecs::LaunchType::Fargate)
        .load_balancers(
            ecs::LoadBalancer::builder()
                .target_group_arn(&tg_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .network_configuration(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    ecs::AwsVpcConfiguration::builder()
                        .set_subnets(Some(subnets))
                        .security_groups(&sg)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tg_dimension = tg_arn.split_once(":targetgroup/").unwrap().1;
    let lb_dimension = lb_arn.split_once(":loadbalancer/").unwrap().1;
    cloud
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(format!("{service}-5xx"))
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .dimensions(dim("TargetGroup", &format!("targetgroup/{tg_dimension}")))
        .dimensions(dim("LoadBalancer", lb_dimension))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    // A metric-math alarm (the 5xx share of the target group's requests), as
    // examples/app-stack.yaml has: its dimensions are in its metrics.
    let metric = |id: &str, name: &str| {
        use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat};
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/ApplicationELB")
                            .metric_name(name)
                            .dimensions(dim("TargetGroup", &format!("targetgroup/{tg_dimension}")))
                            .dimensions(dim("LoadBalancer", lb_dimension))
                            .build(),
                    )
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .return_data(false)
            .build()
    };
    cloud
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(format!("{service}-5xx-rate"))
        .metrics(metric("errors", "HTTPCode_Target_5XX_Count"))
        .metrics(metric("requests", "RequestCount"))
        .metrics(
            aws_sdk_cloudwatch::types::MetricDataQuery::builder()
                .id("rate")
                .expression("100 * errors / requests")
                .label("5xx %")
                .return_data(true)
                .build(),
        )
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    // Another service's alarm on the same account: not proposed.
    cloud
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(unique("other-service-cpu"))
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .dimensions(dim("ServiceName", "another-service"))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    Existing {
        cluster,
        service,
        load_balancer: lb_arn,
        target_group: tg_arn,
        listener: listener_arn,
    }
}

/// The second colour as the template describes it.
async fn green_service(cloud: &greenlight_aws::AwsCloud, e: &Existing, target_group: &str) {
    use aws_sdk_ecs::types as ecs;
    let blue = cloud
        .ecs
        .describe_services()
        .cluster(&e.cluster)
        .services(&e.service)
        .send()
        .await
        .unwrap();
    let blue = &blue.services()[0];
    cloud
        .ecs
        .create_service()
        .cluster(&e.cluster)
        .service_name(format!("{}-green", e.service))
        .task_definition(blue.task_definition().unwrap())
        .desired_count(0)
        .launch_type(ecs::LaunchType::Fargate)
        .load_balancers(
            ecs::LoadBalancer::builder()
                .target_group_arn(target_group)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .set_network_configuration(blue.network_configuration().cloned())
        .send()
        .await
        .unwrap();
}

fn dim(name: &str, value: &str) -> aws_sdk_cloudwatch::types::Dimension {
    aws_sdk_cloudwatch::types::Dimension::builder()
        .name(name)
        .value(value)
        .build()
}

/// The whole adoption on moto: the first run writes a template that lints and deploys and
/// leaves the running service and its listener alone; the second writes a configuration
/// with every ARN that validates; files are not overwritten without --force.
#[tokio::test(flavor = "multi_thread")]
async fn init_adopts_a_service_created_on_moto() {
    let cloud = testing::cloud(&unique("unused")).await;
    let e = existing_service(&cloud, false).await;
    let out = scratch("init");
    let dir = out.to_str().unwrap();
    let args = [
        "--cluster",
        &e.cluster,
        "--service",
        &e.service,
        "--app",
        "shop",
        "--out",
        dir,
    ];
    let first = init(&args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let said = text(&first.stdout);
    assert!(said.contains(&format!("{}-5xx", e.service)), "{said}");
    assert!(!said.contains("other-service-cpu"), "{said}");
    assert!(said.contains("aws ecs tag-resource"), "{said}");
    let template_file = out.join("shop-staging.blue-green.yaml");
    let body = std::fs::read_to_string(&template_file).unwrap();
    assert!(body.contains("HealthCheckPath: \"/healthz\""), "{body}");
    assert!(
        body.contains(&format!("LoadBalancerArn: \"{}\"", e.load_balancer)),
        "{body}"
    );
    assert!(
        !body.contains(&e.listener),
        "the production listener is not in the template"
    );
    // Both alarms watch the first colour alone (its target group): each gets a copy on the
    // second colour's target group, the metric-math one with its metrics and expression.
    for twin in [
        format!("{}-5xx-green", e.service),
        format!("{}-5xx-rate-green", e.service),
    ] {
        assert!(
            body.contains(&format!("AlarmName: \"{twin}\"")),
            "{twin}: {body}"
        );
    }
    assert_eq!(
        body.matches("Value: !GetAtt GreenTargetGroup.TargetGroupFullName")
            .count(),
        3,
        "{body}"
    );
    assert!(
        body.contains("Expression: \"100 * errors / requests\""),
        "{body}"
    );
    cfn_lint(&template_file);
    // Again without --force: nothing is overwritten.
    let again = init(&args);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("--force"));

    // The team deploys the template (moto's CloudFormation creates the resources).
    let cfn = greenlight_aws::stacks::CloudFormation::new(&cloud.sdk);
    let stack = unique("shop-blue-green");
    let created = cfn
        .client
        .create_stack()
        .stack_name(&stack)
        .template_body(&body)
        .send()
        .await;
    let status = cfn.client.describe_stacks().stack_name(&stack).send().await;
    let events = cfn
        .client
        .describe_stack_events()
        .stack_name(&stack)
        .send()
        .await;
    assert!(created.is_ok(), "{created:?}\n{status:?}\n{events:?}");
    let outputs = greenlight_core::ports::Stacks::stack_outputs(&cfn, &stack)
        .await
        .unwrap();
    // moto's CloudFormation creates the target group and the test listener as written, but
    // names an ECS service after its logical ID and drops its LoadBalancers: the service
    // the template describes is created through ECS itself, as CloudFormation would.
    assert!(
        body.contains(&format!("ServiceName: \"{}-green\"", e.service)),
        "{body}"
    );
    green_service(&cloud, &e, &outputs["GreenTargetGroupArn"]).await;
    // moto's CloudFormation has no alarms either: the simple one's copy is put directly.
    let green_tg = outputs["GreenTargetGroupArn"]
        .split_once(":targetgroup/")
        .unwrap()
        .1;
    cloud
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(format!("{}-5xx-green", e.service))
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .dimensions(dim("TargetGroup", &format!("targetgroup/{green_tg}")))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let before = cloud
        .elb
        .describe_listeners()
        .listener_arns(&e.listener)
        .send()
        .await
        .unwrap();
    let second = init(&args);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    // The test listener it found is named by its own port, not a new free one.
    assert!(
        text(&second.stdout).contains("port 8080"),
        "{}",
        text(&second.stdout)
    );
    let config_file = out.join("greenlight.shop-staging.yaml");
    let written = std::fs::read_to_string(&config_file).unwrap();
    for arn in [&e.target_group, &e.listener] {
        assert!(
            written.contains(arn.as_str()),
            "{arn} missing from\n{written}"
        );
    }
    assert!(written.contains("via: test"), "{written}");
    // Both colours' alarms are watched where the copy exists.
    assert!(
        written.contains(&format!("- \"{}-5xx-green\"", e.service)),
        "{written}"
    );
    assert!(
        !written.contains(&format!("{}-5xx-rate-green", e.service)),
        "{written}"
    );
    let v = validate(&config_file);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
    // --json: one document; --force overwrites.
    let mut with_json = args.to_vec();
    with_json.extend(["--json", "--force"]);
    let j = init(&with_json);
    assert_eq!(j.status.code(), Some(0), "{}", text(&j.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(doc["wrote"], "config");
    assert_eq!(
        doc["found"]["existing"]["service"],
        format!("{}-green", e.service)
    );
    assert_eq!(doc["found"]["alarms"][0]["names"], "target_group");
    // Nothing about the running service or its listener changed.
    let after = cloud
        .elb
        .describe_listeners()
        .listener_arns(&e.listener)
        .send()
        .await
        .unwrap();
    assert_eq!(before.listeners(), after.listeners());
    let facts = cloud.service_facts(&e.cluster, &e.service).await.unwrap();
    assert_eq!(facts.desired, 2);
    let _ = std::fs::remove_dir_all(&out);
}

/// What init refuses, each with the fix named: a service another controller deploys, an
/// image outside ECR, a container that does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn init_refuses_what_it_cannot_adopt() {
    let cloud = testing::cloud(&unique("unused")).await;
    let e = existing_service(&cloud, false).await;
    let out = scratch("init-refused");
    let dir = out.to_str().unwrap();
    let o = init(&[
        "--cluster",
        &e.cluster,
        "--service",
        &e.service,
        "--container",
        "sidecar",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no container `sidecar`"),
        "{}",
        text(&o.stderr)
    );
    let o = init(&["--cluster", &e.cluster, "--service", "nope", "--out", dir]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not found"), "{}", text(&o.stderr));
    let o = init(&[
        "--cluster",
        &e.cluster,
        "--service",
        &e.service,
        "--test-port",
        "80",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("--test-port"),
        "{}",
        text(&o.stderr)
    );
    // A name greenlight.yaml would refuse is refused before anything is read or written.
    let o = init(&[
        "--cluster",
        &e.cluster,
        "--service",
        &e.service,
        "--env",
        "../prod",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("--env `../prod`"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing written"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// A service reached through a listener rule on a shared load balancer: the rule is the
/// production route, and the notes ask to tag the rule.
#[tokio::test(flavor = "multi_thread")]
async fn init_finds_a_service_behind_a_listener_rule() {
    let cloud = testing::cloud(&unique("unused")).await;
    let e = existing_service(&cloud, true).await;
    assert!(e.listener.contains(":listener-rule/"));
    let out = scratch("init-rule");
    let o = init(&[
        "--cluster",
        &e.cluster,
        "--service",
        &e.service,
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["found"]["routing"]["production"]["arn"],
        e.listener.as_str()
    );
    assert_eq!(doc["found"]["routing"]["production"]["priority"], "10");
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("listener rule") && notes.contains(&e.listener),
        "{notes}"
    );
    cfn_lint(&out.join("shop-staging.blue-green.yaml"));
    let _ = std::fs::remove_dir_all(&out);
}

/// The use case against the simulator, on the example configuration's world: the web
/// staging environment's blue service is found with its listener, its second colour, its
/// test listener and its alarm, and the configuration written for it validates; the
/// worker has no load balancer and gets a template with a service only.
#[tokio::test]
async fn init_finds_the_example_environments_in_the_simulator() {
    let sim = Sim::at_epoch(1);
    let yaml = std::fs::read_to_string(root().join("examples/greenlight.yaml")).unwrap();
    let cfg = greenlight_core::config::load(&yaml).config.unwrap();
    let digest = greenlight_core::Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
    sim.world().install(&cfg, &digest, 2);
    let req = InitRequest {
        cluster: "staging".into(),
        service: "web-staging-blue".into(),
        ..InitRequest::default()
    };
    let a = adopt(&sim, &req).await.unwrap();
    let web = &cfg.apps["web"].environments["staging"];
    let lb = web.load_balancer().unwrap();
    let r = a.routing.as_ref().unwrap();
    assert_eq!(r.production.arn, lb.listeners.production);
    assert_eq!(a.green_service, "web-staging-green");
    let green = a.existing.as_ref().unwrap();
    assert_eq!(green.target_group.as_ref(), Some(&lb.target_groups.green));
    assert_eq!(green.test_listener.as_ref(), lb.listeners.test.as_ref());
    assert!(
        a.alarms.iter().any(|x| x.name == "web-staging-5xx"),
        "{:?}",
        a.alarms
    );
    let text = config(&a, "web", "staging").unwrap();
    let report = greenlight_core::config::load(&text);
    assert!(report.is_valid(), "{:?}\n{text}", report.problems);
    // After a deployment the test listener forwards to blue alone, like production did
    // first: init still tells them apart (production names both target groups).
    let test = lb.listeners.test.clone().unwrap();
    sim.world().listeners.get_mut(&test).unwrap().weights[0].target_group =
        lb.target_groups.blue.clone();
    let again = adopt(&sim, &req).await.unwrap();
    assert_eq!(
        again.routing.as_ref().unwrap().production.arn,
        lb.listeners.production
    );
    assert_eq!(again.existing.unwrap().test_listener.as_ref(), Some(&test));

    let worker = adopt(
        &sim,
        &InitRequest {
            cluster: "staging".into(),
            service: "worker-staging-blue".into(),
            // Its task definition has two essential containers: the one to change is named.
            container: Some("worker".into()),
            ..InitRequest::default()
        },
    )
    .await
    .unwrap();
    assert!(worker.routing.is_none());
    assert!(worker
        .alarms
        .iter()
        .any(|x| x.name == "worker-staging-errors"));
    let t = template(&worker);
    assert!(
        t.contains("AWS::ECS::Service") && !t.contains("TargetGroup"),
        "{t}"
    );
    let report = greenlight_core::config::load(&config(&worker, "worker", "staging").unwrap());
    assert!(report.is_valid(), "{:?}", report.problems);

    let missing = adopt(
        &sim,
        &InitRequest {
            cluster: "staging".into(),
            service: "nope".into(),
            ..InitRequest::default()
        },
    )
    .await;
    assert!(matches!(missing, Err(InitError::Aws(_))), "{missing:?}");
}
