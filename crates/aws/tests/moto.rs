//! Contract tests: every adapter call against a moto server speaking the real wire
//! protocols. moto records ECS services but runs no tasks (runningCount stays 0), so the
//! rollout's dynamics are tested in the simulator; here we test that each call sends what
//! AWS expects and reads back what AWS answers.

mod support;

use greenlight_core::notify::{EventKind, Notification};
use greenlight_core::ports::*;
use greenlight_core::{Arn, Digest, Duration};
use support::*;

fn arn(s: &str) -> Arn {
    Arn::parse(s).unwrap()
}

// ---------------------------------------------------------------------------------------
// ECS

async fn ecs_service(c: &greenlight_aws::AwsCloud) -> (String, String, String) {
    let cluster = unique("cluster");
    let service = unique("web-blue");
    c.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let container = |name: &str, image: &str| {
        aws_sdk_ecs::types::ContainerDefinition::builder()
            .name(name)
            .image(image)
            .memory(128)
            .environment(
                aws_sdk_ecs::types::KeyValuePair::builder()
                    .name("MODE")
                    .value(name)
                    .build(),
            )
            .build()
    };
    let td = c
        .ecs
        .register_task_definition()
        .family(unique("web"))
        .container_definitions(container("app", "web:old"))
        .container_definitions(container("log-router", "fluent-bit:stable"))
        .cpu("256")
        .memory("512")
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    c.ecs
        .create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&td)
        .desired_count(2)
        .send()
        .await
        .unwrap();
    (cluster, service, td)
}

/// A worker service's tasks: ListTasks by service and status, then DescribeTasks. moto
/// runs no task for a service, so the report is empty; what a report of crashed and
/// unhealthy tasks reads is tested with aws-smithy-mocks (tests/mocked.rs).
#[tokio::test]
async fn ecs_task_report_of_a_service() {
    let c = cloud("unused").await;
    let (cluster, service, _) = ecs_service(&c).await;
    let report = c
        .task_report(
            &cluster,
            &service,
            chrono::Utc::now() - chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(report, TaskReport::default());
}

#[tokio::test]
async fn ecs_describe_service() {
    let c = cloud("unused").await;
    let (cluster, service, td) = ecs_service(&c).await;
    let s = c.describe_service(&cluster, &service).await.unwrap();
    assert_eq!((s.desired, s.task_definition.as_str()), (2, td.as_str()));
    assert_eq!(s.running, 0, "moto runs no tasks");
    assert_eq!(
        s.rollout,
        RolloutState::InProgress,
        "0 of 2 running is not complete"
    );
    let missing = c.describe_service(&cluster, "nope").await.unwrap_err();
    assert!(matches!(missing, PortError::NotFound { .. }), "{missing}");
    let no_cluster = c
        .describe_service("no-such-cluster", &service)
        .await
        .unwrap_err();
    assert!(
        matches!(no_cluster, PortError::NotFound { .. }),
        "{no_cluster}"
    );
}

#[tokio::test]
async fn ecs_register_a_revision_that_differs_only_in_the_image() {
    let c = cloud("unused").await;
    let (_, _, td) = ecs_service(&c).await;
    assert_eq!(c.container_image(&td, "app").await.unwrap(), "web:old");
    let image = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{}",
        "ab".repeat(32)
    );
    let new = c.register_with_image(&td, "app", &image).await.unwrap();
    assert_ne!(new, td);
    assert!(new.ends_with(":2"), "{new}");
    assert_eq!(c.container_image(&new, "app").await.unwrap(), image);
    assert_eq!(
        c.container_image(&new, "log-router").await.unwrap(),
        "fluent-bit:stable"
    );
    let old = c
        .ecs
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let mut got = c
        .ecs
        .describe_task_definition()
        .task_definition(&new)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!((got.cpu(), got.memory()), (old.cpu(), old.memory()));
    assert_eq!(
        got.container_definitions()[0].environment(),
        old.container_definitions()[0].environment()
    );
    got.container_definitions.as_mut().unwrap()[0].image =
        old.container_definitions()[0].image.clone();
    assert_eq!(
        got.container_definitions(),
        old.container_definitions(),
        "nothing but the image changed"
    );

    // Registering the same image again (an attempt whose answer was lost, retried) reuses
    // the revision; another image makes a new one.
    let again = c.register_with_image(&td, "app", &image).await.unwrap();
    assert_eq!(again, new, "no second revision for the same image");
    let other = c
        .register_with_image(&td, "app", "web:other")
        .await
        .unwrap();
    assert!(other.ends_with(":3"), "{other}");

    let missing = c
        .register_with_image(&td, "nginx", &image)
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("container `nginx`"),
        "{missing}"
    );
    assert!(matches!(
        c.container_image("nope:1", "app").await,
        Err(PortError::NotFound { .. })
    ));
}

