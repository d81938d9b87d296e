//! Notifications: what happened, how much it matters, and how it reads in an e-mail, to a
//! program, and in a chat channel.
//!
//! Every notification carries the SNS message attributes `app`, `environment`, `event` and
//! `severity`, so subscriptions filter on them (`greenlight subscribe --severity error`).
//! One SNS publish carries all renderings (`MessageStructure: json`): e-mail and the default
//! get plain text, SQS and Lambda get greenlight's JSON, HTTPS gets the AWS Chatbot
//! custom-notification format (Chatbot subscribes to topics over HTTPS).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Colour;

/// What happened.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    ApprovalRequested,
    TrafficShifted,
    Succeeded,
    RolledBack,
    RollbackFailed,
    Rejected,
    Superseded,
    /// A person stopped a running deployment; traffic went back.
    Aborted,
    /// A deployment lost its environment's lock and stopped without touching traffic.
    LockLost,
    Ignored,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Started,
        EventKind::ApprovalRequested,
        EventKind::TrafficShifted,
        EventKind::Succeeded,
        EventKind::RolledBack,
        EventKind::RollbackFailed,
        EventKind::Rejected,
        EventKind::Superseded,
        EventKind::Aborted,
        EventKind::LockLost,
        EventKind::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::ApprovalRequested => "approval_requested",
            EventKind::TrafficShifted => "traffic_shifted",
            EventKind::Succeeded => "succeeded",
            EventKind::RolledBack => "rolled_back",
            EventKind::RollbackFailed => "rollback_failed",
            EventKind::Rejected => "rejected",
            EventKind::Superseded => "superseded",
            EventKind::Aborted => "aborted",
            EventKind::LockLost => "lock_lost",
            EventKind::Ignored => "ignored",
        }
    }

    /// How much each kind matters unless said otherwise.
    pub fn default_severity(self) -> Severity {
        match self {
            EventKind::Started
            | EventKind::TrafficShifted
            | EventKind::Succeeded
            | EventKind::Ignored => Severity::Info,
            EventKind::ApprovalRequested
            | EventKind::Rejected
            | EventKind::Superseded
            | EventKind::Aborted => Severity::Warn,
            EventKind::RolledBack => Severity::Error,
            EventKind::RollbackFailed | EventKind::LockLost => Severity::Critical,
        }
    }

    /// Whether this kind ends a deployment.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventKind::Succeeded
                | EventKind::RolledBack
                | EventKind::RollbackFailed
                | EventKind::Rejected
                | EventKind::Superseded
                | EventKind::Aborted
                | EventKind::LockLost
        )
    }

    fn headline(self) -> &'static str {
        match self {
            EventKind::Started => "deployment started",
            EventKind::ApprovalRequested => "approval needed",
            EventKind::TrafficShifted => "traffic shifted",
            EventKind::Succeeded => "deployed",
            EventKind::RolledBack => "rolled back",
            EventKind::RollbackFailed => "ROLLBACK FAILED",
            EventKind::Rejected => "rejected",
            EventKind::Superseded => "superseded",
            EventKind::Aborted => "stopped by an operator",
            EventKind::LockLost => "LOCK LOST",
            EventKind::Ignored => "ignored",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// This severity and every one above it, for "at least" filters.
    pub fn and_above(self) -> Vec<Severity> {
        [
            Severity::Info,
            Severity::Warn,
            Severity::Error,
            Severity::Critical,
        ]
        .into_iter()
        .filter(|s| *s >= self)
        .collect()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where traffic stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Traffic {
    /// The colour receiving the new image.
    pub colour: Colour,
    /// Percent of production traffic on it.
    pub weight: u8,
    /// 1-based step number, of `steps`.
    pub step: usize,
    pub steps: usize,
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    pub event: EventKind,
    pub severity: Severity,
    pub app: String,
    pub environment: String,
    /// The deployment (Step Functions execution name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// `repository@digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub time: DateTime<Utc>,
    /// Why, for failures, rejections and ignored events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// The canary analysis's last verdict, in one line (`analysis at 10%: pass (…)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// What a person should do next, if anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    /// The ARN of the Step Functions execution of the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// The ARN of the ECS service receiving the new image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The commit the image was built from (its `org.opencontainers.image.revision` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The detail-type of greenlight's events on EventBridge.
pub const EVENT_DETAIL_TYPE: &str = "Greenlight Deployment State Change";
/// The source of greenlight's events on EventBridge.
pub const EVENT_SOURCE: &str = "greenlight";

/// One event for EventBridge's `PutEvents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    pub source: String,
    pub detail_type: String,
    /// The event's `detail` (a JSON object).
    pub detail: serde_json::Value,
    /// ARNs the event concerns (EventBridge's `resources`).
    pub resources: Vec<String>,
    pub time: DateTime<Utc>,
}

/// The AWS console page of an ARN that has one: a Step Functions execution, an ECS service.
pub fn console_url(arn: &str) -> Option<String> {
    let a = crate::arn::Arn::parse(arn).ok()?;
    let p = a.parts().ok()?;
    let host = match p.partition {
        "aws" => format!("{}.console.aws.amazon.com", p.region),
        "aws-cn" => format!("{}.console.amazonaws.cn", p.region),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_string(),
        _ => return None,
    };
    match p.service {
        "states" if p.resource.starts_with("execution:") => Some(format!(
            "https://{host}/states/home?region={}#/v2/executions/details/{arn}",
            p.region
        )),
        "ecs" => {
            let (cluster, service) = p.resource.strip_prefix("service/")?.split_once('/')?;
            Some(format!(
                "https://{host}/ecs/v2/clusters/{cluster}/services/{service}/health?region={}",
                p.region
            ))
        }
        _ => None,
    }
}

/// The attribute value used when an event concerns no known app or environment.
pub const UNKNOWN: &str = "unknown";

impl Notification {
    pub fn new(event: EventKind, app: &str, environment: &str, time: DateTime<Utc>) -> Self {
        let or_unknown = |s: &str| {
            if s.is_empty() {
                UNKNOWN.to_string()
            } else {
                s.to_string()
            }
        };
        Notification {
            event,
            severity: event.default_severity(),
            app: or_unknown(app),
            environment: or_unknown(environment),
            deployment: None,
            image: None,
            tag: None,
            time,
            reason: None,
            analysis: None,
            traffic: None,
            next_steps: Vec::new(),
            execution: None,
            service: None,
            revision: None,
        }
    }

    /// The console pages of the execution and the service, as (name, URL).
    pub fn links(&self) -> Vec<(&'static str, String)> {
        [("execution", &self.execution), ("service", &self.service)]
            .into_iter()
            .filter_map(|(name, arn)| Some((name, console_url(arn.as_deref()?)?)))
            .collect()
    }

    /// The ARNs this notification concerns.
    pub fn resources(&self) -> Vec<String> {
        [&self.execution, &self.service]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// The notification as an EventBridge event: greenlight's JSON form as `detail`, with
    /// the console links added as `links`, and the execution and service as `resources`.
    pub fn bus_event(&self) -> BusEvent {
        let mut detail = self.json();
        detail["links"] = json!(self.links().into_iter().collect::<BTreeMap<_, _>>());
        BusEvent {
            source: EVENT_SOURCE.into(),
            detail_type: EVENT_DETAIL_TYPE.into(),
            detail,
            resources: self.resources(),
            time: self.time,
        }
    }

    /// The SNS message attributes (all of type String, never empty).
    pub fn attributes(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("app", self.app.clone()),
            ("environment", self.environment.clone()),
            ("event", self.event.as_str().to_string()),
            ("severity", self.severity.as_str().to_string()),
        ])
    }

    fn what(&self) -> String {
        match (&self.tag, &self.image) {
            (Some(tag), _) => tag.clone(),
            (None, Some(image)) => short_image(image),
            (None, None) => String::new(),
        }
    }

    /// An e-mail subject: printable ASCII, one line, at most 100 characters (SNS's limits).
    pub fn subject(&self) -> String {
        let marker = match self.severity {
            Severity::Critical => "[CRITICAL] ",
            Severity::Error => "[ERROR] ",
            _ => "",
        };
        let what = self.what();
        let raw = if what.is_empty() {
            format!(
                "{marker}{}/{}: {}",
                self.app,
                self.environment,
                self.event.headline()
            )
        } else {
            format!(
                "{marker}{}/{}: {} {what}",
                self.app,
                self.environment,
                self.event.headline()
            )
        };
        let ascii: String = raw
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        truncate(&ascii, 100)
    }

    /// Plain text, for e-mail and terminals.
    pub fn text(&self) -> String {
        let mut lines = vec![self.subject(), String::new()];
        let mut field = |name: &str, value: &str| lines.push(format!("{name:<12}{value}"));
        field("app", &self.app);
        field("environment", &self.environment);
        field("event", &format!("{} ({})", self.event, self.severity));
        if let Some(d) = &self.deployment {
            field("deployment", d);
        }
        if let Some(i) = &self.image {
            field("image", i);
        }
        if let Some(t) = &self.tag {
            field("tag", t);
        }
        if let Some(r) = &self.revision {
            field("revision", r);
        }
        if let Some(t) = &self.traffic {
            field(
                "traffic",
                &format!(
                    "{}% on {} (step {} of {})",
                    t.weight, t.colour, t.step, t.steps
                ),
            );
        }
        if let Some(r) = &self.reason {
            field("reason", r);
        }
        if let Some(a) = &self.analysis {
            field("analysis", a);
        }
        field(
            "time",
            &self.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        for (name, url) in self.links() {
            field(name, &url);
        }
        if !self.next_steps.is_empty() {
            lines.push(String::new());
            lines.push("Next steps:".into());
            lines.extend(self.next_steps.iter().map(|s| format!("  - {s}")));
        }
        lines.join("\n") + "\n"
    }

    /// greenlight's JSON form (the serde form of this type).
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a notification always serializes")
    }

    /// The AWS Chatbot (Amazon Q Developer in chat applications) custom notification.
    pub fn chatbot(&self) -> serde_json::Value {
        let icon = match self.severity {
            Severity::Info => ":large_green_circle:",
            Severity::Warn => ":large_yellow_circle:",
            Severity::Error => ":red_circle:",
            Severity::Critical => ":rotating_light:",
        };
        let mut description = Vec::new();
        if let Some(i) = &self.image {
            description.push(format!("*Image:* `{i}`"));
        }
        if let Some(r) = &self.revision {
            description.push(format!("*Revision:* `{r}`"));
        }
        if let Some(t) = &self.traffic {
            description.push(format!(
                "*Traffic:* {}% on {} (step {}/{})",
                t.weight, t.colour, t.step, t.steps
            ));
        }
        if let Some(r) = &self.reason {
            description.push(format!("*Reason:* {r}"));
        }
        if let Some(a) = &self.analysis {
            description.push(format!("*Analysis:* {a}"));
        }
        let links: Vec<String> = self
            .links()
            .into_iter()
            .map(|(name, url)| format!("<{url}|{name}>"))
            .collect();
        if !links.is_empty() {
            description.push(format!("*Console:* {}", links.join(" · ")));
        }
        let mut context = serde_json::Map::new();
        for (k, v) in self.attributes() {
            context.insert(k.to_string(), json!(v));
        }
        if let Some(d) = &self.deployment {
            context.insert("deployment".into(), json!(d));
        }
        let thread = self
            .deployment
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.app, self.environment));
        let mut out = json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": format!("{icon} {}", self.subject()),
                "description": description.join("\n"),
                "keywords": [self.app, self.environment, self.event.as_str(), self.severity.as_str()],
            },
            "metadata": {
                "threadId": thread,
                "summary": self.subject(),
                "eventType": self.event.as_str(),
                "additionalContext": context,
            }
        });
        if !self.next_steps.is_empty() {
            out["content"]["nextSteps"] = json!(self.next_steps);
        }
        if !self.resources().is_empty() {
            out["metadata"]["relatedResources"] = json!(self.resources());
        }
        out
    }

    /// The body of one SNS publish with `MessageStructure: json`. Byte-for-byte the same
    /// for the same notification (keys sorted), whatever JSON map order the build uses.
    pub fn sns_message(&self) -> String {
        let text = self.text();
        let json = serde_json::to_string(self).expect("a notification always serializes");
        let bodies = std::collections::BTreeMap::from([
            ("default", text.clone()),
            ("email", text),
            ("email-json", json.clone()),
            ("sqs", json.clone()),
            ("lambda", json.clone()),
            ("https", crate::json::sort_keys(&self.chatbot()).to_string()),
            ("http", json),
        ]);
        serde_json::to_string(&bodies).expect("strings serialize")
    }
}

