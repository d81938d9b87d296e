//! The rollout use cases against the simulated AWS: each success path and each failure
//! branch.

mod common;

use common::*;
use greenlight_core::config::{Colour, Concurrency};
use greenlight_core::ports::{LockOutcome, Outcome, Phase, StateStore, TokenPurpose};
use greenlight_core::rollout::{CaughtError, StepError};
use greenlight_core::usecase::{check, finish, prepare, rollback, shift};
use greenlight_core::Duration;
use greenlight_sim::{Behaviour, FaultKind, Sim};

fn staging(sim: &Sim) -> greenlight_core::config::Environment {
    sim.world().store.config.as_ref().unwrap().config.apps["web"].environments["staging"].clone()
}

fn caught(error: &str, message: &str) -> CaughtError {
    CaughtError {
        error: error.into(),
        cause: serde_json::json!({"errorType": error, "errorMessage": message}).to_string(),
    }
}

/// An image's labels only inform: when they cannot be read (here the role may not read the
/// manifest), the deployment goes on without a revision; when they can, the record keeps it.
#[tokio::test]
async fn labels_that_cannot_be_read_do_not_stop_a_deployment() {
    let sim = world();
    let input = push(&sim, 2, Behaviour::healthy());
    sim.world().inject(
        "ecr:BatchGetImage",
        greenlight_sim::FaultKind::AccessDenied,
        1,
    );
    let r = prepare::prepare(&sim, input.clone(), TOPIC).await.unwrap();
    assert!(r.source.is_empty(), "{:?}", r.source);
    let recorded = sim.world().store.deployments[&r.deployment].clone();
    assert!(recorded.source.is_empty());

    let sim = world();
    let input = push(&sim, 2, Behaviour::healthy());
    let r = prepare::prepare(&sim, input, TOPIC).await.unwrap();
    assert_eq!(r.source.revision.as_deref().map(str::len), Some(40));
    let recorded = sim.world().store.deployments[&r.deployment].clone();
    assert_eq!(recorded.source, r.source);
}

#[tokio::test]
async fn prepare_registers_the_new_revision_and_takes_the_lock() {
    let sim = world();
    let input = push(&sim, 2, Behaviour::healthy());
    let r = prepare::prepare(&sim, input.clone(), TOPIC).await.unwrap();
    assert_eq!((r.live, r.target), (Colour::Blue, Colour::Green));
    assert_eq!(r.desired, 2);
    assert_eq!(r.plan.steps.len(), 2);
    let w = sim.world();
    let td = &w.task_defs[&r.task_definition];
    assert_eq!(td.revision, 2);
    assert_eq!(
        td.containers[0].1,
        format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{}",
            digest(2)
        )
    );
    assert_eq!(
        td.containers[1].1, w.task_defs[&r.live_task_definition].containers[1].1,
        "other containers unchanged"
    );
    assert_eq!(
        w.store.locks[&("web".into(), "staging".into())].owner,
        input.deployment
    );
    assert_eq!(
        w.store.deployments[&input.deployment].phase,
        Phase::Deploying
    );
    assert_eq!(r.topic, TOPIC, "staging has no topic of its own");
    // Rendered too, for an execution under a definition that publishes it from a state.
    let notice = r.notice.as_ref().unwrap();
    assert_eq!(
        (notice.attributes["event"].as_str(), notice.topic.as_str()),
        ("started", TOPIC)
    );
}

