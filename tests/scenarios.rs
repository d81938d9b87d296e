//! Scenario tests: the real state machine run by the ASL runner, dispatching to the real
//! Lambda handlers, against the simulated AWS, on a virtual clock. After every scenario the
//! invariant must hold: all production traffic on one colour running a healthy revision,
//! the lock free, and a terminal notification for every deployment.

use chrono::{TimeZone, Utc};
use greenlight::simulation::{digest_for, push_event, Simulation};
use greenlight_core::config::{self, Colour, Concurrency, Config, Strategy, TimeoutAction};
use greenlight_core::notify::{EventKind, Severity};
use greenlight_core::ports::{DeploymentRecord, Outcome, StateStore, TokenPurpose};
use greenlight_core::usecase::{approval, promote};
use greenlight_sim::{Behaviour, FaultKind};

fn example() -> Config {
    config::load(include_str!("../examples/greenlight.yaml"))
        .config
        .unwrap()
}

fn with_staging(f: impl FnOnce(&mut config::Environment)) -> Config {
    let mut c = example();
    f(c.apps
        .get_mut("web")
        .unwrap()
        .environments
        .get_mut("staging")
        .unwrap());
    c
}

fn world(config: &Config) -> Simulation {
    Simulation::new(
        config,
        &digest_for("v0"),
        2,
        3,
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
    )
}

fn record(s: &Simulation, tag: &str, env: &str) -> DeploymentRecord {
    let w = s.sim.world();
    w.store
        .deployments
        .values()
        .find(|d| {
            d.environment == env
                && (d.tag.as_deref() == Some(tag) || d.image.digest == digest_for(tag))
        })
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no deployment of {tag} in {env}: {:?}",
                w.store.deployments.keys().collect::<Vec<_>>()
            )
        })
}

/// A lock on web/staging left by an execution that died, expiring in `minutes`.
async fn dead_execution_lock(s: &Simulation, minutes: u64) {
    let now = s.now();
    s.sim
        .acquire_lock(
            "web",
            "staging",
            "a-dead-execution",
            greenlight_core::Duration::from_mins(minutes),
            now,
        )
        .await
        .unwrap();
}

fn assert_invariant(s: &Simulation) {
    let broken = s.invariant();
    assert!(broken.is_empty(), "invariant broken: {broken:#?}");
}

async fn push(s: &Simulation, tag: &str, behaviour: Behaviour) {
    s.push("web", tag, &digest_for(tag), behaviour)
        .await
        .unwrap();
}

