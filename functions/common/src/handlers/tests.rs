//! Every sample event in `events/<function>/` is run through its handler against the
//! simulator, in rollout order; each sample must be exactly what the previous step produces,
//! so the samples stay true to the code. `GREENLIGHT_WRITE_EVENTS=1 cargo test -p
//! greenlight-lambda` rewrites them after a deliberate change.

use std::path::PathBuf;

use greenlight_core::config;
use greenlight_core::ports::TokenPurpose;
use greenlight_core::rollout::StartInput;
use greenlight_core::Digest;
use greenlight_sim::{Behaviour, Sim};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;

fn settings() -> Settings {
    Settings {
        table: "greenlight-state".into(),
        topic: Arn::parse("arn:aws:sns:eu-west-1:123456789012:greenlight").unwrap(),
        state_machine: Some(
            "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-rollout".into(),
        ),
    }
}

fn digest(seed: u8) -> Digest {
    Digest::parse(&format!("sha256:{}", format!("{seed:02x}").repeat(32))).unwrap()
}

fn world() -> Sim {
    let sim = Sim::at_epoch(7);
    let cfg = config::load(include_str!("../../../../examples/greenlight.yaml"))
        .config
        .unwrap();
    sim.world().install(&cfg, &digest(1), 2);
    sim.world()
        .push_image("web", Some("v2.0.0"), &digest(2), Behaviour::healthy());
    sim
}

fn path(function: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(function)
        .join(format!("{name}.json"))
}

/// The sample, checked against (or, when rewriting, replaced by) what the code produced.
fn sample<T: Serialize + DeserializeOwned>(function: &str, name: &str, produced: &T) -> T {
    let file = path(function, name);
    let produced = serde_json::to_value(produced).unwrap();
    if std::env::var_os("GREENLIGHT_WRITE_EVENTS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            serde_json::to_string_pretty(&produced).unwrap() + "\n",
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        stored,
        produced,
        "{} is stale: rerun with GREENLIGHT_WRITE_EVENTS=1",
        file.display()
    );
    serde_json::from_value(stored).unwrap()
}