#[tokio::test]
async fn prepare_refuses_what_it_cannot_do_and_leaves_nothing_behind() {
    let sim = world();
    // An image that was never pushed.
    let err = prepare::prepare(&sim, start_input("staging", 9), TOPIC)
        .await
        .unwrap_err();
    assert!(matches!(err, StepError::ProvenanceRefused(_)), "{err}");
    assert!(err.to_string().contains("not in repository"), "{err}");
    assert!(sim.world().store.locks.is_empty(), "the lock is released");
    assert_eq!(sim.world().count("ecs:RegisterTaskDefinition"), 0);

    // Unknown environment, and a push to a promotion-only environment.
    let mut other = push(&sim, 2, Behaviour::healthy());
    other.environment = "qa".into();
    assert!(matches!(
        prepare::prepare(&sim, other, TOPIC).await,
        Err(StepError::NotConfigured(_))
    ));
    let mut to_prod = push(&sim, 2, Behaviour::healthy());
    to_prod.environment = "prod".into();
    let err = prepare::prepare(&sim, to_prod, TOPIC).await.unwrap_err();
    assert!(err.to_string().contains("only by promotion"), "{err}");

    // Split traffic: refuse, release.
    let env = staging(&sim);
    sim.world()
        .listeners
        .get_mut(&env.listeners.as_ref().unwrap().production)
        .unwrap()
        .weights[1]
        .weight = 10;
    sim.world()
        .listeners
        .get_mut(&env.listeners.as_ref().unwrap().production)
        .unwrap()
        .weights[0]
        .weight = 90;
    let err = prepare::prepare(&sim, push(&sim, 3, Behaviour::healthy()), TOPIC)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.InconsistentTraffic");
    assert!(sim.world().store.locks.is_empty());
}

#[tokio::test]
async fn prepare_without_a_stored_config_says_how_to_store_one() {
    let sim = Sim::at_epoch(1);
    let err = prepare::prepare(&sim, start_input("staging", 2), TOPIC)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("greenlight config apply"), "{err}");
}

#[tokio::test]
async fn prepare_checks_the_container_and_the_alarms_exist() {
    let mut config = example();
    config.apps.get_mut("web").unwrap().container = "nginx".into();
    let sim = world_with(config);
    std::sync::Arc::make_mut(&mut sim.world().store.config.as_mut().unwrap().config)
        .apps
        .get_mut("web")
        .unwrap()
        .container = "web".into();
    let err = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("container `web`"), "{err}");
    assert!(sim.world().store.locks.is_empty());

    let sim = world();
    sim.world().alarms.remove("web-staging-5xx");
    let err = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("alarm(s) not found: web-staging-5xx"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_is_retryable_and_access_denied_is_not() {
    let sim = world();
    let input = push(&sim, 2, Behaviour::healthy());
    sim.world()
        .inject("ecr:DescribeImages", FaultKind::Throttle, 1);
    let err = prepare::prepare(&sim, input.clone(), TOPIC)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.Retryable");
    // The state machine retries: the same input succeeds.
    prepare::prepare(&sim, input.clone(), TOPIC).await.unwrap();
    sim.world().store.locks.clear();
    // (The revision the first attempt registered is reused: no RegisterTaskDefinition.)
    sim.world()
        .inject("ecs:DescribeServices", FaultKind::AccessDenied, 1);
    let err = prepare::prepare(&sim, input, TOPIC).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.AwsError");
}

#[tokio::test]
async fn concurrency_policies() {
    for (policy, expected) in [
        (Concurrency::Reject, "Greenlight.LockHeld"),
        (Concurrency::Queue, "Greenlight.Queued"),
        (Concurrency::Supersede, "Greenlight.Queued"),
    ] {
        let mut config = example();
        config
            .apps
            .get_mut("web")
            .unwrap()
            .environments
            .get_mut("staging")
            .unwrap()
            .concurrency = policy;
        let sim = world_with(config);
        let first = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
            .await
            .unwrap();
        sim.world().waiting_tokens.insert("bake-token-1".into());
        sim.put_task_token(&first.deployment, TokenPurpose::Bake, "bake-token-1", &[])
            .await
            .unwrap();
        let second = push(&sim, 3, Behaviour::healthy());
        let err = prepare::prepare(&sim, second.clone(), TOPIC)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), expected, "{policy:?}");
        let w = sim.world();
        let first_rec = &w.store.deployments[&first.deployment];
        if policy == Concurrency::Supersede {
            assert_eq!(
                first_rec
                    .stop_requested
                    .as_ref()
                    .map(|s| (s.by.as_str(), s.kind)),
                Some((
                    second.deployment.as_str(),
                    greenlight_core::ports::StopKind::Supersede
                ))
            );
            assert!(
                matches!(&w.answers[0].1, greenlight_sim::TokenAnswer::Failure { error, .. } if error == "Greenlight.Superseded")
            );
        } else {
            assert_eq!(first_rec.stop_requested, None);
            assert!(w.answers.is_empty());
        }
        assert_eq!(
            w.store.locks[&("web".into(), "staging".into())].owner,
            first.deployment,
            "the lock stays with the first"
        );
    }
}

