//! Adapter behaviour moto cannot produce, tested with aws-smithy-mocks: service refusals
//! (throttling, 5xx, access denied, timed-out task tokens) and ECS rollout states (moto runs
//! no tasks, so its deployments never complete or fail).

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use greenlight_aws::AwsCloud;
use greenlight_core::ports::{ContainerService, Executions, LoadBalancer, PortError, RolloutState};
use greenlight_core::Arn;

async fn cloud() -> AwsCloud {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "k", "s", None, None, "test",
        ))
        .load()
        .await;
    AwsCloud::new(&config, "table")
}

fn sm() -> Arn {
    Arn::parse("arn:aws:states:eu-west-1:123456789012:stateMachine:rollout").unwrap()
}

/// A Step Functions client whose StartExecution answers with `error` (DescribeExecution
/// first says the execution does not exist yet).
async fn start_fails_with(
    error: impl Fn() -> StartExecutionError + Send + Sync + 'static,
) -> PortError {
    let mut c = cloud().await;
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(|| {
        aws_sdk_sfn::operation::describe_execution::DescribeExecutionError::ExecutionDoesNotExist(
            aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
        )
    });
    let start = mock!(aws_sdk_sfn::Client::start_execution).then_error(error);
    c.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[&describe, &start], |c| c
        .retry_config(RetryConfig::disabled()));
    c.start(&sm(), "web-prod-1", &serde_json::json!({}))
        .await
        .unwrap_err()
}

fn coded(code: &str) -> StartExecutionError {
    StartExecutionError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("from the service")
            .build(),
    )
}

#[tokio::test]
async fn errors_are_classified_by_code_and_kind() {
    assert!(matches!(
        start_fails_with(|| coded("AccessDeniedException")).await,
        PortError::AccessDenied { .. }
    ));
    assert!(matches!(
        start_fails_with(|| coded("ValidationException")).await,
        PortError::Invalid { .. }
    ));
    let throttled = start_fails_with(|| coded("ThrottlingException")).await;
    assert!(
        matches!(throttled, PortError::Throttled { .. }),
        "{throttled}"
    );
    assert!(throttled.is_retryable());
    assert!(
        throttled.to_string().contains("states:StartExecution"),
        "{throttled}"
    );
}

