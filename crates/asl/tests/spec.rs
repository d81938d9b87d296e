//! The runner against the Amazon States Language specification's own examples and
//! documented behaviour, on a paused (virtual) clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use greenlight_asl::engine::BoxFuture;
use greenlight_asl::{Dispatcher, Engine, Machine, Status, TaskError};
use serde_json::{json, Value};

/// `echo` returns its input; `fail:<n>` fails n times with `Custom.Flaky`, then echoes;
/// `wait.waitForTaskToken` returns at once and leaves the answer to the test.
#[derive(Default)]
struct Tasks {
    calls: AtomicU32,
    tokens: std::sync::Mutex<Vec<String>>,
}

impl Dispatcher for Tasks {
    fn call<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
        token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(t) = token {
                self.tokens.lock().unwrap().push(t.to_string());
                return Ok(Value::Null);
            }
            match resource {
                "echo" => Ok(input),
                "slow" => {
                    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                    Ok(input)
                }
                r if r.starts_with("fail:") => {
                    let times: u32 = r[5..].parse().unwrap();
                    if n < times {
                        Err(TaskError::new("Custom.Flaky", format!("attempt {}", n + 1)))
                    } else {
                        Ok(json!({"attempts": n + 1}))
                    }
                }
                "boom" => Err(TaskError::new("Custom.Boom", "always")),
                other => Err(TaskError::new(
                    "States.TaskFailed",
                    format!("unknown resource {other}"),
                )),
            }
        })
    }
}

fn engine(tasks: Arc<Tasks>) -> Engine {
    Engine::new(
        tasks,
        "arn:aws:states:eu-west-1:123456789012:stateMachine:test",
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        1,
    )
}

fn load(def: Value) -> Machine {
    Machine::load(&def, &BTreeMap::new()).unwrap()
}

async fn run(def: Value, input: Value) -> greenlight_asl::Execution {
    engine(Arc::new(Tasks::default()))
        .run(&load(def), "exec-1", input)
        .await
}

#[tokio::test(start_paused = true)]
async fn pass_result_path_example() {
    // The specification's ResultPath example.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355}, "ResultPath": "$.coords", "End": true}}});
    let out = run(def, json!({"georefOf": "Home"})).await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(
        out.output.unwrap(),
        json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
    );
}

#[tokio::test(start_paused = true)]
async fn input_and_output_processing_in_order() {
    // InputPath → Parameters → task → ResultSelector → ResultPath (into the raw input) → OutputPath.
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "echo",
        "InputPath": "$.library",
        "Parameters": {"staticValue": "Just a string", "catalog": {"myFavoriteItem.$": "$.shelf[1]"}, "name.$": "$$.Execution.Name", "greeting.$": "States.Format('Hello {}', $.owner)"},
        "ResultSelector": {"favorite.$": "$.catalog.myFavoriteItem", "static.$": "$.staticValue", "who.$": "$.greeting", "exec.$": "$.name"},
        "ResultPath": "$.result",
        "OutputPath": "$.result",
        "End": true}}});
    let out = run(
        def,
        json!({"library": {"shelf": ["A", "B"], "owner": "Ada"}, "other": 1}),
    )
    .await;
    assert_eq!(
        out.output.unwrap(),
        json!({"favorite": "B", "static": "Just a string", "who": "Hello Ada", "exec": "exec-1"})
    );
}

#[tokio::test(start_paused = true)]
async fn null_paths_discard() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "echo", "InputPath": null, "ResultPath": null, "End": true}}});
    assert_eq!(
        run(def.clone(), json!({"keep": true}))
            .await
            .output
            .unwrap(),
        json!({"keep": true})
    );
    let def =
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": null, "End": true}}});
    assert_eq!(run(def, json!({"x": 1})).await.output.unwrap(), json!({}));
}

fn choice_machine() -> Value {
    json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
            {"And": [{"Variable": "$.value", "IsPresent": true}, {"Variable": "$.value", "IsNumeric": true},
                     {"Variable": "$.value", "NumericGreaterThanEquals": 20}, {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"},
            {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"},
            {"Variable": "$.when", "TimestampLessThan": "2026-01-01T00:00:00Z", "Next": "Past"},
            {"Variable": "$.name", "StringMatches": "log-*.txt", "Next": "LogFile"},
            {"Or": [{"Variable": "$.flag", "BooleanEquals": true}, {"Variable": "$.missing", "IsNull": true}], "Next": "Flagged"}
        ], "Default": "RecordEvent"},
        "Public": {"Type": "Pass", "Result": "Public", "End": true},
        "ValueInTwenties": {"Type": "Pass", "Result": "ValueInTwenties", "End": true},
        "StartAudit": {"Type": "Pass", "Result": "StartAudit", "End": true},
        "Past": {"Type": "Pass", "Result": "Past", "End": true},
        "LogFile": {"Type": "Pass", "Result": "LogFile", "End": true},
        "Flagged": {"Type": "Pass", "Result": "Flagged", "End": true},
        "RecordEvent": {"Type": "Pass", "Result": "RecordEvent", "End": true}
    }})
}