#[tokio::test]
async fn ecs_update_service() {
    let c = cloud("unused").await;
    let (cluster, service, td) = ecs_service(&c).await;
    let new = c.register_with_image(&td, "app", "web:new").await.unwrap();
    c.update_service(&cluster, &service, Some(&new), Some(3))
        .await
        .unwrap();
    let s = c.describe_service(&cluster, &service).await.unwrap();
    assert_eq!((s.desired, s.task_definition.as_str()), (3, new.as_str()));
    c.update_service(&cluster, &service, None, Some(0))
        .await
        .unwrap();
    let s = c.describe_service(&cluster, &service).await.unwrap();
    assert_eq!(
        (s.desired, s.task_definition.as_str()),
        (0, new.as_str()),
        "a count-only update keeps the revision"
    );
    let err = c
        .update_service(&cluster, "nope", None, Some(1))
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::NotFound { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// Elastic Load Balancing

#[tokio::test]
async fn elb_weights_read_write_and_read_back() {
    let c = cloud("unused").await;
    let (l, blue, green) = blue_green_listener(&c).await;
    // A plain forward to one group reads as 100% on it.
    assert_eq!(
        c.listener_weights(&l).await.unwrap(),
        vec![TargetWeight {
            target_group: blue.clone(),
            weight: 100
        }]
    );
    let split = vec![
        TargetWeight {
            target_group: blue.clone(),
            weight: 90,
        },
        TargetWeight {
            target_group: green.clone(),
            weight: 10,
        },
    ];
    c.set_listener_weights(&l, &split).await.unwrap();
    assert_eq!(c.listener_weights(&l).await.unwrap(), split);
    let all_green = vec![
        TargetWeight {
            target_group: blue,
            weight: 0,
        },
        TargetWeight {
            target_group: green,
            weight: 100,
        },
    ];
    c.set_listener_weights(&l, &all_green).await.unwrap();
    assert_eq!(c.listener_weights(&l).await.unwrap(), all_green);
    let missing = arn("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/nope/0123456789abcdef/0123456789abcdef");
    assert!(matches!(
        c.listener_weights(&missing).await,
        Err(PortError::NotFound { .. })
    ));
}

/// An environment on a shared load balancer: the weights of a listener rule's forward
/// action (a host-header rule), read (DescribeRules), written (ModifyRule) and read back;
/// its endpoint is its listener's.
#[tokio::test]
async fn elb_listener_rule_weights_read_write_and_read_back() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, HostHeaderConditionConfig, RuleCondition,
        TargetGroupTuple,
    };
    let c = cloud("unused").await;
    let (l, blue, green) = blue_green_listener(&c).await;
    let rule = c
        .elb
        .create_rule()
        .listener_arn(l.as_str())
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .values("api.example.com")
                        .build(),
                )
                .build(),
        )
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(blue.as_str())
                                .weight(100)
                                .build(),
                        )
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(green.as_str())
                                .weight(0)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .rules()[0]
        .rule_arn()
        .unwrap()
        .to_string();
    let rule = arn(&rule);
    assert!(is_listener_rule(&rule), "{rule}");
    assert_eq!(listener_of_rule(&rule), Some(l.clone()));
    let split = vec![
        TargetWeight {
            target_group: blue.clone(),
            weight: 75,
        },
        TargetWeight {
            target_group: green.clone(),
            weight: 25,
        },
    ];
    c.set_listener_weights(&rule, &split).await.unwrap();
    assert_eq!(c.listener_weights(&rule).await.unwrap(), split);
    // The listener's own default action is left alone.
    assert_eq!(c.listener_weights(&l).await.unwrap()[0].target_group, blue);
    assert_eq!(
        c.listener_endpoint(&rule).await.unwrap(),
        c.listener_endpoint(&l).await.unwrap()
    );
    let missing = arn(&format!(
        "{}/0123456789abcdef",
        rule.as_str().rsplit_once('/').unwrap().0
    ));
    assert!(matches!(
        c.listener_weights(&missing).await,
        Err(PortError::NotFound { .. })
    ));
}