#[tokio::test]
async fn a_server_error_is_retryable() {
    let mut c = cloud().await;
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_http_response(|| {
        HttpResponse::new(StatusCode::try_from(503).unwrap(), SdkBody::from("{}"))
    });
    c.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[&describe], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = c
        .describe("arn:aws:states:eu-west-1:123456789012:execution:rollout:x")
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn answers_to_tokens_nobody_waits_on_are_not_failures_of_aws() {
    let timed_out = || {
        SendTaskSuccessError::TaskTimedOut(
            aws_sdk_sfn::types::error::TaskTimedOut::builder().build(),
        )
    };
    let missing = || {
        SendTaskSuccessError::TaskDoesNotExist(
            aws_sdk_sfn::types::error::TaskDoesNotExist::builder().build(),
        )
    };
    let invalid = || {
        SendTaskSuccessError::InvalidToken(
            aws_sdk_sfn::types::error::InvalidToken::builder().build(),
        )
    };
    let cases: [(fn() -> SendTaskSuccessError, bool); 3] =
        [(timed_out, true), (missing, true), (invalid, false)];
    for (error, expect_not_found) in cases {
        let mut c = cloud().await;
        let rule = mock!(aws_sdk_sfn::Client::send_task_success).then_error(error);
        c.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[&rule], |c| c
            .retry_config(RetryConfig::disabled()));
        let err = c
            .send_task_success("token", &serde_json::json!({}))
            .await
            .unwrap_err();
        if expect_not_found {
            assert!(matches!(err, PortError::NotFound { .. }), "{err}");
        } else {
            assert!(matches!(err, PortError::Invalid { .. }), "{err}");
        }
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn a_running_execution_of_the_same_name_is_a_duplicate() {
    let mut c = cloud().await;
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_output(|| {
        aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput::builder()
            .execution_arn("arn:aws:states:eu-west-1:123456789012:execution:rollout:web-prod-1")
            .state_machine_arn(sm().as_str())
            .name("web-prod-1")
            .status(aws_sdk_sfn::types::ExecutionStatus::Running)
            .start_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
            .build()
            .unwrap()
    });
    let start =
        mock!(aws_sdk_sfn::Client::start_execution).then_error(|| coded("ShouldNotBeCalled"));
    c.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[&describe, &start]);
    let out = c
        .start(&sm(), "web-prod-1", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(
        out,
        greenlight_core::ports::StartOutcome::AlreadyExists {
            name: "web-prod-1".into()
        }
    );
    assert_eq!(start.num_calls(), 0);
}

fn service(state: DeploymentRolloutState, running: i32, reason: Option<&str>) -> Service {
    Service::builder()
        .service_name("web-green")
        .status("ACTIVE")
        .task_definition("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7")
        .desired_count(2)
        .running_count(running)
        .pending_count(2 - running)
        .deployments(
            Deployment::builder()
                .status("PRIMARY")
                .rollout_state(state)
                .set_rollout_state_reason(reason.map(str::to_string))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn ecs_rollout_states_are_read_from_the_primary_deployment() {
    for (state, running, reason, expected) in [
        (
            DeploymentRolloutState::Completed,
            2,
            None,
            RolloutState::Completed,
        ),
        (
            DeploymentRolloutState::InProgress,
            1,
            None,
            RolloutState::InProgress,
        ),
        (
            DeploymentRolloutState::Failed,
            0,
            Some("ECS deployment circuit breaker: tasks failed to start."),
            RolloutState::Failed,
        ),
    ] {
        let mut c = cloud().await;
        let svc = service(state, running, reason);
        let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
            aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
                .services(svc.clone())
                .build()
        });
        c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]);
        let s = c.describe_service("prod", "web-green").await.unwrap();
        assert_eq!(
            (s.rollout, s.running, s.desired),
            (expected, running as u32, 2)
        );
        assert_eq!(s.rollout_reason.as_deref(), reason);
    }
}