fn read<T: DeserializeOwned>(function: &str, name: &str) -> T {
    let file = path(function, name);
    serde_json::from_str(
        &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap()
}

/// The tick the last call scheduled on the (simulated) tick queue, as SQS delivers it.
fn next_tick(sim: &Sim) -> SqsEvent {
    let (_, tick) = sim.world().ticks.pop().expect("a tick was scheduled");
    SqsEvent {
        records: vec![SqsRecord {
            message_id: "059f36b4-87a3-44ab-83d2-661975830a7d".into(),
            body: serde_json::to_string(&tick).unwrap(),
        }],
    }
}

/// What the wait of `token` was answered with.
fn answer(sim: &Sim, token: &str) -> greenlight_sim::TokenAnswer {
    let w = sim.world();
    w.answers
        .iter()
        .rev()
        .find(|(t, _)| t == token)
        .map(|(_, a)| a.clone())
        .expect("the wait was answered")
}

fn answered_rollout(sim: &Sim, token: &str) -> Rollout {
    match answer(sim, token) {
        greenlight_sim::TokenAnswer::Success(v) => serde_json::from_value(v).unwrap(),
        other => panic!("the wait failed: {other:?}"),
    }
}

fn token_input(token: &str, rollout: Rollout) -> TokenInput {
    TokenInput {
        token: token.into(),
        rollout,
        step: None,
    }
}

#[tokio::test]
async fn the_sample_events_walk_a_rollout_end_to_end() {
    let sim = world();
    let s = settings();
    let start: StartInput = read("prepare", "start");
    let r = prepare(sim.clone(), s.clone(), start).await.unwrap();
    // The Deploy state's wait: deploy, and the settle rounds on the tick queue.
    sim.world()
        .waiting_tokens
        .insert("sample-deploy-token".into());
    deploy(
        sim.clone(),
        s.clone(),
        sample("deploy", "rollout", &token_input("sample-deploy-token", r)),
    )
    .await
    .unwrap();
    sim.advance(60);
    let settle = sample("check", "tick", &next_tick(&sim));
    check(sim.clone(), s.clone(), CheckRequest::Ticks(settle))
        .await
        .unwrap();
    let r = answered_rollout(&sim, "sample-deploy-token");
    assert!(r.control.stable && r.control.ready);

    // The approval wait (staging needs none, but the sample shows the shape).
    sim.world()
        .waiting_tokens
        .insert("sample-task-token".into());
    let await_in = sample(
        "await",
        "approval",
        &AwaitInput {
            purpose: TokenPurpose::Approval,
            token: "sample-task-token".into(),
            rollout: r.clone(),
        },
    );
    await_token(sim.clone(), s.clone(), await_in).await.unwrap();
    assert!(sim
        .world()
        .published
        .iter()
        .any(|p| p.notification.event == greenlight_core::notify::EventKind::ApprovalRequested));
    sim.world().store.tokens.clear();

    sim.world()
        .waiting_tokens
        .insert("sample-shift-token".into());
    let r = shift(
        sim.clone(),
        s.clone(),
        sample("shift", "rollout", &token_input("sample-shift-token", r)),
    )
    .await
    .unwrap();
    assert_eq!(r.weight, 20);
    assert!(sim
        .world()
        .published
        .iter()
        .any(|p| p.notification.event == greenlight_core::notify::EventKind::TrafficShifted));
    // The bake's first round runs at once and schedules the next: the wait goes on.
    let out = check(sim.clone(), s.clone(), CheckRequest::Ticks(next_tick(&sim)))
        .await
        .unwrap();
    let CheckOutput::Ticks { ticks } = out else {
        panic!("{out:?}")
    };
    assert!(ticks[0].contains("next round in 30s"), "{ticks:?}");
    assert!(
        sim.world().ticks.len() == 1
            && sim
                .world()
                .answers
                .iter()
                .all(|(t, _)| t != "sample-shift-token")
    );

    let rollback_in = sample(
        "rollback",
        "alarm",
        &RollbackInput {
            rollout: r.clone(),
            error: CaughtError {
                error: "Greenlight.AlarmFired".into(),
                cause: r#"{"errorType":"Greenlight.AlarmFired","errorMessage":"alarm fired: web-staging-5xx"}"#.into(),
            },
            window: false,
        },
    );

    // Finish the happy path on a copy of the world; roll back on the original.
    let sim2 = world();
    let r2 = prepare(sim2.clone(), s.clone(), read("prepare", "start"))
        .await
        .unwrap();
    let r2 = deploy(sim2.clone(), s.clone(), token_input("t1", r2))
        .await
        .unwrap();
    sim2.advance(60);
    let mut r2 = shift(sim2.clone(), s.clone(), token_input("t2", r2))
        .await
        .unwrap();
    sim2.advance(120);
    r2 = shift(sim2.clone(), s.clone(), token_input("t3", r2))
        .await
        .unwrap();
    let done = finalize(sim2.clone(), s.clone(), sample("finalize", "rollout", &r2))
        .await
        .unwrap();
    sim2.advance(30 * 60);
    let retired = retire(sim2.clone(), s.clone(), sample("retire", "rollout", &done))
        .await
        .unwrap();
    assert!(retired.retired, "{}", retired.reason);

    let rolled = rollback(sim.clone(), s.clone(), rollback_in).await.unwrap();
    assert_eq!(rolled.notice.unwrap().attributes["event"], "rolled_back");

    let refused_in: NotifyInput = sample(
        "notify",
        "refused",
        &NotifyInput::Refused {
            input: read("prepare", "start"),
            error: CaughtError {
                error: "Greenlight.ImageNotFound".into(),
                cause: "image web@sha256:… is not in ECR".into(),
            },
        },
    );
    let notice = notify(sim.clone(), s.clone(), refused_in).await.unwrap();
    assert_eq!(notice.attributes["event"], "rejected");
    let escalate_in: NotifyInput = sample(
        "notify",
        "rollback-failed",
        &NotifyInput::RollbackFailed {
            rollout: Box::new(r),
            error: CaughtError {
                error: "Greenlight.AwsError".into(),
                cause: "elasticloadbalancing:ModifyListener: access denied".into(),
            },
        },
    );
    let notice = notify(sim.clone(), s.clone(), escalate_in).await.unwrap();
    assert_eq!(notice.attributes["severity"], "critical");
}

#[tokio::test]
async fn on_push_samples() {
    let sim = world();
    let s = settings();
    let tagged: serde_json::Value = read("on-push", "push-tagged");
    let out = on_push(sim.clone(), s.clone(), tagged.clone())
        .await
        .unwrap();
    assert_eq!(out.started.len(), 1);
    let again = on_push(sim.clone(), s.clone(), tagged).await.unwrap();
    assert_eq!(again.duplicates.len(), 1);
    let deleted = on_push(sim.clone(), s.clone(), read("on-push", "delete"))
        .await
        .unwrap();
    assert!(deleted.ignored.is_some());
    let mut no_sm = s.clone();
    no_sm.state_machine = None;
    let err = on_push(sim, no_sm, read("on-push", "push-tagged"))
        .await
        .unwrap_err();
    assert!(err.message.contains("GREENLIGHT_STATE_MACHINE"), "{err}");
}

/// The event relay: the `started` notification prepare publishes, delivered by SNS, goes on
/// the bus with greenlight's JSON as its detail, the console links, and the execution and
/// service as its resources; an alarm's message on the same topic is skipped, not retried;
/// a bus that refuses fails the delivery with a retryable name.
#[tokio::test]
async fn event_relay_samples() {
    let sim = world();
    let s = settings();
    let r = prepare(sim.clone(), s.clone(), read("prepare", "start"))
        .await
        .unwrap();
    let started = sim.world().published.last().unwrap().notification.clone();
    assert_eq!(
        (started.event, started.deployment.as_deref()),
        (EventKind::Started, Some(r.deployment.as_str())),
        "prepare announces started itself"
    );
    let message: serde_json::Value = serde_json::from_str(&started.sns_message()).unwrap();
    let body = message["lambda"].as_str().unwrap().to_string();
    let delivery = sample(
        "event-relay",
        "notification",
        &SnsDelivery::of(s.topic.as_str(), body),
    );
    let out = event_relay(sim.clone(), s.clone(), delivery).await.unwrap();
    assert_eq!((out.forwarded, out.skipped.len()), (1, 0));
    let events = sim.world().bus_events.clone();
    let e = &events[0];
    assert_eq!(
        (e.source.as_str(), e.detail_type.as_str()),
        ("greenlight", "Greenlight Deployment State Change")
    );
    assert_eq!(e.detail["event"], "started");
    // The revision the image's labels name (the simulated registry labels every image).
    assert_eq!(e.detail["revision"].as_str(), r.source.revision.as_deref());
    assert!(r.source.revision.is_some() && r.source.created.is_some());
    assert_eq!(e.detail["deployment"], r.deployment.as_str());
    let execution = format!(
        "arn:aws:states:eu-west-1:123456789012:execution:greenlight-rollout:{}",
        r.deployment
    );
    assert_eq!(
        e.resources,
        [
            execution.clone(),
            "arn:aws:ecs:eu-west-1:123456789012:service/staging/web-staging-green".to_string()
        ]
    );
    let link = e.detail["links"]["execution"].as_str().unwrap();
    assert!(
        link.starts_with("https://eu-west-1.console.aws.amazon.com/states/")
            && link.ends_with(&execution),
        "{link}"
    );

    let alarm = sample(
        "event-relay",
        "not-a-notification",
        &SnsDelivery::of(
            s.topic.as_str(),
            r#"{"AlarmName":"greenlight-dead-letters","NewStateValue":"ALARM"}"#.into(),
        ),
    );
    let out = event_relay(sim.clone(), s.clone(), alarm).await.unwrap();
    assert_eq!((out.forwarded, out.skipped.len()), (0, 1));
    assert_eq!(sim.world().bus_events.len(), 1);

    sim.world()
        .inject("events:PutEvents", greenlight_sim::FaultKind::Throttle, 1);
    let again = read::<SnsDelivery>("event-relay", "notification");
    let f = event_relay(sim.clone(), s, again).await.unwrap_err();
    assert_eq!(f.name, "Greenlight.Retryable");
}

#[tokio::test]
async fn alarm_relay_sample() {
    let sim = world();
    sim.world().waiting_tokens.insert("bake-token".into());
    greenlight_core::ports::StateStore::put_task_token(
        &sim,
        "web-staging-0202020202020202",
        TokenPurpose::Bake,
        "bake-token",
        &["web-staging-5xx".into()],
    )
    .await
    .unwrap();
    let event: AlarmEvent = read("alarm-relay", "alarm");
    let out = alarm_relay(sim, settings(), event).await.unwrap();
    assert_eq!(out.failed, ["web-staging-0202020202020202"]);
}

#[test]
fn failures_keep_their_step_functions_name() {
    let f = Failure::of(greenlight_core::rollout::StepError::ImageNotFound(
        "web@sha256:…".into(),
    ));
    let d: lambda_runtime::Diagnostic = f.into();
    assert_eq!(d.error_type, "Greenlight.ImageNotFound");
    assert!(d.error_message.contains("not in ECR"));
}

/// A prod deployment promoted by `promoter`, waiting for approval.
async fn waiting_for_approval(promoter: &str) -> Sim {
    use greenlight_core::ports::{Phase, StateStore, TriggerInfo};
    let sim = world();
    let id = "web-prod-0202020202020202";
    let input = StartInput {
        deployment: id.into(),
        app: "web".into(),
        environment: "prod".into(),
        image: greenlight_core::ImageRef {
            repository: "web".into(),
            digest: digest(2),
        },
        tag: Some("v2.0.0".into()),
        trigger: TriggerInfo::Promotion {
            from: "staging".into(),
            by: promoter.into(),
        },
    };
    let now = sim.world().now;
    let mut record =
        greenlight_core::usecase::record::for_input(&input, Phase::AwaitingApproval, now);
    record.colour = Some(config::Colour::Green);
    sim.put_deployment(&record).await.unwrap();
    sim.put_task_token(id, TokenPurpose::Approval, "prod-approval-token", &[])
        .await
        .unwrap();
    sim.world()
        .waiting_tokens
        .insert("prod-approval-token".into());
    sim
}

async fn answer_sample(sim: &Sim, name: &str) -> (u16, serde_json::Value) {
    let request: serde_json::Value = read("approve", name);
    let out = approve_url(sim.clone(), settings(), request).await.unwrap();
    (out.status_code, serde_json::from_str(&out.body).unwrap())
}

#[tokio::test]
async fn the_approval_url_answers_as_the_principal_aws_authenticated() {
    use greenlight_core::ports::StateStore;
    use greenlight_sim::TokenAnswer;
    let promoter = "arn:aws:sts::123456789012:assumed-role/ops-lead/bob@example.com";
    let id = "web-prod-0202020202020202";

    // Refused, and nothing answered: not an approver, the promoter under
    // separate_approver, an unsigned request, a body that is not a decision.
    for (name, status, error) in [
        ("approve-not-an-approver", 403, "Greenlight.NotAnApprover"),
        ("approve-by-the-promoter", 403, "Greenlight.NotAnApprover"),
        ("unsigned", 403, "Greenlight.NotAnApprover"),
        ("not-a-decision", 400, "Greenlight.InvalidInput"),
    ] {
        let sim = waiting_for_approval(promoter).await;
        let (got, body) = answer_sample(&sim, name).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{name}: {body}"
        );
        assert!(sim.world().answers.is_empty(), "{name}: an answer was sent");
        assert!(
            sim.get_task_token(id, TokenPurpose::Approval)
                .await
                .unwrap()
                .is_some(),
            "{name}: the token is still there"
        );
    }

    // An approver: approved as the principal, recorded as such.
    let sim = waiting_for_approval(promoter).await;
    let (got, body) = answer_sample(&sim, "approve").await;
    assert_eq!(got, 200, "{body}");
    let alice = "arn:aws:sts::123456789012:assumed-role/ops-lead/alice@example.com";
    assert_eq!(
        sim.world().answers,
        vec![(
            "prod-approval-token".to_string(),
            TokenAnswer::Success(serde_json::json!({"approved_by": alice}))
        )]
    );
    let record = sim.get_deployment(id).await.unwrap().unwrap();
    assert_eq!(record.approved_by.as_deref(), Some(alice));
    // The same request again: the approval was answered already.
    let (got, body) = answer_sample(&sim, "approve").await;
    assert_eq!(
        (got, body["error"].as_str()),
        (409, Some("Greenlight.NotWaiting")),
        "{body}"
    );

    // A rejection by a member of the approvers' role: the deployment rolls back.
    let sim = waiting_for_approval(promoter).await;
    let (got, body) = answer_sample(&sim, "reject").await;
    assert_eq!(got, 200, "{body}");
    let answers = sim.world().answers.clone();
    assert!(
        matches!(&answers[..], [(_, TokenAnswer::Failure { error, cause })]
            if error == "Greenlight.Rejected" && cause.contains("assumed-role/release-approvers/carol")
                && cause.contains("release notes")),
        "{answers:?}"
    );
}

