//! The state machine, the SAM template and the function crates must agree: every Task
//! resource maps to a substitution the template defines and to a function crate that exists,
//! every error name the state machine retries or catches is one the code (or the machine
//! itself) can raise, nothing retries `States.ALL`, every task has a timeout, and every task
//! that changes routing falls back to the rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use greenlight_core::errors::ErrorCode;
use greenlight_core::ports::Outcome;
use greenlight_core::yaml::{Node, NodeKind};
use serde_json::{json, Value};

#[path = "support/template.rs"]
mod support;
use support::{entries, functions, get, template, text, texts};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn asl() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("statemachines/rollout.asl.json")).unwrap(),
    )
    .unwrap()
}

/// Every state, those inside Parallel branches too (state names are unique across the
/// definition, as Step Functions requires).
fn states(asl: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (k, v) in asl["States"].as_object().unwrap() {
        out.push((k.clone(), v.clone()));
        for branch in nested(v) {
            out.extend(states(branch));
        }
    }
    out
}

/// The machines a state runs inside it: a Parallel state's branches, a Map state's item
/// processor.
fn nested(state: &Value) -> Vec<&Value> {
    let branches = state["Branches"].as_array().into_iter().flatten();
    branches
        .chain(state.get("ItemProcessor"))
        .chain(state.get("Iterator"))
        .collect()
}