#[tokio::test]
async fn a_listener_that_does_not_forward_is_refused_clearly() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, FixedResponseActionConfig, Listener,
    };
    let mut c = cloud().await;
    let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_output(|| {
        aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput::builder()
            .listeners(
                Listener::builder()
                    .listener_arn("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/1/2")
                    .default_actions(
                        Action::builder()
                            .r#type(ActionTypeEnum::FixedResponse)
                            .fixed_response_config(FixedResponseActionConfig::builder().status_code("503").build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    c.elb = mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, &[&rule]);
    let l = Arn::parse("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/1/2")
        .unwrap();
    let err = c.listener_weights(&l).await.unwrap_err();
    assert!(err.to_string().contains("has no forward action"), "{err}");
}

/// A worker service's task report: a running task whose container health check fails, a
/// healthy one, a task stopped because its essential container exited 1 (crashed), and one
/// the scheduler scaled in (exit 143: not a crash).
#[tokio::test]
async fn a_task_report_counts_unhealthy_and_crashed_tasks_not_scale_ins() {
    use aws_sdk_ecs::types::{Container, DesiredStatus, HealthStatus, Task, TaskStopCode};
    let mut c = cloud().await;
    let now = aws_smithy_types::DateTime::from_secs(1_800_000_000);
    let list_running = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|r| r.desired_status() == Some(&DesiredStatus::Running))
        .then_output(|| {
            aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
                .task_arns("arn:aws:ecs:eu-west-1:123456789012:task/c/run1")
                .task_arns("arn:aws:ecs:eu-west-1:123456789012:task/c/run2")
                .build()
        });
    let list_stopped = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|r| r.desired_status() == Some(&DesiredStatus::Stopped))
        .then_output(|| {
            aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
                .task_arns("arn:aws:ecs:eu-west-1:123456789012:task/c/crash1")
                .task_arns("arn:aws:ecs:eu-west-1:123456789012:task/c/scaled1")
                .build()
        });
    let describe_running = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(|r| r.tasks().iter().any(|t| t.ends_with("run1")))
        .then_output(|| {
            aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput::builder()
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/c/run1")
                        .last_status("RUNNING")
                        .health_status(HealthStatus::Unhealthy)
                        .build(),
                )
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/c/run2")
                        .last_status("RUNNING")
                        .health_status(HealthStatus::Healthy)
                        .build(),
                )
                .build()
        });
    let describe_stopped = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(|r| r.tasks().iter().any(|t| t.ends_with("crash1")))
        .then_output(move || {
            aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput::builder()
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/c/crash1")
                        .last_status("STOPPED")
                        .stop_code(TaskStopCode::EssentialContainerExited)
                        .stopped_reason("Essential container in task exited")
                        .stopped_at(now)
                        .containers(Container::builder().name("worker").exit_code(1).build())
                        .build(),
                )
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/c/scaled1")
                        .last_status("STOPPED")
                        .stop_code(TaskStopCode::ServiceSchedulerInitiated)
                        .stopped_reason("Scaling activity initiated by deployment")
                        .stopped_at(now)
                        .containers(Container::builder().name("worker").exit_code(143).build())
                        .build(),
                )
                .build()
        });
    c.ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        &[
            &list_running,
            &list_stopped,
            &describe_running,
            &describe_stopped
        ]
    );
    let since = chrono::DateTime::from_timestamp(1_800_000_000 - 60, 0).unwrap();
    let report = c.task_report("c", "worker-blue", since).await.unwrap();
    assert_eq!((report.healthy, report.unhealthy), (1, 1));
    assert_eq!(report.crashed.len(), 1, "{report:?}");
    assert_eq!(report.crashed[0].task, "crash1");
    assert_eq!(report.crashed[0].exit_code, Some(1));
    // Stopped before `since`: not this step's.
    let later = chrono::DateTime::from_timestamp(1_800_000_000 + 60, 0).unwrap();
    let report = c.task_report("c", "worker-blue", later).await.unwrap();
    assert!(report.crashed.is_empty());
}

/// EventBridge accepts a PutEvents call but refuses some of its entries (it answers 200
/// with a failed-entry count): the port fails, retryably, naming the refusal.
#[tokio::test]
async fn put_events_with_refused_entries_fails_retryably() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use greenlight_core::notify::{EventKind, Notification};
    use greenlight_core::ports::EventBus;
    let mut c = cloud().await;
    let put = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            )
            .build()
    });
    c.events = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[&put], |c| c
        .retry_config(RetryConfig::disabled()));
    let n = Notification::new(EventKind::Started, "web", "staging", chrono::Utc::now());
    let e = c.put_events(&[n.bus_event()]).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("ThrottlingException"), "{e}");
}

/// `image_labels` of an image index whose first image's configuration blob is served by a
/// local HTTP server (standing for S3: moto has no `GetDownloadUrlForLayer`) with
/// `status` and `blob`.
async fn labels_served(
    status: &'static str,
    blob: String,
) -> greenlight_core::ports::PortResult<std::collections::BTreeMap<String, String>> {
    use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
    use aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerOutput;
    use aws_sdk_ecr::types::Image;
    use greenlight_core::ports::ImageRegistry;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/config-blob", server.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = server.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{blob}",
            blob.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let index_digest = format!("sha256:{}", "1".repeat(64));
    let image_digest = format!("sha256:{}", "2".repeat(64));
    let config_digest = format!("sha256:{}", "3".repeat(64));
    let index = serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"digest": format!("sha256:{}", "9".repeat(64)), "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": image_digest, "platform": {"os": "linux", "architecture": "arm64"}}
    ]})
    .to_string();
    let manifest = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": config_digest}, "layers": []})
    .to_string();
    let by_digest = |wanted: String, body: String| {
        mock!(aws_sdk_ecr::Client::batch_get_image)
            .match_requests(move |r| r.image_ids()[0].image_digest() == Some(wanted.as_str()))
            .then_output(move || {
                BatchGetImageOutput::builder()
                    .images(Image::builder().image_manifest(body.clone()).build())
                    .build()
            })
    };
    let get_index = by_digest(index_digest.clone(), index);
    let get_image = by_digest(image_digest, manifest);
    let expected_layer = config_digest.clone();
    let download = mock!(aws_sdk_ecr::Client::get_download_url_for_layer)
        .match_requests(move |r| r.layer_digest() == Some(expected_layer.as_str()))
        .then_output(move || {
            GetDownloadUrlForLayerOutput::builder()
                .download_url(url.clone())
                .layer_digest(config_digest.clone())
                .build()
        });
    let mut c = cloud().await;
    c.ecr = mock_client!(
        aws_sdk_ecr,
        RuleMode::MatchAny,
        &[&get_index, &get_image, &download],
        |c| c.retry_config(RetryConfig::disabled())
    );
    c.image_labels(
        "web",
        &greenlight_core::Digest::parse(&index_digest).unwrap(),
    )
    .await
}