#[tokio::test(start_paused = true)]
async fn choice_rules_like_the_spec() {
    // Every rule's Variable must exist (a missing one fails the execution, see below), so
    // each input carries neutral values for the rules before the one it should match.
    let base = |extra: Value| {
        let mut v = json!({"type": "Private", "value": 0, "rating": 0, "auditThreshold": 53, "when": "2030-01-01T00:00:00Z", "name": "x", "flag": false, "missing": 0});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (json!({"type": "Public"}), "Public"),
        (base(json!({"value": 25})), "ValueInTwenties"),
        (base(json!({"value": "25", "rating": 60})), "StartAudit"),
        (base(json!({"when": "2025-12-31T23:59:59Z"})), "Past"),
        (base(json!({"name": "log-2026.txt"})), "LogFile"),
        (base(json!({"flag": true})), "Flagged"),
        (base(json!({"value": 35, "flag": "yes"})), "RecordEvent"),
    ];
    for (input, expected) in cases {
        let out = run(choice_machine(), input.clone()).await;
        assert_eq!(out.output, Some(json!(expected)), "{input}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_choice_on_a_missing_variable_fails_the_execution() {
    let out = run(choice_machine(), json!({"type": "Private"})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.unwrap().error, "States.Runtime");
}

#[tokio::test(start_paused = true)]
async fn no_matching_choice_without_default_fails() {
    let def = json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "E"}]}, "E": {"Type": "Succeed"}}});
    let out = run(def, json!({"a": 2})).await;
    assert_eq!(out.error.unwrap().error, "States.NoChoiceMatched");
}

#[tokio::test(start_paused = true)]
async fn waits_take_virtual_time() {
    let def = json!({"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "Seconds": 3600, "Next": "W2"},
        "W2": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "W3"},
        "W3": {"Type": "Wait", "TimestampPath": "$.until", "End": true}}});
    let started = std::time::Instant::now();
    let out = run(def, json!({"delay": 60, "until": "2026-01-01T02:00:00Z"})).await;
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(
        out.stopped_at,
        Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "virtual, not real, time"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_backs_off_then_succeeds() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fail:3",
        "Retry": [{"ErrorEquals": ["Custom.Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}], "End": true}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"attempts": 4}));
    // 1 + 2 + 4 seconds of backoff.
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 7);
    assert_eq!(
        out.history.iter().filter(|e| e.kind == "TaskRetry").count(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_and_max_delay_caps() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fail:9",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 10.0, "MaxDelaySeconds": 15}], "End": true}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.error.unwrap().error, "Custom.Flaky");
    assert_eq!(
        (out.stopped_at - out.started_at).num_seconds(),
        10 + 15 + 15
    );
}

#[tokio::test(start_paused = true)]
async fn catch_routes_with_the_error_at_its_result_path() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "boom", "Catch": [
            {"ErrorEquals": ["Other.Error"], "Next": "Wrong"},
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Handled"}], "End": true},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Handled": {"Type": "Pass", "End": true}}});
    let out = run(def, json!({"keep": 1})).await;
    assert_eq!(
        out.output.unwrap(),
        json!({"keep": 1, "error": {"Error": "Custom.Boom", "Cause": "always"}})
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_not_a_task_failure() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 60, "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.why", "Next": "TimedOut"}], "End": true},
        "Failed": {"Type": "Fail", "Error": "Failed"},
        "TimedOut": {"Type": "Succeed"}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.output.unwrap()["why"]["Error"], "States.Timeout");
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 60);
}

#[tokio::test(start_paused = true)]
async fn runtime_errors_are_not_caught_by_states_all() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "InputPath": "$.nope", "End": true}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.error.unwrap().error, "States.Runtime");
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "echo", "Parameters": {"x.$": "$.nope"}, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}], "End": true},
        "S": {"Type": "Succeed"}}});
    assert_eq!(run(def, json!({})).await.status, Status::Failed);
}

fn approval_machine() -> Value {
    json!({"StartAt": "Wait", "States": {
        "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                 "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 300, "ResultPath": "$.answer",
                 "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}], "End": true},
        "TimedOut": {"Type": "Pass", "End": true}}})
}

