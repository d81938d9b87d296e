//! SNS filter policies in the simulator deliver what they name and nothing else.

use chrono::Utc;
use greenlight_core::notify::{EventKind, Notification, Severity};
use greenlight_core::ports::{Notifier, Subscriptions};
use greenlight_core::usecase::subscribe::{subscribe, Filter, Protocol};
use greenlight_core::Arn;
use greenlight_sim::Sim;

#[tokio::test]
async fn filters_deliver_only_matching_notifications() {
    let sim = Sim::at_epoch(1);
    let topic = Arn::parse("arn:aws:sns:eu-west-1:123456789012:greenlight").unwrap();
    let errors = Filter {
        environment: Some("prod".into()),
        severity: Some(Severity::Error),
        ..Default::default()
    };
    let arn = subscribe(&sim, &topic, Protocol::Email, "ops@example.com", &errors)
        .await
        .unwrap();
    subscribe(
        &sim,
        &topic,
        Protocol::Sqs,
        "arn:aws:sqs:eu-west-1:123456789012:all",
        &Filter::default(),
    )
    .await
    .unwrap();
    for (kind, env) in [
        (EventKind::Started, "prod"),
        (EventKind::RolledBack, "prod"),
        (EventKind::RolledBack, "staging"),
        (EventKind::RollbackFailed, "prod"),
    ] {
        sim.publish(&topic, &Notification::new(kind, "web", env, Utc::now()))
            .await
            .unwrap();
    }
    {
        let w = sim.world();
        let got: Vec<(EventKind, String)> = w.inboxes["ops@example.com"]
            .iter()
            .map(|n| (n.event, n.environment.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (EventKind::RolledBack, "prod".to_string()),
                (EventKind::RollbackFailed, "prod".to_string())
            ]
        );
        assert_eq!(w.inboxes["arn:aws:sqs:eu-west-1:123456789012:all"].len(), 4);
    }
    assert_eq!(sim.subscriptions(&topic).await.unwrap().len(), 2);
    sim.unsubscribe(&arn).await.unwrap();
    assert!(sim.unsubscribe(&arn).await.is_err());
    let bad = subscribe(
        &sim,
        &topic,
        Protocol::Sqs,
        "not-an-arn",
        &Filter::default(),
    )
    .await;
    assert!(bad.is_err());
}
