//! Lost updates, lapsed leases and out-of-range input: the failures a rollout must survive
//! without leaving production half-switched.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use common::*;
use greenlight_core::config::Config;
use greenlight_core::ports::*;
use greenlight_core::rollout::StepError;
use greenlight_core::usecase::record::{mark_stop, record};
use greenlight_core::usecase::{check, finish, prepare, rollback, shift};
use greenlight_core::Duration;
use greenlight_sim::{Behaviour, Sim};

/// A state store whose first read of a deployment record is followed, before the reader
/// can write, by a stop request from someone else: the race a step and `greenlight
/// rollback` (or a superseding deployment) run in production.
struct StopRacesTheRead {
    inner: Sim,
    armed: AtomicBool,
}

impl StateStore for StopRacesTheRead {
    async fn acquire_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<LockOutcome> {
        self.inner
            .acquire_lock(app, environment, owner, lease, now)
            .await
    }
    async fn renew_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<Lock> {
        self.inner
            .renew_lock(app, environment, owner, lease, now)
            .await
    }
    async fn release_lock(&self, app: &str, environment: &str, owner: &str) -> PortResult<bool> {
        self.inner.release_lock(app, environment, owner).await
    }
    async fn get_lock(&self, app: &str, environment: &str) -> PortResult<Option<Lock>> {
        self.inner.get_lock(app, environment).await
    }
    async fn put_deployment(&self, record: &DeploymentRecord) -> PortResult<u64> {
        self.inner.put_deployment(record).await
    }
    async fn get_deployment(&self, id: &str) -> PortResult<Option<DeploymentRecord>> {
        let read = self.inner.get_deployment(id).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            assert!(mark_stop(&self.inner, id, "carol", StopKind::Abort)
                .await
                .unwrap());
        }
        read
    }
    async fn history(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> PortResult<Vec<DeploymentRecord>> {
        self.inner.history(app, environment, limit).await
    }
    async fn put_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
        token: &str,
        alarms: &[String],
    ) -> PortResult<()> {
        self.inner
            .put_task_token(deployment, purpose, token, alarms)
            .await
    }
    async fn tokens_watching(&self, alarm: &str) -> PortResult<Vec<(String, String)>> {
        self.inner.tokens_watching(alarm).await
    }
    async fn get_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> PortResult<Option<String>> {
        self.inner.get_task_token(deployment, purpose).await
    }
    async fn delete_task_token(&self, deployment: &str, purpose: TokenPurpose) -> PortResult<()> {
        self.inner.delete_task_token(deployment, purpose).await
    }
    async fn get_config(&self) -> PortResult<Option<StoredConfig>> {
        self.inner.get_config().await
    }
    async fn put_config(
        &self,
        config: &Config,
        source: &str,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> PortResult<u64> {
        self.inner
            .put_config(config, source, expected_version, by, now)
            .await
    }
}

#[tokio::test]
async fn a_step_writing_its_record_never_erases_a_stop_request() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let racing = StopRacesTheRead {
        inner: sim.clone(),
        armed: AtomicBool::new(true),
    };
    let written = record(&racing, &r, Phase::Shifting, sim.now())
        .await
        .unwrap();
    assert_eq!(
        written.phase,
        Phase::Shifting,
        "the step's change is applied"
    );
    let stored = sim.world().store.deployments[&r.deployment].clone();
    assert_eq!(stored.phase, Phase::Shifting);
    assert_eq!(
        stored.stop_requested.map(|s| s.by),
        Some("carol".to_string()),
        "the stop written between the step's read and its write survives"
    );
    // The deployment then stops at its next step, as asked.
    let err = check::deploy(&sim, r).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.Aborted");
}

#[tokio::test]
async fn a_stale_write_is_refused_by_the_store() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let read = sim.get_deployment(&r.deployment).await.unwrap().unwrap();
    sim.put_deployment(&read).await.unwrap();
    let err = sim.put_deployment(&read).await.unwrap_err();
    assert!(matches!(err, PortError::Conflict { .. }), "{err}");
}