#[tokio::test(start_paused = true)]
async fn wait_for_task_token_answered_with_success() {
    let tasks = Arc::new(Tasks::default());
    let e = engine(tasks.clone());
    let m = load(approval_machine());
    let run = tokio::spawn({
        let e = e.clone();
        async move { e.run(&m, "approve-me", json!({})).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    let token = tasks.tokens.lock().unwrap()[0].clone();
    assert!(e.is_waiting(&token));
    e.send_task_success(&token, json!({"approved_by": "ada"}))
        .unwrap();
    let out = run.await.unwrap();
    assert_eq!(
        out.output.unwrap(),
        json!({"answer": {"approved_by": "ada"}})
    );
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 120);
    assert!(
        e.send_task_success(&token, json!({})).is_err(),
        "a token is answered once"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_for_task_token_failure_and_timeout() {
    let tasks = Arc::new(Tasks::default());
    let e = engine(tasks.clone());
    let m = load(approval_machine());
    let run = tokio::spawn({
        let e = e.clone();
        let m = m.clone();
        async move { e.run(&m, "reject-me", json!({})).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let token = tasks.tokens.lock().unwrap()[0].clone();
    e.send_task_failure(&token, "Custom.Rejected", "no")
        .unwrap();
    let out = run.await.unwrap();
    assert_eq!(out.error.unwrap(), TaskError::new("Custom.Rejected", "no"));

    let out = e.run(&m, "nobody-answers", json!({})).await;
    assert_eq!(out.output.unwrap()["error"]["Error"], "States.Timeout");
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 300);
    assert!(out.history.iter().any(|h| h.kind == "TaskTimedOut"));
}

#[tokio::test(start_paused = true)]
async fn parallel_branches_run_together() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 100, "Next": "A2"}, "A2": {"Type": "Pass", "Result": "a", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 100, "Next": "B2"}, "B2": {"Type": "Pass", "Result": "b", "End": true}}}
    ], "ResultSelector": {"both.$": "$"}}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"both": ["a", "b"]}));
    assert_eq!(
        (out.stopped_at - out.started_at).num_seconds(),
        100,
        "the waits overlap"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_branch_fails_the_parallel_state() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "Branch.Failed", "Cause": "b"}}}
    ], "Catch": [{"ErrorEquals": ["Branch.Failed"], "Next": "Caught"}]}, "Caught": {"Type": "Succeed"}}});
    let out = run(def, json!({})).await;
    assert_eq!(
        out.output.unwrap(),
        json!({"Error": "Branch.Failed", "Cause": "b"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_branch_stops_the_others_at_once() {
    // AWS: when a branch fails, the Parallel state fails and its other branches stop.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 3600, "Next": "After"}, "After": {"Type": "Pass", "End": true}}},
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "B"}, "B": {"Type": "Fail", "Error": "Branch.Failed", "Cause": "b"}}}
    ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]}, "Caught": {"Type": "Succeed"}}});
    let out = run(def, json!({})).await;
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 5);
    assert!(
        !out.history
            .iter()
            .any(|h| h.state.as_deref() == Some("After")),
        "the long branch was stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn map_items_with_selector_and_concurrency() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.detail.shipped", "MaxConcurrency": 2,
        "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "courier.$": "$.courier"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 10, "Next": "T"},
            "T": {"Type": "Task", "Resource": "echo", "End": true}}},
        "ResultPath": "$.detail.results", "End": true}}});
    let out = run(
        def,
        json!({"courier": "UQS", "detail": {"shipped": [{"p": 1}, {"p": 2}, {"p": 3}]}}),
    )
    .await;
    let results = &out.output.as_ref().unwrap()["detail"]["results"];
    assert_eq!(
        results[2],
        json!({"parcel": {"p": 3}, "index": 2, "courier": "UQS"})
    );
    assert_eq!(
        (out.stopped_at - out.started_at).num_seconds(),
        20,
        "two waves of two"
    );
}

#[tokio::test(start_paused = true)]
async fn fail_state_paths() {
    let def = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}}});
    let out = run(def, json!({"e": "My.Error", "c": "because"})).await;
    assert_eq!(out.error.unwrap(), TaskError::new("My.Error", "because"));
    assert!(out.history.last().unwrap().kind == "ExecutionFailed");
}

#[tokio::test(start_paused = true)]
async fn history_is_shaped_like_step_functions() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "echo", "Next": "Done"}, "Done": {"Type": "Succeed"}}});
    let out = run(def, json!({"a": 1})).await;
    let kinds: Vec<&str> = out.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert!(out.history.windows(2).all(|w| w[0].id + 1 == w[1].id));
}

