//! The use cases people and events drive: on_push, approvals, the alarm relay, promote and
//! revert, against the simulated AWS.

mod common;

use common::*;
use greenlight_core::config::Colour;
use greenlight_core::notify::EventKind;
use greenlight_core::ports::{Outcome, StartOutcome, StateStore, TokenPurpose};
use greenlight_core::usecase::approval::{
    self, AlarmChange, AlarmStateValue, ApprovalError, AwaitInput,
};
use greenlight_core::usecase::{on_push, prepare, promote};
use greenlight_core::Arn;
use greenlight_sim::{Behaviour, TokenAnswer};

fn arn(s: &str) -> Arn {
    Arn::parse(s).unwrap()
}

fn ecr_event(tag: Option<&str>, seed: u8, repository: &str) -> serde_json::Value {
    let mut detail = serde_json::json!({
        "result": "SUCCESS", "repository-name": repository,
        "image-digest": digest(seed).to_string(), "action-type": "PUSH"
    });
    if let Some(tag) = tag {
        detail["image-tag"] = tag.into();
    }
    serde_json::json!({"version": "0", "id": "e-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-11-20T09:30:00Z", "region": "eu-west-1", "resources": [], "detail": detail})
}

#[tokio::test]
async fn a_push_starts_one_execution_however_often_it_is_delivered() {
    let sim = world();
    let event = ecr_event(Some("v2.0.0"), 2, "web");
    let out = on_push::on_push(&sim, &event, &arn(STATE_MACHINE), &arn(TOPIC))
        .await
        .unwrap();
    assert_eq!(out.started.len(), 1);
    assert_eq!(
        out.started[0].0,
        format!("web-staging-{}", &digest(2).hex()[..16])
    );
    for _ in 0..2 {
        let again = on_push::on_push(&sim, &event, &arn(STATE_MACHINE), &arn(TOPIC))
            .await
            .unwrap();
        assert!(again.started.is_empty());
        assert_eq!(again.duplicates, [out.started[0].0.clone()]);
    }
    let w = sim.world();
    assert_eq!(w.executions.len(), 1);
    let input = &w.executions.values().next().unwrap().input;
    assert_eq!(
        input["trigger"],
        serde_json::json!({"kind": "push", "tag": "v2.0.0", "event_id": "e-1"})
    );
}

#[tokio::test]
async fn a_push_from_another_account_or_region_deploys_nothing() {
    let sim = world();
    for (field, value) in [("account", "999999999999"), ("region", "us-east-1")] {
        let mut event = ecr_event(Some("v2.0.0"), 2, "web");
        event[field] = serde_json::json!(value);
        let err = on_push::on_push(&sim, &event, &arn(STATE_MACHINE), &arn(TOPIC))
            .await
            .unwrap_err();
        assert_eq!(
            greenlight_core::rollout::ErrorName::error_name(&err),
            "Greenlight.InvalidEvent"
        );
        assert!(err.to_string().contains(value), "{err}");
    }
    assert!(sim.world().executions.is_empty());
}

#[tokio::test]
async fn pushes_that_start_nothing_are_explained_to_the_apps_subscribers_only() {
    let sim = world();
    let out = on_push::on_push(
        &sim,
        &ecr_event(Some("latest"), 2, "web"),
        &arn(STATE_MACHINE),
        &arn(TOPIC),
    )
    .await
    .unwrap();
    assert!(out.ignored.unwrap().contains("matches none"));
    let other = on_push::on_push(
        &sim,
        &ecr_event(Some("v1"), 2, "billing"),
        &arn(STATE_MACHINE),
        &arn(TOPIC),
    )
    .await
    .unwrap();
    assert!(other.ignored.unwrap().contains("no app is configured"));
    let w = sim.world();
    assert_eq!(
        w.published.len(),
        1,
        "only the push to a configured repository is announced"
    );
    assert_eq!(w.published[0].notification.event, EventKind::Ignored);
    assert!(w.executions.is_empty());
}

#[tokio::test]
async fn bad_events_are_typed_errors() {
    let sim = world();
    let mut event = ecr_event(Some("v2"), 2, "web");
    event["detail"]["image-digest"] = "sha256:nope".into();
    let err = on_push::on_push(&sim, &event, &arn(STATE_MACHINE), &arn(TOPIC))
        .await
        .unwrap_err();
    assert_eq!(
        greenlight_core::rollout::ErrorName::error_name(&err),
        "Greenlight.InvalidEvent"
    );
}