/// The catchers that apply to a state: its own, then those of the Parallel and Map states
/// it is nested in (an error a branch or an iteration does not catch fails the state that
/// runs it).
fn effective_catch(asl: &Value, name: &str) -> Vec<Value> {
    fn walk(states: &Value, name: &str, outer: &[Value]) -> Option<Vec<Value>> {
        for (k, v) in states.as_object()? {
            let own: Vec<Value> = v["Catch"].as_array().cloned().unwrap_or_default();
            if k == name {
                return Some(own.into_iter().chain(outer.iter().cloned()).collect());
            }
            let enclosing: Vec<Value> = own.iter().chain(outer).cloned().collect();
            for branch in nested(v) {
                if let Some(found) = walk(&branch["States"], name, &enclosing) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(&asl["States"], name, &[]).unwrap_or_default()
}

/// The `${...}` names the definition uses.
fn substitutions_used(asl: &Value) -> BTreeSet<String> {
    let text = asl.to_string();
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').unwrap() + start;
        out.insert(rest[start + 2..end].to_string());
        rest = &rest[end..];
    }
    out
}

#[test]
fn every_task_resource_maps_to_a_defined_substitution_and_an_existing_function() {
    let asl = asl();
    let tpl = template();
    let resources = get(&tpl, "Resources").unwrap();
    let machine = entries(resources)
        .into_iter()
        .find(|(_, r)| {
            get(r, "Type").map(text).as_deref() == Some("AWS::StepFunctions::StateMachine")
        })
        .expect("a state machine")
        .1;
    let props = get(machine, "Properties").unwrap();
    assert_eq!(
        text(get(props, "DefinitionS3Location").unwrap()),
        "statemachines/rollout.asl.json"
    );
    // Its history (task tokens in the approval task's parameters) is encrypted with a key
    // of the stack's, which the state table's readers and roles only may use.
    let encryption = get(props, "EncryptionConfiguration").expect("an encryption configuration");
    assert_eq!(
        get(encryption, "Type").map(text).as_deref(),
        Some("CUSTOMER_MANAGED_KMS_KEY")
    );
    assert_eq!(
        get(encryption, "KmsKeyId").map(text).as_deref(),
        Some("ExecutionKey.Arn")
    );
    let subs: BTreeMap<String, String> = entries(get(props, "DefinitionSubstitutions").unwrap())
        .into_iter()
        .map(|(k, v)| (k, text(v)))
        .collect();
    let used = substitutions_used(&asl);
    assert!(!used.is_empty());
    for name in &used {
        let value = subs
            .get(name)
            .unwrap_or_else(|| panic!("${{{name}}} is not in DefinitionSubstitutions"));
        let logical = value
            .strip_suffix(".Arn")
            .unwrap_or_else(|| panic!("{name} = {value}: expected !GetAtt X.Arn"));
        let function = get(resources, logical)
            .unwrap_or_else(|| panic!("{name} refers to missing resource {logical}"));
        assert_eq!(
            text(get(function, "Type").unwrap()),
            "AWS::Serverless::Function"
        );
        assert_function_runs_the_shared_binary(logical, function);
    }
    for name in subs.keys() {
        assert!(
            used.contains(name),
            "substitution {name} is defined but unused"
        );
    }
    // Every task calls a function through a substitution or an AWS integration we use.
    for (name, state) in states(&asl) {
        if state["Type"] == "Task" {
            let resource = state["Resource"].as_str().unwrap();
            assert!(
                [
                    "arn:aws:states:::lambda:invoke",
                    "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "arn:aws:states:::sns:publish",
                    "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener",
                    "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyRule"
                ]
                .contains(&resource),
                "{name}: unexpected resource {resource}"
            );
            if resource.contains("lambda") {
                let f = state["Parameters"]["FunctionName"].as_str().unwrap();
                assert!(
                    f.starts_with("${") && f.ends_with('}'),
                    "{name}: FunctionName {f} is not a substitution"
                );
            }
        }
    }
}

/// A function of template.yaml runs the one binary (`greenlight-functions`, built from
/// functions/common) with a `Handler` that binary serves.
fn assert_function_runs_the_shared_binary(logical: &str, function: &Node) {
    let binary = get(function, "Metadata")
        .and_then(|m| get(m, "BuildProperties"))
        .and_then(|b| get(b, "Binary"))
        .map(text);
    assert_eq!(binary.as_deref(), Some("greenlight-functions"), "{logical}");
    let props = get(function, "Properties").unwrap();
    assert_eq!(
        get(props, "CodeUri").map(text).as_deref(),
        Some("functions/common"),
        "{logical}"
    );
    let handler = get(props, "Handler").map(text).unwrap_or_default();
    assert!(
        greenlight_lambda::FUNCTIONS.contains(&handler.as_str()),
        "{logical}: Handler {handler:?} is none of {:?}",
        greenlight_lambda::FUNCTIONS
    );
}

/// `handlers` are [`greenlight_lambda::FUNCTIONS`], each once.
fn assert_every_function_once(mut handlers: Vec<String>) {
    handlers.sort();
    let mut all: Vec<String> = greenlight_lambda::FUNCTIONS
        .iter()
        .map(|f| f.to_string())
        .collect();
    all.sort();
    assert_eq!(handlers, all);
}

/// The cost bench prices invocations at the memory the template gives every function.
#[test]
fn every_function_has_the_memory_the_cost_bench_prices() {
    let tpl = template();
    let globals = get(get(&tpl, "Globals").unwrap(), "Function").unwrap();
    let mb: f64 = text(get(globals, "MemorySize").unwrap()).parse().unwrap();
    assert_eq!(mb / 1024.0, greenlight::cost::LAMBDA_GB);
    for (logical, r) in functions(&tpl) {
        let own = get(get(r, "Properties").unwrap(), "MemorySize");
        assert!(own.is_none(), "{logical} sets its own MemorySize");
    }
}

#[test]
fn every_function_is_deployed_once() {
    let tpl = template();
    let mut handlers = Vec::new();
    for (logical, r) in functions(&tpl) {
        assert_function_runs_the_shared_binary(&logical, r);
        handlers.push(text(get(get(r, "Properties").unwrap(), "Handler").unwrap()));
    }
    assert_every_function_once(handlers);
}

#[test]
fn error_names_the_machine_matches_can_be_raised() {
    let asl = asl();
    let mut raisable: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    // Errors the machine raises itself (Pass states that set $.error).
    for (_, state) in states(&asl) {
        if let Some(e) = state["Result"]["Error"].as_str() {
            raisable.insert(e.to_string());
        }
    }
    let retryable: BTreeSet<&str> = [
        "Greenlight.Retryable",
        "Greenlight.Queued",
        "Greenlight.WeightsNotApplied",
    ]
    .into();
    for (name, state) in states(&asl) {
        for (field, list) in [("Retry", &state["Retry"]), ("Catch", &state["Catch"])] {
            for rule in list.as_array().into_iter().flatten() {
                for e in rule["ErrorEquals"].as_array().unwrap() {
                    let e = e.as_str().unwrap();
                    if field == "Retry" {
                        assert_ne!(e, "States.ALL", "{name} retries States.ALL");
                        assert!(
                            !e.starts_with("Greenlight.") || retryable.contains(e),
                            "{name} retries {e}, which cannot succeed on retry"
                        );
                    }
                    if e.starts_with("Greenlight.") {
                        assert!(
                            raisable.contains(e),
                            "{name} {field} names {e}, which nothing raises"
                        );
                    } else {
                        assert!(
                            ["States.", "Lambda.", "SNS."]
                                .iter()
                                .any(|p| e.starts_with(p)),
                            "{name}: unknown error {e}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_task_has_a_timeout_and_routing_changes_fall_back_to_rollback() {
    let asl = asl();
    let all = states(&asl);
    let names: BTreeSet<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for (name, state) in &all {
        if state["Type"] != "Task" {
            continue;
        }
        assert!(
            state.get("TimeoutSeconds").is_some() || state.get("TimeoutSecondsPath").is_some(),
            "{name} has no timeout"
        );
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .unwrap_or_default();
        // The watched rollback window comes after the release succeeded and released its
        // lock: its wait falls back to the plain wait, and its revert (which takes the lock
        // anew, or leaves the environment to whoever holds it) to the retire.
        let window = state["Parameters"]["Payload"]["purpose"] == "window"
            || state["Parameters"]["Payload"]["mode"] == "window"
            || state["Parameters"]["Payload"]["mode"] == "watch"
            || state["Parameters"]["Payload"]["window"] == true;
        let changes_aws = !window
            && [
                "${DeployFunctionArn}",
                "${ShiftFunctionArn}",
                "${CheckFunctionArn}",
                "${FinalizeFunctionArn}",
                "${AwaitFunctionArn}",
            ]
            .contains(&function);
        let catch = effective_catch(&asl, name);
        if changes_aws {
            let catches_all = catch.iter().any(|c| {
                c["ErrorEquals"] == serde_json::json!(["States.ALL"]) && c["Next"] == "Rollback"
            });
            assert!(catches_all, "{name} does not fall back to Rollback");
        }
        // Every task that may act on traffic stops on a lost lock instead of rolling back.
        if changes_aws || (function == "${RollbackFunctionArn}" && !window) {
            let catches_lock_lost = catch.iter().any(|c| {
                c["ErrorEquals"] == serde_json::json!(["Greenlight.LockLost"])
                    && c["Next"] == "LockLost"
            });
            assert!(catches_lock_lost, "{name} does not stop on a lost lock");
        }
        for c in state["Catch"].as_array().into_iter().flatten() {
            assert!(names.contains(c["Next"].as_str().unwrap()));
        }
    }
    // No notification sits between a traffic change and the checks at the new weight: the
    // shift function publishes traffic_shifted itself, and a failed publish is only logged
    // (tests/scenarios.rs); the step's wait is the state right after deploy's.
    let traffic = &asl["States"]["Traffic"];
    assert_eq!(
        (
            &traffic["Type"],
            &traffic["MaxConcurrency"],
            &traffic["Next"]
        ),
        (&json!("Map"), &json!(1), &json!("Finalize")),
        "the traffic steps run one after the other, then Finalize"
    );
    let shift = &traffic["ItemProcessor"]["States"]["Shift"];
    assert_eq!(shift["End"], true);
    assert_eq!(
        shift["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    for (name, state) in &all {
        if state["Resource"] == "arn:aws:states:::sns:publish" {
            for target in [&state["Next"]].into_iter().chain(
                state["Catch"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| &c["Next"]),
            ) {
                assert!(
                    !["Rollback", "Traffic", "Shift"]
                        .contains(&target.as_str().unwrap_or_default()),
                    "{name}: a notification delays {target}"
                );
            }
        }
    }
    // A rollback that fails for good restores traffic without a Lambda, then escalates.
    let rollback = &asl["States"]["Rollback"];
    let last = rollback["Catch"].as_array().unwrap().last().unwrap();
    assert_eq!(last["ErrorEquals"], serde_json::json!(["States.ALL"]));
    assert_eq!(last["Next"], "CanRestore");
    // (A worker service has no listener: it goes to the escalation at once.)
    let can = &asl["States"]["CanRestore"];
    assert_eq!(can["Default"], "RestoreTraffic");
    assert_eq!(can["Choices"][0]["Variable"], "$.restore.listener");
    assert_eq!(can["Choices"][0]["Next"], "Escalate");
    let restore = &asl["States"]["RestoreTraffic"];
    assert_eq!(
        restore["Resource"],
        "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener"
    );
    assert_eq!(restore["Next"], "Escalate");
    assert_eq!(restore["Catch"][0]["Next"], "Escalate");
    // When the notify function cannot run either, the machine still announces it.
    assert_eq!(
        asl["States"]["Escalate"]["Catch"][0]["Next"],
        "AnnounceEscalationPlain"
    );
    assert_eq!(
        asl["States"]["AnnounceEscalation"]["Next"],
        "RollbackFailed"
    );
}

#[test]
fn the_architecture_diagram_matches_the_definition() {
    let asl = asl();
    let mut from_asl = BTreeSet::new();
    for (name, state) in states(&asl) {
        let mut targets: Vec<&Value> = vec![&state["Next"], &state["Default"]];
        targets.extend(
            state["Choices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        targets.extend(
            state["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        for t in targets.into_iter().filter_map(Value::as_str) {
            from_asl.insert((name.clone(), t.to_string()));
        }
    }
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("```mermaid\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a mermaid block");
    let mut from_doc = BTreeSet::new();
    for line in block.lines().map(str::trim).filter(|l| l.contains("-->")) {
        let (from, rest) = line.split_once("-->").unwrap();
        let to = rest.rsplit('|').next().unwrap();
        from_doc.insert((from.trim().to_string(), to.trim().to_string()));
    }
    let missing: Vec<_> = from_asl.difference(&from_doc).collect();
    let extra: Vec<_> = from_doc.difference(&from_asl).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/ARCHITECTURE.md diagram: missing {missing:?}, not in the definition {extra:?}"
    );
}

#[test]
fn error_names_are_written_once() {
    // Every `Greenlight.*` name lives in crates/core/src/errors.rs; code elsewhere names
    // the variant, so a renamed error cannot leave a stale literal behind.
    let mut offenders = Vec::new();
    let mut dirs = vec![
        root().join("crates/core/src"),
        root().join("functions/common/src"),
        root().join("src"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name == "errors.rs" || name == "tests.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests at the end of a file may spell names out.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            if code.contains("\"Greenlight.") {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "error names spelled out in {offenders:?}"
    );
}

#[test]
fn the_template_loses_no_event_and_keeps_no_log_forever() {
    let tpl = template();
    let resources = get(&tpl, "Resources").unwrap();
    let all = entries(resources);
    let kind = |r: &Node| get(r, "Type").map(text).unwrap_or_default();
    for (name, r) in functions(&tpl) {
        let props = get(r, "Properties").unwrap();
        // Every function logs to a log group of the stack, with the retention parameter.
        let group = get(props, "LoggingConfig")
            .and_then(|l| get(l, "LogGroup"))
            .map(text)
            .unwrap_or_else(|| panic!("{name} has no LoggingConfig.LogGroup"));
        let group = get(resources, &group).unwrap_or_else(|| panic!("{name}: no {group}"));
        assert_eq!(kind(group), "AWS::Logs::LogGroup");
        assert_eq!(
            text(get(get(group, "Properties").unwrap(), "RetentionInDays").unwrap()),
            "LogRetentionDays"
        );
        // Functions EventBridge invokes for an event hand what failed to the dead-letter
        // queue, and so do their rules. A scheduled function is retried by its next run
        // instead (no Lambda retries to overlap it), and an alarm tells when runs keep
        // failing.
        let Some(events) = get(props, "Events") else {
            continue;
        };
        for (event, e) in entries(events) {
            let p = get(e, "Properties").unwrap();
            // A queue's message that failed stays on it and comes back once its
            // visibility timeout (longer than the function's) has passed.
            if get(e, "Type").map(text).as_deref() == Some("SQS") {
                let queue = text(get(p, "Queue").unwrap());
                let queue = get(resources, queue.split('.').next().unwrap()).unwrap();
                let visibility: u64 = text(
                    get(get(queue, "Properties").unwrap(), "VisibilityTimeout")
                        .expect("the queue sets its visibility timeout"),
                )
                .parse()
                .unwrap();
                assert!(
                    visibility > 60,
                    "{name}.{event}: visibility timeout {visibility}s"
                );
                continue;
            }
            if get(e, "Type").map(text).as_deref() == Some("ScheduleV2") {
                let retries = get(props, "EventInvokeConfig")
                    .and_then(|c| get(c, "MaximumRetryAttempts"))
                    .map(text);
                assert_eq!(
                    retries.as_deref(),
                    Some("0"),
                    "{name}: Lambda retries overlap the next run"
                );
                assert!(
                    all.iter().any(|(_, a)| kind(a) == "AWS::CloudWatch::Alarm"
                        && get(a, "Properties").is_some_and(|ap| {
                            get(ap, "MetricName").map(text).as_deref() == Some("Errors")
                                && get(ap, "AlarmActions").is_some()
                                && format!("{ap:?}").contains(name.as_str())
                        })),
                    "{name}: no alarm on its errors"
                );
                continue;
            }
            let failure = get(props, "EventInvokeConfig")
                .and_then(|c| get(c, "DestinationConfig"))
                .and_then(|c| get(c, "OnFailure"))
                .unwrap_or_else(|| panic!("{name} has no on-failure destination"));
            assert_eq!(text(get(failure, "Type").unwrap()), "SQS");
            if get(e, "Type").map(text).as_deref() == Some("SNS") {
                let dlq = get(p, "RedrivePolicy").and_then(|r| get(r, "deadLetterTargetArn"));
                assert_eq!(
                    dlq.map(text).as_deref(),
                    Some("DeadLetterQueue.Arn"),
                    "{name}.{event}: no dead-letter queue on the subscription"
                );
                continue;
            }
            {
                assert!(
                    get(p, "DeadLetterConfig").is_some(),
                    "{name}.{event}: no dead-letter queue on the rule"
                );
                let pattern = get(p, "Pattern").unwrap();
                assert!(
                    get(pattern, "account").is_some(),
                    "{name}.{event}: the rule does not filter on the stack's account"
                );
            }
        }
    }
    // The alarm relay hears only the alarms of its prefix.
    let relay = get(resources, "AlarmRelayFunction").unwrap();
    let detail = get(
        get(
            get(
                get(
                    get(get(relay, "Properties").unwrap(), "Events").unwrap(),
                    "AlarmFired",
                )
                .unwrap(),
                "Properties",
            )
            .unwrap(),
            "Pattern",
        )
        .unwrap(),
        "detail",
    )
    .unwrap();
    assert!(
        get(detail, "alarmName").is_some(),
        "the alarm rule hears every alarm"
    );
    // The rollback cannot be starved of concurrency.
    let rollback = get(get(resources, "RollbackFunction").unwrap(), "Properties").unwrap();
    assert!(get(rollback, "ReservedConcurrentExecutions").is_some());
    // Someone hears of a dead letter.
    let alarm = get(resources, "DeadLetterAlarm").expect("an alarm on the dead-letter queue");
    assert!(get(get(alarm, "Properties").unwrap(), "AlarmActions").is_some());
}

/// What each function (and the state machine itself) did on AWS across rehearsals that
/// take every path: the example scenarios, plus an escalation, a refusal, a queue, a
/// rejection and an alarm relay; once with the example as it is, once with its
/// environments moved to other accounts and regions ([`moved_example`]).
fn rehearsals() -> &'static Rehearsals {
    static DONE: std::sync::OnceLock<Rehearsals> = std::sync::OnceLock::new();
    DONE.get_or_init(rehearse)
}

/// What the rehearsals did: by function, the actions made with the stack's own credentials;
/// and the actions made in target accounts through their roles.
struct Rehearsals {
    home: BTreeMap<String, BTreeSet<String>>,
    there: BTreeSet<String>,
}

fn observed_access() -> BTreeMap<String, BTreeSet<String>> {
    rehearsals().home.clone()
}

fn rehearse() -> Rehearsals {
    use greenlight::scenario;
    let config = greenlight_core::config::load(
        &std::fs::read_to_string(root().join("examples/greenlight.yaml")).unwrap(),
    )
    .config
    .unwrap();
    let mut texts: Vec<String> = std::fs::read_dir(root().join("examples/scenarios"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    texts.extend(
        [
            // The rollback cannot move traffic: restore, escalate, notify.
            "name: e\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v2.0.0, image: v2, behaviour: 5xx }\n  - at: 1m30s\n    fault: { operation: elbv2:ModifyListener, error: server_error, times: always }\n",
            // The same on a listener rule: the machine restores the rule itself.
            "name: r\nsteps:\n  - at: 0s\n    push: { repository: api, tag: v2.0.0, image: a2, behaviour: 5xx }\n  - at: 30s\n    fault: { operation: lambda:Invoke/greenlight-rollback, error: server_error, times: always }\n",
            // Two pushes at once: the second queues (supersede) and is refused when its
            // image is gone; a stale lock makes a third wait.
            "name: q\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v2.0.0, image: v2 }\n  - at: 10s\n    push: { repository: web, tag: v3.0.0, image: v3 }\n  - at: 1h\n    stale_lock: { app: web, environment: staging, for: 5m }\n  - at: 1h\n    push: { repository: web, tag: v4.0.0, image: v4 }\n  - at: 2h5m\n    fault: { operation: ecr:DescribeImages, error: access_denied }\n  - at: 2h5m\n    push: { repository: web, tag: v5.0.0, image: v5 }\n",
            // A push while the previous one bakes (supersede): prepare stops the bake.
            "name: s\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v2.0.0, image: v2 }\n  - at: 1m30s\n    push: { repository: web, tag: v3.0.0, image: v3 }\n",
            // Prod: a promotion rejected, one approved and rolled back by an operator.
            "name: p\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v2.0.0, image: v2 }\n  - at: 40m\n    promote: { app: web, from: staging, to: prod }\n  - at: 45m\n    reject: { app: web, environment: prod }\n  - at: 1h\n    promote: { app: web, from: staging, to: prod }\n  - at: 1h5m\n    approve: { app: web, environment: prod }\n  - at: 1h20m\n    rollback: { app: web, environment: prod }\n",
        ]
        .map(String::from),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut out = Rehearsals {
        home: BTreeMap::new(),
        there: BTreeSet::new(),
    };
    let moved = moved_example();
    for text in &texts {
        let s = scenario::parse(text).unwrap();
        // The same rehearsal, in the stack's account and moved: the same deployments end
        // the same way, and the invariant says the same.
        let outcomes = |r: &scenario::Report| -> Vec<(String, Option<Outcome>, Option<String>)> {
            r.deployments
                .iter()
                .map(|d| (d.id.clone(), d.outcome, d.reason.clone()))
                .collect()
        };
        let here = rt.block_on(scenario::run(&config, &s));
        let there = rt.block_on(scenario::run(&moved, &s));
        assert_eq!(outcomes(&here), outcomes(&there), "{}", s.name);
        // Except where the rollback function cannot run at all: the state machine's own
        // last-resort restore acts with the stack's role, which reaches no other account
        // (docs/ARCHITECTURE.md), so the traffic stays split and the escalation says so.
        if s.name != "r" {
            assert_eq!(here.invariant, there.invariant, "{}", s.name);
        } else {
            assert!(there
                .invariant
                .iter()
                .any(|i| i.contains("not all on one colour")));
        }
        for report in [here, there] {
            for (function, action) in report.access {
                out.home.entry(function).or_default().insert(action);
            }
            out.there
                .extend(report.target_access.into_iter().map(|(_, action)| action));
        }
    }
    out
}

/// The example configuration with every environment moved out of the stack's account:
/// `web`'s to account 222222222222 in the stack's region (it pulls from a replica), the
/// others' to account 333333333333 in us-east-1 (they pull from the stack's registry, whose
/// policy admits them). Every path of the example's rehearsals then goes through a role.
fn moved_example() -> greenlight_core::config::Config {
    let mut config = greenlight_core::config::load(
        &std::fs::read_to_string(root().join("examples/greenlight.yaml")).unwrap(),
    )
    .config
    .unwrap();
    for (app_name, app) in config.apps.iter_mut() {
        let (account, region) = if app_name == "web" {
            ("222222222222", "eu-west-1")
        } else {
            ("333333333333", "us-east-1")
        };
        let arn = |a: &greenlight_core::Arn| {
            greenlight_core::Arn::parse(
                &a.as_str()
                    .replace(":eu-west-1:123456789012:", &format!(":{region}:{account}:")),
            )
            .unwrap()
        };
        for env in app.environments.values_mut() {
            env.account = Some(account.into());
            env.region = Some(region.into());
            env.role = Some(
                greenlight_core::Arn::parse(&format!(
                    "arn:aws:iam::{account}:role/greenlight-target-{region}"
                ))
                .unwrap(),
            );
            if let Some(tgs) = env.target_groups.as_mut() {
                tgs.blue = arn(&tgs.blue);
                tgs.green = arn(&tgs.green);
            }
            if let Some(l) = env.listeners.as_mut() {
                l.production = arn(&l.production);
                l.test = l.test.as_ref().map(arn);
            }
        }
    }
    let problems = greenlight_core::config::validate_config(&config);
    assert!(
        problems
            .iter()
            .all(|p| p.level != greenlight_core::decode::Level::Error),
        "{problems:#?}"
    );
    config
}

/// templates/target-account.yaml's role is granted exactly what greenlight's functions do
/// through it in a target account (every environment call of the two-account rehearsal),
/// scoped as template.yaml scopes the same calls; and it trusts only the stack's roles,
/// with the external ID.
#[test]
fn the_target_account_role_is_granted_exactly_what_is_done_through_it() {
    let called = rehearsals().there.clone();
    assert!(called.contains("ecs:UpdateService"), "{called:?}");
    let g = support::target_role_grants();
    let mut problems = g.problems.clone();
    for missing in called.difference(&g.granted) {
        problems.push(format!(
            "the target role is used for {missing}, which target-account.yaml does not grant"
        ));
    }
    for unused in g.granted.difference(&called) {
        problems.push(format!(
            "the target role is granted {unused}, which greenlight never does through it"
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn only_the_stacks_roles_and_the_state_readers_can_decrypt_the_table_and_the_executions() {
    let tpl = template();
    let resources = get(&tpl, "Resources").unwrap();
    let sse = get(
        get(get(resources, "StateTable").unwrap(), "Properties").unwrap(),
        "SSESpecification",
    )
    .unwrap();
    assert_eq!(get(sse, "SSEType").map(text).as_deref(), Some("KMS"));
    assert_eq!(
        get(sse, "KMSMasterKeyId").map(text).as_deref(),
        Some("StateKey")
    );
    // Every role lives under the stack's path (scripts/check-transformed.py checks the
    // roles SAM generates; the check function's own role is declared here).
    let path = "/${AWS::StackName}/";
    let globals = get(get(&tpl, "Globals").unwrap(), "Function").unwrap();
    assert_eq!(get(globals, "RolePath").map(text).as_deref(), Some(path));
    for (name, r) in entries(resources) {
        if get(r, "Type").map(text).as_deref() == Some("AWS::IAM::Role") {
            let p = get(get(r, "Properties").unwrap(), "Path").map(text);
            assert_eq!(p.as_deref(), Some(path), "{name}");
        }
    }
    // The table's key through DynamoDB, the executions' key through Step Functions.
    for (key, service) in [("StateKey", "dynamodb."), ("ExecutionKey", "states.")] {
        let props = get(get(resources, key).unwrap(), "Properties").unwrap();
        let statements = get(get(props, "KeyPolicy").unwrap(), "Statement").unwrap();
        let NodeKind::Sequence(statements) = &statements.kind else {
            panic!("{key}: the key policy's statements are a list")
        };
        let mut users = 0;
        for st in statements {
            let actions = texts(get(st, "Action").unwrap());
            // Reading what the key protects takes kms:Decrypt; a statement that only makes
            // data keys (creating the state machine) encrypts, and reads nothing.
            let uses = actions.iter().any(|a| a == "kms:Decrypt");
            if !uses {
                continue;
            }
            users += 1;
            // Whoever may use the key does so through the service, from this account, and
            // is a role under the stack's path or one of StateReaderArns.
            let condition = get(st, "Condition").expect("a condition on every use of the key");
            let equals = get(condition, "StringEquals").unwrap();
            assert!(
                text(get(equals, "kms:ViaService").unwrap()).starts_with(service),
                "{key}"
            );
            assert!(get(equals, "kms:CallerAccount").is_some(), "{key}");
            let principals = format!(
                "{:?}",
                get(get(condition, "ArnLike").unwrap(), "aws:PrincipalArn").unwrap()
            );
            assert!(
                principals.contains(":role/${AWS::StackName}/*"),
                "{key}: {principals}"
            );
            assert!(
                principals.contains("StateReaderArns"),
                "{key}: {principals}"
            );
        }
        assert_eq!(
            users, 1,
            "{key}: one statement lets principals decrypt with the key"
        );
    }
}

#[test]
fn the_check_function_runs_in_a_vpc_only_when_given_subnets() {
    let tpl = template();
    let resources = get(&tpl, "Resources").unwrap();
    let props = get(get(resources, "CheckFunction").unwrap(), "Properties").unwrap();
    let vpc = format!("{:?}", get(props, "VpcConfig").expect("a VpcConfig option"));
    assert!(
        vpc.contains("CheckInVpc")
            && vpc.contains("CheckSubnetIds")
            && vpc.contains("CheckSecurityGroupIds"),
        "{vpc}"
    );
    assert_eq!(
        get(props, "Role").map(text).as_deref(),
        Some("CheckRole.Arn")
    );
    let role = get(get(resources, "CheckRole").unwrap(), "Properties").unwrap();
    let managed = format!("{:?}", get(role, "ManagedPolicyArns").unwrap());
    assert!(managed.contains("CheckInVpc") && managed.contains("AWSLambdaVPCAccessExecutionRole"));
    // No other function is in a VPC (SAM would give it network-interface permissions).
    for (name, r) in functions(&tpl) {
        if name != "CheckFunction" {
            assert!(
                get(get(r, "Properties").unwrap(), "VpcConfig").is_none(),
                "{name}"
            );
        }
    }
}

#[test]
fn the_reconcile_schedule_sends_the_event_the_function_takes() {
    let tpl = template();
    let f = get(get(&tpl, "Resources").unwrap(), "ReconcileFunction").unwrap();
    let schedule = get(
        get(
            get(get(f, "Properties").unwrap(), "Events").unwrap(),
            "Schedule",
        )
        .unwrap(),
        "Properties",
    )
    .unwrap();
    let input: serde_json::Value =
        serde_json::from_str(&text(get(schedule, "Input").unwrap())).unwrap();
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/reconcile/schedule.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(input, sample);
    assert_eq!(
        input["source"],
        greenlight_lambda::handlers::SCHEDULE_SOURCE
    );
    assert!(text(get(schedule, "ScheduleExpression").unwrap()).contains("ReconcileMinutes"));
}

#[test]
fn the_approval_url_takes_only_signed_requests() {
    let tpl = template();
    let f = get(get(&tpl, "Resources").unwrap(), "ApproveFunction").unwrap();
    let url = get(get(f, "Properties").unwrap(), "FunctionUrlConfig").unwrap();
    assert_eq!(get(url, "AuthType").map(text).as_deref(), Some("AWS_IAM"));
}

#[test]
fn every_role_is_granted_exactly_what_its_code_calls() {
    // What the code calls comes from running it: the real handlers and state machine in
    // the simulator, which records which function made each call (the AWS adapter's IAM
    // action, DynamoDB calls with the key prefix of the item). What is granted comes from
    // template.yaml. They must be equal: nothing the code calls is missing, nothing
    // granted goes unused.
    let observed = observed_access();
    let grants = support::grants_by_role();
    let mut problems: Vec<String> = grants.values().flat_map(|g| g.problems.clone()).collect();
    for (role, g) in &grants {
        let called = observed.get(role).cloned().unwrap_or_default();
        let granted: BTreeSet<String> = g
            .granted
            .iter()
            .filter(|a| !(role == "state-machine" && support::SERVICE_ONLY.contains(&a.as_str())))
            .filter(|a| !(g.polls_queue && support::QUEUE_POLLING.contains(&a.as_str())))
            .cloned()
            .collect();
        for missing in called.difference(&granted) {
            problems.push(format!(
                "{role} calls {missing}, which template.yaml does not grant"
            ));
        }
        for unused in granted.difference(&called) {
            problems.push(format!(
                "{role} is granted {unused}, which its code never calls"
            ));
        }
    }
    for role in observed.keys().filter(|r| !grants.contains_key(*r)) {
        problems.push(format!("{role} calls AWS but has no role in template.yaml"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Only the approval URL's function may approve (SendTaskSuccess), and it is reachable
    // only with SigV4-signed requests. The check function answers the waits of its rounds:
    // it can read no stored token, and its tokens come from the tick queue, to which only
    // functions that are never handed an approval's token may send.
    let reads_tokens = |g: &support::Grants| {
        g.granted.iter().any(|a| {
            (a.starts_with("dynamodb:GetItem") || a.starts_with("dynamodb:Query"))
                && a.ends_with(" TOKEN#")
        })
    };
    for (role, g) in &grants {
        assert!(
            role == "approve"
                || !g.granted.contains("states:SendTaskSuccess")
                || (role == "check" && !reads_tokens(g)),
            "{role} may approve deployments"
        );
        if g.granted.contains("sqs:SendMessage") {
            assert!(
                ["deploy", "shift", "check"].contains(&role.as_str()),
                "{role} may schedule ticks, and sees an approval's token"
            );
        }
        assert!(
            !g.granted.iter().any(|a| a.starts_with("dynamodb:")
                && a.ends_with(" CONFIG")
                && !a.starts_with("dynamodb:GetItem")),
            "{role} may write the stored configuration"
        );
    }
}

#[test]
fn every_checkov_finding_skipped_in_the_template_says_why() {
    // The test command runs checkov over template.yaml and fails on any finding; a skip
    // must carry its reason.
    let tpl = template();
    let mut skips = 0;
    for (name, resource) in entries(get(&tpl, "Resources").unwrap()) {
        let Some(list) = get(resource, "Metadata")
            .and_then(|m| get(m, "checkov"))
            .and_then(|c| get(c, "skip"))
        else {
            continue;
        };
        let greenlight_core::yaml::NodeKind::Sequence(items) = &list.kind else {
            panic!("{name}: checkov.skip is not a list");
        };
        for item in items {
            let id = get(item, "id").map(text).unwrap_or_default();
            let comment = get(item, "comment").map(text).unwrap_or_default();
            assert!(id.starts_with("CKV_"), "{name}: a skip without a check id");
            assert!(
                comment.len() >= 40,
                "{name}: {id} is skipped without a reason"
            );
            skips += 1;
        }
    }
    assert!(skips > 0);
}

/// The stack's dashboard is valid JSON once CloudFormation has substituted its `${…}`,
/// and every greenlight metric it and the failed-executions alarm read is one the
/// functions emit (functions/common/src/metrics.rs).
#[test]
fn the_dashboard_and_the_alarm_read_metrics_the_functions_emit() {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let emitted = std::fs::read_to_string(root().join("functions/common/src/metrics.rs")).unwrap();
    let start = template.find("DashboardBody: !Sub |").expect("a dashboard");
    let body: Vec<&str> = template[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        ") || l.is_empty())
        .collect();
    let mut text = body.join("\n");
    for (from, to) in [
        ("${AWS::Region}", "eu-west-1"),
        ("${AWS::StackName}", "greenlight"),
        (
            "${RolloutStateMachine}",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-rollout",
        ),
        ("${DeadLetterQueue.QueueName}", "greenlight-dead-letters"),
    ] {
        text = text.replace(from, to);
    }
    assert!(!text.contains("${"), "an unsubstituted reference: {text}");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let widgets = dashboard["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 6);
    let mut names: Vec<String> = Vec::new();
    for w in widgets {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let expr = m[0]["expression"].as_str().unwrap_or_default();
            if let Some(rest) = expr
                .split("{greenlight,app,environment} MetricName=\"")
                .nth(1)
            {
                names.push(rest.split('"').next().unwrap().to_string());
            }
        }
    }
    let alarm = template.find("FailedExecutionsAlarm:").expect("the alarm");
    let alarm_text = &template[alarm..alarm + 2000];
    names.push(
        alarm_text
            .split("Namespace: greenlight\n              MetricName: ")
            .nth(1)
            .expect("the alarm reads a greenlight metric")
            .lines()
            .next()
            .unwrap()
            .to_string(),
    );
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        assert!(
            emitted.contains(&format!("\"{name}\"")),
            "the dashboard or alarm reads {name}, which no function emits"
        );
    }
}

/// scripts/package-functions.py (the functions without `sam build`) finds every function of
/// template.yaml, each with the one binary, its Handler and the binary's crate as CodeUri.
#[test]
fn the_packaging_script_finds_every_function_with_its_handler() {
    let o = std::process::Command::new("python3")
        .arg(root().join("scripts/package-functions.py"))
        .arg("--list")
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut handlers = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let v: Vec<&str> = line.split(' ').collect();
        assert_eq!(v.len(), 4, "{line}");
        assert_eq!(
            &v[1..],
            ["greenlight-functions", v[2], "functions/common"],
            "{line}"
        );
        handlers.push(v[2].to_string());
    }
    assert_every_function_once(handlers);
    let manifest = std::fs::read_to_string(root().join("functions/common/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"greenlight-functions\""));
}