#[tokio::test]
async fn a_superseded_rollout_stops_at_its_next_step() {
    let mut config = example();
    config
        .apps
        .get_mut("web")
        .unwrap()
        .environments
        .get_mut("staging")
        .unwrap()
        .concurrency = Concurrency::Supersede;
    let sim = world_with(config);
    let first = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let _ = prepare::prepare(&sim, push(&sim, 3, Behaviour::healthy()), TOPIC).await;
    let err = check::deploy(&sim, first).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.Superseded");
}

#[tokio::test]
async fn an_expired_lock_is_taken_over() {
    let sim = world();
    let now = sim.now();
    let held = sim
        .acquire_lock(
            "web",
            "staging",
            "dead-execution",
            Duration::from_mins(10),
            now,
        )
        .await
        .unwrap();
    assert!(matches!(held, LockOutcome::Acquired { .. }));
    let input = push(&sim, 2, Behaviour::healthy());
    assert_eq!(
        prepare::prepare(&sim, input.clone(), TOPIC)
            .await
            .unwrap_err()
            .error_name(),
        "Greenlight.Queued"
    );
    sim.advance(11 * 60);
    prepare::prepare(&sim, input, TOPIC).await.unwrap();
}

#[tokio::test]
async fn deploy_and_wait_until_stable() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::slow(90)), TOPIC)
        .await
        .unwrap();
    let r = check::deploy(&sim, r).await.unwrap();
    let env = staging(&sim);
    {
        let w = sim.world();
        let green = &w.services[&("staging".to_string(), "web-staging-green".to_string())];
        assert_eq!(
            (green.desired, green.task_definition.as_str()),
            (2, r.task_definition.as_str())
        );
        assert_eq!(
            w.listeners[env.listeners.as_ref().unwrap().test.as_ref().unwrap()].weights[0]
                .target_group,
            env.target_groups.as_ref().unwrap().green,
            "test listener on the new colour"
        );
    }
    let r = check::stable(&sim, r).await.unwrap();
    assert!(!r.control.stable, "tasks take 90s to start");
    sim.advance(60);
    let r = check::stable(&sim, r).await.unwrap();
    assert!(!r.control.stable);
    sim.advance(60);
    let r = check::stable(&sim, r).await.unwrap();
    assert!(r.control.stable, "running and healthy after 120s");
    assert_eq!(
        sim.world().store.deployments[&r.deployment].phase,
        Phase::PreTrafficChecks
    );
}

