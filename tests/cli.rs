//! The `greenlight` binary, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn greenlight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("greenlight runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const CONFIG: &str = "examples/greenlight.yaml";

/// The configuration that goes with the example application stack validates.
#[test]
fn the_app_stack_config_is_valid() {
    let o = greenlight(&["config", "validate", "examples/app-stack.greenlight.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("valid (1 app(s), 1 environment(s))"));
}

#[test]
fn the_example_config_is_valid() {
    let o = greenlight(&["config", "validate", CONFIG]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("valid (3 app(s), 4 environment(s))"));
    assert!(
        stderr(&o).contains("note: apps.worker.environments.staging: no load balancer"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_broken_config_lists_every_problem_and_fails() {
    let o = greenlight(&["config", "validate", "tests/fixtures/broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(lines.len(), 11, "{err}");
    assert!(err.contains("tests/fixtures/broken.yaml:21:21: error: apps.web.environments.staging.strategy.canary.percent: 150 is out of range"), "{err}");
    let json = greenlight(&["config", "validate", "tests/fixtures/broken.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 11);
    assert_eq!(v["problems"][0]["path"], "apps.web.repository");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let o = greenlight(&["config", "validate", "nope.yaml"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("cannot read nope.yaml"));
}

#[test]
fn the_published_schema_is_the_generated_one() {
    let o = greenlight(&["config", "schema"]);
    let generated: Value = serde_json::from_slice(&o.stdout).unwrap();
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string("docs/greenlight.schema.json").unwrap())
            .unwrap();
    assert_eq!(generated, published, "docs/greenlight.schema.json is stale: run `greenlight config schema > docs/greenlight.schema.json`");
    assert_eq!(
        generated["required"],
        serde_json::json!(["version", "apps"])
    );
}

fn match_event(event: &str) -> Value {
    let o = greenlight(&["match", "--config", CONFIG, "--event", event, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{event}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What a sample event must start: (tag, execution name) of the one deployment, or none.
type Expected<'a> = Option<(&'a str, &'a str)>;

/// Every sample event, and what it must start.
#[test]
fn every_sample_event_matches_as_expected() {
    let a3 = format!("sha256:{}", "a3".repeat(32));
    let cases: &[(&str, Expected, &str)] = &[
        (
            "push-tagged.json",
            Some(("v2.0.0", "web-staging-a3a3a3a3a3a3a3a3")),
            "",
        ),
        (
            "push-rc-same-digest.json",
            Some(("rc-2", "web-staging-a3a3a3a3a3a3a3a3")),
            "",
        ),
        (
            "push-tag-repushed.json",
            Some(("v2.0.0", "web-staging-5c5c5c5c5c5c5c5c")),
            "",
        ),
        ("push-digest-only.json", None, "pushed by digest"),
        (
            "push-untracked-tag.json",
            None,
            "tag `latest` matches none of `v*`, `rc-*`",
        ),
        (
            "push-other-repository.json",
            None,
            "no app is configured for repository `billing`",
        ),
        ("push-failed.json", None, "did not succeed (result FAILURE)"),
        (
            "delete.json",
            None,
            "DELETE of an image in `web`: only pushes start deployments",
        ),
    ];
    let mut seen = Vec::new();
    for (file, deploy, reason) in cases {
        let path = format!("events/on-push/{file}");
        seen.push(file.to_string());
        let v = match_event(&path);
        match deploy {
            Some((tag, name)) => {
                let d = &v["deployments"];
                assert_eq!(d.as_array().unwrap().len(), 1, "{file}: {v}");
                assert_eq!(d[0]["app"], "web");
                assert_eq!(d[0]["environment"], "staging");
                assert_eq!(d[0]["tag"], *tag);
                assert_eq!(d[0]["execution_name"], *name, "{file}");
                if *file != "push-tag-repushed.json" {
                    assert_eq!(d[0]["image"]["digest"], a3.as_str());
                }
                assert!(v.get("ignored").is_none());
            }
            None => {
                assert_eq!(v["deployments"], serde_json::json!([]), "{file}");
                let why = v["ignored"].as_str().unwrap_or_default();
                assert!(why.contains(reason), "{file}: {why}");
            }
        }
    }
    // A new sample event must be added to this table.
    let mut files: Vec<String> = std::fs::read_dir("events/on-push")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    seen.sort();
    assert_eq!(files, seen);
}

#[test]
fn text_output_names_the_deployment_and_the_skips() {
    let o = greenlight(&[
        "match",
        "-c",
        CONFIG,
        "-e",
        "events/on-push/push-tagged.json",
    ]);
    let out = stdout(&o);
    assert!(out.contains("deploy web/staging  web@sha256:a3a3"), "{out}");
    assert!(
        out.contains("skip   web/prod: deploys only by promotion from `staging`"),
        "{out}"
    );
}

#[test]
fn unreadable_events_fail_clearly() {
    let dir = std::env::temp_dir().join(format!("greenlight-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let not_json = write("not.json", "{");
    let s3 = write(
        "s3.json",
        r#"{"detail-type":"Object Created","source":"aws.s3","detail":{}}"#,
    );
    for (path, expected) in [(&not_json, "not JSON"), (&s3, "not an ECR Image Action")] {
        let o = greenlight(&["match", "-c", CONFIG, "-e", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", path.display());
        assert!(stderr(&o).contains(expected), "{}", stderr(&o));
    }
    let o = greenlight(&[
        "match",
        "-c",
        "tests/fixtures/broken.yaml",
        "-e",
        "events/on-push/push-tagged.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("11 error(s)"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plan_shows_the_steps() {
    let o = greenlight(&["plan", "-c", CONFIG, "web", "prod", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["steps"],
        // The last step holds for the final bake: interval 30s x failure_threshold 2.
        serde_json::json!([{"weight": 10, "bake": "5m"}, {"weight": 100, "bake": "1m"}])
    );
    let o = greenlight(&["plan", "-c", CONFIG, "web", "qa"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("configured: api/staging, web/prod, web/staging, worker/staging"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn demo_runs_the_four_acts_and_its_json_parses() {
    let o = greenlight(&["demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for act in ["Act 1", "Act 2", "Act 3", "Act 4"] {
        assert!(out.contains(act), "{act} missing:\n{out}");
    }
    assert!(
        out.contains("✉ rolled_back v3.0.0 — alarm fired: web-staging-5xx"),
        "{out}"
    );
    assert!(
        out.contains("· approved by arn:aws:sts::123456789012:assumed-role/ops-lead/ops-lead"),
        "{out}"
    );
    assert!(
        out.contains("live: staging blue on v2.0.0, prod green on v2.0.0"),
        "{out}"
    );
    assert!(out.contains("invariant holds"), "{out}");
    let o = greenlight(&["demo", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["acts"].as_array().unwrap().len(), 4);
    assert_eq!(v["invariant"]["holds"], true);
    let outcomes: Vec<&str> = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "succeeded").count(),
        3,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "rolled_back").count(),
        1,
        "{outcomes:?}"
    );
    assert!(v["executions"][0]["history"].as_array().unwrap().len() > 10);
    assert!(Path::new("examples/greenlight.yaml").exists());
}

#[test]
fn every_example_scenario_passes() {
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", "examples/scenarios"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let files = std::fs::read_dir("examples/scenarios").unwrap().count();
    assert_eq!(out.matches("result: PASSED").count(), files, "{out}");
    let o = greenlight(&[
        "simulate",
        "-c",
        CONFIG,
        "-s",
        "examples/scenarios/release-day.yaml",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["invariant"], serde_json::json!([]));
    assert_eq!(v[0]["deployments"].as_array().unwrap().len(), 3);
}

/// The two-account example validates, and its scenarios (a promotion from one account to
/// another and region, an alarm in prod's account) pass end to end.
#[test]
fn the_two_account_example_validates_and_its_scenarios_pass() {
    let config = "examples/accounts/greenlight.yaml";
    let o = greenlight(&["config", "validate", config]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = greenlight(&[
        "simulate",
        "-c",
        config,
        "-s",
        "examples/accounts/scenarios",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let files = std::fs::read_dir("examples/accounts/scenarios")
        .unwrap()
        .count();
    assert_eq!(files, 2);
    assert_eq!(out.matches("result: PASSED").count(), files, "{out}");
}

#[test]
fn a_fault_for_good_is_rehearsed_and_the_critical_notice_carries_its_next_steps() {
    let dir = std::env::temp_dir().join(format!("greenlight-always-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("always.yaml");
    // The listener stops accepting changes for good once the canary takes traffic: the
    // rollback cannot restore it, and the rehearsal says so.
    let scenario = |times: &str| {
        format!("name: listener down\nsteps:\n  - at: 0s\n    push: {{ repository: web, tag: v2.0.0, image: v2, behaviour: 5xx }}\n  - at: 1m30s\n    fault: {{ operation: elbv2:ModifyListener, error: server_error{times} }}\n")
    };
    let simulate = |text: String| {
        std::fs::write(&file, text).unwrap();
        let o = greenlight(&[
            "simulate",
            "-c",
            CONFIG,
            "-s",
            file.to_str().unwrap(),
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        (o, v)
    };
    let (o, v) = simulate(scenario(", times: always"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_ne!(
        v[0]["invariant"],
        serde_json::json!([]),
        "traffic stays split"
    );
    let critical: Vec<&Value> = v[0]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["severity"] == "critical")
        .collect();
    assert!(!critical.is_empty(), "{}", v[0]["notifications"]);
    assert!(
        critical[0]["next_steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        critical[0]
    );
    // The default is one failed call: the same release rolls back cleanly.
    let (o, v) = simulate(scenario(""));
    assert_eq!(o.status.code(), Some(0), "{}", v[0]["invariant"]);
    assert_eq!(v[0]["deployments"][0]["outcome"], "rolled_back");
    std::fs::write(
        &file,
        "name: x\nsteps:\n  - at: 0s\n    fault: { operation: sns:Publish, error: throttle, times: forever }\n",
    )
    .unwrap();
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("steps[0].fault.times: `forever` is not a number of calls or `always`"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_whose_expectation_fails_exits_1() {
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", "tests/fixtures/unmet.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "expectation not met: web/staging v9.0.0: expected succeeded, got rolled_back"
        ),
        "{out}"
    );
    assert!(out.contains("result: FAILED"));
}

#[test]
fn a_malformed_scenario_is_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("greenlight-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "name: x\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v1, image: v1, behaviour: sluggish }\n").unwrap();
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("steps[0].push.behaviour: unknown behaviour `sluggish`"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &bad,
        "name: x\nsteps:\n  - at: soon\n    push: { repository: web, tag: v1, image: v1 }\n",
    )
    .unwrap();
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("soon"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_with_a_typo_is_refused_with_its_line_and_a_suggestion() {
    let dir = std::env::temp_dir().join(format!("greenlight-typo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("typos.yaml");
    std::fs::write(
        &bad,
        "name: typos\nsteps:\n  - at: 0s\n    push: { repository: web, tag: v2.0.0, image: v2, behavior: 5xx }\n  - at: 1m\n    fault: { operation: elbv2:ModifyListner, error: throttle }\n  - at: 2m\n    alarm: { name: web-staging-5xxx, state: ALARM }\n  - at: 3m\n    rollback: { app: web, environment: stagin }\n",
    )
    .unwrap();
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "typos.yaml:4:54: steps[0].push: unknown key `behavior`; did you mean `behaviour`?"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "unknown operation `elbv2:ModifyListner`; did you mean `elbv2:ModifyListener`?"
        ),
        "{err}"
    );
    // Fixed structure, still wrong names: the configuration is checked before anything runs.
    std::fs::write(
        &bad,
        "name: typos\nsteps:\n  - at: 2m\n    alarm: { name: web-staging-5xxx, state: ALARM }\n  - at: 3m\n    rollback: { app: web, environment: stagin }\n",
    )
    .unwrap();
    let o = greenlight(&["simulate", "-c", CONFIG, "-s", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            ":3:7: steps[0]: unknown alarm `web-staging-5xxx`; did you mean `web-staging-5xx`?"
        ),
        "{err}"
    );
    assert!(
        err.contains("unknown environment `stagin`; did you mean `staging`?"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing ran");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_timeline_is_in_causal_order_within_an_instant() {
    let o = greenlight(&["demo", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let lines = |act: usize, at: &str| -> Vec<String> {
        v["acts"][act]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["at"].as_str().unwrap().contains(at))
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect()
    };
    let order = |lines: &[String], expected: &[&str]| {
        let mut at = 0;
        for e in expected {
            match lines[at..].iter().position(|l| l.contains(e)) {
                Some(i) => at += i + 1,
                None => panic!("`{e}` missing or out of order in {lines:#?}"),
            }
        }
    };
    // The end of the canary bake: the check at 20%, the move to 100%, its notice; after
    // the final bake (30s x 3), the check at 100% and the success.
    order(
        &lines(0, "T09:03:00"),
        &["checks passed at 20%", "traffic", "traffic_shifted"],
    );
    order(
        &lines(0, "T09:04:30"),
        &["checks passed at 100%", "succeeded"],
    );
    // The alarm: the failed check, the traffic it restores, the rollback's line, its notice.
    order(
        &lines(2, "T10:10:30"),
        &[
            "traffic",
            "traffic step failed",
            "traffic",
            "rolled back",
            "rolled_back",
        ],
    );
}

/// `greenlight … | head`: the reader closes the pipe early. The command ends quietly with
/// exit code 0, not a panic about a broken pipe.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    for args in [&["demo", "--json"][..], &["completions", "bash"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("greenlight runs");
        // Read one chunk, then close the pipe, as `head -c` would.
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        out.read_exact(&mut first).unwrap();
        drop(out);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
