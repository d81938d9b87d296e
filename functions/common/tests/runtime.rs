//! The one binary under a local Lambda Runtime API against moto: the real runtime loop,
//! the handler `_HANDLER` names, and the answers Lambda would pass on.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use greenlight_aws::testing::runtime_api::{self, Answer};

fn sample(path: &str) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    serde_json::from_str(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap()
}

#[test]
fn the_event_relay_answers_through_the_runtime_api() {
    let moto = greenlight_aws::testing::moto();
    let env: BTreeMap<String, String> = [
        ("_HANDLER", "event-relay"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("GREENLIGHT_TABLE", "greenlight"),
        (
            "GREENLIGHT_TOPIC",
            "arn:aws:sns:us-east-1:123456789012:greenlight",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let events = [
        sample("events/event-relay/notification.json"),
        sample("events/event-relay/not-a-notification.json"),
        serde_json::json!({"Records": 5}),
        sample("events/event-relay/notification.json"),
    ];
    let run = runtime_api::run(
        Command::new(env!("CARGO_BIN_EXE_greenlight-functions")),
        &env,
        &events,
        Duration::from_secs(60),
    )
    .unwrap();
    let answers: Vec<&Answer> = run.invocations.iter().map(|(_, a)| a).collect();
    let json = |a: &Answer| -> serde_json::Value {
        match a {
            Answer::Response(b) | Answer::Error(b) => serde_json::from_str(b).unwrap(),
        }
    };
    assert!(matches!(answers[0], Answer::Response(_)), "{answers:?}");
    assert_eq!(json(answers[0])["forwarded"], 1);
    assert_eq!(json(answers[1])["forwarded"], 0);
    assert!(json(answers[1])["skipped"][0]
        .as_str()
        .unwrap()
        .starts_with("not a greenlight notification"));
    // A payload that does not fit is a function error with greenlight's name, as the
    // state machine and Lambda's retries see it; the process goes on serving.
    assert!(matches!(answers[2], Answer::Error(_)), "{answers:?}");
    assert_eq!(json(answers[2])["errorType"], "Greenlight.InvalidInput");
    assert_eq!(json(answers[3])["forwarded"], 1);
    assert!(run.peak_rss_kib > 0);
}