/// Every change of staging's production traffic, as green's weight.
fn staging_green_weights(s: &Simulation) -> Vec<u8> {
    let env = s.config.apps["web"].environments["staging"].clone();
    s.sim
        .world()
        .traffic
        .iter()
        .filter(|t| t.listener == env.listeners.as_ref().unwrap().production)
        .map(|t| {
            t.weights
                .iter()
                .filter(|w| w.target_group == env.target_groups.as_ref().unwrap().green)
                .map(|w| w.weight)
                .sum()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_strategy_succeeds_with_its_plan() {
    let strategies = [
        (Strategy::AllAtOnce, vec![100]),
        (Strategy::EcsAllAtOnce, vec![100]),
        (Strategy::EcsCanary10Percent5Minutes, vec![10, 100]),
        (Strategy::EcsCanary10Percent15Minutes, vec![10, 100]),
        (
            Strategy::EcsLinear10PercentEvery1Minutes,
            (1..=10).map(|i| i * 10).collect(),
        ),
        (
            Strategy::EcsLinear10PercentEvery3Minutes,
            (1..=10).map(|i| i * 10).collect(),
        ),
        (
            Strategy::Linear(config::Linear {
                step: 40,
                interval: greenlight_core::Duration::from_mins(1),
            }),
            vec![40, 80, 100],
        ),
        (
            Strategy::Steps(vec![
                config::StepSpec {
                    weight: 5,
                    bake: greenlight_core::Duration::from_mins(1),
                },
                config::StepSpec {
                    weight: 50,
                    bake: greenlight_core::Duration::from_mins(2),
                },
                config::StepSpec {
                    weight: 100,
                    bake: greenlight_core::Duration::from_mins(1),
                },
            ]),
            vec![5, 50, 100],
        ),
    ];
    for (strategy, weights) in strategies {
        let c = with_staging(|e| e.strategy = strategy.clone());
        let s = world(&c);
        push(&s, "v1", Behaviour::healthy()).await;
        s.settle().await;
        let r = record(&s, "v1", "staging");
        assert_eq!(
            r.outcome,
            Some(Outcome::Succeeded),
            "{strategy:?}: {:?}",
            r.reason
        );
        assert_eq!(staging_green_weights(&s), weights, "{strategy:?}");
        let shifted = s
            .sim
            .world()
            .published
            .iter()
            .filter(|p| p.notification.event == EventKind::TrafficShifted)
            .count();
        assert_eq!(
            shifted,
            weights.len(),
            "{strategy:?}: one notification per step"
        );
        // Every step's notice, and the success's, say where traffic is in the plan (each
        // step starts from the rollout as deploy left it, and finalize from the last
        // step's result); the success carries the last canary analysis on.
        let steps = weights.len();
        type Said = (EventKind, Option<(usize, usize, u8)>, bool);
        let traffic: Vec<Said> = s
            .sim
            .world()
            .published
            .iter()
            .filter(|p| p.notification.deployment.is_some())
            .map(|p| {
                let n = &p.notification;
                let t = n.traffic.as_ref().map(|t| (t.step, t.steps, t.weight));
                (n.event, t, n.analysis.is_some())
            })
            .filter(|(e, _, _)| {
                [
                    EventKind::Started,
                    EventKind::TrafficShifted,
                    EventKind::Succeeded,
                ]
                .contains(e)
            })
            .collect();
        let mut expected = vec![(EventKind::Started, Some((0, steps, 0)))];
        expected.extend(
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| (EventKind::TrafficShifted, Some((i + 1, steps, *w)))),
        );
        expected.push((EventKind::Succeeded, Some((steps, steps, 100))));
        assert_eq!(
            traffic.iter().map(|(e, t, _)| (*e, *t)).collect::<Vec<_>>(),
            expected,
            "{strategy:?}"
        );
        let analysed = weights.iter().any(|w| *w < 100);
        assert_eq!(
            traffic.last().map(|(_, _, a)| *a),
            Some(analysed),
            "{strategy:?}: the success's analysis"
        );
        assert_eq!(s.live("web", "staging"), Some(Colour::Green));
        assert_invariant(&s);
    }
}

#[tokio::test(start_paused = true)]
async fn a_crashing_image_fails_before_any_traffic_moves() {
    let s = world(&example());
    push(&s, "v1", Behaviour::crashing()).await;
    s.settle().await;
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::RolledBack));
    assert!(
        r.reason.as_deref().unwrap().contains("circuit breaker"),
        "{:?}",
        r.reason
    );
    assert_eq!(
        staging_green_weights(&s),
        [0],
        "only the rollback's (no-op) write"
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn targets_that_never_turn_healthy_time_out() {
    let s = world(&example());
    push(&s, "v1", Behaviour::never_healthy()).await;
    s.settle().await;
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::RolledBack));
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("not stable after 10m"),
        "{:?}",
        r.reason
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_failing_pre_traffic_probe_stops_the_rollout_before_traffic() {
    let s = world(&example());
    // Healthy for the load balancer's health check, but answers 500 to every request.
    push(&s, "v1", Behaviour::erroring(1.0 - f64::EPSILON)).await;
    s.settle().await;
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::RolledBack));
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("3 consecutive failed checks"),
        "{:?}",
        r.reason
    );
    assert!(
        staging_green_weights(&s).iter().all(|w| *w == 0),
        "no production traffic reached v1"
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_the_bake_of_each_step_rolls_back_from_that_step() {
    for step in 0..3u64 {
        let c = with_staging(|e| {
            e.strategy = Strategy::Linear(config::Linear {
                step: 30,
                interval: greenlight_core::Duration::from_mins(2),
            })
        });
        let s = world(&c);
        push(&s, "v1", Behaviour::healthy()).await;
        // Stable at 1m; step k shifts at 1m + 2m·k; fire the alarm 30s into its bake.
        let at = 60 + step * 120 + 30;
        s.sleep(at).await;
        s.sim
            .world()
            .force_alarm(
                "web-staging-5xx",
                Some(greenlight_core::ports::AlarmValue::Alarm),
                "forced by the test",
            )
            .unwrap();
        let event = greenlight_lambda::handlers::AlarmEvent {
            detail: approval::AlarmChange {
                alarm_name: "web-staging-5xx".into(),
                state: approval::AlarmStateValue {
                    value: "ALARM".into(),
                    reason: None,
                },
            },
            account: None,
            region: None,
        };
        let relayed =
            greenlight_lambda::handlers::alarm_relay(s.sim.clone(), s.settings.clone(), event)
                .await
                .unwrap();
        assert_eq!(relayed.failed.len(), 1, "step {step}: the bake was waiting");
        let cut_at = s.now();
        s.sim
            .world()
            .force_alarm("web-staging-5xx", None, "the test ended it")
            .unwrap();
        s.settle().await;
        let r = record(&s, "v1", "staging");
        assert_eq!(r.outcome, Some(Outcome::RolledBack), "step {step}");
        let weights = staging_green_weights(&s);
        assert_eq!(
            weights[..weights.len() - 1],
            [30, 60, 90][..=step as usize],
            "step {step}"
        );
        assert_eq!(*weights.last().unwrap(), 0);
        let rolled = s
            .sim
            .world()
            .published
            .iter()
            .find(|p| p.notification.event == EventKind::RolledBack)
            .unwrap()
            .clone();
        assert_eq!(
            rolled.at, cut_at,
            "the relay rolls back at once, not at the next check"
        );
        assert_eq!(rolled.notification.severity, Severity::Error);
        let traffic = rolled.notification.traffic.as_ref().unwrap();
        assert_eq!(
            (traffic.step, traffic.steps, traffic.weight),
            (step as usize + 1, 4, 0),
            "the rollback's notice names the step it failed at"
        );
        assert_invariant(&s);
    }
}

async fn promote_v1(s: &Simulation) -> String {
    push(s, "v1", Behaviour::healthy()).await;
    s.settle().await;
    s.promote("web", "staging", "prod", "alice")
        .await
        .unwrap()
        .deployment
}

#[tokio::test(start_paused = true)]
async fn an_approved_promotion_reaches_prod() {
    let s = world(&example());
    let d = promote_v1(&s).await;
    s.sleep(120).await;
    approval::approve(&s.sim, &d, "bob").await.unwrap();
    s.settle().await;
    assert_eq!(record(&s, "v1", "prod").outcome, Some(Outcome::Succeeded));
    assert_eq!(s.live("web", "prod"), Some(Colour::Green));
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_promotion_leaves_prod_untouched() {
    let s = world(&example());
    let d = promote_v1(&s).await;
    s.sleep(120).await;
    approval::reject(&s.sim, &d, "bob", "freeze").await.unwrap();
    s.settle().await;
    let r = record(&s, "v1", "prod");
    assert_eq!(r.outcome, Some(Outcome::Rejected));
    assert_eq!(r.reason.as_deref(), Some("rejected by bob: freeze"));
    assert_eq!(s.live("web", "prod"), Some(Colour::Blue));
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_approval_follows_on_timeout() {
    for (action, outcome) in [
        (TimeoutAction::Reject, Outcome::Rejected),
        (TimeoutAction::Approve, Outcome::Succeeded),
    ] {
        let mut c = example();
        let prod = c
            .apps
            .get_mut("web")
            .unwrap()
            .environments
            .get_mut("prod")
            .unwrap();
        prod.approval.on_timeout = action;
        prod.approval.timeout = greenlight_core::Duration::from_mins(30);
        let s = world(&c);
        let d = promote_v1(&s).await;
        s.settle().await;
        let r = record(&s, "v1", "prod");
        assert_eq!(r.outcome, Some(outcome), "{action:?}: {:?}", r.reason);
        assert!(s
            .sim
            .get_task_token(&d, TokenPurpose::Approval)
            .await
            .unwrap()
            .is_none());
        // Nobody can approve a request that has timed out.
        assert!(approval::approve(&s.sim, &d, "late").await.is_err());
        assert_invariant(&s);
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_push_delivered_three_times_deploys_once() {
    let s = world(&example());
    s.sim
        .world()
        .push_image("web", Some("v1"), &digest_for("v1"), Behaviour::healthy());
    let event = push_event("web", "v1", &digest_for("v1"), s.now());
    let mut started = 0;
    for _ in 0..3 {
        started += s.deliver(event.clone()).await.unwrap().started.len();
        s.sleep(5).await;
    }
    s.settle().await;
    assert_eq!(started, 1);
    assert_eq!(s.finished().len(), 1);
    assert_eq!(s.sim.world().store.deployments.len(), 1);
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn two_quick_pushes_under_each_concurrency_policy() {
    for (policy, first, second) in [
        (
            Concurrency::Supersede,
            Outcome::Superseded,
            Outcome::Succeeded,
        ),
        (Concurrency::Queue, Outcome::Succeeded, Outcome::Succeeded),
        (Concurrency::Reject, Outcome::Succeeded, Outcome::Rejected),
    ] {
        let s = world(&with_staging(|e| e.concurrency = policy));
        push(&s, "v1", Behaviour::healthy()).await;
        s.sleep(90).await; // v1 is baking its canary
        push(&s, "v2", Behaviour::healthy()).await;
        s.settle().await;
        assert_eq!(
            record(&s, "v1", "staging").outcome,
            Some(first),
            "{policy:?} v1"
        );
        assert_eq!(
            record(&s, "v2", "staging").outcome,
            Some(second),
            "{policy:?} v2: {:?}",
            record(&s, "v2", "staging").reason
        );
        let expect_live = if second == Outcome::Succeeded {
            "v2"
        } else {
            "v1"
        };
        let live_record = record(&s, expect_live, "staging");
        assert_eq!(s.live("web", "staging"), live_record.colour, "{policy:?}");
        assert_invariant(&s);
    }
}

#[tokio::test(start_paused = true)]
async fn a_lock_left_by_a_dead_execution_expires() {
    let s = world(&example());
    let now = s.now();
    dead_execution_lock(&s, 20).await;
    push(&s, "v1", Behaviour::healthy()).await;
    s.settle().await;
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    assert!(
        (r.started_at - now).num_minutes() >= 20,
        "it waited for the lease to run out"
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_rollback_is_retried_and_completes() {
    let s = world(&example());
    s.sim
        .world()
        .inject("lambda:Invoke/greenlight-rollback", FaultKind::Throttle, 3);
    s.sim
        .world()
        .inject("elbv2:ModifyListener", FaultKind::Throttle, 0);
    push(&s, "v1", Behaviour::erroring(0.5)).await;
    s.settle().await;
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::RolledBack));
    assert_eq!(
        s.sim.world().count("lambda:Invoke/greenlight-rollback"),
        4,
        "three throttled attempts, then success"
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_rollback_that_keeps_failing_escalates_to_critical() {
    let s = world(&example());
    s.sim.world().inject(
        "lambda:Invoke/greenlight-rollback",
        FaultKind::ServerError,
        1000,
    );
    push(&s, "v1", Behaviour::erroring(0.5)).await;
    s.settle().await;
    let critical: Vec<_> = s
        .sim
        .world()
        .published
        .iter()
        .filter(|p| p.notification.severity == Severity::Critical)
        .cloned()
        .collect();
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0].notification.event, EventKind::RollbackFailed);
    assert!(critical[0]
        .notification
        .next_steps
        .iter()
        .any(|n| n.contains("greenlight rollback web --env staging")));
    assert_eq!(
        record(&s, "v1", "staging").outcome,
        Some(Outcome::RollbackFailed)
    );
    // The state machine put traffic back by itself (no Lambda), so only the lock, which
    // the rollback function would have released, is left for a person.
    assert_eq!(s.live("web", "staging"), Some(Colour::Blue));
    let broken = s.invariant();
    assert!(
        !broken
            .iter()
            .any(|b| b.contains("traffic is not all on one colour")),
        "{broken:?}"
    );
    assert!(
        broken.iter().any(|b| b.contains("still locked")),
        "{broken:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn with_lambda_down_the_machine_restores_traffic_and_still_tells_someone() {
    let s = world(&example());
    for f in ["greenlight-rollback", "greenlight-notify"] {
        s.sim
            .world()
            .inject(&format!("lambda:Invoke/{f}"), FaultKind::Throttle, 1000);
    }
    push(&s, "v1", Behaviour::erroring(0.5)).await;
    s.settle().await;
    assert_eq!(
        s.live("web", "staging"),
        Some(Colour::Blue),
        "traffic restored"
    );
    let critical: Vec<_> = s
        .sim
        .world()
        .published
        .iter()
        .filter(|p| p.notification.severity == Severity::Critical)
        .cloned()
        .collect();
    assert_eq!(critical.len(), 1, "one plain critical notice");
    let n = &critical[0].notification;
    assert_eq!(n.event, EventKind::RollbackFailed);
    assert_eq!((n.app.as_str(), n.environment.as_str()), ("web", "staging"));
    let text = n.reason.clone().unwrap_or_default();
    assert!(
        text.contains("greenlight rollback web --env staging"),
        "{text}"
    );
    assert!(text.contains("targetgroup/web-staging-blue"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_manual_rollback_inside_the_window_flips_back() {
    let s = world(&example());
    push(&s, "v1", Behaviour::healthy()).await;
    // Wait until v1 has succeeded, then roll back inside its 30m window.
    s.sleep(10 * 60).await;
    assert_eq!(
        record(&s, "v1", "staging").outcome,
        Some(Outcome::Succeeded)
    );
    let topic = greenlight_core::Arn::parse(greenlight::simulation::TOPIC).unwrap();
    let out = promote::revert(&s.sim, &s.config, &topic, None, "web", "staging", "carol")
        .await
        .unwrap();
    assert_eq!(
        out,
        promote::Reverted::Flipped {
            deployment: record(&s, "v1", "staging").id,
            to: Colour::Blue
        }
    );
    s.settle().await;
    assert_eq!(record(&s, "v1", "staging").outcome, Some(Outcome::Reverted));
    assert_eq!(s.live("web", "staging"), Some(Colour::Blue));
    // Retire saw blue serving again and left it running, and scaled down green, which v1
    // left idle when it was rolled back.
    let desired = |service: &str| {
        s.sim.world().services[&("staging".to_string(), service.to_string())].desired
    };
    assert_eq!(desired("web-staging-blue"), 2);
    assert_eq!(desired("web-staging-green"), 0);
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_dead_executions_lock_delays_the_retire_but_does_not_keep_the_colour_warm() {
    let s = world(&example());
    push(&s, "v1", Behaviour::healthy()).await;
    // v1 succeeds at about 3m; its 30m window ends at about 33m. A lock left by an
    // execution that died is in the way then, for another 20 minutes.
    s.sleep(32 * 60).await;
    dead_execution_lock(&s, 20).await;
    s.settle().await;
    let run = &s.finished()[0];
    let retires: Vec<&serde_json::Value> = run
        .history
        .iter()
        .filter(|h| h.kind == "TaskStateExited" && h.state.as_deref() == Some("Retire"))
        .map(|h| &h.details["output"]["retired"])
        .collect();
    assert_eq!(retires.len(), 2, "{retires:#?}");
    assert_eq!(retires[0]["retired"], false);
    assert!(retires[0]["reason"]
        .as_str()
        .unwrap()
        .contains("a-dead-execution holds the lock"));
    assert_eq!(retires[1]["retired"], true, "{retires:#?}");
    assert_eq!(
        s.sim.world().services[&("staging".to_string(), "web-staging-blue".to_string())].desired,
        0
    );
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn retire_after_the_window_unless_a_newer_deployment_owns_the_colour() {
    let s = world(&example());
    push(&s, "v1", Behaviour::healthy()).await;
    s.settle().await;
    // v1 retired blue after its window.
    assert_eq!(
        s.sim.world().services[&("staging".to_string(), "web-staging-blue".to_string())].desired,
        0
    );

    push(&s, "v2", Behaviour::healthy()).await; // into blue
    s.sleep(10 * 60).await;
    push(&s, "v3", Behaviour::healthy()).await; // into green, inside v2's window
    s.settle().await;
    let v2_run = s
        .finished()
        .into_iter()
        .find(|e| e.name == record(&s, "v2", "staging").id)
        .unwrap();
    let retire = v2_run
        .history
        .iter()
        .find(|h| h.kind == "TaskStateExited" && h.state.as_deref() == Some("Retire"))
        .unwrap();
    assert_eq!(retire.details["output"]["retired"]["retired"], false);
    assert!(retire.details["output"]["retired"]["reason"]
        .as_str()
        .unwrap()
        .contains("came after"));
    assert_eq!(s.live("web", "staging"), Some(Colour::Green));
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_refused_deployment_is_never_the_latest_for_rollback_or_retire() {
    let s = world(&with_staging(|e| {
        e.concurrency = config::Concurrency::Reject;
    }));
    push(&s, "v1", Behaviour::healthy()).await;
    // v2 arrives during v1's canary bake and is refused: a `rejected` record with no colour.
    s.sleep(90).await;
    push(&s, "v2", Behaviour::healthy()).await;
    s.sleep(10 * 60).await;
    assert_eq!(
        record(&s, "v1", "staging").outcome,
        Some(Outcome::Succeeded)
    );
    let refused = record(&s, "v2", "staging");
    assert_eq!(refused.outcome, Some(Outcome::Rejected));
    assert!(!refused.took_environment());
    // The manual rollback of v1 inside its window is not refused because of v2.
    let topic = greenlight_core::Arn::parse(greenlight::simulation::TOPIC).unwrap();
    let out = promote::revert(&s.sim, &s.config, &topic, None, "web", "staging", "carol")
        .await
        .unwrap();
    assert!(
        matches!(out, promote::Reverted::Flipped { ref deployment, .. } if *deployment == record(&s, "v1", "staging").id),
        "{out:?}"
    );
    s.settle().await;
    assert_eq!(s.live("web", "staging"), Some(Colour::Blue));
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_refused_deployment_does_not_keep_the_old_colour_warm() {
    let s = world(&with_staging(|e| {
        e.concurrency = config::Concurrency::Reject;
    }));
    push(&s, "v1", Behaviour::healthy()).await;
    s.sleep(90).await;
    push(&s, "v2", Behaviour::healthy()).await;
    s.settle().await;
    // After v1's 30m window, blue (the old colour) was scaled to zero despite v2's record.
    let env = s.config.apps["web"].environments["staging"].clone();
    let w = s.sim.world();
    let blue = &w.services[&(env.cluster.clone(), env.services.blue.clone())];
    assert_eq!(
        w.service_state(blue).desired,
        0,
        "the old colour was retired"
    );
}

#[tokio::test(start_paused = true)]
async fn queued_deployments_start_in_push_order() {
    let s = world(&with_staging(|e| {
        e.concurrency = config::Concurrency::Queue;
    }));
    let tags: Vec<String> = (1..=6).map(|i| format!("v{i}")).collect();
    // Pushes 3 s apart: each waiter retries on its own 10 s rhythm, so without a queue
    // order whoever retries first after the lock frees would win.
    for tag in &tags {
        push(&s, tag, Behaviour::healthy()).await;
        s.sleep(3).await;
    }
    s.settle().await;
    let mut done: Vec<DeploymentRecord> = tags.iter().map(|t| record(&s, t, "staging")).collect();
    assert!(
        done.iter().all(|r| r.outcome == Some(Outcome::Succeeded)),
        "{done:#?}"
    );
    // They ended in the order they were pushed, and the newest push is what runs.
    done.sort_by_key(|r| r.ended_at);
    let order: Vec<&str> = done.iter().map(|r| r.tag.as_deref().unwrap()).collect();
    assert_eq!(order, ["v1", "v2", "v3", "v4", "v5", "v6"]);
    assert_eq!(s.live("web", "staging"), record(&s, "v6", "staging").colour);
    assert_invariant(&s);
}

#[tokio::test(start_paused = true)]
async fn a_digest_pushed_again_after_a_rollback_is_a_new_attempt_and_a_retag_of_what_runs_is_not() {
    let s = world(&example());
    let digest = digest_for("v2");
    let deliver = |tag: &'static str, id: &'static str| {
        let mut event = push_event("web", tag, &digest, s.now());
        event["id"] = serde_json::json!(id);
        event
    };
    // v2 fails in staging (its dependency, not the image, was broken)…
    s.sim
        .world()
        .push_image("web", Some("v2.0.0"), &digest, Behaviour::erroring(0.5));
    s.deliver(deliver("v2.0.0", "event-1")).await.unwrap();
    s.settle().await;
    // …the dependency is fixed and the same digest is pushed again under a new tag: a new
    // attempt, delivered twice, starts once.
    s.sim
        .world()
        .push_image("web", Some("v2.0.1"), &digest, Behaviour::healthy());
    let first = s.deliver(deliver("v2.0.1", "event-2")).await.unwrap();
    let again = s.deliver(deliver("v2.0.1", "event-2")).await.unwrap();
    assert_eq!(first.started.len(), 1, "{first:?}");
    assert!(first.started[0].0.ends_with("-r2"), "{first:?}");
    assert!(again.started.is_empty(), "{again:?}");
    s.settle().await;
    // A late duplicate of the first event, and a re-tag of the digest that now runs,
    // start nothing.
    let late = s.deliver(deliver("v2.0.0", "event-1")).await.unwrap();
    s.sim
        .world()
        .push_image("web", Some("v2"), &digest, Behaviour::healthy());
    let retag = s.deliver(deliver("v2", "event-3")).await.unwrap();
    assert!(
        late.started.is_empty() && retag.started.is_empty(),
        "{late:?} {retag:?}"
    );
    s.settle().await;
    let outcomes: Vec<(String, Option<Outcome>)> = {
        let w = s.sim.world();
        let mut d: Vec<_> = w.store.deployments.values().cloned().collect();
        d.sort_by_key(|r| r.started_at);
        d.into_iter().map(|r| (r.id, r.outcome)).collect()
    };
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0].1, Some(Outcome::RolledBack));
    assert_eq!(outcomes[1].1, Some(Outcome::Succeeded));
    assert_invariant(&s);
}

/// What a release did, to compare runs: task-definition revisions of staging's family,
/// staging's traffic changes (repeats of the same weights folded), and the notifications.
fn effects(s: &Simulation) -> (usize, Vec<u8>, Vec<String>) {
    let revisions = s
        .sim
        .world()
        .task_defs
        .values()
        .filter(|t| t.family == "web-staging")
        .count();
    let mut weights = staging_green_weights(s);
    weights.dedup();
    let notices = s
        .sim
        .world()
        .published
        .iter()
        .map(|p| format!("{} {:?}", p.notification.event, p.notification.traffic))
        .collect();
    (revisions, weights, notices)
}

#[tokio::test(start_paused = true)]
async fn a_call_that_took_effect_but_lost_its_answer_is_not_done_twice() {
    let baseline = {
        let s = world(&example());
        push(&s, "v1", Behaviour::healthy()).await;
        s.settle().await;
        effects(&s)
    };
    assert_eq!(baseline.0, 2, "the initial revision and the release's");
    for op in [
        "ecs:RegisterTaskDefinition",
        "ecs:UpdateService",
        "elbv2:ModifyListener",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "states:StartExecution",
        "lambda:Invoke/greenlight-prepare",
        "lambda:Invoke/greenlight-deploy",
        "lambda:Invoke/greenlight-shift",
        "lambda:Invoke/greenlight-finalize",
        "lambda:Invoke/greenlight-retire",
        "sns:Publish",
    ] {
        let s = world(&example());
        s.sim.world().inject(op, FaultKind::TimeoutLanded, 1);
        s.sim
            .world()
            .push_image("web", Some("v1"), &digest_for("v1"), Behaviour::healthy());
        let event = push_event("web", "v1", &digest_for("v1"), s.now());
        // Lambda retries a failed asynchronous invocation with the same event.
        if s.deliver(event.clone()).await.is_err() {
            s.deliver(event).await.unwrap();
        }
        s.settle().await;
        let r = record(&s, "v1", "staging");
        assert_eq!(r.outcome, Some(Outcome::Succeeded), "{op}: {r:?}");
        let (revisions, weights, notices) = effects(&s);
        assert_eq!(revisions, baseline.0, "{op}: one new revision");
        assert_eq!(weights, baseline.1, "{op}: traffic moved once per step");
        // sns:Publish too: the first publish is prepare's `started`, which took effect
        // though its answer was lost; the function logs the failure and goes on, and
        // nothing publishes it again.
        assert_eq!(notices, baseline.2, "{op}: each notice once");
        assert_invariant(&s);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_notification_never_delays_the_check_after_a_traffic_change() {
    let s = world(&example());
    // SNS fails for good from the first traffic change on.
    s.sleep(55).await;
    s.sim
        .world()
        .inject("sns:Publish", FaultKind::ServerError, u32::MAX);
    push(&s, "v1", Behaviour::healthy()).await;
    s.settle().await;
    let executions = s.finished();
    let history = &executions[0].history;
    let shifted: Vec<_> = history
        .iter()
        .filter(|h| h.kind == "TaskStateEntered" && h.state.as_deref() == Some("Shift"))
        .map(|h| h.timestamp)
        .collect();
    // The bake's first round runs as the step begins (the shift function schedules it
    // after its notice, which failed).
    let checked: Vec<_> = s
        .deliveries()
        .into_iter()
        .filter(|d| d.purpose == greenlight_core::ports::TickPurpose::Bake)
        .map(|d| d.at)
        .collect();
    assert_eq!(shifted.len(), 2);
    for at in &shifted {
        assert!(
            checked.contains(at),
            "the check after the shift at {at} started late: {checked:?}"
        );
    }
    let r = record(&s, "v1", "staging");
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{r:?}");
}

/// Every state a staging release passes through on its way to success or rollback.
async fn states_of_a_release() -> Vec<String> {
    let mut states = Vec::new();
    for behaviour in [Behaviour::healthy(), Behaviour::erroring(0.5)] {
        let s = world(&example());
        push(&s, "v1", behaviour).await;
        s.settle().await;
        for h in &s.finished()[0].history {
            if let (true, Some(state)) = (h.kind.ends_with("StateEntered"), &h.state) {
                if !states.contains(state) {
                    states.push(state.clone());
                }
            }
        }
        s.close();
    }
    states
}

#[tokio::test(start_paused = true)]
async fn an_execution_stopped_in_any_state_leaves_an_environment_that_heals() {
    // Stop the execution (StopExecution) as it enters each state, of a good release and of
    // a bad one. Then the operator runs `greenlight rollback` (which recognises the dead
    // execution's lock and puts traffic back on the colour that was live), and the next
    // push deploys: the environment ends in the invariant every time.
    let states = states_of_a_release().await;
    assert!(states.len() >= 14, "{states:?}");
    let topic = greenlight_core::Arn::parse(greenlight::simulation::TOPIC).unwrap();
    let sm = greenlight_core::Arn::parse(greenlight::simulation::STATE_MACHINE).unwrap();
    for behaviour in [Behaviour::healthy(), Behaviour::erroring(0.5)] {
        for state in &states {
            let s = world(&example());
            s.sim.world().kill_at = Some(state.clone());
            push(&s, "v1", behaviour.clone()).await;
            s.settle().await;
            s.sim.world().kill_at = None;
            // The on-call engineer notices a few minutes later, and the fix is pushed later.
            s.sleep(5 * 60).await;
            let _ = promote::revert(
                &s.sim,
                &s.config,
                &topic,
                Some(&sm),
                "web",
                "staging",
                "carol",
            )
            .await;
            s.settle().await;
            s.sleep(5 * 60).await;
            push(&s, "v2", Behaviour::healthy()).await;
            s.settle().await;
            let v2 = record(&s, "v2", "staging");
            assert_eq!(
                v2.outcome,
                Some(Outcome::Succeeded),
                "stopped at {state}: the next release {v2:?}"
            );
            // A stopped execution may not have announced its end (the stop came before the
            // notice); its outcome is in the history. Everything else must hold.
            let v1 = s
                .sim
                .world()
                .store
                .deployments
                .values()
                .find(|d| d.image.digest == digest_for("v1"))
                .cloned();
            let broken: Vec<String> = s
                .invariant()
                .into_iter()
                .filter(|b| {
                    !(v1.as_ref().is_some_and(|v1| b.starts_with(&v1.id))
                        && b.contains("without a terminal notification"))
                })
                .collect();
            assert!(broken.is_empty(), "stopped at {state}: {broken:#?}");
            if let Some(v1) = v1 {
                assert!(
                    v1.outcome.is_some(),
                    "stopped at {state}: {v1:?} never ended"
                );
            }
            s.close();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_execution_stopped_in_any_state_and_redriven_ends_in_the_invariant() {
    // Stop the execution as it enters each state (of a good release and of a bad one), and
    // redrive it two minutes later (RedriveExecution: it runs again from that state with
    // that state's input). Every step it runs again must do its work once: the release ends
    // as it would have without the stop, and the environment in the invariant.
    let states = states_of_a_release().await;
    let mut redriven = 0;
    for (behaviour, expected, status) in [
        (
            Behaviour::healthy(),
            Outcome::Succeeded,
            greenlight_asl::Status::Succeeded,
        ),
        // A rolled-back release ends its execution failed, on purpose.
        (
            Behaviour::erroring(0.5),
            Outcome::RolledBack,
            greenlight_asl::Status::Failed,
        ),
    ] {
        for state in &states {
            let s = world(&example());
            s.sim.world().kill_at = Some(state.clone());
            push(&s, "v1", behaviour.clone()).await;
            s.settle().await;
            s.sim.world().kill_at = None;
            let v1 = record(&s, "v1", "staging");
            let stopped = s.finished();
            let Some(first) = stopped.first() else {
                panic!("stopped at {state}: nothing ran")
            };
            if first.status != greenlight_asl::Status::Aborted {
                // The bad release never enters some of the good one's states.
                s.close();
                continue;
            }
            s.sleep(2 * 60).await;
            assert!(s.redrive(&first.name), "stopped at {state}: not redriven");
            s.settle().await;
            let v1 = s.sim.world().store.deployments[&v1.id].clone();
            assert_eq!(
                v1.outcome,
                Some(expected),
                "stopped at {state} and redriven: {v1:?}"
            );
            let last = s.finished().last().cloned().unwrap();
            assert_eq!(last.redrive_count, 1);
            assert_eq!(last.status, status, "stopped at {state}: {:?}", last.error);
            assert_invariant(&s);
            // One task-definition revision and one weight change per plan step: a step run
            // again did not act twice.
            let revisions = s
                .sim
                .world()
                .task_defs
                .keys()
                .filter(|k| k.contains("web-staging"))
                .count();
            assert_eq!(revisions, 2, "stopped at {state}: {revisions} revisions");
            redriven += 1;
            s.close();
        }
    }
    assert!(
        redriven >= states.len(),
        "only {redriven} redrives for {} states",
        states.len()
    );
}

/// ECR's events are best-effort: pushes whose event never reaches on-push are found by the
/// scheduled reconcile and deployed within one period — and only what on-push would have
/// deployed: not a tag no pattern matches, not a re-tag of what is live.
#[tokio::test(start_paused = true)]
async fn pushes_whose_events_were_lost_are_deployed_within_one_period() {
    use greenlight::simulation::RECONCILE_PERIOD;
    let s = world(&example());
    s.schedule_reconcile();
    let mut lost = Vec::new();
    // Three pushes at odd moments, an hour apart; none of their events is delivered.
    for (tag, offset) in [("v2.0.0", 100), ("rc-3", 20), ("v4.0.0", 7 * 60 + 13)] {
        s.sleep(offset).await;
        let pushed = s.now();
        s.sim
            .world()
            .push_image("web", Some(tag), &digest_for(tag), Behaviour::healthy());
        lost.push((tag, pushed));
        s.sleep(3600 - offset).await;
    }
    // A tag that no pattern matches, and the live image tagged again: nothing to do.
    s.sim.world().push_image(
        "web",
        Some("nightly"),
        &digest_for("nightly"),
        Behaviour::healthy(),
    );
    s.sim.world().push_image(
        "web",
        Some("v9.9.9"),
        &digest_for("v4.0.0"),
        Behaviour::healthy(),
    );
    s.sleep(2 * RECONCILE_PERIOD).await;
    s.settle().await;
    s.stop_schedule();
    for (tag, pushed) in &lost {
        let r = record(&s, tag, "staging");
        let delay = (r.started_at - *pushed).num_seconds();
        assert!(
            (0..=RECONCILE_PERIOD as i64).contains(&delay),
            "{tag} was deployed {delay} s after its push"
        );
        assert_eq!(r.outcome, Some(Outcome::Succeeded), "{tag}");
        assert_eq!(r.tag.as_deref(), Some(*tag));
    }
    let deployments = s.sim.world().store.deployments.len();
    assert_eq!(deployments, 3, "nothing else was deployed");
    assert_invariant(&s);
    s.close();
}

/// An on-push that fails three times (Lambda's retries used up) leaves its event in the
/// dead-letter queue — and reconcile deploys the push anyway; the event replayed later
/// starts nothing twice.
#[tokio::test(start_paused = true)]
async fn a_push_whose_on_push_failed_three_times_is_recovered_and_its_replay_is_a_duplicate() {
    use greenlight::simulation::{Async, DEAD_LETTER_QUEUE};
    let s = world(&example());
    s.schedule_reconcile();
    s.sim
        .world()
        .inject("states:StartExecution", FaultKind::ServerError, 3);
    s.sim.world().push_image(
        "web",
        Some("v2.0.0"),
        &digest_for("v2.0.0"),
        Behaviour::healthy(),
    );
    let event = push_event("web", "v2.0.0", &digest_for("v2.0.0"), s.now());
    assert!(s.deliver_async(Async::OnPush, event).await.is_err());
    s.settle().await;
    let letters = greenlight_core::usecase::dead_letters::list(&s.sim, DEAD_LETTER_QUEUE)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(
        letters[0].kind,
        greenlight_core::usecase::dead_letters::LetterKind::Push
    );
    s.sleep(greenlight::simulation::RECONCILE_PERIOD).await;
    s.settle().await;
    let r = record(&s, "v2.0.0", "staging");
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    // The dead letter replayed now is the same deployment: nothing new starts.
    let again = s.deliver(letters[0].event.clone().unwrap()).await.unwrap();
    assert!(again.started.is_empty(), "{again:?}");
    s.stop_schedule();
    s.settle().await;
    assert_eq!(s.sim.world().store.deployments.len(), 1);
    assert_invariant(&s);
    s.close();
}

/// Production left on a colour whose alarm is in ALARM breaks the invariant (before the
/// watched rollback window, a release whose alarm fired after success was left live and the
/// invariant said it held).
#[tokio::test(start_paused = true)]
async fn the_invariant_counts_a_live_colour_in_alarm_as_broken() {
    let s = world(&example());
    push(&s, "v2.0.0", Behaviour::healthy()).await;
    s.settle().await;
    assert_invariant(&s);
    s.sim
        .world()
        .force_alarm(
            "web-staging-5xx",
            Some(greenlight_core::ports::AlarmValue::Alarm),
            "forced",
        )
        .unwrap();
    let broken = s.invariant();
    assert!(
        broken
            .iter()
            .any(|b| b.contains("left with its alarm web-staging-5xx in ALARM")),
        "{broken:#?}"
    );
    s.close();
}

/// An alarm three minutes after a success, inside the rollback window, reverts the release
/// within seconds: traffic verified back on the old colour, the release `reverted`, its
/// colour scaled down, the invariant holding.
#[tokio::test(start_paused = true)]
async fn an_alarm_inside_the_rollback_window_reverts_the_release_within_seconds() {
    let s = world(&example());
    push(&s, "v2.0.0", Behaviour::healthy()).await;
    s.sleep(5 * 60).await;
    let v2 = record(&s, "v2.0.0", "staging");
    assert_eq!(v2.outcome, Some(Outcome::Succeeded));
    let fired = s.now();
    s.sim
        .world()
        .force_alarm(
            "web-staging-5xx",
            Some(greenlight_core::ports::AlarmValue::Alarm),
            "5xx",
        )
        .unwrap();
    // EventBridge delivers the change to the alarm relay.
    let event = greenlight::simulation::alarm_event(
        "web-staging-5xx",
        "5xx",
        s.now(),
        (greenlight_sim::ACCOUNT, greenlight_sim::REGION),
    );
    s.deliver_async(greenlight::simulation::Async::AlarmRelay, event)
        .await
        .unwrap();
    s.sleep(10).await;
    assert_eq!(
        s.live("web", "staging"),
        Some(Colour::Blue),
        "back on the old colour"
    );
    let v2 = record(&s, "v2.0.0", "staging");
    assert_eq!(v2.outcome, Some(Outcome::Reverted), "{v2:?}");
    let reverted_at = s.sim.world().traffic.last().map(|t| t.at).unwrap();
    assert!(
        (reverted_at - fired).num_seconds() <= 5,
        "reverted {}s after the alarm",
        (reverted_at - fired).num_seconds()
    );
    s.sim
        .world()
        .force_alarm("web-staging-5xx", None, "over")
        .unwrap();
    s.settle().await;
    assert_invariant(&s);
    s.close();
}

/// `rollback_window_watch: false`: the window is for manual rollbacks only, and an alarm in
/// it changes nothing.
#[tokio::test(start_paused = true)]
async fn an_unwatched_window_leaves_the_release_to_the_operator() {
    let s = world(&with_staging(|e| e.rollback_window_watch = false));
    push(&s, "v2.0.0", Behaviour::healthy()).await;
    s.sleep(5 * 60).await;
    s.sim
        .world()
        .force_alarm(
            "web-staging-5xx",
            Some(greenlight_core::ports::AlarmValue::Alarm),
            "5xx",
        )
        .unwrap();
    let event = greenlight::simulation::alarm_event(
        "web-staging-5xx",
        "5xx",
        s.now(),
        (greenlight_sim::ACCOUNT, greenlight_sim::REGION),
    );
    let relayed = s
        .deliver_async(greenlight::simulation::Async::AlarmRelay, event)
        .await
        .unwrap();
    assert_eq!(
        relayed["failed"],
        serde_json::json!([]),
        "nothing watches the window"
    );
    s.sleep(60).await;
    assert_eq!(s.live("web", "staging"), Some(Colour::Green));
    assert_eq!(
        record(&s, "v2.0.0", "staging").outcome,
        Some(Outcome::Succeeded)
    );
    s.close();
}

/// Targets that stop passing their health check after success (no alarm sees it): the
/// window's rounds of checks, every `checks.window_interval`, revert the release after
/// `failure_threshold` failed rounds — within that many intervals of the targets turning
/// unhealthy, plus one.
#[tokio::test(start_paused = true)]
async fn unhealthy_targets_inside_the_window_revert_the_release_after_the_threshold() {
    let s = world(&with_staging(|e| {
        e.checks.window_interval = greenlight_core::Duration::from_mins(1);
        e.checks.alarms.clear();
    }));
    let leaky = Behaviour {
        unhealthy_after_secs: Some(10 * 60),
        ..Behaviour::healthy()
    };
    push(&s, "v2.0.0", leaky).await;
    s.sleep(5 * 60).await;
    assert_eq!(
        record(&s, "v2.0.0", "staging").outcome,
        Some(Outcome::Succeeded),
        "healthy through the rollout"
    );
    assert_eq!(s.live("web", "staging"), Some(Colour::Green));
    // Tasks run 40 s after the deploy; they turn unhealthy 10 minutes later.
    s.sleep(20 * 60).await;
    let v2 = record(&s, "v2.0.0", "staging");
    assert_eq!(v2.outcome, Some(Outcome::Reverted), "{v2:?}");
    assert_eq!(s.live("web", "staging"), Some(Colour::Blue));
    let unhealthy_at = v2.started_at + chrono::TimeDelta::seconds(40 + 600);
    let reverted_at = s.sim.world().traffic.last().map(|t| t.at).unwrap();
    let after = (reverted_at - unhealthy_at).num_seconds();
    assert!(
        (0..=4 * 60).contains(&after),
        "reverted {after}s after the targets turned unhealthy"
    );
    s.settle().await;
    assert_invariant(&s);
    s.close();
}

/// What a release costs, counted the way Step Functions bills it (one transition per state
/// entered): the rounds of checks run off the state machine, so neither the watched window
/// nor the bakes add transitions, however long they are. A watched window enters as many
/// states as a plain wait (`WatchWindow` instead of `WaitRollbackWindow`).
#[tokio::test(start_paused = true)]
async fn a_release_costs_the_same_transitions_whatever_its_bakes_and_window() {
    async fn transitions(config: Config) -> usize {
        let s = world(&config);
        push(&s, "v2.0.0", Behaviour::healthy()).await;
        s.settle().await;
        let executions = s.finished();
        assert_eq!(executions.len(), 1);
        assert_eq!(
            record(&s, "v2.0.0", "staging").outcome,
            Some(Outcome::Succeeded)
        );
        let n = executions[0]
            .history
            .iter()
            .filter(|h| h.kind.ends_with("StateEntered"))
            .count();
        s.close();
        n
    }
    let watched = transitions(example()).await;
    let plain = transitions(with_staging(|e| e.rollback_window_watch = false)).await;
    let unbaked = transitions(with_staging(|e| {
        e.rollback_window_watch = false;
        e.checks.final_bake = Some(greenlight_core::Duration::ZERO);
    }))
    .await;
    let long = transitions(with_staging(|e| {
        e.rollback_window = greenlight_core::Duration::from_mins(240);
        e.strategy = greenlight_core::config::Strategy::Canary(greenlight_core::config::Canary {
            percent: 20,
            bake: greenlight_core::Duration::from_mins(45),
        });
    }))
    .await;
    println!(
        "state transitions of a healthy release: {watched} with the window watched, {plain} without, {unbaked} without the final bake either, {long} with a 45m bake and a 4h window"
    );
    assert_eq!(plain, unbaked, "the final bake's rounds cost no transition");
    assert_eq!(watched, plain, "{watched} against {plain}");
    assert_eq!(long, watched, "a longer bake and window cost no transition");
}

/// `analysis.interval` sets how often a bake's rounds run the canary analysis (one
/// `GetMetricData` call each), and the round at the end of each bake always runs it: a
/// 15-minute canary runs it every minute by default, and three times every 5 minutes.
#[tokio::test(start_paused = true)]
async fn the_analysis_runs_at_its_interval_and_at_the_end_of_each_bake() {
    async fn analyses(every: u64) -> (usize, Option<Outcome>) {
        let c = with_staging(|e| {
            e.strategy = Strategy::EcsCanary10Percent15Minutes;
            if let Some(a) = e.analysis.as_mut() {
                a.interval = greenlight_core::Duration::from_mins(every);
            }
        });
        let s = world(&c);
        push(&s, "v1", Behaviour::healthy()).await;
        s.settle().await;
        let calls = s
            .sim
            .world()
            .calls
            .iter()
            .filter(|(_, op)| op == "cloudwatch:GetMetricData")
            .count();
        (calls, record(&s, "v1", "staging").outcome)
    }
    let (every_minute, outcome) = analyses(1).await;
    assert_eq!(outcome, Some(Outcome::Succeeded));
    let (every_five, outcome) = analyses(5).await;
    assert_eq!(outcome, Some(Outcome::Succeeded));
    // The 10% step's rounds every 30 s over 15 minutes: an analysis once a minute (or
    // once every five) has passed since the shift or the last one, and the bake's end's.
    assert_eq!(every_minute, 15, "every minute");
    assert_eq!(every_five, 3, "every five minutes");
}

/// The canary analysis over 200 seeds of sampling noise: a healthy release (the same
/// latency and error rate as the old colour, measured with the noise of the requests each
/// colour served) is never rolled back, and a release whose p99 is 40% slower — which no
/// alarm sees — is rolled back during the 20% canary, before more traffic moves, at least
/// nine times in ten. (A 2-minute canary of 20 requests a second is about 2,400 requests:
/// enough to tell 40% from the 20% tolerated with 95% confidence most of the time, not
/// always; docs/ARCHITECTURE.md has the figures.)
#[tokio::test(start_paused = true)]
async fn the_canary_analysis_over_200_seeds_rolls_back_regressions_and_no_healthy_release() {
    const SEEDS: u64 = 200;
    let (mut false_rollbacks, mut caught) = (0, 0);
    for seed in 0..SEEDS {
        for slower in [false, true] {
            let s = Simulation::new(
                &example(),
                &digest_for("v0"),
                2,
                seed,
                Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
            );
            let behaviour = Behaviour {
                latency_p99_ms: if slower { 180.0 * 1.4 } else { 180.0 },
                ..Behaviour::healthy()
            };
            push(&s, "v1", behaviour).await;
            s.sleep(6 * 60).await;
            let r = record(&s, "v1", "staging");
            match (slower, r.outcome) {
                (false, Some(Outcome::Succeeded)) => {}
                (false, other) => {
                    false_rollbacks += 1;
                    println!(
                        "seed {seed}: healthy release ended {other:?}: {:?}",
                        r.reason
                    );
                }
                (true, Some(Outcome::RolledBack)) => {
                    caught += 1;
                    assert!(
                        r.reason
                            .as_deref()
                            .is_some_and(|w| w.contains("latency_p99 fail")),
                        "seed {seed}: {:?}",
                        r.reason
                    );
                    assert!(
                        staging_green_weights(&s).iter().all(|w| *w <= 20),
                        "seed {seed}: traffic moved past the canary"
                    );
                }
                (true, other) => println!("seed {seed}: slower release ended {other:?}"),
            }
            s.close();
        }
    }
    println!(
        "canary analysis over {SEEDS} seeds: false rollbacks {false_rollbacks} ({:.1}%), 40% p99 regressions caught {caught} ({:.1}%)",
        f64::from(false_rollbacks) * 100.0 / SEEDS as f64,
        f64::from(caught) * 100.0 / SEEDS as f64
    );
    assert_eq!(false_rollbacks, 0);
    assert!(
        caught * 10 >= SEEDS as u32 * 9,
        "caught {caught} of {SEEDS}"
    );
}

/// The worker service's desired task counts (blue, green).
fn worker_tasks(s: &Simulation) -> (u32, u32) {
    let w = s.sim.world();
    let desired = |name: &str| {
        w.services
            .get(&("staging".to_string(), name.to_string()))
            .map_or(0, |s| s.desired)
    };
    (
        desired("worker-staging-blue"),
        desired("worker-staging-green"),
    )
}

async fn push_worker(s: &Simulation, tag: &str, behaviour: Behaviour) {
    s.push("worker", tag, &digest_for(tag), behaviour)
        .await
        .unwrap();
}

/// A worker service without a load balancer: its canary is a share of tasks. With two
/// tasks and `linear: {step: 50}`, the new colour runs one task and the old one the other,
/// then both; the old colour ends at zero. A crashing image is rolled back: the new colour
/// back to zero tasks, the old colour back to both, and the invariant holds.
#[tokio::test(start_paused = true)]
async fn a_worker_rolls_out_by_task_share_and_rolls_back_a_crashing_image() {
    let s = world(&example());
    assert_eq!(worker_tasks(&s), (2, 0));
    push_worker(&s, "v2", Behaviour::healthy()).await;
    s.sleep(60).await;
    assert_eq!(worker_tasks(&s), (1, 1), "one task each at 50%");
    s.sleep(5 * 60).await;
    assert_eq!(
        record(&s, "v2", "staging").outcome,
        Some(Outcome::Succeeded)
    );
    assert_eq!(worker_tasks(&s), (0, 2), "all tasks on the new colour");
    {
        let env = &s.config.apps["worker"].environments["staging"];
        assert_eq!(s.sim.world().live_colour(env), Some(Colour::Green));
    }
    push_worker(&s, "v3", Behaviour::crashing()).await;
    s.sleep(60).await;
    assert_eq!(worker_tasks(&s), (1, 1), "the canary task of v3");
    s.sleep(4 * 60).await;
    let v3 = record(&s, "v3", "staging");
    assert_eq!(v3.outcome, Some(Outcome::RolledBack), "{v3:?}");
    assert!(
        v3.reason
            .as_deref()
            .is_some_and(|r| r.contains("exit code 1")),
        "{:?}",
        v3.reason
    );
    assert_eq!(
        worker_tasks(&s),
        (0, 2),
        "back on the old colour, all tasks"
    );
    s.settle().await;
    assert_invariant(&s);
    s.close();
}

/// The invariant of a worker service: work split between the colours after every execution
/// has ended is broken, as split traffic is.
#[tokio::test(start_paused = true)]
async fn the_invariant_counts_a_worker_split_between_colours_as_broken() {
    let s = world(&example());
    s.sim
        .world()
        .services
        .get_mut(&("staging".to_string(), "worker-staging-green".to_string()))
        .unwrap()
        .desired = 1;
    let broken = s.invariant();
    assert!(
        broken.iter().any(|b| b.contains(
            "worker/staging: traffic is not all on one colour (blue 2 tasks, green 1 tasks)"
        )),
        "{broken:#?}"
    );
    s.close();
}

/// A worker's canary that bakes longer than `checks.stable_timeout` is checked against the
/// tasks of its share (one of two), not against every task: a healthy release succeeds.
#[tokio::test(start_paused = true)]
async fn a_worker_canary_baking_past_the_stable_timeout_is_checked_against_its_share() {
    let mut config = example();
    let worker = config
        .apps
        .get_mut("worker")
        .unwrap()
        .environments
        .get_mut("staging")
        .unwrap();
    worker.strategy = config::Strategy::Canary(config::Canary {
        percent: 50,
        bake: greenlight_core::Duration::from_mins(15),
    });
    let s = world(&config);
    push_worker(&s, "v2", Behaviour::healthy()).await;
    s.sleep(12 * 60).await;
    assert_eq!(
        worker_tasks(&s),
        (1, 1),
        "still at the canary, past the stable timeout"
    );
    s.sleep(10 * 60).await;
    let v2 = record(&s, "v2", "staging");
    assert_eq!(v2.outcome, Some(Outcome::Succeeded), "{v2:?}");
    assert_eq!(worker_tasks(&s), (0, 2));
    s.close();
}

fn accounts_example() -> Config {
    config::load(include_str!("../examples/accounts/greenlight.yaml"))
        .config
        .unwrap()
}

/// The task definition a service of `(cluster, service)` runs, and the app's image in it.
fn running(s: &Simulation, cluster: &str, service: &str) -> (String, String) {
    let w = s.sim.world();
    let td = w.services[&(cluster.to_string(), service.to_string())]
        .task_definition
        .clone();
    let image = w.task_defs[&td]
        .containers
        .iter()
        .find(|(n, _)| n == "app")
        .map(|(_, i)| i.clone())
        .unwrap();
    (td, image)
}

/// The two-account example: a push deploys in staging's account from its replica, a
/// promotion to prod's account and region is refused while the digest can't be pulled
/// there (no replica, no repository policy) and changes nothing, and deploys from the
/// stack's registry once a repository policy lets prod's account pull. Every ECS, ELB and
/// CloudWatch call went through the environments' roles.
#[tokio::test(start_paused = true)]
async fn a_promotion_crosses_accounts_only_where_the_image_can_be_pulled() {
    let s = world(&accounts_example());
    // prod's account may not pull from the stack's registry, and has no replica.
    let policy = s
        .sim
        .world()
        .accounts
        .policies
        .remove("web")
        .expect("a policy");
    assert!(!s
        .sim
        .world()
        .repos
        .contains_key("222222222222:us-east-1:web"));
    push(&s, "v1", Behaviour::healthy()).await;
    s.settle().await;
    assert_eq!(
        record(&s, "v1", "staging").outcome,
        Some(Outcome::Succeeded)
    );
    let (td, image) = running(&s, "staging", "web-staging-green");
    assert!(
        td.starts_with("arn:aws:ecs:eu-west-1:111111111111:task-definition/"),
        "{td}"
    );
    assert!(
        image.starts_with("111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@"),
        "staging pulls from its own registry's replica: {image}"
    );

    let before = running(&s, "prod", "web-prod-blue");
    s.promote("web", "staging", "prod", "alice").await.unwrap();
    s.settle().await;
    let refused = record(&s, "v1", "prod");
    assert_eq!(refused.outcome, Some(Outcome::Rejected));
    let reason = refused.reason.unwrap_or_default();
    assert!(
        reason.contains("can't be pulled in account 222222222222 (us-east-1)")
            && reason.contains("ECR replication")
            && reason.contains("arn:aws:iam::222222222222:root"),
        "{reason}"
    );
    assert_eq!(running(&s, "prod", "web-prod-blue"), before);
    assert_eq!(s.live("web", "prod"), Some(Colour::Blue));

    s.sim.world().accounts.policies.insert("web".into(), policy);
    let d = s.promote("web", "staging", "prod", "alice").await.unwrap();
    s.sleep(120).await;
    approval::approve(&s.sim, &d.deployment, "bob")
        .await
        .unwrap();
    s.settle().await;
    let w = s.sim.world();
    let done = w.store.deployments[&d.deployment].clone();
    drop(w);
    assert_eq!(done.outcome, Some(Outcome::Succeeded), "{:?}", done.reason);
    assert_eq!(s.live("web", "prod"), Some(Colour::Green));
    let (td, image) = running(&s, "prod", "web-prod-green");
    assert!(
        td.starts_with("arn:aws:ecs:us-east-1:222222222222:task-definition/"),
        "{td}"
    );
    assert!(
        image.starts_with("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@"),
        "prod pulls from the stack's registry, which its policy opens: {image}"
    );
    assert_invariant(&s);

    let w = s.sim.world();
    for role in [
        "arn:aws:iam::111111111111:role/greenlight-target-eu-west-1",
        "arn:aws:iam::222222222222:role/greenlight-target-us-east-1",
    ] {
        for action in [
            "ecs:UpdateService",
            "elasticloadbalancing:ModifyListener",
            "cloudwatch:DescribeAlarms",
        ] {
            assert!(
                w.accounts
                    .target_access
                    .contains(&(role.to_string(), action.to_string())),
                "{role} {action}: {:?}",
                w.accounts.target_access
            );
        }
    }
    assert!(
        !w.access
            .iter()
            .any(|(_, a)| ["ecs:", "elasticloadbalancing:", "cloudwatch:"]
                .iter()
                .any(|s| a.starts_with(s))),
        "no ECS, ELB or CloudWatch call was made with the stack's own credentials: {:?}",
        w.access
    );
    assert!(w
        .access
        .iter()
        .any(|(f, a)| f == "prepare" && a == "sts:AssumeRole"));
}

/// An alarm of the same name in the stack's account does not fail a deployment baking in
/// another account: the relay matches an alarm by its account and region too.
#[tokio::test(start_paused = true)]
async fn an_alarm_of_another_account_fails_only_deployments_there() {
    let s = world(&accounts_example());
    push(&s, "v1", Behaviour::healthy()).await;
    // Into the canary bake (20% for 2m).
    s.sleep(90).await;
    let deployment = record(&s, "v1", "staging").id;
    let relay = |account: &str| {
        greenlight::simulation::alarm_event(
            "web-staging-5xx",
            "5xx",
            s.now(),
            (account, "eu-west-1"),
        )
    };
    use greenlight::simulation::Async;
    let out = s
        .deliver_async(Async::AlarmRelay, relay(greenlight_sim::ACCOUNT))
        .await
        .unwrap();
    assert_eq!(
        out["failed"],
        serde_json::json!([]),
        "the stack's own account: not staging's alarm"
    );
    let out = s
        .deliver_async(Async::AlarmRelay, relay("111111111111"))
        .await
        .unwrap();
    assert_eq!(out["failed"], serde_json::json!([deployment]));
    s.settle().await;
    assert_eq!(
        record(&s, "v1", "staging").outcome,
        Some(Outcome::RolledBack)
    );
    assert_invariant(&s);
}

/// The quick bench: what one rollout per strategy takes — state transitions, Lambda
/// invocations and CloudWatch units, all deterministic — stays at or under the figures
/// recorded in benches/figures.txt, with the example's canary analysis and without, and
/// every strategy is recorded.
#[test]
fn rollout_costs_stay_within_the_recorded_figures() {
    let recorded: std::collections::BTreeMap<(String, String), [u64; 3]> =
        include_str!("../benches/figures.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 5, "config, strategy and three figures: {l}");
                let n = |i: usize| f[i].trim().parse::<u64>().expect("a number");
                ((f[0].to_string(), f[1].to_string()), [n(2), n(3), n(4)])
            })
            .collect();
    let configs = [
        ("analysis", example()),
        (
            "analysis-5m",
            greenlight::cost::analysis_every(&example(), 5),
        ),
        ("plain", greenlight::cost::without_analysis(&example())),
    ];
    let mut seen = 0;
    for (label, config) in configs {
        let costs = greenlight::cost::strategy_costs(&config);
        println!("{label}:\n{}", greenlight::cost::table(&costs));
        for c in &costs {
            let max = recorded
                .get(&(label.to_string(), c.strategy.clone()))
                .unwrap_or_else(|| panic!("{label} {} is not in benches/figures.txt", c.strategy));
            let got = [c.transitions, c.invocations, c.cloudwatch_units];
            for (what, (g, m)) in [
                "state transitions",
                "Lambda invocations",
                "CloudWatch units",
            ]
            .iter()
            .zip(got.iter().zip(max))
            {
                assert!(g <= m, "{label} {}: {g} {what}, recorded {m}", c.strategy);
            }
            // A rollout is never free: it shifts, checks and announces.
            assert!(
                c.transitions >= 10 && c.invocations > c.ticks && c.ticks > 0,
                "{c:?}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, recorded.len(), "{recorded:?}");
}

/// Rollback reaction time per strategy (virtual time, deterministic): an alarm in ALARM
/// during a bake puts all traffic back on the old colour within 5 s; targets turning
/// unhealthy with no alarm to see them, within one check interval of the limit
/// (`failure_threshold` rounds).
#[test]
fn rollbacks_react_within_their_limits() {
    let reactions = greenlight::cost::reaction::reaction_times(&example());
    println!("{}", greenlight::cost::reaction::table(&reactions));
    let interval = example().apps["web"].environments["staging"]
        .checks
        .interval
        .as_secs() as i64;
    for r in &reactions {
        assert!((0..=5).contains(&r.alarm_secs), "{r:?}");
        assert!(
            (0..=r.unhealthy_limit_secs + interval).contains(&r.unhealthy_secs),
            "{r:?}"
        );
    }
}

/// The simulator at scale, small: 50 apps pushed at once all succeed, with finished
/// executions keeping their summary only (`cargo bench --bench scale` runs 1,000 and prints
/// the wall time and memory, which are never asserted).
#[test]
fn fifty_apps_deploying_at_once_all_succeed() {
    let run = greenlight::cost::scale::run(50, &greenlight::cost::scale::NoHeap);
    println!("{run:?}");
    assert_eq!(run.succeeded, 50, "{run:?}");
}