/// The Embedded Metric Format lines: one when a deployment takes its environment, one
/// when it succeeds (with its duration, and its lead time as it came from a push), one
/// when one is rolled back — and none again for a retried step that changes nothing.
#[tokio::test]
async fn deployments_emit_their_metrics_once_in_the_embedded_metric_format() {
    let emitted = |lines: Vec<String>| -> Vec<serde_json::Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON document"))
            .collect()
    };
    let s = settings();
    let sim = world();
    crate::metrics::capture();
    let start: StartInput = read("prepare", "start");
    let r = prepare(sim.clone(), s.clone(), start.clone())
        .await
        .unwrap();
    let lines = emitted(crate::metrics::captured());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let m = &lines[0];
    assert_eq!(m["DeploymentsStarted"], 1.0);
    assert_eq!(
        (m["app"].as_str(), m["environment"].as_str()),
        (Some("web"), Some("staging"))
    );
    assert_eq!(m["deployment"], r.deployment.as_str());
    let cw = &m["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(cw["Namespace"], "greenlight");
    assert_eq!(
        cw["Dimensions"],
        serde_json::json!([["app", "environment"], []])
    );
    assert_eq!(cw["Metrics"][0]["Name"], "DeploymentsStarted");
    assert_eq!(m["_aws"]["Timestamp"], sim.world().now.timestamp_millis());

    let r = deploy(sim.clone(), s.clone(), token_input("t-deploy", r))
        .await
        .unwrap();
    sim.advance(60);
    let mut r = shift(sim.clone(), s.clone(), token_input("t-shift", r))
        .await
        .unwrap();
    sim.advance(120);
    r = shift(sim.clone(), s.clone(), token_input("t-shift", r))
        .await
        .unwrap();
    sim.advance(90);
    let done = finalize(sim.clone(), s.clone(), r.clone()).await.unwrap();
    // Retried: the deployment is already recorded succeeded.
    finalize(sim.clone(), s.clone(), r).await.unwrap();
    let lines = emitted(crate::metrics::captured());
    assert_eq!(
        lines.len(),
        1,
        "one success, however often finalize ran: {lines:#?}"
    );
    assert_eq!(lines[0]["DeploymentsSucceeded"], 1.0);
    let took = (sim.world().now - done.started_at).num_seconds() as f64;
    assert_eq!(lines[0]["DeploymentDuration"], took);
    assert_eq!(lines[0]["LeadTime"], took, "a push: push to live");

    // A rollback of another deployment, by its alarm.
    let sim = world();
    let r = prepare(sim.clone(), s.clone(), start).await.unwrap();
    let r = deploy(sim.clone(), s.clone(), token_input("t-deploy", r))
        .await
        .unwrap();
    sim.advance(60);
    let r = shift(sim.clone(), s.clone(), token_input("t-shift", r))
        .await
        .unwrap();
    crate::metrics::captured();
    let input = RollbackInput {
        rollout: r,
        error: CaughtError {
            error: "Greenlight.AlarmFired".into(),
            cause: "alarm fired: web-staging-5xx".into(),
        },
        window: false,
    };
    rollback(sim.clone(), s.clone(), input.clone())
        .await
        .unwrap();
    rollback(sim.clone(), s.clone(), input).await.unwrap();
    let lines = emitted(crate::metrics::captured());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["DeploymentsRolledBack"], 1.0);
    assert_eq!(lines[0]["DeploymentDuration"], 60.0);
    assert!(lines[0]["RollbackDuration"].as_f64().is_some());
}