async fn waiting_for_approval(sim: &greenlight_sim::Sim) -> greenlight_core::rollout::Rollout {
    // Digest 2 succeeds in staging first: only that may be promoted.
    drive(sim, push(sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    let r = prepare::prepare(sim, start_input("prod", 2), TOPIC)
        .await
        .unwrap();
    sim.world().waiting_tokens.insert("approval-token".into());
    let input = AwaitInput {
        purpose: TokenPurpose::Approval,
        token: "approval-token".into(),
        rollout: r.clone(),
    };
    approval::await_token(sim, &input).await.unwrap();
    r
}

#[tokio::test]
async fn an_approval_request_is_announced_without_its_token() {
    let sim = world();
    let r = waiting_for_approval(&sim).await;
    let w = sim.world();
    let published = w.published.last().unwrap();
    assert_eq!(
        published.topic.as_str(),
        "arn:aws:sns:eu-west-1:123456789012:greenlight-prod"
    );
    assert_eq!(published.notification.event, EventKind::ApprovalRequested);
    assert_eq!(
        published.notification.next_steps[0],
        format!("greenlight approve {}", r.deployment)
    );
    let everything = format!(
        "{:?}{}",
        published.notification,
        published.notification.sns_message()
    );
    assert!(
        !everything.contains("approval-token"),
        "the token never leaves the store"
    );
    assert_eq!(
        w.store.tokens[&(r.deployment.clone(), TokenPurpose::Approval)].0,
        "approval-token"
    );
}

#[tokio::test]
async fn approve_and_reject_answer_the_waiting_token_once() {
    let sim = world();
    let r = waiting_for_approval(&sim).await;
    approval::approve(&sim, &r.deployment, "alice")
        .await
        .unwrap();
    assert_eq!(
        sim.world().answers[0].1,
        TokenAnswer::Success(serde_json::json!({"approved_by": "alice"}))
    );
    // Nothing waits any more.
    let again = approval::approve(&sim, &r.deployment, "bob")
        .await
        .unwrap_err();
    assert!(matches!(again, ApprovalError::NotWaiting(_)), "{again}");
    assert!(matches!(
        approval::reject(&sim, "web-prod-nope", "bob", "no").await,
        Err(ApprovalError::UnknownDeployment(_))
    ));

    let sim = world();
    let r = waiting_for_approval(&sim).await;
    approval::reject(&sim, &r.deployment, "bob", "not on a Friday")
        .await
        .unwrap();
    assert_eq!(
        sim.world().answers[0].1,
        TokenAnswer::Failure {
            error: "Greenlight.Rejected".into(),
            cause: "rejected by bob: not on a Friday".into()
        }
    );
}

#[tokio::test]
async fn an_approval_that_timed_out_cannot_be_given() {
    let sim = world();
    let r = waiting_for_approval(&sim).await;
    sim.world().waiting_tokens.clear(); // Step Functions timed the task out.
    let err = approval::approve(&sim, &r.deployment, "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, ApprovalError::Expired(_)), "{err}");
    assert!(sim
        .get_task_token(&r.deployment, TokenPurpose::Approval)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_alarm_relay_fails_the_bakes_that_watch_the_alarm() {
    let sim = world();
    sim.world().waiting_tokens.insert("t1".into());
    sim.put_task_token("d1", TokenPurpose::Bake, "t1", &["web-prod-5xx".into()])
        .await
        .unwrap();
    sim.put_task_token("d2", TokenPurpose::Bake, "t2", &["other".into()])
        .await
        .unwrap();
    let ok = AlarmChange {
        alarm_name: "web-prod-5xx".into(),
        state: AlarmStateValue {
            value: "OK".into(),
            reason: None,
        },
    };
    assert!(approval::relay_alarm(&sim, &ok, Default::default())
        .await
        .unwrap()
        .failed
        .is_empty());
    let alarm = AlarmChange {
        alarm_name: "web-prod-5xx".into(),
        state: AlarmStateValue {
            value: "ALARM".into(),
            reason: Some("5xx > 5%".into()),
        },
    };
    let out = approval::relay_alarm(&sim, &alarm, Default::default())
        .await
        .unwrap();
    assert_eq!(out.failed, ["d1"]);
    assert!(
        matches!(&sim.world().answers[0].1, TokenAnswer::Failure { error, cause } if error == "Greenlight.AlarmFired" && cause.contains("5xx > 5%"))
    );
    assert!(
        sim.get_task_token("d2", TokenPurpose::Bake)
            .await
            .unwrap()
            .is_some(),
        "other deployments untouched"
    );
}

#[tokio::test]
async fn promote_takes_the_digest_live_and_healthy_in_staging() {
    let sim = world();
    let config = example();
    drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    sim.advance(60);
    let p = promote::promote(
        &sim,
        &config,
        &arn(STATE_MACHINE),
        "web",
        "staging",
        "prod",
        None,
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(p.image.digest, digest(2));
    assert!(matches!(p.start, StartOutcome::Started { .. }));
    let input = sim.world().executions[&p.deployment].input.clone();
    assert_eq!(
        input["trigger"],
        serde_json::json!({"kind": "promotion", "from": "staging", "by": "alice"})
    );
    assert_eq!(input["environment"], "prod");
    // Asking twice starts nothing new.
    let again = promote::promote(
        &sim,
        &config,
        &arn(STATE_MACHINE),
        "web",
        "staging",
        "prod",
        None,
        "alice",
    )
    .await
    .unwrap();
    assert!(matches!(again.start, StartOutcome::AlreadyExists { .. }));
}

#[tokio::test]
async fn promote_refuses_what_staging_has_not_proved() {
    let sim = world();
    let config = example();
    let sm = arn(STATE_MACHINE);
    // A digest that never ran in staging.
    let err = promote::promote(
        &sim,
        &config,
        &sm,
        "web",
        "staging",
        "prod",
        Some(&digest(5)),
        "alice",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("never succeeded in web/staging"),
        "{err}"
    );
    // Promotion into staging from prod is not how the config flows.
    let err = promote::promote(&sim, &config, &sm, "web", "prod", "staging", None, "alice")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not take promotions"),
        "{err}"
    );
    // Staging runs an image greenlight never rolled out (deployed by hand): nothing to
    // promote, whatever its health.
    let err = promote::promote(&sim, &config, &sm, "web", "staging", "prod", None, "alice")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("nothing has succeeded in web/staging"),
        "{err}"
    );
    // A rollout still running in staging is not promoted from under it.
    let running = prepare::prepare(&sim, push(&sim, 3, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let err = promote::promote(&sim, &config, &sm, "web", "staging", "prod", None, "alice")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "web/staging is rolling out v3 ({}); promote after it succeeds, or pass --digest",
            running.deployment
        )),
        "{err}"
    );
    assert!(sim.world().executions.is_empty());
}

#[tokio::test]
async fn promoting_what_prod_runs_already_starts_nothing() {
    let sim = world();
    let config = example();
    // Staging deploys digest 1 (what prod runs from the start) through greenlight.
    drive(&sim, push(&sim, 1, Behaviour::healthy()))
        .await
        .unwrap();
    let err = promote::promote(
        &sim,
        &config,
        &arn(STATE_MACHINE),
        "web",
        "staging",
        "prod",
        None,
        "alice",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already runs"), "{err}");
    assert!(sim.world().executions.is_empty());
}

#[tokio::test]
async fn promote_accepts_a_digest_that_succeeded_in_staging_before() {
    let sim = world();
    let config = example();
    drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    sim.advance(60);
    drive(&sim, push(&sim, 3, Behaviour::healthy()))
        .await
        .unwrap();
    let p = promote::promote(
        &sim,
        &config,
        &arn(STATE_MACHINE),
        "web",
        "staging",
        "prod",
        Some(&digest(2)),
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(p.image.digest, digest(2));
}

#[tokio::test]
async fn revert_flips_back_inside_the_window_only() {
    let sim = world();
    let config = example();
    let env = config.apps["web"].environments["staging"].clone();
    let r = drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    sim.advance(10 * 60);
    let out = promote::revert(&sim, &config, &arn(TOPIC), None, "web", "staging", "carol")
        .await
        .unwrap();
    assert_eq!(
        out,
        promote::Reverted::Flipped {
            deployment: r.deployment.clone(),
            to: Colour::Blue
        }
    );
    {
        let w = sim.world();
        assert_eq!(w.live_colour(&env), Some(Colour::Blue));
        assert_eq!(
            w.store.deployments[&r.deployment].outcome,
            Some(Outcome::Reverted)
        );
        assert_eq!(
            w.published.last().unwrap().notification.event,
            EventKind::RolledBack
        );
        assert!(w.store.locks.is_empty());
    }
    // A second revert has nothing left to undo.
    let err = promote::revert(&sim, &config, &arn(TOPIC), None, "web", "staging", "carol")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not succeed"), "{err}");

    let sim = world();
    drive(&sim, push(&sim, 2, Behaviour::healthy()))
        .await
        .unwrap();
    sim.advance(31 * 60);
    let err = promote::revert(&sim, &config, &arn(TOPIC), None, "web", "staging", "carol")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rollback window"), "{err}");
}

#[tokio::test]
async fn revert_during_a_rollout_asks_it_to_stop() {
    let sim = world();
    let config = example();
    let r = prepare::prepare(&sim, push(&sim, 2, Behaviour::healthy()), TOPIC)
        .await
        .unwrap();
    let out = promote::revert(&sim, &config, &arn(TOPIC), None, "web", "staging", "carol")
        .await
        .unwrap();
    assert_eq!(
        out,
        promote::Reverted::StopRequested {
            deployment: r.deployment.clone()
        }
    );
    assert_eq!(
        sim.world().store.deployments[&r.deployment].stop_requested,
        Some(greenlight_core::ports::StopRequest {
            by: "carol".into(),
            kind: greenlight_core::ports::StopKind::Abort,
        })
    );
    // A person's stop is an abort, not a supersede: the next step fails with that name,
    // and the rollback records and announces `aborted`.
    let err = greenlight_core::usecase::check::deploy(&sim, r.clone())
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "Greenlight.Aborted");
    let caught = greenlight_core::rollout::CaughtError {
        error: err.error_name().into(),
        cause: err.to_string(),
    };
    let back = greenlight_core::usecase::rollback::rollback(&sim, r.clone(), &caught)
        .await
        .unwrap();
    assert_eq!(
        sim.world().store.deployments[&r.deployment].outcome,
        Some(greenlight_core::ports::Outcome::Aborted)
    );
    let notice = back.notice.unwrap();
    assert_eq!(notice.attributes["event"], "aborted");
    assert!(
        notice.message.contains("stopped by carol"),
        "{}",
        notice.message
    );
}

#[tokio::test]
async fn status_shows_what_runs_and_refuses_names_the_configuration_does_not_have() {
    use greenlight_core::usecase::status::{self, StatusError};
    let sim = world();
    let all = status::status(&sim, None, None).await.unwrap();
    let names: Vec<_> = all
        .environments
        .iter()
        .map(|e| format!("{}/{}", e.app, e.environment))
        .collect();
    assert_eq!(
        names,
        ["api/staging", "web/prod", "web/staging", "worker/staging"]
    );
    // An environment on a listener rule reads its rule's weights.
    assert_eq!(all.environments[0].weights, "blue 100%, green 0%");
    // A worker service's traffic is its tasks.
    assert_eq!(all.environments[3].weights, "blue 2 tasks, green 0 tasks");
    assert_eq!(all.environments[3].live, Some(Colour::Blue));
    let staging = &all.environments[2];
    assert_eq!(staging.live, Some(Colour::Blue));
    assert_eq!(staging.tag.as_deref(), Some("initial"));
    assert!(staging
        .image
        .as_deref()
        .unwrap()
        .ends_with(&digest(1).to_string()));
    assert!(staging.in_flight.is_none());
    // Something in flight shows with its phase.
    let input = push(&sim, 2, Behaviour::healthy());
    let r = prepare::prepare(&sim, input, TOPIC).await.unwrap();
    let one = status::status(&sim, Some("web"), Some("staging"))
        .await
        .unwrap();
    assert_eq!(one.environments.len(), 1);
    assert_eq!(
        one.environments[0]
            .in_flight
            .as_ref()
            .map(|f| f.deployment.as_str()),
        Some(r.deployment.as_str())
    );
    // A typo is an error naming what there is, not an empty answer.
    let err = status::status(&sim, Some("web"), Some("stagign"))
        .await
        .unwrap_err();
    assert!(matches!(err, StatusError::Unknown(_)), "{err}");
    assert!(err.to_string().contains("prod, staging"), "{err}");
    let err = status::history(&sim, "wbe", "staging", 10)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no app `wbe`"), "{err}");
    assert_eq!(
        status::history(&sim, "web", "staging", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