/// An image's labels: an image index's first image (the attestation, platform `unknown`,
/// skipped), its configuration blob through the download URL ECR gives; a download that
/// fails is a retryable error, a blob that is not JSON is not.
#[tokio::test]
async fn image_labels_are_read_from_the_first_image_of_an_index() {
    let blob = serde_json::json!({"architecture": "arm64", "config": {"Labels": {
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        "org.opencontainers.image.created": "2026-11-30T09:00:00Z",
        "maintainer": "team-web"
    }}})
    .to_string();
    let labels = labels_served("200 OK", blob).await.unwrap();
    let source = greenlight_core::ports::ImageSource::from_labels(&labels);
    assert_eq!(source.short_revision(), Some("0123456789ab"));
    assert_eq!(
        source.created.unwrap().to_rfc3339(),
        "2026-11-30T09:00:00+00:00"
    );
    assert_eq!(labels["maintainer"], "team-web");
    let denied = labels_served("403 Forbidden", "{}".into())
        .await
        .unwrap_err();
    assert!(
        denied.is_retryable() && denied.to_string().contains("403"),
        "{denied}"
    );
    let garbled = labels_served("200 OK", "<html>".into()).await.unwrap_err();
    assert!(!garbled.is_retryable(), "{garbled}");
}

/// An environment's role that STS refuses (missing, not trusting the stack, another external
/// ID) fails the calls made there as `AccessDenied`, naming the role and the session; STS
/// throttling fails them retryably. Either way nothing reaches the target account.
#[tokio::test]
async fn a_role_sts_refuses_fails_the_calls_there_as_access_denied() {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use greenlight_core::config::Place;
    use greenlight_core::ports::Reach;

    let refusing = |code: &'static str| {
        mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(|r| {
                r.external_id() == Some("ext-1") && r.role_session_name() == Some("web-prod-1")
            })
            .then_error(move || {
                AssumeRoleError::generic(ErrorMetadata::builder().code(code).message("no").build())
            })
    };
    for (code, retryable) in [("AccessDenied", false), ("Throttling", true)] {
        let rule = refusing(code);
        let mut c = cloud().await;
        c.external_id = Some("ext-1".into());
        // A table of its own, so that this case does not reuse the clients of another.
        c.table = format!("table-{code}");
        c.sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&rule], |c| c
            .retry_config(RetryConfig::disabled()));
        let place = Place {
            account: "222222222222".into(),
            region: "us-east-1".into(),
            role: Arn::parse("arn:aws:iam::222222222222:role/greenlight-target-us-east-1").unwrap(),
        };
        let there = c.reach(&place, "web-prod-1").unwrap();
        let err = there
            .describe_service("main", "web-blue")
            .await
            .unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{code}: {err}");
        if !retryable {
            assert!(matches!(err, PortError::AccessDenied { .. }), "{err}");
        }
        let text = err.to_string();
        assert!(
            text.contains("greenlight-target-us-east-1") && text.contains("web-prod-1"),
            "{text}"
        );
        assert_eq!(rule.num_calls(), 1, "{code}");
    }
}