/// A step's or the window's wait that begins while one of its alarms is already in ALARM
/// (it changed when no token was there for the relay to fail) fails at once with
/// `Greenlight.AlarmFired`; an approval's wait watches no alarm.
#[tokio::test]
async fn a_wait_that_begins_under_an_alarm_fails_at_once() {
    let s = settings();
    let sim = world();
    let r = settled(&sim).await;
    sim.world()
        .force_alarm(
            "web-staging-5xx",
            Some(greenlight_core::ports::AlarmValue::Alarm),
            "5xx over the threshold",
        )
        .unwrap();
    let step = shift(sim.clone(), s.clone(), token_input("bake", r.clone()))
        .await
        .unwrap_err();
    let watch = check(
        sim.clone(),
        s.clone(),
        CheckRequest::Check(Box::new(CheckInput {
            mode: CheckMode::Watch,
            rollout: r.clone(),
            token: Some("window".into()),
        })),
    )
    .await
    .unwrap_err();
    for failed in [step, watch] {
        assert_eq!(failed.name, "Greenlight.AlarmFired");
        assert!(failed
            .message
            .contains("web-staging-5xx: 5xx over the threshold"));
    }
    let approval = AwaitInput {
        purpose: TokenPurpose::Approval,
        token: "approval".into(),
        rollout: r,
    };
    await_token(sim.clone(), s, approval).await.unwrap();
}

