//! Every handler against broken input: payloads that do not decode, and the sample events
//! with one value replaced by anything JSON can hold. No handler panics, every error has a
//! greenlight name, and a payload that does not decode makes no AWS call.

use greenlight_core::arn::Arn;
use greenlight_core::errors::ErrorCode;
use greenlight_core::{config, Digest};
use greenlight_lambda::{dispatch, handlers, Failure, Settings};
use greenlight_sim::{Behaviour, Sim};
use proptest::prelude::*;
use serde_json::{json, Value};

const FUNCTIONS: &[&str] = &[
    "alarm-relay",
    "approve",
    "await",
    "check",
    "deploy",
    "finalize",
    "notify",
    "on-push",
    "prepare",
    "reconcile",
    "retire",
    "rollback",
    "shift",
];

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
    let cfg = config::load(include_str!("../../../examples/greenlight.yaml"))
        .config
        .unwrap();
    sim.world().install(&cfg, &digest(1), 2);
    sim.world()
        .push_image("web", Some("v2.0.0"), &digest(2), Behaviour::healthy());
    sim.world().calls.clear();
    sim
}

async fn run(function: &str, sim: Sim, payload: Value) -> Result<Value, Failure> {
    let s = settings();
    match function {
        "alarm-relay" => dispatch(handlers::alarm_relay, sim, s, payload).await,
        "approve" => dispatch(handlers::approve_url, sim, s, payload).await,
        "await" => dispatch(handlers::await_token, sim, s, payload).await,
        "check" => dispatch(handlers::check, sim, s, payload).await,
        "deploy" => dispatch(handlers::deploy, sim, s, payload).await,
        "finalize" => dispatch(handlers::finalize, sim, s, payload).await,
        "notify" => dispatch(handlers::notify, sim, s, payload).await,
        "on-push" => dispatch(handlers::on_push, sim, s, payload).await,
        "prepare" => dispatch(handlers::prepare, sim, s, payload).await,
        "reconcile" => dispatch(handlers::reconcile, sim, s, payload).await,
        "retire" => dispatch(handlers::retire, sim, s, payload).await,
        "rollback" => dispatch(handlers::rollback, sim, s, payload).await,
        "shift" => dispatch(handlers::shift, sim, s, payload).await,
        other => panic!("no function {other}"),
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn samples() -> Vec<(String, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    for f in FUNCTIONS {
        let mut files: Vec<_> = std::fs::read_dir(root.join(f))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let v = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            out.push((f.to_string(), v));
        }
    }
    out
}

/// Paths to every value in a JSON document (objects by key, arrays by index).
fn paths(v: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let mut p = here.clone();
                p.push(k.clone());
                paths(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let mut p = here.clone();
                p.push(i.to_string());
                paths(child, p, out);
            }
        }
        _ => {}
    }
}

fn replace(v: &mut Value, path: &[String], with: Value) {
    match path.split_first() {
        None => *v = with,
        Some((head, rest)) => {
            let child = match v {
                Value::Object(m) => m.get_mut(head),
                Value::Array(a) => head.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            };
            if let Some(c) = child {
                replace(c, rest, with);
            }
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("arn:aws:::")),
        Just(json!("sha256:")),
        Just(json!("9999-12-31T23:59:59Z")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_failure(function: &str, payload: &Value, f: &Failure) {
    assert_ne!(
        f.name,
        ErrorCode::Internal.as_str(),
        "{function} panicked on {payload}: {}",
        f.message
    );
    assert!(
        ErrorCode::parse(f.name).is_some(),
        "{function}: `{}` is not a greenlight error name",
        f.name
    );
    assert!(!f.message.is_empty());
}

#[test]
fn payloads_that_do_not_decode_are_named_errors_and_touch_nothing() {
    for function in FUNCTIONS {
        for payload in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"hello": 1}),
            json!(42),
        ] {
            let sim = world();
            let f = match block_on(run(function, sim.clone(), payload.clone())) {
                Err(f) => f,
                // The approval URL answers every request over HTTP: a refusal, here.
                Ok(v) if *function == "approve" => {
                    let status = v["statusCode"].as_u64().unwrap_or(0);
                    assert!(
                        (400..500).contains(&status),
                        "approve answered {payload} with {v}"
                    );
                    assert!(
                        sim.world().calls.is_empty(),
                        "approve called AWS on {payload}"
                    );
                    continue;
                }
                Ok(v) => panic!("{function} accepted {payload}: {v}"),
            };
            check_failure(function, &payload, &f);
            let expected = if *function == "on-push" {
                "Greenlight.InvalidEvent"
            } else {
                "Greenlight.InvalidInput"
            };
            assert_eq!(f.name, expected, "{function}: {}", f.message);
            let calls = sim.world().calls.clone();
            assert!(
                calls.is_empty(),
                "{function} called AWS on {payload}: {calls:?}"
            );
        }
    }
}

#[test]
fn a_panicking_handler_is_an_internal_error_not_a_dead_runtime() {
    async fn boom(_: Sim, _: Settings, _: Value) -> Result<Value, Failure> {
        panic!("slot 7 of 3")
    }
    let f = block_on(dispatch(boom, world(), settings(), json!({}))).unwrap_err();
    assert_eq!(f.name, "Greenlight.Internal");
    assert!(!f.message.contains("slot 7"), "no internals in the message");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_handler_panics_on_a_sample_with_one_value_replaced(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        with in any_json(),
    ) {
        let all = samples();
        let (function, sample) = &all[which.index(all.len())];
        let mut every = Vec::new();
        paths(sample, Vec::new(), &mut every);
        let path = &every[at.index(every.len())];
        let mut payload = sample.clone();
        replace(&mut payload, path, with);
        if let Err(f) = block_on(run(function, world(), payload.clone())) {
            check_failure(function, &payload, &f);
        }
    }
}
