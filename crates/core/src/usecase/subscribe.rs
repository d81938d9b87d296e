//! subscribe: alerts for the people and systems that want them, filtered on the message
//! attributes every notification carries (`app`, `environment`, `event`, `severity`).

/// What `greenlight unsubscribe` removed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unsubscribed {
    pub unsubscribed: String,
}

/// What `greenlight subscribe` made: the subscription's ARN, and its filter policy (`null`:
/// every notification).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Subscribed {
    pub subscription: String,
    pub filter: Option<serde_json::Value>,
}

use serde_json::{json, Value};

use crate::arn::Arn;
use crate::errors::{ErrorCode, ErrorName};
use crate::notify::{EventKind, Severity};
use crate::ports::{PortError, Subscriptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Email,
    Sqs,
    Https,
    Lambda,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Email => "email",
            Protocol::Sqs => "sqs",
            Protocol::Https => "https",
            Protocol::Lambda => "lambda",
        }
    }

    /// Checks that `endpoint` is what this protocol delivers to.
    pub fn check(self, endpoint: &str) -> Result<(), String> {
        let ok = match self {
            Protocol::Email => endpoint.contains('@') && !endpoint.contains(char::is_whitespace),
            Protocol::Sqs => {
                Arn::parse(endpoint).is_ok_and(|a| a.expect("sqs", "", "an SQS queue").is_ok())
            }
            Protocol::Https => endpoint.starts_with("https://") && endpoint.len() > 8,
            Protocol::Lambda => Arn::parse(endpoint)
                .is_ok_and(|a| a.expect("lambda", "function:", "a Lambda function").is_ok()),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{endpoint}` is not {}",
                match self {
                    Protocol::Email => "an e-mail address",
                    Protocol::Sqs => "an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)",
                    Protocol::Https => "an https:// URL",
                    Protocol::Lambda => "a Lambda function ARN",
                }
            ))
        }
    }
}

/// Which notifications a subscriber wants. Unset fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub app: Option<String>,
    pub environment: Option<String>,
    /// This severity and above.
    pub severity: Option<Severity>,
    pub events: Vec<EventKind>,
}

impl Filter {
    /// The SNS filter policy, or `None` when everything passes.
    pub fn policy(&self) -> Option<Value> {
        let mut p = serde_json::Map::new();
        if let Some(a) = &self.app {
            p.insert("app".into(), json!([a]));
        }
        if let Some(e) = &self.environment {
            p.insert("environment".into(), json!([e]));
        }
        if let Some(s) = self.severity {
            p.insert(
                "severity".into(),
                json!(s.and_above().iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            );
        }
        if !self.events.is_empty() {
            p.insert(
                "event".into(),
                json!(self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>()),
            );
        }
        (!p.is_empty()).then_some(Value::Object(p))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("{0}")]
    InvalidEndpoint(String),
    #[error("{0}")]
    Aws(#[from] PortError),
}

impl ErrorName for SubscribeError {
    fn error_code(&self) -> ErrorCode {
        match self {
            SubscribeError::InvalidEndpoint(_) => ErrorCode::InvalidInput,
            SubscribeError::Aws(e) => e.error_code(),
        }
    }
}

pub async fn subscribe(
    p: &impl Subscriptions,
    topic: &Arn,
    protocol: Protocol,
    endpoint: &str,
    filter: &Filter,
) -> Result<String, SubscribeError> {
    protocol
        .check(endpoint)
        .map_err(SubscribeError::InvalidEndpoint)?;
    Ok(
        p.subscribe(topic, protocol.as_str(), endpoint, filter.policy().as_ref())
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_name_only_what_was_asked() {
        assert_eq!(Filter::default().policy(), None);
        let f = Filter {
            app: Some("web".into()),
            environment: Some("prod".into()),
            severity: Some(Severity::Error),
            events: vec![EventKind::RolledBack],
        };
        assert_eq!(
            f.policy().unwrap(),
            json!({"app": ["web"], "environment": ["prod"], "severity": ["error", "critical"], "event": ["rolled_back"]})
        );
    }

    #[test]
    fn endpoints_are_checked_per_protocol() {
        assert!(Protocol::Email.check("ops@example.com").is_ok());
        assert!(Protocol::Email.check("ops").is_err());
        assert!(Protocol::Sqs
            .check("arn:aws:sqs:eu-west-1:123456789012:alerts")
            .is_ok());
        assert!(Protocol::Sqs
            .check("https://sqs.eu-west-1.amazonaws.com/123456789012/alerts")
            .is_err());
        assert!(Protocol::Https.check("http://example.com").is_err());
        assert!(Protocol::Lambda
            .check("arn:aws:lambda:eu-west-1:123456789012:function:pager")
            .is_ok());
    }
}
