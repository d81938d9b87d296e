//! What the outside world hands the simulated stack: signed approval requests, push
//! events, and digests named after images.

#[allow(unused_imports)]
use super::*;

/// The approval URL of a simulated stack, called as `principal` (what AWS would
/// authenticate): the real approval handler behind it.
pub struct SignedIn<'a> {
    pub simulation: &'a Simulation,
    pub principal: String,
}

impl greenlight_core::ports::ApprovalUrl for SignedIn<'_> {
    async fn send_decision(
        &self,
        _url: &str,
        decision: &greenlight_core::usecase::approval::Decision,
    ) -> greenlight_core::ports::PortResult<(u16, String)> {
        let request = approval_request(
            &self.principal,
            &serde_json::to_string(decision).expect("serializes"),
        );
        let answer = as_function(
            "approve",
            handlers::approve_url(
                self.simulation.sim.clone(),
                self.simulation.settings.clone(),
                request,
            ),
        )
        .await
        .map_err(|f| PortError::Invalid {
            operation: "lambda:InvokeFunctionUrl".into(),
            message: f.to_string(),
        })?;
        let body: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        Ok((
            answer.status_code,
            body["message"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

/// The principal a rehearsal's `by` stands for: an ARN as given, else a session (of that
/// name) of the role of that name in the simulated account.
pub fn principal_of(by: &str) -> String {
    if by.starts_with("arn:") {
        by.to_string()
    } else {
        format!("arn:aws:sts::123456789012:assumed-role/{by}/{by}")
    }
}

/// What Lambda hands the approval function for a signed POST to its URL.
pub fn approval_request(principal: &str, body: &str) -> Value {
    json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "requestId": "r-1",
            "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AROAEXAMPLE:session", "userArn": principal, "userId": "AROAEXAMPLE:session"}},
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "greenlight"},
            "domainName": "example.lambda-url.eu-west-1.on.aws", "time": "20/Nov/2026:09:00:00 +0000", "timeEpoch": 1795165200000u64
        },
        "body": body, "isBase64Encoded": false
    })
}

/// A CloudWatch alarm's change to ALARM as EventBridge delivers it.
/// `(account, region)` is where the alarm is: the stack's, or a target account's that
/// forwards its alarm state changes to the stack's bus (the event keeps its origin).
pub fn alarm_event(
    name: &str,
    reason: &str,
    at: DateTime<Utc>,
    (account, region): (&str, &str),
) -> Value {
    json!({
        "version": "0", "id": format!("alarm-{name}-{}", at.timestamp()),
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": account, "region": region,
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "detail": {"alarmName": name, "state": {"value": "ALARM", "reason": reason}},
    })
}

/// An ECR push event as EventBridge delivers it.
pub fn push_event(repository: &str, tag: &str, digest: &Digest, at: DateTime<Utc>) -> Value {
    push_event_of(repository, Some(tag), digest, at)
}

/// An ECR push event; without a tag, a push by digest (ECR omits `image-tag`).
pub fn push_event_of(
    repository: &str,
    tag: Option<&str>,
    digest: &Digest,
    at: DateTime<Utc>,
) -> Value {
    let mut detail = json!({"result": "SUCCESS", "repository-name": repository, "image-digest": digest.to_string(), "action-type": "PUSH"});
    if let Some(tag) = tag {
        detail["image-tag"] = json!(tag);
    }
    json!({
        "version": "0", "id": format!("push-{}-{}", &digest.hex()[..8], tag.unwrap_or("untagged")),
        "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "eu-west-1", "resources": [],
        "detail": detail
    })
}

/// A digest made from a short name, for examples and scenarios (`v2` → sha256 of its bytes
/// repeated), so the same name always gives the same digest.
pub fn digest_for(name: &str) -> Digest {
    let mut hex = String::new();
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    while hex.len() < 64 {
        for b in name.bytes().chain(hex.len().to_le_bytes()) {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{state:016x}"));
    }
    Digest::parse(&format!("sha256:{}", &hex[..64])).expect("64 hex digits")
}