fn short_image(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((repo, hex)) if hex.len() >= 12 => format!("{repo}@{}", &hex[..12]),
        _ => image.to_string(),
    }
}

/// Cuts to at most `max` characters, ending with `...` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 3).collect();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn sample(event: EventKind) -> Notification {
        let mut n = Notification::new(
            event,
            "web",
            "prod",
            Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
        );
        n.deployment = Some("web-prod-0123456789abcdef".into());
        n.image = Some(format!("web@sha256:{}", "ab".repeat(32)));
        n.tag = Some("v2.0.0".into());
        n
    }

    #[test]
    fn attributes_are_the_four_filter_keys() {
        let mut n = sample(EventKind::RolledBack);
        n.reason = Some("alarm web-prod-5xx went to ALARM".into());
        let a = n.attributes();
        assert_eq!(
            a.keys().copied().collect::<Vec<_>>(),
            ["app", "environment", "event", "severity"]
        );
        assert_eq!(a["event"], "rolled_back");
        assert_eq!(a["severity"], "error");
        assert!(a.values().all(|v| !v.is_empty()));
        assert_eq!(
            Notification::new(EventKind::Ignored, "", "", n.time).attributes()["app"],
            UNKNOWN
        );
    }

    #[test]
    fn text_reads_well() {
        let mut n = sample(EventKind::TrafficShifted);
        n.traffic = Some(Traffic {
            colour: Colour::Green,
            weight: 10,
            step: 1,
            steps: 2,
        });
        let text = n.text();
        assert!(
            text.starts_with("web/prod: traffic shifted v2.0.0\n"),
            "{text}"
        );
        assert!(
            text.contains("traffic     10% on green (step 1 of 2)"),
            "{text}"
        );
        assert!(text.contains("time        2026-11-20T12:00:00Z"));
    }

    #[test]
    fn severe_subjects_say_so() {
        let n = sample(EventKind::RollbackFailed);
        assert_eq!(n.subject(), "[CRITICAL] web/prod: ROLLBACK FAILED v2.0.0");
    }

    #[test]
    fn chatbot_format_has_the_required_fields() {
        let mut n = sample(EventKind::ApprovalRequested);
        n.next_steps = vec!["greenlight approve web-prod-0123456789abcdef".into()];
        let c = n.chatbot();
        assert_eq!(c["version"], "1.0");
        assert_eq!(c["source"], "custom");
        assert_eq!(c["content"]["textType"], "client-markdown");
        assert_eq!(c["metadata"]["threadId"], "web-prod-0123456789abcdef");
        assert_eq!(
            c["content"]["nextSteps"][0],
            "greenlight approve web-prod-0123456789abcdef"
        );
        assert_eq!(c["metadata"]["additionalContext"]["severity"], "warn");
    }

    /// The console pages of an execution and a service, in text, in Chatbot's description
    /// and related resources; nothing for an ARN without a page, or a malformed one.
    #[test]
    fn notifications_link_to_the_console() {
        let execution =
            "arn:aws:states:eu-west-1:123456789012:execution:greenlight-rollout:web-prod-1";
        let service = "arn:aws:ecs:eu-west-1:123456789012:service/prod/web-prod-green";
        assert_eq!(
            console_url(execution).unwrap(),
            format!("https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{execution}")
        );
        assert_eq!(
            console_url(service).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web-prod-green/health?region=eu-west-1"
        );
        assert_eq!(
            console_url("arn:aws-cn:ecs:cn-north-1:123456789012:service/prod/web").unwrap(),
            "https://cn-north-1.console.amazonaws.cn/ecs/v2/clusters/prod/services/web/health?region=cn-north-1"
        );
        assert_eq!(
            console_url("arn:aws:sns:eu-west-1:123456789012:topic"),
            None
        );
        assert_eq!(console_url("not an arn"), None);
        let mut n = sample(EventKind::RolledBack);
        assert!(n.links().is_empty() && n.chatbot()["metadata"].get("relatedResources").is_none());
        n.execution = Some(execution.into());
        n.service = Some(service.into());
        assert!(n.text().contains(&format!("execution   https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{execution}")), "{}", n.text());
        let c = n.chatbot();
        assert_eq!(
            c["metadata"]["relatedResources"],
            json!([execution, service])
        );
        assert!(c["content"]["description"]
            .as_str()
            .unwrap()
            .contains("|service>"));
        let e = n.bus_event();
        assert_eq!(e.detail["links"]["service"], console_url(service).unwrap());
        assert_eq!(e.detail["execution"], execution);
    }

    #[test]
    fn the_sns_message_carries_every_protocol() {
        let n = sample(EventKind::Succeeded);
        let m: serde_json::Value = serde_json::from_str(&n.sns_message()).unwrap();
        assert_eq!(m["default"], n.text());
        let sqs: Notification = serde_json::from_str(m["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs, n);
        let https: serde_json::Value = serde_json::from_str(m["https"].as_str().unwrap()).unwrap();
        assert_eq!(https["source"], "custom");
    }

    #[test]
    fn severities_order_and_filter() {
        assert_eq!(
            Severity::Error.and_above(),
            [Severity::Error, Severity::Critical]
        );
        assert_eq!(
            EventKind::RollbackFailed.default_severity(),
            Severity::Critical
        );
        assert!(EventKind::Rejected.is_terminal() && !EventKind::TrafficShifted.is_terminal());
    }

    proptest! {
        #[test]
        fn subjects_respect_sns_limits(app in "\\PC{0,80}", env in "\\PC{0,80}", tag in "\\PC{0,200}", kind in 0usize..9) {
            let mut n = Notification::new(EventKind::ALL[kind], &app, &env, Utc::now());
            n.tag = Some(tag);
            let s = n.subject();
            prop_assert!(s.chars().count() <= 100);
            prop_assert!(s.chars().all(|c| (' '..='~').contains(&c)), "{:?}", s);
            prop_assert!(!s.is_empty());
        }
    }
}