#[tokio::test(start_paused = true)]
async fn execution_timeout() {
    let def = json!({"StartAt": "W", "TimeoutSeconds": 30, "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.status, Status::TimedOut);
}

#[test]
fn unsupported_features_are_refused_at_load_naming_state_and_field() {
    let refuse = |def: Value, location: &str, fragment: &str| {
        let e = Machine::load(&def, &BTreeMap::new()).unwrap_err();
        assert_eq!(e.location, location, "{e}");
        assert!(e.message.contains(fragment), "{e}");
    };
    refuse(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "Credentials": {}, "End": true}}}),
        "States.T.Credentials",
        "not supported",
    );
    refuse(
        json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        "QueryLanguage",
        "not supported",
    );
    refuse(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}),
        "States.P.Next",
        "no state named `Nowhere`",
    );
    refuse(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$..a", "End": true}}}),
        "States.P.InputPath",
        "recursive descent",
    );
    refuse(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "States.Hash($.x, 'MD5')"}, "End": true}}}),
        "States.P.Parameters.a.$",
        "not supported",
    );
    refuse(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}),
        "States.M.ItemProcessor.ProcessorConfig.Mode",
        "INLINE",
    );
    refuse(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["A"]}], "End": true}}}),
        "States.T.Retry[0]",
        "must be the last",
    );
    refuse(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass"}}}),
        "States.P",
        "Next and End",
    );
    refuse(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringSimilar": "x", "Next": "C"}]}}}),
        "States.C.Choices[0].StringSimilar",
        "not supported",
    );
}

#[test]
fn substitutions_are_required() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "${Fn}"}, "End": true}}});
    assert!(Machine::load(&def, &BTreeMap::new())
        .unwrap_err()
        .message
        .contains("${Fn}"));
    let subs = BTreeMap::from([(
        "Fn".to_string(),
        "arn:aws:lambda:eu-west-1:123456789012:function:f".to_string(),
    )]);
    let m = Machine::load(&def, &subs).unwrap();
    assert_eq!(m.resources(), ["arn:aws:states:::lambda:invoke"]);
}

#[test]
fn the_rollout_definition_loads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../statemachines/rollout.asl.json"
    ))
    .unwrap();
    let def: Value = serde_json::from_str(&text).unwrap();
    let names = [
        "Prepare", "Deploy", "Check", "Await", "Shift", "Finalize", "Retire", "Rollback", "Notify",
    ];
    let subs = names
        .iter()
        .map(|n| {
            (
                format!("{n}FunctionArn"),
                format!("arn:aws:lambda:eu-west-1:123456789012:function:{n}"),
            )
        })
        .collect();
    let m = Machine::load(&def, &subs).unwrap();
    assert_eq!(m.start_at, "Prepare");
    assert_eq!(
        m.resources(),
        [
            "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener",
            "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyRule",
            "arn:aws:states:::lambda:invoke",
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "arn:aws:states:::sns:publish"
        ]
    );
}

// Checked against another interpreter and the AWS documentation.

#[tokio::test(start_paused = true)]
async fn a_pass_state_with_parameters_and_result_outputs_the_result() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"from": "parameters"}, "Result": {"from": "result"}, "End": true}}});
    let out = run(def, json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"from": "result"}));
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_expiry_is_caught_as_states_timeout_too() {
    let def = json!({"StartAt": "Wait", "States": {
        "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                 "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 300, "HeartbeatSeconds": 10,
                 "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}}});
    let out = run(def, json!({})).await;
    let output = out
        .output
        .expect("the Catch on States.Timeout took the heartbeat expiry");
    assert_eq!(output["error"]["Error"], "States.HeartbeatTimeout");
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 10);
    // The narrower name still matches on its own, and TaskFailed matches neither.
    assert!(greenlight_asl::engine::matches_error(
        &["States.HeartbeatTimeout".into()],
        "States.HeartbeatTimeout"
    ));
    assert!(!greenlight_asl::engine::matches_error(
        &["States.TaskFailed".into()],
        "States.HeartbeatTimeout"
    ));
    assert!(!greenlight_asl::engine::matches_error(
        &["States.HeartbeatTimeout".into()],
        "States.Timeout"
    ));
}

#[tokio::test(start_paused = true)]
async fn json_to_string_keeps_the_order_of_the_keys() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"s.$": "States.JsonToString($.o)"}, "End": true}}});
    let input: Value = serde_json::from_str(r#"{"o": {"zeta": 1, "alpha": 2, "mid": 3}}"#).unwrap();
    let out = run(def, input).await;
    assert_eq!(out.output.unwrap()["s"], r#"{"zeta":1,"alpha":2,"mid":3}"#);
}

#[tokio::test(start_paused = true)]
async fn a_fail_state_is_entered_once() {
    let def = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "My.Error", "Cause": "c"}}});
    let out = run(def, json!({})).await;
    let entered = out
        .history
        .iter()
        .filter(|h| h.kind == "FailStateEntered")
        .count();
    assert_eq!(entered, 1);
    let failed = out.history.last().unwrap();
    assert_eq!(failed.kind, "ExecutionFailed");
    assert_eq!(failed.details["error"], "My.Error");
}

