//! Amazon SNS: notifications and subscriptions.

#[allow(unused_imports)]
use super::*;

/// Amazon SNS.
pub trait Notifier: Send + Sync {
    /// Publishes one notification with its message attributes. Returns the message ID.
    fn publish(
        &self,
        topic: &Arn,
        notification: &Notification,
    ) -> impl Future<Output = PortResult<String>> + Send;
}

/// One subscription to a notification topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subscription {
    pub arn: String,
    /// `email`, `sqs`, `https`, `lambda`, …
    pub protocol: String,
    pub endpoint: String,
    /// The SNS filter policy on the message attributes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
}

/// Subscriptions to notification topics (SNS).
pub trait Subscriptions: Send + Sync {
    /// Subscribes `endpoint`, delivering only messages whose attributes match `filter`.
    /// Returns the subscription ARN (`pending confirmation` for e-mail until confirmed).
    fn subscribe(
        &self,
        topic: &Arn,
        protocol: &str,
        endpoint: &str,
        filter: Option<&serde_json::Value>,
    ) -> impl Future<Output = PortResult<String>> + Send;

    fn unsubscribe(&self, subscription: &str) -> impl Future<Output = PortResult<()>> + Send;

    /// Every subscription of the topic, with its filter policy.
    fn subscriptions(
        &self,
        topic: &Arn,
    ) -> impl Future<Output = PortResult<Vec<Subscription>>> + Send;
}
