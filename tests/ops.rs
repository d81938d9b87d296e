//! The operating commands, run as a user runs them, against a moto server (started by the
//! tests on a loopback port) through the standard AWS_ENDPOINT_URL.

use std::process::{Command, Output};

use greenlight_aws::testing::{self, moto, query, unique, xml};
use greenlight_aws::AwsCloud;
use greenlight_core::notify::{EventKind, Notification};
use greenlight_core::ports::{
    DeadLetters, DeploymentRecord, Notifier, Outcome, Phase, StateStore, TriggerInfo,
};
use greenlight_core::{Arn, Digest, ImageRef};
use serde_json::Value;

struct Env {
    table: String,
    topic: String,
    state_machine: String,
}

fn greenlight(env: &Env, args: &[&str]) -> Output {
    greenlight_as(env, "testing", args)
}

/// The CLI run with the access key `key` (moto takes any; the approval endpoint below
/// tells keys apart).
fn greenlight_as(env: &Env, key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("GREENLIGHT_TABLE", &env.table)
        .env("GREENLIGHT_TOPIC", &env.topic)
        .env("GREENLIGHT_STATE_MACHINE", &env.state_machine)
        .output()
        .expect("greenlight runs")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn setup() -> (Env, AwsCloud) {
    let table = unique("greenlight-state");
    let cloud = testing::cloud(&table).await;
    testing::table(&cloud).await;
    let topic = cloud
        .sns
        .create_topic()
        .name(unique("greenlight"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let env = Env {
        table,
        topic,
        state_machine: "arn:aws:states:us-east-1:123456789012:stateMachine:greenlight-rollout"
            .into(),
    };
    (env, cloud)
}

/// The example configuration, stored as `config apply` would.
async fn store_example_config(cloud: &AwsCloud) {
    let config = greenlight_core::config::load(include_str!("../examples/greenlight.yaml"))
        .config
        .unwrap();
    cloud
        .put_config(&config, "version: 1\n", 0, "test", chrono::Utc::now())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn config_apply_show_and_diff() {
    let (env, cloud) = setup().await;
    let o = greenlight(&env, &["config", "diff", "examples/greenlight.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).lines().skip(1).all(|l| l.starts_with("+ ")),
        "nothing stored: every line is new"
    );
    let o = greenlight(
        &env,
        &["config", "apply", "examples/greenlight.yaml", "--dry-run"],
    );
    assert!(out(&o).contains("dry run: nothing written"), "{}", out(&o));
    assert!(cloud.get_config().await.unwrap().is_none());
    let o = greenlight(
        &env,
        &[
            "config",
            "apply",
            "examples/greenlight.yaml",
            "--by",
            "alice",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("applied: configuration version 1 (was 0)"),
        "{}",
        out(&o)
    );
    let o = greenlight(&env, &["config", "show", "--json"]);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (shown["version"].as_u64(), shown["updated_by"].as_str()),
        (Some(1), Some("alice"))
    );
    let expected = greenlight_core::config::load(
        &std::fs::read_to_string("examples/greenlight.yaml").unwrap(),
    )
    .config
    .unwrap();
    assert_eq!(
        serde_json::from_value::<greenlight_core::Config>(shown["config"].clone()).unwrap(),
        expected
    );
    assert!(out(&greenlight(
        &env,
        &["config", "diff", "examples/greenlight.yaml"]
    ))
    .contains("no differences"));
    assert!(out(&greenlight(
        &env,
        &["config", "apply", "examples/greenlight.yaml"]
    ))
    .contains("no changes"));
    // A change shows as a diff and bumps the version.
    let dir = std::env::temp_dir().join(unique("cfg"));
    std::fs::create_dir_all(&dir).unwrap();
    let changed = dir.join("greenlight.yaml");
    std::fs::write(
        &changed,
        std::fs::read_to_string("examples/greenlight.yaml")
            .unwrap()
            .replace("rollback_window: 30m", "rollback_window: 45m"),
    )
    .unwrap();
    let o = greenlight(&env, &["config", "apply", changed.to_str().unwrap()]);
    let text = out(&o);
    // The diff is of the YAML as written, in hunks with context.
    assert!(
        text.lines()
            .any(|l| l.starts_with("- ") && l.trim_end().ends_with("rollback_window: 30m")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("+ ") && l.trim_end().ends_with("rollback_window: 45m")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("@@ -")), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .count(),
        2,
        "only that line changed: {text}"
    );
    assert!(text.contains("version 2 (was 1)"), "{text}");
    // An invalid file writes nothing.
    let o = greenlight(&env, &["config", "apply", "tests/fixtures/broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("is not valid; nothing was written"),
        "{}",
        err(&o)
    );
    assert_eq!(cloud.get_config().await.unwrap().unwrap().version, 2);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_filter_what_arrives() {
    let (env, cloud) = setup().await;
    let mut queues = Vec::new();
    for name in ["prod-errors", "everything"] {
        let q = unique(name);
        let url = xml(
            &query("sqs", &[("Action", "CreateQueue"), ("QueueName", &q)]).await,
            "QueueUrl",
        );
        queues.push((format!("arn:aws:sqs:us-east-1:123456789012:{q}"), url));
    }
    let o = greenlight(
        &env,
        &[
            "subscribe",
            "--sqs",
            &queues[0].0,
            "--env",
            "prod",
            "--severity",
            "error",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let sub: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        sub["filter"],
        serde_json::json!({"environment": ["prod"], "severity": ["error", "critical"]})
    );
    let o = greenlight(&env, &["subscribe", "--sqs", &queues[1].0]);
    assert!(
        out(&o).contains("no filter: every notification"),
        "{}",
        out(&o)
    );
    let listed: Value =
        serde_json::from_slice(&greenlight(&env, &["subscriptions", "--json"]).stdout).unwrap();
    let filters: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["filter"].clone())
        .collect();
    assert!(
        filters.contains(
            &serde_json::json!({"environment": ["prod"], "severity": ["error", "critical"]})
        ),
        "{listed}"
    );

    let topic = Arn::parse(&env.topic).unwrap();
    for (kind, e) in [
        (EventKind::RolledBack, "prod"),
        (EventKind::Started, "prod"),
        (EventKind::RolledBack, "staging"),
    ] {
        cloud
            .publish(
                &topic,
                &Notification::new(kind, "web", e, chrono::Utc::now()),
            )
            .await
            .unwrap();
    }
    let received = |url: String| async move {
        let body = query(
            "sqs",
            &[
                ("Action", "ReceiveMessage"),
                ("QueueUrl", &url),
                ("MaxNumberOfMessages", "10"),
                ("WaitTimeSeconds", "1"),
            ],
        )
        .await;
        body.matches("<Message>").count()
    };
    assert_eq!(
        received(queues[0].1.clone()).await,
        1,
        "only prod errors pass the filter"
    );
    assert_eq!(received(queues[1].1.clone()).await, 3);

    let arn = sub["subscription"].as_str().unwrap();
    assert_eq!(
        greenlight(&env, &["unsubscribe", arn]).status.code(),
        Some(0)
    );
    let listed: Value =
        serde_json::from_slice(&greenlight(&env, &["subscriptions", "--json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Bad input is refused before anything is created.
    let o = greenlight(&env, &["subscribe", "--sqs", "my-queue"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("is not an SQS queue ARN"), "{}", err(&o));
    let o = greenlight(
        &env,
        &[
            "subscribe",
            "--email",
            "ops@example.com",
            "--severity",
            "loud",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "a usage error");
}

fn record(id: &str, started: i64, outcome: Option<Outcome>) -> DeploymentRecord {
    DeploymentRecord {
        announced: Vec::new(),
        id: id.into(),
        app: "web".into(),
        environment: "prod".into(),
        image: ImageRef {
            repository: "web".into(),
            digest: Digest::parse(&format!("sha256:{}", "4".repeat(64))).unwrap(),
        },
        tag: Some(format!("v{started}")),
        trigger: TriggerInfo::Promotion {
            from: "staging".into(),
            by: "alice".into(),
        },
        phase: if outcome.is_some() {
            Phase::Done
        } else {
            Phase::AwaitingApproval
        },
        colour: None,
        task_definition: None,
        weight: 0,
        started_at: chrono::DateTime::from_timestamp(1_800_000_000 + started, 0).unwrap(),
        ended_at: None,
        outcome,
        reason: outcome.map(|_| "because".to_string()),
        reverted_at: None,
        rollback_until: None,
        stop_requested: None,
        analysis: None,
        approved_by: None,
        source: Default::default(),
        version: 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn history_and_approval_refusals() {
    let (env, cloud) = setup().await;
    cloud
        .put_deployment(&record("web-prod-1", 1, Some(Outcome::Succeeded)))
        .await
        .unwrap();
    cloud
        .put_deployment(&record("web-prod-2", 2, Some(Outcome::RolledBack)))
        .await
        .unwrap();
    cloud
        .put_deployment(&record("web-prod-3", 3, None))
        .await
        .unwrap();
    let o = greenlight(&env, &["history", "web", "--env", "prod", "--json"]);
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["web-prod-3", "web-prod-2", "web-prod-1"]);
    let text = out(&greenlight(
        &env,
        &["history", "web", "--env", "prod", "--limit", "2"],
    ));
    assert!(
        text.contains("web-prod-2")
            && text.contains("rolled_back")
            && text.contains("promotion from staging by alice"),
        "{text}"
    );
    assert!(!text.contains("web-prod-1"), "--limit 2: {text}");

    // Approvals are signed requests to the approval URL. Here the URL is a local endpoint
    // that checks the SigV4 signature the CLI made, stands in for AWS's authentication
    // (the key `testing` is the session `ops-lead/alice`, the key `intruder` a developer),
    // and runs the real approval handler against moto.
    store_example_config(&cloud).await;
    let url = approval_endpoint(cloud.clone()).await;
    let approve = |args: &[&str], key: &str| {
        let mut all = vec!["--approval-url", url.as_str()];
        all.extend_from_slice(args);
        greenlight_as(&env, key, &all)
    };
    let o = approve(&["approve", "web-prod-9"], "testing");
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no deployment web-prod-9"), "{}", err(&o));
    let o = approve(&["reject", "web-prod-1", "--reason", "no"], "testing");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("web-prod-1 is not waiting for approval"),
        "{}",
        err(&o)
    );
    // Waiting, with a stored token: the answer goes to Step Functions (moto accepts any token).
    cloud
        .put_task_token(
            "web-prod-3",
            greenlight_core::ports::TokenPurpose::Approval,
            "token-3",
            &[],
        )
        .await
        .unwrap();
    let waiting = || async {
        cloud
            .get_task_token("web-prod-3", greenlight_core::ports::TokenPurpose::Approval)
            .await
            .unwrap()
            .is_some()
    };
    // Somebody who is not an approver: refused, nothing answered.
    let o = approve(&["approve", "web-prod-3"], "intruder");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains("assumed-role/developer/mallory is not an approver of web/prod"),
        "{}",
        err(&o)
    );
    assert!(waiting().await, "a refused approval answers nothing");
    // An approver: approved, and the history names the principal AWS authenticated.
    let o = approve(&["approve", "web-prod-3"], "testing");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let alice = "arn:aws:sts::123456789012:assumed-role/ops-lead/alice";
    assert_eq!(out(&o).trim(), format!("approved web-prod-3 as {alice}"));
    assert!(!waiting().await, "answered once");
    let recorded = cloud.get_deployment("web-prod-3").await.unwrap().unwrap();
    assert_eq!(recorded.approved_by.as_deref(), Some(alice));
    // The endpoint does check signatures: the CLI's request with its body changed after
    // signing is refused.
    let o = approve(&["approve", "web-prod-3"], "testing");
    assert_eq!(o.status.code(), Some(1)); // (answered already: 409 from the handler)
    let tampered = {
        use std::io::{Read, Write};
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let body = r#"{"deployment":"web-prod-3","decision":"approve"}"#;
        write!(s, "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-amz-date: 20261130T000000Z\r\nauthorization: AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={}\r\ncontent-length: {}\r\n\r\n{body}", "0".repeat(64), body.len()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(tampered.starts_with("HTTP/1.1 403"), "{tampered}");
    // Without the URL the command says where to find it.
    let o = greenlight(&env, &["approve", "web-prod-3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("GREENLIGHT_APPROVAL_URL"), "{}", err(&o));
}

/// A local stand-in for the approval URL: verifies the request's SigV4 signature (service
/// `lambda`, secret `testing`), maps the access key to a principal as AWS would, and runs
/// the real approval handler against `cloud`. Answers 403 to a request whose signature
/// does not verify. Returns the URL.
async fn approval_endpoint(cloud: AwsCloud) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let base = url.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let (status, answer) = match verify(&base, &header, &body) {
                Err(why) => (403, serde_json::json!({"Message": why}).to_string()),
                Ok(key) => {
                    let principal = match key.as_str() {
                        "testing" => "arn:aws:sts::123456789012:assumed-role/ops-lead/alice",
                        _ => "arn:aws:sts::123456789012:assumed-role/developer/mallory",
                    };
                    let settings = greenlight_lambda::Settings {
                        table: cloud.table.clone(),
                        topic: Arn::parse("arn:aws:sns:us-east-1:123456789012:greenlight").unwrap(),
                        state_machine: None,
                    };
                    let event = greenlight::simulation::approval_request(principal, &body);
                    let r =
                        greenlight_lambda::handlers::approve_url(cloud.clone(), settings, event)
                            .await
                            .unwrap();
                    (r.status_code, r.body)
                }
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    url
}

/// Checks a request's SigV4 signature by signing the same request again with the secret
/// `testing`; returns the access key it was signed with.
fn verify(url: &str, header: &dyn Fn(&str) -> String, body: &str) -> Result<String, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let authorization = header("authorization");
    let credential = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .ok_or("no SigV4 Authorization header")?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[3] != "lambda" || scope[4] != "aws4_request" {
        return Err(format!("not signed for lambda: {credential}"));
    }
    let (key, region) = (scope[0].to_string(), scope[2].to_string());
    let time = chrono::NaiveDateTime::parse_from_str(&header("x-amz-date"), "%Y%m%dT%H%M%SZ")
        .map_err(|e| format!("x-amz-date: {e}"))?
        .and_utc();
    let identity =
        aws_credential_types::Credentials::new(&key, "testing", None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("lambda")
        .time(time.into())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let content_type = header("content-type");
    let signable = SignableRequest::new(
        "POST",
        url,
        [("content-type", content_type.as_str())].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let expected = instructions
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    if expected == authorization {
        Ok(key)
    } else {
        Err(format!(
            "the signature does not verify: got {authorization}, expected {expected}"
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_and_status_read_what_runs_in_aws() {
    let (env, cloud) = setup().await;
    // An environment pair in moto: a load balancer, target groups, listeners, ECS services.
    let (listener, blue, green) = testing::blue_green_listener(&cloud).await;
    let tgs = [blue.to_string(), green.to_string()];
    let cluster = unique("cluster");
    cloud
        .ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let digest = format!("sha256:{}", "7".repeat(64));
    let image = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{digest}");
    let td = cloud
        .ecs
        .register_task_definition()
        .family(unique("web"))
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image(&image)
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    for svc in ["web-blue", "web-green"] {
        cloud
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name(svc)
            .task_definition(&td)
            .desired_count(1)
            .send()
            .await
            .unwrap();
    }
    let yaml = format!(
        "version: 1\napps:\n  web:\n    repository: web\n    container: app\n    environments:\n      staging:\n        trigger: {{ on_push: {{ tags: [\"v*\"] }} }}\n        cluster: {cluster}\n        services: {{ blue: web-blue, green: web-green }}\n        target_groups: {{ blue: {}, green: {} }}\n        listeners: {{ production: {listener} }}\n        strategy: all_at_once\n      prod:\n        trigger: {{ promote_from: staging }}\n        cluster: {cluster}\n        services: {{ blue: web-blue, green: web-green }}\n        target_groups: {{ blue: {}, green: {} }}\n        listeners: {{ production: {listener} }}\n        strategy: all_at_once\n",
        tgs[0], tgs[1], tgs[0], tgs[1]
    );
    let dir = std::env::temp_dir().join(unique("promote"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("greenlight.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = greenlight(&env, &["config", "apply", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));

    let status: Value = serde_json::from_slice(
        &greenlight(&env, &["status", "web", "--env", "staging", "--json"]).stdout,
    )
    .unwrap();
    let row = &status["environments"][0];
    assert_eq!(row["live"], "blue");
    assert_eq!(row["image"], image.as_str());
    assert_eq!(row["weights"], "blue 100%");

    // Nothing has succeeded in staging through greenlight (the live image was deployed by
    // hand): promotion is refused, nothing starts.
    let o = greenlight(
        &env,
        &["promote", "web", "--from", "staging", "--to", "prod"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("nothing has succeeded in web/staging yet"),
        "{}",
        err(&o)
    );
    let other = format!("sha256:{}", "8".repeat(64));
    let o = greenlight(
        &env,
        &[
            "promote", "web", "--from", "staging", "--to", "prod", "--digest", &other,
        ],
    );
    assert!(
        err(&o).contains("never succeeded in web/staging"),
        "{}",
        err(&o)
    );
    let o = greenlight(
        &env,
        &["promote", "web", "--from", "prod", "--to", "staging"],
    );
    assert!(
        err(&o).contains("does not take promotions from `prod`"),
        "{}",
        err(&o)
    );
    let o = greenlight(
        &env,
        &[
            "promote", "web", "--from", "staging", "--to", "prod", "--digest", "latest",
        ],
    );
    assert!(err(&o).contains("--digest"), "{}", err(&o));

    // A digest that succeeded in staging before may be promoted (health is the past
    // deployment's): the execution starts with the promotion's input.
    cloud
        .ecr
        .create_repository()
        .repository_name("web")
        .send()
        .await
        .ok();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": format!("sha256:{}", "9".repeat(64))}});
    let put = cloud
        .ecr
        .put_image()
        .repository_name("web")
        .image_manifest(manifest.to_string())
        .image_tag("v9.0.0")
        .send()
        .await
        .unwrap();
    let proven = Digest::parse(
        put.image()
            .unwrap()
            .image_id()
            .unwrap()
            .image_digest()
            .unwrap(),
    )
    .unwrap();
    let mut past = record("web-staging-proven", 1, Some(Outcome::Succeeded));
    past.environment = "staging".into();
    past.image.digest = proven.clone();
    cloud.put_deployment(&past).await.unwrap();
    let definition =
        serde_json::json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let sm = cloud
        .sfn
        .create_state_machine()
        .name(unique("rollout"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/r")
        .send()
        .await
        .unwrap();
    let env = Env {
        state_machine: sm.state_machine_arn().to_string(),
        ..env
    };
    let o = greenlight(
        &env,
        &[
            "promote",
            "web",
            "--from",
            "staging",
            "--to",
            "prod",
            "--digest",
            proven.as_str(),
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let exec = p["start"]["arn"].as_str().unwrap();
    let described = cloud
        .sfn
        .describe_execution()
        .execution_arn(exec)
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input["environment"], "prod");
    assert_eq!(input["image"]["digest"], proven.as_str());
    assert_eq!(input["tag"], "v9.0.0");
    assert_eq!(
        input["trigger"],
        serde_json::json!({"kind": "promotion", "from": "staging", "by": "arn:aws:sts::123456789012:user/moto"}),
        "the promotion's author is the caller STS names, not a name typed"
    );
    // Again: nothing new starts.
    let o = greenlight(
        &env,
        &[
            "promote",
            "web",
            "--from",
            "staging",
            "--to",
            "prod",
            "--digest",
            proven.as_str(),
        ],
    );
    assert!(out(&o).contains("exists already"), "{}", out(&o));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_and_what_cannot_be_replayed_stays() {
    let (env, cloud) = setup().await;
    let queue = cloud
        .sqs
        .create_queue()
        .queue_name(unique("dead-letters"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let alarm = serde_json::json!({"source": "aws.cloudwatch", "detail": {"alarmName": "web-prod-5xx", "state": {"value": "ALARM"}}});
    for body in [alarm.to_string(), "not an event".to_string()] {
        cloud
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let with_queue = |args: &[&str]| {
        let mut all = vec!["dead-letters", "--dead-letters", queue.as_str()];
        all.extend_from_slice(args);
        greenlight(&env, &all)
    };
    let o = with_queue(&["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kinds: Vec<&str> = listed["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["alarm_change", "unknown"]);
    // Listing leaves them in the queue; a replay drops the alarm change, keeps the rest,
    // and exits 1 because something is left.
    let o = with_queue(&[]);
    assert!(out(&o).contains("2 dead letter(s)"), "{}", out(&o));
    let o = with_queue(&["--replay"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("1 dead letter(s) handled, 1 left in the queue"),
        "{}",
        out(&o)
    );
    let left = cloud
        .dead_letters(&queue, 10, greenlight_core::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "not an event");
}

/// `greenlight report` against the store on moto: the DORA measures of the deployments of
/// the last day (one succeeded 30 minutes after it started, one rolled back after 5).
#[tokio::test(flavor = "multi_thread")]
async fn report_measures_the_history_of_the_period() {
    let (env, cloud) = setup().await;
    store_example_config(&cloud).await;
    let now = chrono::Utc::now();
    let mut ok = record("web-prod-ok", 0, Some(Outcome::Succeeded));
    let mut bad = record("web-prod-bad", 0, Some(Outcome::RolledBack));
    for (r, started, lasted) in [(&mut ok, 120, 30), (&mut bad, 60, 5)] {
        r.colour = Some(greenlight_core::Colour::Green);
        r.started_at = now - chrono::TimeDelta::minutes(started);
        r.ended_at = Some(r.started_at + chrono::TimeDelta::minutes(lasted));
        cloud.put_deployment(r).await.unwrap();
    }
    ok.image.digest = Digest::parse(&format!("sha256:{}", "5".repeat(64))).unwrap();
    let o = greenlight(
        &env,
        &["report", "web", "--env", "prod", "--since", "1d", "--json"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let prod = &r["environments"][0];
    assert_eq!(prod["environment"], "prod");
    assert_eq!(
        (
            prod["started"].as_u64(),
            prod["succeeded"].as_u64(),
            prod["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(prod["change_failure_rate"], 0.5);
    assert_eq!(prod["time_to_restore_seconds"], 300);
    // Both records have the same digest: its first deployment (the rolled back one, an
    // hour before) is where the lead time starts... no: the earlier one is the success,
    // two hours ago, which lasted 30 minutes.
    assert_eq!(prod["lead_time_seconds"], 1800);
    let text = out(&greenlight(
        &env,
        &["report", "web", "--env", "prod", "--since", "1d"],
    ));
    assert!(
        text.contains("web/prod") && text.contains("50%") && text.contains("5m"),
        "{text}"
    );
    let unknown = greenlight(&env, &["report", "web", "--env", "qa"]);
    assert_eq!(unknown.status.code(), Some(1));
}

/// `--stack NAME` (or `GREENLIGHT_STACK`): the table, topic and state machine come from the
/// stack's outputs (CloudFormation DescribeStacks on moto), with no variable set; a flag
/// still wins over an output; a stack that does not exist is named in the error.
#[tokio::test(flavor = "multi_thread")]
async fn the_stack_is_found_by_its_name() {
    let (env, cloud) = setup().await;
    store_example_config(&cloud).await;
    let name = unique("greenlight");
    let template = serde_json::json!({
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateTableName": {"Value": env.table},
            "TopicArn": {"Value": env.topic},
            "StateMachineArn": {"Value": env.state_machine},
        }
    });
    let cfn = greenlight_aws::stacks::CloudFormation::new(&cloud.sdk);
    cfn.client
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let run = |args: &[&str], stack_env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_greenlight"));
        c.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ENDPOINT_URL", &moto().endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("GREENLIGHT_TABLE")
            .env_remove("GREENLIGHT_TOPIC")
            .env_remove("GREENLIGHT_STATE_MACHINE")
            .env_remove("GREENLIGHT_STACK");
        if let Some(s) = stack_env {
            c.env("GREENLIGHT_STACK", s);
        }
        c.output().expect("greenlight runs")
    };
    let o = run(&["--stack", &name, "config", "show", "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["version"], 1);
    let o = run(&["history", "web", "--env", "prod", "--json"], Some(&name));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // Nothing to find it by: the error says how.
    let o = run(&["config", "show"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("--stack NAME"), "{}", err(&o));
    // A flag wins over the output: this table does not exist.
    let o = run(
        &[
            "--stack",
            &name,
            "--table",
            "no-such-table",
            "config",
            "show",
        ],
        None,
    );
    assert_ne!(o.status.code(), Some(0));
    let o = run(&["--stack", "no-such-stack", "config", "show"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no stack no-such-stack"), "{}", err(&o));
}