#[tokio::test(start_paused = true)]
async fn the_context_object_names_the_state_and_counts_its_retries() {
    let def = json!({"StartAt": "Named", "States": {
        "Named": {"Type": "Pass", "Parameters": {"name.$": "$$.State.Name", "retries.$": "$$.State.RetryCount"}, "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "fail:2", "Parameters": {"name.$": "$$.State.Name", "retries.$": "$$.State.RetryCount"},
                  "Retry": [{"ErrorEquals": ["Custom.Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3}],
                  "ResultPath": "$.task", "End": true}}});
    let tasks = Arc::new(Tasks::default());
    let out = engine(tasks).run(&load(def), "ctx", json!({})).await;
    let output = out.output.unwrap();
    assert_eq!(output["name"], "Named");
    assert_eq!(output["retries"], 0);
    assert_eq!(output["task"], json!({"attempts": 3}));
    // Each attempt's parameters saw the retries before it.
    let seen: Vec<Value> = out
        .history
        .iter()
        .filter(|h| h.kind == "TaskScheduled")
        .map(|h| h.details["parameters"].clone())
        .collect();
    assert_eq!(
        seen,
        [0, 1, 2].map(|n| json!({"name": "Flaky", "retries": n}))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_execution_ends_aborted_where_it_was() {
    let e = engine(Arc::new(Tasks::default()));
    let m = load(json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "After"},
        "After": {"Type": "Pass", "End": true}}}));
    let run = tokio::spawn({
        let e = e.clone();
        async move { e.run(&m, "to-stop", json!({})).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    assert!(e.stop("to-stop", "Ops.Stopped", "by hand"));
    let out = run.await.unwrap();
    assert_eq!(out.status, Status::Aborted);
    assert_eq!(out.status.to_string(), "ABORTED");
    assert_eq!((out.stopped_at - out.started_at).num_seconds(), 60);
    assert!(out.history.iter().any(|h| h.kind == "ExecutionAborted"));
    assert!(!out
        .history
        .iter()
        .any(|h| h.state.as_deref() == Some("After")));
    assert!(
        !e.stop("to-stop", "Ops.Stopped", "again"),
        "it runs no more"
    );
}

#[tokio::test(start_paused = true)]
async fn a_redrive_runs_again_from_the_failed_state_with_its_input() {
    // `fail:1` fails its first call: the execution fails in B; a redrive runs B again with
    // B's input (not the execution's), continues to C, and counts itself.
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"from": "A"}, "Next": "B"},
        "B": {"Type": "Task", "Resource": "fail:1", "ResultPath": "$.b", "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"b.$": "$.b", "from.$": "$.from", "redrives.$": "$$.Execution.RedriveCount", "input.$": "$$.Execution.Input"}, "End": true}
    }});
    let machine = load(def);
    let e = engine(Arc::new(Tasks::default()));
    let failed = e.run(&machine, "exec-1", json!({"original": true})).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(
        failed.stopped_in,
        Some(("B".to_string(), json!({"from": "A"})))
    );
    let again = e
        .redrive(&machine, &failed)
        .await
        .expect("a failed execution redrives");
    assert_eq!(again.status, Status::Succeeded, "{:?}", again.error);
    assert_eq!(
        again.output.clone().unwrap(),
        json!({"b": {"attempts": 2}, "from": "A", "redrives": 1, "input": {"original": true}})
    );
    assert_eq!(again.redrive_count, 1);
    // The history goes on: A entered once, B twice, one ExecutionRedriven between.
    let entered = |name: &str| {
        again
            .history
            .iter()
            .filter(|h| h.kind.ends_with("StateEntered") && h.state.as_deref() == Some(name))
            .count()
    };
    assert_eq!((entered("A"), entered("B"), entered("C")), (1, 2, 1));
    assert_eq!(
        again
            .history
            .iter()
            .filter(|h| h.kind == "ExecutionRedriven")
            .count(),
        1
    );
    // A succeeded execution is not redriven.
    assert!(e.redrive(&machine, &again).await.is_none());
}