/// The sample push prepared, deployed, and its settle round run: the rollout its Deploy
/// wait was answered with (stable and ready).
async fn settled(sim: &Sim) -> Rollout {
    let s = settings();
    let r = prepare(sim.clone(), s.clone(), read("prepare", "start"))
        .await
        .unwrap();
    deploy(sim.clone(), s, token_input("settle", r))
        .await
        .unwrap();
    sim.advance(60);
    sim.world().waiting_tokens.insert("settle".into());
    let (_, t) = sim.world().ticks.pop().unwrap();
    tick::run(sim, t).await.unwrap();
    answered_rollout(sim, "settle")
}

/// A deployment that reached its bake: the sim, the step's token, and the bake's first tick.
async fn baking() -> (Sim, Tick) {
    let sim = world();
    let r = settled(&sim).await;
    sim.world().waiting_tokens.insert("bake".into());
    shift(sim.clone(), settings(), token_input("bake", r))
        .await
        .unwrap();
    let (_, t) = sim.world().ticks.pop().unwrap();
    (sim, t)
}

#[tokio::test]
async fn a_tick_delivered_early_waits_for_the_rest_and_runs_no_round() {
    let (sim, mut t) = baking().await;
    t.due = sim.now() + chrono::Duration::seconds(1000);
    let calls = sim.world().calls.len();
    let end = tick::run(&sim, t.clone()).await.unwrap();
    assert_eq!(
        end,
        tick::TickEnd::Again {
            after: greenlight_core::Duration::from_secs(1000)
        }
    );
    let w = sim.world();
    // One call: the tick sent again.
    assert_eq!(
        w.calls[calls..]
            .iter()
            .map(|(_, op)| op.as_str())
            .collect::<Vec<_>>(),
        ["sqs:SendMessage"]
    );
    assert_eq!(w.ticks.last().unwrap().1, t);
}