/// Lets the deployment's lease run out and another deployment take the environment.
fn lose_the_lock(sim: &Sim, r: &greenlight_core::rollout::Rollout) {
    let mut w = sim.world();
    let lock = w
        .store
        .locks
        .get_mut(&(r.app.clone(), r.environment.clone()))
        .unwrap();
    lock.owner = "web-staging-newer".into();
}

#[tokio::test]
async fn a_rollout_that_lost_its_lock_stops_without_touching_traffic() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let r = check::deploy(&sim, r).await.unwrap();
    lose_the_lock(&sim, &r);
    let env = r.env.clone();
    let before = sim
        .listener_weights(&env.listeners.as_ref().unwrap().production)
        .await
        .unwrap();

    let err = shift::shift(&sim, r.clone()).await.unwrap_err();
    assert!(matches!(err, StepError::LockLost { .. }), "{err}");
    assert_eq!(err.error_name(), "Greenlight.LockLost");
    assert!(err.to_string().contains("web-staging-newer"), "{err}");

    // Neither the rollback nor a check moves traffic for a deployment that lost its lock.
    let caught = greenlight_core::rollout::CaughtError {
        error: err.error_name().into(),
        cause: err.to_string(),
    };
    let err = rollback::rollback(&sim, r.clone(), &caught)
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.LockLost");
    assert!(check::health(&sim, r.clone()).await.is_err());
    let after = sim
        .listener_weights(&env.listeners.as_ref().unwrap().production)
        .await
        .unwrap();
    assert_eq!(before, after, "traffic untouched");
    assert_eq!(
        sim.world().store.locks[&("web".into(), "staging".into())].owner,
        "web-staging-newer",
        "the lock stays with its new owner"
    );

    // The stop is recorded and announced as critical, with what a person must check.
    let r = rollback::lock_lost(&sim, r, &caught).await;
    assert_eq!(
        sim.world().store.deployments[&r.deployment].outcome,
        Some(Outcome::LockLost)
    );
    let notice = r.notice.unwrap();
    assert_eq!(notice.attributes["event"], "lock_lost");
    assert_eq!(notice.attributes["severity"], "critical");
}

#[tokio::test]
async fn every_acting_step_renews_the_lease_and_rounds_only_read_it() {
    let sim = world();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let key = ("web".to_string(), "staging".to_string());
    let first = sim.world().store.locks[&key].expires_at;
    sim.advance(600);
    let r = check::deploy(&sim, r).await.unwrap();
    let renewed = sim.world().store.locks[&key].expires_at;
    assert_eq!(
        (renewed - first).num_seconds(),
        600,
        "deploy renewed the lease"
    );
    sim.advance(600);
    let r = check::stable(&sim, r).await.unwrap();
    assert_eq!(
        sim.world().store.locks[&key].expires_at,
        renewed,
        "a round of checks reads the lock, and writes nothing"
    );
    // A round finds the lock lost when another deployment holds it, or when its lease ran
    // out, and stops.
    sim.world().store.locks.get_mut(&key).unwrap().expires_at = sim.now();
    let err = check::stable(&sim, r.clone()).await.unwrap_err();
    assert!(
        matches!(&err, StepError::LockLost { detail, .. } if detail.contains("lease ran out")),
        "{err:?}"
    );
    sim.world().store.locks.get_mut(&key).unwrap().owner = "another".into();
    let err = check::stable(&sim, r).await.unwrap_err();
    assert!(
        matches!(&err, StepError::LockLost { detail, .. } if detail.contains("another")),
        "{err:?}"
    );
}