#[tokio::test]
async fn tasks_that_crash_fail_the_deployment() {
    let sim = world();
    let mut r = check::deploy(
        &sim,
        prepare::prepare(&sim, push(&sim, 2, Behaviour::crashing()), TOPIC)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let err = stable_until_it_fails(&sim, &mut r).await;
    assert_eq!(err.error_name(), "Greenlight.DeploymentFailed");
    assert!(err.to_string().contains("circuit breaker"), "{err}");
}

#[tokio::test]
async fn targets_that_never_turn_healthy_time_out() {
    let sim = world();
    let mut r = check::deploy(
        &sim,
        prepare::prepare(&sim, push(&sim, 2, Behaviour::never_healthy()), TOPIC)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let err = stable_until_it_fails(&sim, &mut r).await;
    assert_eq!(err.error_name(), "Greenlight.StableTimeout");
    assert!(err.to_string().contains("0 of 2 targets healthy"), "{err}");
    assert!(sim.now() >= r.stable_deadline);
}

#[tokio::test]
async fn pre_traffic_probes_fail_after_the_threshold() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let mut r = check::deploy(&sim, r).await.unwrap();
    sim.advance(120);
    // The new colour answers 503 to everything from now on.
    sim.world()
        .behaviours
        .insert(digest(2), Behaviour::erroring(1.0));
    for attempt in 1..3 {
        r = check::ready(&sim, r).await.unwrap();
        assert!(!r.control.ready);
        assert_eq!(r.failures, attempt);
    }
    let err = check::ready(&sim, r).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.HealthCheckFailed");
    assert!(
        err.to_string().contains("3 consecutive failed checks"),
        "{err}"
    );
    assert!(
        err.to_string().contains(":8443/healthz answered 503"),
        "{err}"
    );
}

#[tokio::test]
async fn shift_sets_and_verifies_the_weights() {
    let sim = world();
    let env = staging(&sim);
    let mut r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    r = shift::shift(&sim, r).await.unwrap();
    assert_eq!(r.weight, 20);
    assert!(r.control.steps_remaining && r.control.baking);
    assert_eq!(
        r.notice.as_ref().unwrap().attributes["event"],
        "traffic_shifted"
    );
    let weights = sim.world().listeners[&env.listeners.as_ref().unwrap().production]
        .weights
        .clone();
    assert_eq!(
        weights.iter().map(|w| w.weight).collect::<Vec<_>>(),
        [80, 20]
    );

    sim.world()
        .sticky_listeners
        .insert(env.listeners.as_ref().unwrap().production.clone());
    let err = shift::shift(&sim, r.clone()).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.WeightsNotApplied");
    assert!(err.to_string().contains("blue 80%, green 20%"), "{err}");
    sim.world().sticky_listeners.clear();
    sim.world()
        .inject("elbv2:ModifyListener", FaultKind::ServerError, 1);
    assert_eq!(
        shift::shift(&sim, r.clone())
            .await
            .unwrap_err()
            .error_name(),
        "Greenlight.Retryable"
    );
    let r = shift::shift(&sim, r).await.unwrap();
    assert_eq!((r.weight, r.control.steps_remaining), (100, false));
}

/// An alarm in ALARM fails a step as it begins (its wait reads the alarms once its token is
/// stored) and at its bake's end (the backstop for a change the alarm relay could not
/// deliver); the rounds between leave alarms to the relay.
#[tokio::test]
async fn an_alarm_fails_a_step_as_it_begins_and_at_its_bakes_end() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::erroring(0.5)), TOPIC)
        .await
        .unwrap();
    let mut r = check::deploy(&sim, r).await.unwrap();
    sim.advance(120);
    r = check::stable(&sim, r).await.unwrap();
    assert!(r.control.stable);
    // 20% of traffic at a 50% error rate: 10% 5xx, over the 5% threshold.
    let err = greenlight_core::usecase::tick::shift_and_bake(&sim, "a-token", r.clone())
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.AlarmFired");
    assert!(err.to_string().contains("web-staging-5xx"), "{err}");
    let r = shift::shift(&sim, r).await.unwrap();
    let during = check::health(&sim, r).await.unwrap();
    assert!(during.control.baking);
    sim.advance(120);
    let err = check::health(&sim, during).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.AlarmFired");
}

#[tokio::test]
async fn health_counts_bake_time_and_failures() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let mut r = check::deploy(&sim, r).await.unwrap();
    sim.advance(120);
    r = shift::shift(&sim, r).await.unwrap();
    r = check::health(&sim, r).await.unwrap();
    assert!(r.control.baking);
    assert_eq!(r.control.bake_wait_seconds, 30);
    sim.advance(110);
    r = check::health(&sim, r).await.unwrap();
    assert_eq!(
        r.control.bake_wait_seconds, 10,
        "the last wait ends with the bake"
    );
    sim.advance(10);
    r = check::health(&sim, r).await.unwrap();
    assert!(!r.control.baking);
    // Unhealthy targets fail after the threshold.
    sim.world()
        .behaviours
        .insert(digest(2), Behaviour::never_healthy());
    sim.world().alarms.clear();
    r.env.checks.alarms.clear();
    r = check::health(&sim, r).await.unwrap();
    r = check::health(&sim, r).await.unwrap();
    assert_eq!(r.failures, 2);
    let err = check::health(&sim, r).await.unwrap_err();
    assert!(err.to_string().contains("0 of 2 targets healthy"), "{err}");
}