#[tokio::test]
async fn elb_target_health_and_endpoint() {
    let c = cloud("unused").await;
    let (l, blue, _) = blue_green_listener(&c).await;
    assert!(c.target_health(&blue).await.unwrap().is_empty());
    c.elb
        .register_targets()
        .target_group_arn(blue.as_str())
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.0.1.10")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let health = c.target_health(&blue).await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(
        (health[0].id.as_str(), health[0].port, health[0].state),
        ("10.0.1.10", Some(8080), HealthState::Healthy)
    );
    let ep = c.listener_endpoint(&l).await.unwrap();
    assert_eq!((ep.port, ep.scheme.as_str()), (8080, "http"));
    assert!(ep.dns_name.contains("elb.amazonaws.com"), "{}", ep.dns_name);
    let missing = arn(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef",
    );
    assert!(matches!(
        c.target_health(&missing).await,
        Err(PortError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// ECR

#[tokio::test]
async fn ecr_images_by_digest_and_tag() {
    let c = cloud("unused").await;
    let repo = unique("web");
    let created = c
        .ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": format!("sha256:{}", "1".repeat(64))}});
    let put = c
        .ecr
        .put_image()
        .repository_name(&repo)
        .image_manifest(manifest.to_string())
        .image_tag("v1")
        .send()
        .await
        .unwrap();
    let digest = Digest::parse(
        put.image()
            .unwrap()
            .image_id()
            .unwrap()
            .image_digest()
            .unwrap(),
    )
    .unwrap();
    let by_digest = c.image_by_digest(&repo, &digest).await.unwrap();
    assert_eq!(by_digest.image.digest, digest);
    assert_eq!(by_digest.tags, ["v1"]);
    assert!(by_digest.pushed_at.is_some());
    assert_eq!(
        c.image_by_tag(&repo, "v1").await.unwrap().image.digest,
        digest
    );
    assert_eq!(
        c.repository_uri(&repo).await.unwrap(),
        created.repository().unwrap().repository_uri().unwrap()
    );
    let other = Digest::parse(&format!("sha256:{}", "2".repeat(64))).unwrap();
    assert!(matches!(
        c.image_by_digest(&repo, &other).await,
        Err(PortError::NotFound { .. })
    ));
    // The labels start with the manifest (BatchGetImage); a manifest that names no
    // configuration has no labels. (moto has no GetDownloadUrlForLayer: the rest of the
    // path is tested with aws-smithy-mocks.)
    let bare = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []});
    let put = c
        .ecr
        .put_image()
        .repository_name(&repo)
        .image_manifest(bare.to_string())
        .image_tag("bare")
        .send()
        .await
        .unwrap();
    let bare = Digest::parse(
        put.image()
            .unwrap()
            .image_id()
            .unwrap()
            .image_digest()
            .unwrap(),
    )
    .unwrap();
    assert!(c.image_labels(&repo, &bare).await.unwrap().is_empty());
    assert!(matches!(
        c.image_labels("no-such-repo", &bare).await,
        Err(PortError::NotFound { .. })
    ));
    assert!(matches!(
        c.image_by_tag(&repo, "v9").await,
        Err(PortError::NotFound { .. })
    ));
    let err = c
        .image_by_digest("no-such-repo", &digest)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ECR repository no-such-repo"),
        "{err}"
    );
    assert!(matches!(
        c.repository_uri("no-such-repo").await,
        Err(PortError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// CloudWatch

#[tokio::test]
async fn cloudwatch_alarm_states() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
    let c = cloud("unused").await;
    let (fine, firing) = (unique("ok"), unique("5xx"));
    for name in [&fine, &firing] {
        c.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(5.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
    }
    c.cloudwatch
        .set_alarm_state()
        .alarm_name(&fine)
        .state_value(StateValue::Ok)
        .state_reason("quiet")
        .send()
        .await
        .unwrap();
    c.cloudwatch
        .set_alarm_state()
        .alarm_name(&firing)
        .state_value(StateValue::Alarm)
        .state_reason("5xx > 5")
        .send()
        .await
        .unwrap();
    let mut states = c
        .alarm_states(&[fine.clone(), firing.clone(), "missing".into()])
        .await
        .unwrap();
    states.sort_by(|a, b| a.name.cmp(&b.name));
    let by_name = |n: &str| states.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by_name(&fine).value, AlarmValue::Ok);
    assert_eq!(by_name(&firing).value, AlarmValue::Alarm);
    assert_eq!(by_name(&firing).reason.as_deref(), Some("5xx > 5"));
    assert_eq!(states.len(), 2, "missing alarms are absent");
    // More names than one call takes.
    let many: Vec<String> = (0..150)
        .map(|i| format!("absent-{i}"))
        .chain([firing.clone()])
        .collect();
    assert_eq!(c.alarm_states(&many).await.unwrap().len(), 1);
}

/// The canary analysis's reads: each colour's ALB metrics by its `TargetGroup` and
/// `LoadBalancer` dimensions (moto matches the dimensions exactly, as CloudWatch does),
/// and a custom metric by its colour dimension. The queries are the analysis's own.
/// moto computes no percentiles; a `p99` read is the same call with another `Stat`.
#[tokio::test]
async fn cloudwatch_metric_data_per_target_group_and_colour() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    use greenlight_core::config::Colour;
    let c = cloud("unused").await;
    let text = include_str!("../../../examples/greenlight.yaml");
    let config = greenlight_core::config::load(text)
        .config
        .expect("the example is valid");
    let mut env = config.apps["web"].environments["staging"].clone();
    let namespace = unique("Shop");
    env.analysis = Some(greenlight_core::config::Analysis {
        min_requests: 1,
        interval: greenlight_core::Duration::from_mins(1),
        metrics: vec![
            greenlight_core::config::MetricCheck {
                metric: greenlight_core::config::MetricKind::ErrorRate,
                max_increase: greenlight_core::config::Tolerance::Points(0.5),
                custom: None,
            },
            greenlight_core::config::MetricCheck {
                metric: greenlight_core::config::MetricKind::Custom,
                max_increase: greenlight_core::config::Tolerance::Percent(10.0),
                custom: Some(greenlight_core::config::CustomMetric {
                    name: "checkout_ms".into(),
                    namespace: namespace.clone(),
                    metric_name: "CheckoutTime".into(),
                    statistic: "Average".into(),
                    colour_dimension: "Colour".into(),
                    colour_values: greenlight_core::config::Colours {
                        blue: "blue".into(),
                        green: "green".into(),
                    },
                    dimensions: [("Service".to_string(), "web".to_string())].into(),
                    worse: greenlight_core::config::Worse::Higher,
                }),
            },
        ],
    });
    let analysis = env.analysis.clone().unwrap();
    let queries = greenlight_core::analysis::queries(&env, &analysis, Colour::Blue, Colour::Green);
    let now = chrono::Utc::now();
    let at = aws_smithy_types::DateTime::from_secs(now.timestamp() - 120);
    // What the ALB and the application would have published: requests and 5xx per target
    // group (twice each, to be summed), and the custom metric per colour (to be averaged).
    let published = [
        (0, 900.0),
        (0, 100.0),
        (1, 90.0),
        (1, 10.0),
        (2, 1.0),
        (3, 3.0),
        (3, 2.0),
        (4, 200.0),
        (4, 220.0),
        (5, 300.0),
    ];
    for (i, value) in published {
        let q: &MetricQuery = &queries[i];
        c.cloudwatch
            .put_metric_data()
            .namespace(&q.namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(&q.metric_name)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .timestamp(at)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let start = now - chrono::TimeDelta::minutes(5);
    let values = c.metric_values(&queries, start, now).await.unwrap();
    assert_eq!(
        values,
        vec![
            Some(1000.0),
            Some(100.0),
            Some(1.0),
            Some(5.0),
            Some(210.0),
            Some(300.0)
        ],
        "{queries:#?}"
    );
    // Nothing published before the range: no datapoint, as for a 5xx count at zero.
    let before = c
        .metric_values(
            &queries,
            start - chrono::TimeDelta::hours(2),
            start - chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(before, vec![None; queries.len()]);
    // And the judgement of what came back: green's 5% of errors against blue's 0.1%.
    let report = greenlight_core::analysis::judge(
        &analysis,
        &values,
        greenlight_core::analysis::Round {
            old: Colour::Blue,
            new: Colour::Green,
            weight: 10,
            since: start,
            at: now,
        },
    );
    assert_eq!(
        report.verdict,
        greenlight_core::analysis::Verdict::Fail,
        "{}",
        report.summary()
    );
}

// ---------------------------------------------------------------------------------------
// SNS (delivery checked through an SQS subscription)

#[tokio::test]
async fn sns_publish_carries_attributes_and_json_for_programs() {
    let c = cloud("unused").await;
    let topic = arn(c
        .sns
        .create_topic()
        .name(unique("deploys"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap());
    let queue_name = unique("inbox");
    let created = query(
        "sqs",
        &[("Action", "CreateQueue"), ("QueueName", &queue_name)],
    )
    .await;
    let queue_url = xml(&created, "QueueUrl");
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue_name}");
    c.sns
        .subscribe()
        .topic_arn(topic.as_str())
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    let mut n = Notification::new(EventKind::RolledBack, "web", "prod", chrono::Utc::now());
    n.reason = Some("alarm web-prod-5xx".into());
    let id = c.publish(&topic, &n).await.unwrap();
    assert!(!id.is_empty());

    let received = query(
        "sqs",
        &[
            ("Action", "ReceiveMessage"),
            ("QueueUrl", &queue_url),
            ("MaxNumberOfMessages", "10"),
            ("WaitTimeSeconds", "1"),
        ],
    )
    .await;
    let body = xml(&received, "Body")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(envelope["Subject"], n.subject());
    let delivered: Notification =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(delivered, n, "SQS subscribers get greenlight's JSON");
    for (key, value) in [
        ("app", "web"),
        ("environment", "prod"),
        ("event", "rolled_back"),
        ("severity", "error"),
    ] {
        assert_eq!(envelope["MessageAttributes"][key]["Value"], value, "{key}");
        assert_eq!(envelope["MessageAttributes"][key]["Type"], "String");
    }
    let missing = arn("arn:aws:sns:us-east-1:123456789012:no-such-topic");
    assert!(c.publish(&missing, &n).await.is_err());
}

// ---------------------------------------------------------------------------------------
// Step Functions

async fn state_machine(c: &greenlight_aws::AwsCloud) -> Arn {
    let definition =
        serde_json::json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let out = c
        .sfn
        .create_state_machine()
        .name(unique("rollout"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/greenlight-states")
        .send()
        .await
        .unwrap();
    arn(out.state_machine_arn())
}

#[tokio::test]
async fn sfn_start_is_once_per_name() {
    let c = cloud("unused").await;
    let sm = state_machine(&c).await;
    let input = serde_json::json!({"deployment": "web-staging-1"});
    let StartOutcome::Started { arn: exec } = c.start(&sm, "web-staging-1", &input).await.unwrap()
    else {
        panic!("first start starts")
    };
    assert_eq!(
        exec,
        greenlight_aws::sfn_execution_arn(&sm, "web-staging-1").unwrap()
    );
    assert_eq!(
        c.start(&sm, "web-staging-1", &input).await.unwrap(),
        StartOutcome::AlreadyExists {
            name: "web-staging-1".into()
        }
    );
    let info = c.describe(&exec).await.unwrap();
    assert_eq!(info.name, "web-staging-1");
    assert_eq!(info.input, Some(input));
    c.start(&sm, "web-staging-2", &serde_json::json!({}))
        .await
        .unwrap();
    let listed = c.list(&sm, None).await.unwrap();
    assert_eq!(listed.len(), 2);
    c.stop(&exec, "Greenlight.Cancelled", "by a test")
        .await
        .unwrap();
    assert_eq!(
        c.describe(&exec).await.unwrap().status,
        ExecutionStatus::Aborted
    );
    let running = c.list(&sm, Some(ExecutionStatus::Running)).await.unwrap();
    assert_eq!(
        running.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["web-staging-2"]
    );
    let missing = arn("arn:aws:states:us-east-1:123456789012:stateMachine:nope");
    assert!(matches!(
        c.start(&missing, "x", &serde_json::json!({})).await,
        Err(PortError::NotFound { .. })
    ));
}

#[tokio::test]
async fn sfn_task_answers_reach_the_service() {
    // moto accepts any token; what it can check is that the calls are well formed. The
    // service's refusals (timed out, unknown token) are covered with aws-smithy-mocks.
    let c = cloud("unused").await;
    c.send_task_success("token-1", &serde_json::json!({"approved_by": "alice"}))
        .await
        .unwrap();
    c.send_task_failure("token-2", "Greenlight.Rejected", "rejected by bob")
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// DynamoDB state store

async fn store() -> greenlight_aws::AwsCloud {
    let c = cloud(&unique("greenlight-state")).await;
    table(&c).await;
    c
}

fn t(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

#[tokio::test]
async fn dynamodb_locks_are_leases() {
    let c = store().await;
    let lease = Duration::from_mins(10);
    let LockOutcome::Acquired { lock } = c
        .acquire_lock("web", "prod", "d1", lease, t(0))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(lock.expires_at, t(600));
    // Another owner is refused and told who holds it; the owner may take it again.
    let LockOutcome::Held { lock } = c
        .acquire_lock("web", "prod", "d2", lease, t(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(lock.owner, "d1");
    assert!(matches!(
        c.acquire_lock("web", "prod", "d1", lease, t(60))
            .await
            .unwrap(),
        LockOutcome::Acquired { .. }
    ));
    // Renewal by the owner only.
    assert_eq!(
        c.renew_lock("web", "prod", "d1", lease, t(120))
            .await
            .unwrap()
            .expires_at,
        t(720)
    );
    assert!(matches!(
        c.renew_lock("web", "prod", "d2", lease, t(120)).await,
        Err(PortError::Conflict { .. })
    ));
    // After expiry anyone may take it.
    assert!(matches!(
        c.acquire_lock("web", "prod", "d2", lease, t(721))
            .await
            .unwrap(),
        LockOutcome::Acquired { .. }
    ));
    assert_eq!(
        c.get_lock("web", "prod").await.unwrap().unwrap().owner,
        "d2"
    );
    // Release by a non-owner is a harmless no.
    assert!(!c.release_lock("web", "prod", "d1").await.unwrap());
    assert!(c.release_lock("web", "prod", "d2").await.unwrap());
    assert!(c.get_lock("web", "prod").await.unwrap().is_none());
    assert!(!c.release_lock("web", "prod", "d2").await.unwrap());
}

fn record(id: &str, env: &str, started: i64) -> DeploymentRecord {
    DeploymentRecord {
        announced: Vec::new(),
        id: id.into(),
        app: "web".into(),
        environment: env.into(),
        image: greenlight_core::ImageRef {
            repository: "web".into(),
            digest: Digest::parse(&format!("sha256:{}", "3".repeat(64))).unwrap(),
        },
        tag: Some("v3".into()),
        trigger: TriggerInfo::Promotion {
            from: "staging".into(),
            by: "alice".into(),
        },
        phase: Phase::Shifting,
        colour: Some(greenlight_core::Colour::Green),
        task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into()),
        weight: 10,
        started_at: t(started),
        ended_at: None,
        outcome: None,
        reason: None,
        reverted_at: None,
        rollback_until: None,
        stop_requested: None,
        analysis: None,
        approved_by: None,
        source: Default::default(),
        version: 0,
    }
}

#[tokio::test]
async fn dynamodb_deployment_history_is_newest_first() {
    let c = store().await;
    for (i, id) in ["d1", "d2", "d3"].iter().enumerate() {
        c.put_deployment(&record(id, "prod", i as i64 * 100))
            .await
            .unwrap();
    }
    c.put_deployment(&record("s1", "staging", 500))
        .await
        .unwrap();
    let mut updated = record("d2", "prod", 100);
    updated.version = 1;
    updated.outcome = Some(Outcome::Succeeded);
    assert_eq!(c.put_deployment(&updated).await.unwrap(), 2);
    let stored = c.get_deployment("d2").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(
        greenlight_core::ports::DeploymentRecord {
            version: 1,
            ..stored
        },
        updated
    );
    assert!(c.get_deployment("nope").await.unwrap().is_none());
    let history = c.history("web", "prod", 10).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["d3", "d2", "d1"]
    );
    assert_eq!(c.history("web", "prod", 2).await.unwrap().len(), 2);
}

#[tokio::test]
async fn dynamodb_deployment_writes_are_conditional_on_the_version_read() {
    let c = store().await;
    assert_eq!(c.put_deployment(&record("v1", "prod", 0)).await.unwrap(), 1);
    // A second creation, and a write from a stale read, are conflicts: nothing is lost.
    let again = c
        .put_deployment(&record("v1", "prod", 0))
        .await
        .unwrap_err();
    assert!(matches!(again, PortError::Conflict { .. }), "{again}");
    let read = c.get_deployment("v1").await.unwrap().unwrap();
    let mut stop = read.clone();
    stop.stop_requested = Some(greenlight_core::ports::StopRequest {
        by: "carol".into(),
        kind: greenlight_core::ports::StopKind::Abort,
    });
    assert_eq!(c.put_deployment(&stop).await.unwrap(), 2);
    let mut stale = read;
    stale.phase = Phase::Finalizing;
    let err = c.put_deployment(&stale).await.unwrap_err();
    assert!(matches!(err, PortError::Conflict { .. }), "{err}");
    // The use cases' update re-reads and applies the change again.
    let rec = greenlight_core::usecase::record::update(
        &c,
        "v1",
        || None,
        |r| {
            r.phase = Phase::Finalizing;
            true
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(rec.phase, Phase::Finalizing);
    assert_eq!(rec.version, 3);
    let stored = c.get_deployment("v1").await.unwrap().unwrap();
    assert_eq!(stored.stop_requested.map(|s| s.by), Some("carol".into()));
}

#[tokio::test]
async fn dynamodb_task_tokens_and_alarm_watches() {
    let c = store().await;
    c.put_task_token(
        "d1",
        TokenPurpose::Bake,
        "tok-1",
        &["web-5xx".into(), "web-latency".into()],
    )
    .await
    .unwrap();
    c.put_task_token("d1", TokenPurpose::Approval, "tok-a", &[])
        .await
        .unwrap();
    c.put_task_token("d2", TokenPurpose::Bake, "tok-2", &["web-5xx".into()])
        .await
        .unwrap();
    assert_eq!(
        c.get_task_token("d1", TokenPurpose::Approval)
            .await
            .unwrap()
            .as_deref(),
        Some("tok-a")
    );
    let mut watching = c.tokens_watching("web-5xx").await.unwrap();
    watching.sort();
    assert_eq!(
        watching,
        [
            ("d1".to_string(), "tok-1".to_string()),
            ("d2".to_string(), "tok-2".to_string())
        ]
    );
    c.delete_task_token("d1", TokenPurpose::Bake).await.unwrap();
    assert_eq!(
        c.tokens_watching("web-5xx").await.unwrap(),
        [("d2".to_string(), "tok-2".to_string())]
    );
    assert!(c.tokens_watching("web-latency").await.unwrap().is_empty());
    assert!(c
        .get_task_token("d1", TokenPurpose::Bake)
        .await
        .unwrap()
        .is_none());
    c.delete_task_token("d1", TokenPurpose::Bake).await.unwrap();
}

#[tokio::test]
async fn dynamodb_config_is_versioned() {
    let c = store().await;
    assert!(c.get_config().await.unwrap().is_none());
    let config = greenlight_core::config::load(include_str!("../../../examples/greenlight.yaml"))
        .config
        .unwrap();
    assert_eq!(
        c.put_config(&config, "version: 1\n", 0, "alice", t(0))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        c.put_config(&config, "version: 1\n", 0, "bob", t(1)).await,
        Err(PortError::Conflict { .. })
    ));
    let yaml = include_str!("../../../examples/greenlight.yaml");
    assert_eq!(
        c.put_config(&config, yaml, 1, "bob", t(2)).await.unwrap(),
        2
    );
    let stored = c.get_config().await.unwrap().unwrap();
    // The YAML is kept as written, comments and all.
    assert_eq!(stored.source.as_deref(), Some(yaml));
    assert_eq!(
        (
            stored.version,
            stored.updated_by.as_str(),
            stored.updated_at
        ),
        (2, "bob", t(2))
    );
    assert_eq!(*stored.config, config);
}

// ---------------------------------------------------------------------------------------
// HTTP probes

#[tokio::test]
async fn http_probe_reports_status_or_why_not() {
    let c = cloud("unused").await;
    let ok = c
        .get(
            &format!("{}/moto-api/", moto().endpoint),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(ok.status, Some(200), "{ok:?}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = c
        .get(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_secs(2),
        )
        .await;
    assert_eq!(refused.status, None);
    assert!(refused.error.is_some());
}

// ---------------------------------------------------------------------------------------
// SQS (the dead-letter queue)

#[tokio::test]
async fn sqs_dead_letters_are_listed_whole_and_deleted_by_receipt() {
    let c = cloud("unused").await;
    let queue = c
        .sqs
        .create_queue()
        .queue_name(unique("dead-letters"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for i in 0..12 {
        c.sqs
            .send_message()
            .queue_url(&queue)
            .message_body(format!("{{\"n\": {i}}}"))
            .send()
            .await
            .unwrap();
    }
    // Listing hides nothing: twice the same twelve, across several receive batches.
    for _ in 0..2 {
        let all = c.dead_letters(&queue, 1000, Duration::ZERO).await.unwrap();
        assert_eq!(all.len(), 12);
        assert!(all
            .iter()
            .all(|m| m.sent_at.is_some() && !m.receipt.is_empty()));
    }
    // A reader that hides what it read sees each message once; deleting by receipt works.
    let taken = c
        .dead_letters(&queue, 1000, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(taken.len(), 12);
    c.delete_dead_letter(&queue, &taken[0].receipt)
        .await
        .unwrap();
    let missing = c
        .dead_letters("http://127.0.0.1:1/123456789012/nope", 10, Duration::ZERO)
        .await;
    assert!(missing.is_err());
}

/// The tick queue: a tick goes on the queue whole (the task token and the rollout), after
/// its delay; a delay past SQS's 15 minutes is sent at 15 (the tick waits again when it
/// arrives early); with no queue configured, scheduling fails naming the variable.
#[tokio::test]
async fn sqs_ticks_arrive_whole_after_their_delay() {
    use greenlight_core::ports::{Tick, Timers};
    let mut c = cloud("unused").await;
    let queue = c
        .sqs
        .create_queue()
        .queue_name(unique("ticks"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/check/tick.json")).unwrap();
    let tick: Tick = serde_json::from_str(sample["Records"][0]["body"].as_str().unwrap()).unwrap();
    let unset = c.schedule(&tick, Duration::ZERO).await.unwrap_err();
    assert!(
        unset.to_string().contains("GREENLIGHT_TICK_QUEUE"),
        "{unset}"
    );
    c.tick_queue = Some(queue.clone());
    let receive = |wait: i32| {
        c.sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .send()
    };
    c.schedule(&tick, Duration::ZERO).await.unwrap();
    let got = receive(1).await.unwrap().messages.unwrap_or_default();
    assert_eq!(got.len(), 1);
    let back: Tick = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(back, tick);
    c.schedule(&tick, Duration::from_secs(2)).await.unwrap();
    c.schedule(&tick, Duration::from_secs(3600)).await.unwrap();
    assert!(receive(0)
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let later = receive(1).await.unwrap().messages.unwrap_or_default();
    assert_eq!(later.len(), 1, "only the 2-second tick is due");
}

// ---------------------------------------------------------------------------------------
// EventBridge (the event relay)

/// A notification put on the default bus reaches a rule matching greenlight's source and
/// detail-type, whole: the detail is greenlight's JSON with its links, the resources are
/// the execution and the service.
#[tokio::test]
async fn eventbridge_events_reach_a_rule_on_the_default_bus() {
    let c = cloud("unused").await;
    let queue = c
        .sqs
        .create_queue()
        .queue_name(unique("deployments"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = c
        .sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let app = unique("web");
    let rule = unique("deployments");
    c.events
        .put_rule()
        .name(&rule)
        .event_pattern(
            serde_json::json!({
                "source": ["greenlight"],
                "detail-type": ["Greenlight Deployment State Change"],
                "detail": {"app": [app]},
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    c.events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut n = Notification::new(EventKind::RolledBack, &app, "staging", chrono::Utc::now());
    n.execution =
        Some("arn:aws:states:us-east-1:123456789012:execution:greenlight-rollout:web-1".into());
    n.service = Some("arn:aws:ecs:us-east-1:123456789012:service/staging/web-green".into());
    c.put_events(&[n.bus_event()]).await.unwrap();
    let got = c
        .sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    assert_eq!(body["source"], "greenlight");
    assert_eq!(body["detail-type"], "Greenlight Deployment State Change");
    assert_eq!(body["detail"]["event"], "rolled_back");
    assert_eq!(body["detail"]["app"], app.as_str());
    assert!(body["detail"]["links"]["service"]
        .as_str()
        .unwrap()
        .contains("/ecs/v2/clusters/staging/services/web-green"));
    assert_eq!(body["resources"], serde_json::json!(n.resources()));
    assert!(c.put_events(&[]).await.is_ok());
}

// ---------------------------------------------------------------------------------------
// Provenance: prepare against DynamoDB and ECR

#[tokio::test]
async fn prepare_refuses_forged_inputs_and_writes_nothing() {
    use greenlight_core::rollout::StartInput;
    let c = store().await;
    let config = greenlight_core::config::load(include_str!("../../../examples/greenlight.yaml"))
        .config
        .unwrap();
    c.put_config(&config, "version: 1\n", 0, "test", chrono::Utc::now())
        .await
        .unwrap();
    let digest = Digest::parse(&format!("sha256:{}", "4".repeat(64))).unwrap();
    let input = |environment: &str, trigger: TriggerInfo| StartInput {
        deployment: unique("forged"),
        app: "web".into(),
        environment: environment.into(),
        image: greenlight_core::ImageRef {
            repository: "web".into(),
            digest: digest.clone(),
        },
        tag: None,
        trigger,
    };
    let topic = "arn:aws:sns:eu-west-1:123456789012:greenlight";
    for forged in [
        input(
            "prod",
            TriggerInfo::Manual {
                by: "mallory".into(),
            },
        ),
        input(
            "prod",
            TriggerInfo::Promotion {
                from: "staging".into(),
                by: "mallory".into(),
            },
        ),
        input(
            "staging",
            TriggerInfo::Push {
                tag: None,
                event_id: None,
            },
        ),
    ] {
        let id = forged.deployment.clone();
        let env = forged.environment.clone();
        let err = greenlight_core::usecase::prepare::prepare(&c, forged, topic)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Greenlight.ProvenanceRefused", "{err}");
        assert!(c.get_lock("web", &env).await.unwrap().is_none());
        assert!(c.get_deployment(&id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn sts_names_the_caller_by_its_principal_arn() {
    use greenlight_core::ports::CallerIdentity;
    let c = cloud("unused").await;
    let arn = c.caller().await.unwrap();
    // moto answers `arn:aws:sts::<account>:user/moto` for its static keys (AWS would say
    // `arn:aws:iam::…:user/…`); the shape the adapter relies on is the ARN itself.
    assert_eq!(arn, "arn:aws:sts::123456789012:user/moto");
}

/// Pushes a manifest to ECR under `tag` (none: by digest); its digest.
async fn put_image(c: &greenlight_aws::AwsCloud, repo: &str, n: char, tag: Option<&str>) -> Digest {
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": format!("sha256:{}", n.to_string().repeat(64))}});
    let put = c
        .ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest.to_string())
        .set_image_tag(tag.map(str::to_string))
        .send()
        .await
        .unwrap();
    Digest::parse(
        put.image()
            .unwrap()
            .image_id()
            .unwrap()
            .image_digest()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn reconcile_starts_the_newest_push_nothing_acted_on_once() {
    use greenlight_core::usecase::reconcile::{reconcile, Finding};
    let c = store().await;
    // ECR: the live image (v1), an untagged one, and the push whose event was lost (v2).
    let repo = unique("web");
    let uri = c
        .ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap()
        .repository()
        .unwrap()
        .repository_uri()
        .unwrap()
        .to_string();
    let live = put_image(&c, &repo, '5', Some("v1")).await;
    put_image(&c, &repo, '6', None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let lost = put_image(&c, &repo, '7', Some("v2")).await;
    let listed = c.tagged_images(&repo).await.unwrap();
    assert_eq!(
        listed.len(),
        2,
        "untagged images are not listed: {listed:?}"
    );
    // ECS and the ALB: blue runs v1 and takes all traffic.
    let (cluster, blue, green) = blue_green_services(&c, &format!("{uri}@{live}")).await;
    let (listener, tg_blue, tg_green) = blue_green_listener(&c).await;
    let (test_listener, _, _) = blue_green_listener(&c).await;
    let yaml = format!(
        "version: 1\napps:\n  web:\n    repository: {repo}\n    container: app\n    environments:\n      staging:\n        trigger:\n          on_push:\n            tags: [\"v*\"]\n        cluster: {cluster}\n        services: {{ blue: {blue}, green: {green} }}\n        target_groups: {{ blue: {tg_blue}, green: {tg_green} }}\n        listeners: {{ production: {listener}, test: {test_listener} }}\n        strategy: all_at_once\n        checks: {{ stable_timeout: 5m }}\n"
    );
    let loaded = greenlight_core::config::load(&yaml);
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.problems));
    c.put_config(&config, "version: 1\n", 0, "test", chrono::Utc::now())
        .await
        .unwrap();
    let sm = state_machine(&c).await;

    let out = reconcile(&c, &sm).await.unwrap();
    assert_eq!(out.checked.len(), 1);
    let found = &out.checked[0];
    assert_eq!(found.finding, Finding::Started, "{found:?}");
    let name = greenlight_core::matching::execution_name("web", "staging", &lost, 1);
    assert_eq!(found.deployment.as_deref(), Some(name.as_str()));
    let exec = greenlight_aws::sfn_execution_arn(&sm, &name).unwrap();
    let input = c.describe(&exec).await.unwrap().input.unwrap();
    assert_eq!(input["image"]["digest"], lost.to_string());
    assert_eq!(input["trigger"]["tag"], "v2");

    // Run again: the same name, so nothing starts twice.
    let again = reconcile(&c, &sm).await.unwrap();
    assert_eq!(again.checked[0].finding, Finding::AlreadyStarted);
    assert_eq!(c.list(&sm, None).await.unwrap().len(), 1);

    // Once the deployment is recorded, the push is attempted.
    let mut rec = record(&name, "staging", 0);
    rec.image.digest = lost.clone();
    c.put_deployment(&rec).await.unwrap();
    let attempted = reconcile(&c, &sm).await.unwrap();
    assert_eq!(attempted.checked[0].finding, Finding::Attempted);
}

// ---------------------------------------------------------------------------------------
// Environments in other accounts and regions

/// A cluster with a task definition running `image` as container `app`, and a blue (2
/// tasks) and a green (0) service of it: (cluster, blue, green).
async fn blue_green_services(
    c: &greenlight_aws::AwsCloud,
    image: &str,
) -> (String, String, String) {
    let cluster = unique("cluster");
    c.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let td = c
        .ecs
        .register_task_definition()
        .family(unique("web"))
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image(image)
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    let (blue, green) = (unique("web-blue"), unique("web-green"));
    for service in [&blue, &green] {
        c.ecs
            .create_service()
            .cluster(&cluster)
            .service_name(service)
            .task_definition(&td)
            .desired_count(if service == &blue { 2 } else { 0 })
            .send()
            .await
            .unwrap();
    }
    (cluster, blue, green)
}

/// An account's side of an environment: a cluster with a blue and a green service running
/// `image`, a listener on blue, and the alarm `web-5xx` (the same name in every account).
struct Target {
    place: greenlight_core::config::Place,
    there: greenlight_aws::AwsCloud,
    cluster: String,
    /// (blue, green).
    services: (String, String),
    listener: Arn,
    blue: Arn,
    green: Arn,
}

async fn target(
    home: &greenlight_aws::AwsCloud,
    account: &str,
    region: &str,
    image: &str,
) -> Target {
    let place = greenlight_core::config::Place {
        account: account.into(),
        region: region.into(),
        role: arn(&format!(
            "arn:aws:iam::{account}:role/greenlight-target-{region}"
        )),
    };
    let there = home.reach(&place, "test-setup").unwrap();
    // moto keys what the assumed role's keys create by the role's account.
    let key = home
        .sts
        .assume_role()
        .role_arn(place.role.as_str())
        .role_session_name("test-setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap()
        .access_key_id;
    let (listener, blue, green) = blue_green_listener_as(&there, &key, region).await;
    let (cluster, blue_service, green_service) = blue_green_services(&there, image).await;
    there
        .cloudwatch
        .put_metric_alarm()
        .alarm_name("web-5xx")
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    Target {
        place,
        there,
        cluster,
        services: (blue_service, green_service),
        listener,
        blue,
        green,
    }
}

fn env_yaml(t: &Target, trigger: &str) -> String {
    format!(
        "    account: \"{}\"\n    region: {}\n    role: {}\n    trigger: {trigger}\n    cluster: {}\n    services: {{ blue: {}, green: {} }}\n    target_groups: {{ blue: {}, green: {} }}\n    listeners: {{ production: {} }}\n    strategy: all_at_once\n    checks: {{ alarms: [web-5xx] }}\n",
        t.place.account, t.place.region, t.place.role, t.cluster, t.services.0, t.services.1, t.blue, t.green, t.listener
    )
}

/// Two accounts and two regions on moto, the stack's own account holding the table and the
/// repository: a push deploys in account A (through A's role, pulling from the stack's
/// registry, whose policy lets A pull); a promotion to account B in another region is
/// refused while B can neither pull from the stack's registry nor has a replica, changing
/// nothing, and deploys from B's replica once there is one; an alarm of B fails the bake in
/// B only (the same alarm name in the stack's account does not), and the rollback restores
/// B's listener. Nothing of A or B is found with the stack's own credentials.
#[tokio::test]
async fn environments_in_other_accounts_are_reached_through_their_roles() {
    use greenlight_core::rollout::{CaughtError, StartInput};
    use greenlight_core::usecase::{approval, check, finish, prepare, rollback, shift};
    let home = store().await;
    let repo = unique("web");
    home.ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let digest = put_image(&home, &repo, '7', Some("v1.0.0")).await;
    let registry = home.repository_uri(&repo).await.unwrap();
    let initial = format!("{registry}@sha256:{}", "0".repeat(64));
    let a = target(&home, "111111111111", "us-east-1", &initial).await;
    let b = target(&home, "222222222222", "us-west-2", &initial).await;
    assert!(
        home.listener_weights(&a.listener).await.is_err(),
        "A's listener is not the stack's"
    );
    let yaml = format!(
        "version: 1\napps:\n  web:\n    repository: {repo}\n    container: app\n    environments:\n      staging:\n{}      prod:\n{}",
        env_yaml(&a, "{ on_push: { tags: [\"v*\"] } }").replace("\n    ", "\n        ").replacen("    ", "        ", 1),
        env_yaml(&b, "{ promote_from: staging }").replace("\n    ", "\n        ").replacen("    ", "        ", 1),
    );
    let report = greenlight_core::config::load(&yaml);
    let config = report
        .config
        .unwrap_or_else(|| panic!("{yaml}\n{:#?}", report.problems));
    home.put_config(&config, &yaml, 0, "test", chrono::Utc::now())
        .await
        .unwrap();
    // The stack's registry lets account A pull, not B.
    home.ecr
        .set_repository_policy()
        .repository_name(&repo)
        .policy_text(r#"{"Version":"2012-10-17","Statement":[{"Sid":"staging","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#)
        .send()
        .await
        .unwrap();
    let topic = "arn:aws:sns:us-east-1:123456789012:greenlight";
    let image = greenlight_core::ImageRef {
        repository: repo.clone(),
        digest: digest.clone(),
    };

    // A push deploys in A.
    let push = StartInput {
        deployment: unique("web-staging"),
        app: "web".into(),
        environment: "staging".into(),
        image: image.clone(),
        tag: Some("v1.0.0".into()),
        trigger: TriggerInfo::Push {
            tag: Some("v1.0.0".into()),
            event_id: None,
        },
    };
    let r = prepare::prepare(&home, push, topic).await.unwrap();
    assert!(
        r.task_definition
            .starts_with("arn:aws:ecs:us-east-1:111111111111:"),
        "{}",
        r.task_definition
    );
    assert_eq!(
        a.there
            .container_image(&r.task_definition, "app")
            .await
            .unwrap(),
        format!("{registry}@{digest}")
    );
    let r = check::deploy(&home, r).await.unwrap();
    let green = a
        .there
        .describe_service(&a.cluster, &a.services.1)
        .await
        .unwrap();
    assert_eq!(green.task_definition, r.task_definition);
    let r = shift::shift(&home, r).await.unwrap();
    let weights = a.there.listener_weights(&a.listener).await.unwrap();
    assert!(
        weights
            .iter()
            .any(|w| w.target_group == a.green && w.weight == 100),
        "{weights:?}"
    );
    finish::finalize(&home, r).await.unwrap();

    // The promotion to B: refused while B can't pull the digest, and nothing changes there.
    let promotion = |id: &str| StartInput {
        deployment: id.to_string(),
        app: "web".into(),
        environment: "prod".into(),
        image: image.clone(),
        tag: Some("v1.0.0".into()),
        trigger: TriggerInfo::Promotion {
            from: "staging".into(),
            by: "alice".into(),
        },
    };
    let refused = unique("web-prod");
    let err = prepare::prepare(&home, promotion(&refused), topic)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.NotConfigured", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("can't be pulled in account 222222222222 (us-west-2)")
            && text.contains("ECR replication"),
        "{text}"
    );
    assert!(home.get_lock("web", "prod").await.unwrap().is_none());
    let blue = b
        .there
        .describe_service(&b.cluster, &b.services.0)
        .await
        .unwrap();
    assert_eq!(
        b.there
            .container_image(&blue.task_definition, "app")
            .await
            .unwrap(),
        initial
    );
    let families = b.there.ecs.list_task_definitions().send().await.unwrap();
    assert_eq!(
        families.task_definition_arns().len(),
        1,
        "no task definition registered in B"
    );

    // A replica in B's registry (what ECR replication makes): deployed from there.
    b.there
        .ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    // The same manifest under the same digest (moto makes up the digest of a manifest
    // without layers, so it is given).
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": format!("sha256:{}", "7".repeat(64))}});
    b.there
        .ecr
        .put_image()
        .repository_name(&repo)
        .image_manifest(manifest.to_string())
        .image_tag("v1.0.0")
        .image_digest(digest.as_str())
        .send()
        .await
        .unwrap();
    let replica = b.there.repository_uri(&repo).await.unwrap();
    assert!(
        replica.starts_with("222222222222.dkr.ecr.us-west-2."),
        "{replica}"
    );
    let r = prepare::prepare(&home, promotion(&unique("web-prod")), topic)
        .await
        .unwrap();
    assert!(
        r.task_definition
            .starts_with("arn:aws:ecs:us-west-2:222222222222:"),
        "{}",
        r.task_definition
    );
    assert_eq!(
        b.there
            .container_image(&r.task_definition, "app")
            .await
            .unwrap(),
        format!("{replica}@{digest}")
    );
    let r = check::deploy(&home, r).await.unwrap();
    let r = shift::shift(&home, r).await.unwrap();

    // B's alarm during the bake: the relay fails B's deployment only.
    // The step's wait, as the shift function starts it: the token stored with B's alarms.
    approval::watch_alarms(&home, TokenPurpose::Bake, "token-b", &r)
        .await
        .unwrap();
    b.there
        .cloudwatch
        .set_alarm_state()
        .alarm_name("web-5xx")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("5xx above 5")
        .send()
        .await
        .unwrap();
    let change = approval::AlarmChange {
        alarm_name: "web-5xx".into(),
        state: approval::AlarmStateValue {
            value: "ALARM".into(),
            reason: None,
        },
    };
    let home_place = Some(("123456789012", "us-east-1"));
    let from = |account, region| approval::AlarmOrigin {
        from: Some((account, region)),
        home: home_place,
    };
    approval::relay_alarm(&home, &change, from("123456789012", "us-east-1"))
        .await
        .unwrap();
    assert!(
        home.get_task_token(&r.deployment, TokenPurpose::Bake)
            .await
            .unwrap()
            .is_some(),
        "an alarm of that name in the stack's account is not B's"
    );
    approval::relay_alarm(&home, &change, from("222222222222", "us-west-2"))
        .await
        .unwrap();
    assert!(
        home.get_task_token(&r.deployment, TokenPurpose::Bake)
            .await
            .unwrap()
            .is_none(),
        "B's alarm reached the bake waiting on it"
    );
    let error = CaughtError {
        error: "Greenlight.AlarmFired".into(),
        cause: "alarm fired: web-5xx".into(),
    };
    rollback::rollback(&home, r, &error).await.unwrap();
    let weights = b.there.listener_weights(&b.listener).await.unwrap();
    assert!(
        weights
            .iter()
            .any(|w| w.target_group == b.blue && w.weight == 100),
        "{weights:?}"
    );
    let green = b
        .there
        .describe_service(&b.cluster, &b.services.1)
        .await
        .unwrap();
    assert_eq!(green.desired, 0);
    // A is as the push left it.
    let weights = a.there.listener_weights(&a.listener).await.unwrap();
    assert!(
        weights
            .iter()
            .any(|w| w.target_group == a.green && w.weight == 100),
        "{weights:?}"
    );
    // `greenlight status` reads each environment where it is: A's green took over with
    // the pushed digest, B's blue is live again after the rollback.
    let status = greenlight_core::usecase::status::status(&home, Some("web"), None)
        .await
        .unwrap();
    let of = |env: &str| {
        status
            .environments
            .iter()
            .find(|e| e.environment == env)
            .unwrap()
            .clone()
    };
    assert_eq!(
        of("staging").live,
        Some(greenlight_core::config::Colour::Green)
    );
    assert_eq!(
        of("staging").image.as_deref(),
        Some(format!("{registry}@{digest}").as_str())
    );
    assert_eq!(of("prod").live, Some(greenlight_core::config::Colour::Blue));
    assert_eq!(of("prod").image.as_deref(), Some(initial.as_str()));
}