#[tokio::test]
async fn a_round_that_cannot_run_is_retried_then_fails_the_wait() {
    let (sim, t) = baking().await;
    sim.world().inject(
        "elbv2:DescribeTargetHealth",
        greenlight_sim::FaultKind::Throttle,
        u32::MAX,
    );
    let mut t = t;
    for attempt in 1..tick::MAX_ATTEMPTS {
        let end = tick::run(&sim, t).await.unwrap();
        assert!(matches!(end, tick::TickEnd::Again { .. }), "{end:?}");
        t = sim.world().ticks.pop().unwrap().1;
        assert_eq!(t.attempts, attempt);
        sim.advance(30);
    }
    let end = tick::run(&sim, t).await.unwrap();
    assert_eq!(end, tick::TickEnd::Answered(Err("Greenlight.AwsError")));
    match answer(&sim, "bake") {
        greenlight_sim::TokenAnswer::Failure { error, cause } => {
            assert_eq!(error, "Greenlight.AwsError");
            let cause: serde_json::Value = serde_json::from_str(&cause).unwrap();
            assert_eq!(cause["errorType"], "Greenlight.AwsError");
            assert!(
                cause["errorMessage"]
                    .as_str()
                    .unwrap()
                    .contains("DescribeTargetHealth"),
                "{cause}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_tick_of_an_ended_wait_or_deployment_is_dropped() {
    let (sim, t) = baking().await;
    // The alarm relay failed the wait before this round: its answer finds no task.
    sim.world().waiting_tokens.remove("bake");
    let mut last = t.clone();
    last.rollout.bake_until = Some(sim.now());
    assert_eq!(
        tick::run(&sim, last).await.unwrap(),
        tick::TickEnd::Dropped("the wait had ended")
    );
    // The deployment has an outcome: nothing runs.
    greenlight_core::usecase::record::update(
        &sim,
        &t.rollout.deployment,
        || None,
        |rec| {
            rec.outcome = Some(greenlight_core::ports::Outcome::RolledBack);
            true
        },
    )
    .await
    .unwrap();
    let calls = sim.world().calls.len();
    assert_eq!(
        tick::run(&sim, t).await.unwrap(),
        tick::TickEnd::Dropped("the deployment has ended")
    );
    assert!(sim.world().calls[calls..]
        .iter()
        .all(|(_, op)| op.starts_with("dynamodb:")));
}

/// A message on the tick queue that is not a tick is dropped with a line, not retried.
#[tokio::test]
async fn a_queue_message_that_is_not_a_tick_is_dropped() {
    let sim = world();
    let event = SqsEvent {
        records: vec![SqsRecord {
            message_id: "m-1".into(),
            body: "{\"purpose\":\"bake\"}".into(),
        }],
    };
    let out = check(sim.clone(), settings(), CheckRequest::Ticks(event))
        .await
        .unwrap();
    let CheckOutput::Ticks { ticks } = out else {
        panic!("{out:?}")
    };
    assert_eq!(ticks, ["m-1: not a tick, dropped"]);
    assert!(sim.world().ticks.is_empty());
}

/// The await function stores approval waits only: the others are started by their step's
/// function, which also schedules their rounds (and holds the grants for it).
#[tokio::test]
async fn the_await_function_refuses_any_wait_but_an_approval() {
    let sim = world();
    let r = prepare(sim.clone(), settings(), read("prepare", "start"))
        .await
        .unwrap();
    let err = await_token(
        sim.clone(),
        settings(),
        AwaitInput {
            purpose: TokenPurpose::Bake,
            token: "t".into(),
            rollout: r,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.name, "Greenlight.InvalidInput");
    assert!(
        err.message.contains("approval waits only, not a bake wait"),
        "{err}"
    );
    assert!(sim.world().store.tokens.is_empty());
}