#[tokio::test]
async fn a_full_rollout_succeeds_and_the_old_colour_retires_after_the_window() {
    let sim = world();
    let env = staging(&sim);
    let r = drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    {
        let w = sim.world();
        assert_eq!(w.live_colour(&env), Some(Colour::Green));
        let rec = &w.store.deployments[&r.deployment];
        assert_eq!(rec.outcome, Some(Outcome::Succeeded));
        assert_eq!(
            rec.rollback_until,
            Some(w.now + chrono::Duration::minutes(30))
        );
        assert!(w.store.locks.is_empty());
        assert_eq!(r.window_until, rec.rollback_until);
    }

    sim.advance(30 * 60);
    let retired = finish::retire(&sim, &r).await.unwrap();
    assert!(retired.retired, "{}", retired.reason);
    assert_eq!(
        sim.world().services[&("staging".to_string(), "web-staging-blue".to_string())].desired,
        0
    );
}

#[tokio::test]
async fn retire_leaves_a_colour_that_something_newer_claimed() {
    let sim = world();
    let first = drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    sim.advance(60);
    // A newer deployment has started into blue.
    let second = prepare::prepare(&sim, push(&sim, 3, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let kept = finish::retire(&sim, &first).await.unwrap();
    assert!(!kept.retired);
    assert!(kept.reason.contains(&second.deployment), "{}", kept.reason);
    // Once it has finished, the newer deployment's record still keeps blue.
    drive_from_deploy(&sim, second).await.unwrap();
    let kept = finish::retire(&sim, &first).await.unwrap();
    assert!(
        !kept.retired && kept.reason.contains("came after"),
        "{}",
        kept.reason
    );
    assert_eq!(
        sim.world().services[&("staging".to_string(), "web-staging-blue".to_string())].desired,
        2
    );
}

#[tokio::test]
async fn rollback_restores_traffic_scales_down_and_releases() {
    let sim = world();
    let env = staging(&sim);
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let r = check::deploy(&sim, r).await.unwrap();
    let r = shift::shift(&sim, r).await.unwrap();
    sim.world()
        .inject("elbv2:ModifyListener", FaultKind::Throttle, 2);
    let error = caught("Greenlight.AlarmFired", "alarm fired: web-staging-5xx");
    // The state machine retries a throttled rollback; each attempt is safe to repeat.
    for _ in 0..2 {
        assert_eq!(
            rollback::rollback(&sim, r.clone(), &error)
                .await
                .unwrap_err()
                .error_name(),
            "Greenlight.Retryable"
        );
    }
    let done = rollback::rollback(&sim, r, &error).await.unwrap();
    let w = sim.world();
    assert_eq!(w.live_colour(&env), Some(Colour::Blue));
    assert_eq!(
        w.services[&("staging".to_string(), "web-staging-green".to_string())].desired,
        0
    );
    assert!(w.store.locks.is_empty());
    let rec = &w.store.deployments[&done.deployment];
    assert_eq!(rec.outcome, Some(Outcome::RolledBack));
    assert_eq!(rec.reason.as_deref(), Some("alarm fired: web-staging-5xx"));
    let notice = done.notice.unwrap();
    assert_eq!(
        (
            notice.attributes["event"].as_str(),
            notice.attributes["severity"].as_str()
        ),
        ("rolled_back", "error")
    );
}

#[tokio::test]
async fn rollback_outcomes_follow_the_error() {
    for (error, outcome, event) in [
        ("Greenlight.Rejected", Outcome::Rejected, "rejected"),
        ("Greenlight.Superseded", Outcome::Superseded, "superseded"),
        ("States.Timeout", Outcome::RolledBack, "rolled_back"),
    ] {
        let sim = world();
        let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
            .await
            .unwrap();
        let done = rollback::rollback(&sim, r, &caught(error, "why"))
            .await
            .unwrap();
        assert_eq!(
            sim.world().store.deployments[&done.deployment].outcome,
            Some(outcome)
        );
        assert_eq!(done.notice.unwrap().attributes["event"], event);
    }
}

#[tokio::test]
async fn escalation_is_critical_and_says_what_to_do() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    sim.world()
        .inject("dynamodb:GetItem", FaultKind::ServerError, 5);
    let r = rollback::escalate(&sim, r, &caught("Greenlight.AwsError", "access denied")).await;
    let notice = r.notice.unwrap();
    assert_eq!(notice.attributes["severity"], "critical");
    assert!(
        notice
            .message
            .contains("greenlight rollback web --env staging"),
        "{}",
        notice.message
    );
}

#[tokio::test]
async fn a_refused_start_is_recorded_and_announced() {
    let sim = world();
    let input = start_input("staging", 9);
    let n = rollback::refused(
        &sim,
        &input,
        &caught(
            "Greenlight.ImageNotFound",
            "image web@sha256:09… is not in ECR",
        ),
        &greenlight_core::Arn::parse(TOPIC).unwrap(),
    )
    .await;
    assert_eq!(
        (
            n.attributes["event"].as_str(),
            n.attributes["severity"].as_str()
        ),
        ("rejected", "error")
    );
    assert_eq!(
        sim.world().store.deployments[&input.deployment].outcome,
        Some(Outcome::Rejected)
    );
    let n = rollback::refused(
        &sim,
        &input,
        &caught("Greenlight.LockHeld", "locked"),
        &greenlight_core::Arn::parse(TOPIC).unwrap(),
    )
    .await;
    assert_eq!(n.attributes["severity"], "warn");
}

#[tokio::test]
async fn a_deployment_that_gives_up_queueing_says_so_and_frees_its_place() {
    let mut config = example();
    config
        .apps
        .get_mut("web")
        .unwrap()
        .environments
        .get_mut("staging")
        .unwrap()
        .concurrency = Concurrency::Queue;
    let sim = world_with(config);
    let first = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let waiting = push(&sim, 3, Behaviour::healthy());
    let err = prepare::prepare(&sim, waiting.clone(), TOPIC)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.Queued");
    assert_eq!(
        sim.world().store.deployments[&waiting.deployment].phase,
        Phase::Queued,
        "a ticket holds its place"
    );
    // The state machine's retries run out: the refusal ends the ticket and says why.
    let n = rollback::refused(
        &sim,
        &waiting,
        &caught("Greenlight.Queued", &err.to_string()),
        &greenlight_core::Arn::parse(TOPIC).unwrap(),
    )
    .await;
    assert!(
        n.message.contains("gave up after waiting 2h in the queue"),
        "{}",
        n.message
    );
    let ticket = sim.world().store.deployments[&waiting.deployment].clone();
    assert_eq!(ticket.outcome, Some(Outcome::Rejected));
    assert!(!ticket.took_environment());
    assert_eq!(
        first.deployment,
        sim.world().store.locks[&("web".into(), "staging".into())].owner
    );
}

#[tokio::test]
async fn finalize_refuses_when_traffic_is_not_all_on_the_new_colour() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let r = check::deploy(&sim, r).await.unwrap();
    let r = shift::shift(&sim, r).await.unwrap(); // 20% only
    let err = finish::finalize(&sim, r).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.InconsistentTraffic");
    assert!(
        !sim.world().store.locks.is_empty(),
        "the lock stays for the rollback to release"
    );
}