#[tokio::test]
async fn retried_finish_and_rollback_change_nothing_twice() {
    let sim = world();
    let r = drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    // finalize ran (drive ends after it); running it again reopens the same window and
    // writes nothing (the finalize function announces `succeeded` again).
    let version = sim.world().store.deployments[&r.deployment].version;
    let again = finish::finalize(&sim, r.clone()).await.unwrap();
    assert_eq!(again.window_until, r.window_until);
    assert_eq!(again.notice.unwrap().attributes["event"], "succeeded");
    assert_eq!(
        sim.world().store.deployments[&r.deployment].version,
        version,
        "no second write"
    );
}

#[tokio::test]
async fn durations_past_the_calendar_are_errors_not_panics() {
    let sim = world();
    let mut r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    r = check::deploy(&sim, r).await.unwrap();
    // A forged payload: a bake no timestamp can hold.
    r.plan.steps[0].bake = Duration::from_secs(u64::MAX);
    let err = shift::shift(&sim, r.clone()).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.InvalidInput", "{err}");
    r.plan.steps[0].weight = 250;
    r.plan.steps[0].bake = Duration::ZERO;
    let err = shift::shift(&sim, r).await.unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.InvalidInput", "{err}");
}

#[test]
fn validation_bounds_the_durations_a_lease_adds_up() {
    let text = include_str!("../../../examples/greenlight.yaml")
        .replace("interval: 30s", "interval: 3h")
        .replace("stable_timeout: 10m", "stable_timeout: 9999d");
    let report = greenlight_core::config::load(&text);
    let messages: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("interval") && m.contains("at most 1h")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("stable_timeout") && m.contains("at most 1d")),
        "{messages:#?}"
    );
}

#[tokio::test]
async fn dead_letters_replay_pushes_once_put_notifications_on_the_bus_and_drop_alarm_changes() {
    use greenlight_core::usecase::dead_letters;
    let sim = world();
    sim.world()
        .push_image("web", Some("v2.0.0"), &digest(2), Behaviour::healthy());
    let push = serde_json::json!({
        "version": "0", "id": "ev-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-11-20T09:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "web", "image-digest": digest(2).to_string(), "action-type": "PUSH", "image-tag": "v2.0.0"}
    });
    let failed = serde_json::json!({
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": push,
        "responsePayload": {"errorType": "Greenlight.Retryable", "errorMessage": "dynamodb:GetItem: throttled"}
    });
    let alarm = serde_json::json!({"source": "aws.cloudwatch", "detail": {"alarmName": "web-staging-5xx", "state": {"value": "ALARM"}}});
    let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/greenlight-dead-letters";
    let letter = |id: &str, body: String| {
        (
            DeadLetter {
                id: id.into(),
                receipt: format!("r-{id}"),
                body,
                sent_at: None,
            },
            sim.now(),
        )
    };
    // A notification the event relay could not put on the bus (Lambda's on-failure record
    // of SNS's delivery).
    let mut n = greenlight_core::notify::Notification::new(
        greenlight_core::notify::EventKind::Succeeded,
        "web",
        "staging",
        sim.now(),
    );
    n.deployment = Some("web-staging-1".into());
    let relay_failed = serde_json::json!({
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": serde_json::to_string(&n).unwrap()}}]},
        "responsePayload": {"errorType": "Greenlight.Retryable", "errorMessage": "events:PutEvents: throttled"}
    });
    let letters = vec![
        letter("1", failed.to_string()),
        letter("2", push.to_string()),
        letter("3", alarm.to_string()),
        letter("4", "garbage".into()),
        letter("5", relay_failed.to_string()),
        // What SNS itself could not deliver to the relay (the subscription's redrive).
        letter(
            "6",
            serde_json::json!({"Type": "Notification", "MessageId": "m-6", "TopicArn": TOPIC,
                "Message": serde_json::to_string(&n).unwrap()})
            .to_string(),
        ),
    ];
    sim.world().queues.insert(queue.into(), letters);
    let listed = dead_letters::list(&sim, queue).await.unwrap();
    assert_eq!(listed.len(), 6);
    assert_eq!(listed[5].kind.as_str(), "notification");
    assert_eq!(
        listed[0].failure.as_deref(),
        Some("dynamodb:GetItem: throttled")
    );
    assert_eq!(listed[4].kind.as_str(), "notification");
    assert_eq!(listed[4].summary, "web/staging succeeded (web-staging-1)");
    let sm = greenlight_core::Arn::parse(STATE_MACHINE).unwrap();
    let topic = greenlight_core::Arn::parse(TOPIC).unwrap();
    let done = dead_letters::replay(&sim, queue, &sm, &topic)
        .await
        .unwrap();
    assert_eq!(done.len(), 6);
    assert!(
        done[0].removed && done[0].result.contains("1 started"),
        "{:?}",
        done[0]
    );
    // The same push again (EventBridge's own copy) starts nothing twice.
    assert!(
        done[1].removed && done[1].result.contains("1 already started"),
        "{:?}",
        done[1]
    );
    assert!(done[2].removed && done[2].result.contains("dropped"));
    assert!(!done[3].removed);
    assert!(done[4].removed && done[4].result.contains("1 event(s) put on the bus"));
    assert!(done[5].removed && done[5].result.contains("1 event(s) put on the bus"));
    assert_eq!(sim.world().bus_events.len(), 2);
    assert_eq!(
        sim.world().bus_events[0].detail["deployment"],
        "web-staging-1"
    );
    assert_eq!(sim.world().executions.len(), 1);
    let left: Vec<_> = sim.world().queues[queue]
        .iter()
        .map(|(m, _)| m.id.clone())
        .collect();
    assert_eq!(left, ["4"]);
}