#[tokio::test]
async fn retire_keeps_a_colour_that_serves_traffic_again() {
    let sim = world();
    let env = staging(&sim);
    let r = drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    // Someone flipped traffic back to blue by hand.
    sim.world()
        .listeners
        .get_mut(&env.listeners.as_ref().unwrap().production)
        .unwrap()
        .weights =
        greenlight_core::usecase::weights_for(env.load_balancer().unwrap(), Colour::Blue, 100);
    sim.advance(30 * 60);
    let kept = finish::retire(&sim, &r).await.unwrap();
    assert!(!kept.retired);
    assert!(
        kept.reason.contains("blue serves traffic again"),
        "{}",
        kept.reason
    );
    assert_eq!(
        sim.world().services[&("staging".to_string(), "web-staging-blue".to_string())].desired,
        2
    );
}

/// Checks stability every 30 s (virtual) until it fails: at most a day, or the test fails.
async fn stable_until_it_fails(sim: &Sim, r: &mut greenlight_core::rollout::Rollout) -> StepError {
    for _ in 0..(24 * 120) {
        sim.advance(30);
        match check::stable(sim, r.clone()).await {
            Ok(next) => *r = next,
            Err(e) => return e,
        }
    }
    panic!("still not failed after a day: {r:?}")
}