/// Nothing changed anywhere: no lock, no record, no task definition, no execution.
fn untouched(sim: &Sim) {
    let w = sim.world();
    assert!(w.store.locks.is_empty(), "a lock was taken");
    assert!(w.store.deployments.is_empty(), "a record was written");
    assert_eq!(w.count("ecs:RegisterTaskDefinition"), 0);
}

#[tokio::test]
async fn forged_execution_inputs_deploy_nothing() {
    use greenlight_core::rollout::StartInput;
    let sim = world();
    sim.world()
        .push_image("web", Some("v2"), &digest(2), Behaviour::healthy());
    sim.world()
        .push_image("web", Some("hotfix"), &digest(3), Behaviour::healthy());
    let refused = |input: StartInput| {
        let sim = sim.clone();
        async move {
            let err = prepare::prepare(&sim, input, TOPIC).await.unwrap_err();
            assert_eq!(err.error_name(), "Greenlight.ProvenanceRefused", "{err}");
            untouched(&sim);
            err.to_string()
        }
    };
    // A "manual" deployment of a digest that never ran here.
    let mut manual = start_input("prod", 2);
    manual.trigger = TriggerInfo::Manual {
        by: "mallory".into(),
    };
    assert!(refused(manual).await.contains("never did"));
    // A "promotion" of a digest staging never proved.
    assert!(refused(start_input("prod", 2))
        .await
        .contains("never succeeded in web/staging"));
    // A "push" whose tag matches no pattern, and one whose tag points elsewhere.
    let mut unmatched = start_input("staging", 3);
    unmatched.tag = Some("hotfix".into());
    unmatched.trigger = TriggerInfo::Push {
        tag: Some("hotfix".into()),
        event_id: None,
    };
    assert!(refused(unmatched).await.contains("matches none"));
    let mut moved = start_input("staging", 3);
    moved.tag = Some("v2".into());
    moved.trigger = TriggerInfo::Push {
        tag: Some("v2".into()),
        event_id: None,
    };
    assert!(refused(moved).await.contains("points at"));
    // A push whose trigger and input disagree on the tag.
    let mut disagree = start_input("staging", 2);
    disagree.tag = Some("v9".into());
    assert!(refused(disagree).await.contains("must name its tag"));

    // The genuine article passes: a digest that succeeded in staging goes to prod.
    drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    prepare::prepare(&sim, start_input("prod", 2), TOPIC)
        .await
        .unwrap();
}
