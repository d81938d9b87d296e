//! The dead-letter queue (SQS).

#[allow(unused_imports)]
use super::*;

/// An event greenlight could not act on, waiting in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    pub id: String,
    /// What deleting it takes (valid until the message becomes visible again).
    #[serde(skip)]
    pub receipt: String,
    /// The message body as queued: an EventBridge event (undeliverable), or Lambda's
    /// on-failure record with the event as `requestPayload`.
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// Who the caller is, as AWS says (STS `GetCallerIdentity`): what a promotion and a manual
/// rollback record as their author, so that `separate_approver` compares identities AWS
/// established, not names people typed.
pub trait CallerIdentity: Send + Sync {
    /// The caller's principal ARN.
    fn caller(&self) -> impl Future<Output = PortResult<String>> + Send;
}

/// The stack's approval URL: a Lambda function URL with `AWS_IAM` auth, so that AWS, not
/// the caller, says who answers an approval.
pub trait ApprovalUrl: Send + Sync {
    /// Sends a decision signed with the caller's own credentials (SigV4, service
    /// `lambda`). Returns the URL's HTTP status and its message.
    fn send_decision(
        &self,
        url: &str,
        decision: &crate::usecase::approval::Decision,
    ) -> impl Future<Output = PortResult<(u16, String)>> + Send;
}

/// The dead-letter queue (Amazon SQS).
pub trait DeadLetters: Send + Sync {
    /// Up to `max` messages, hidden from other readers for `hide` while this one works.
    fn dead_letters(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> impl Future<Output = PortResult<Vec<DeadLetter>>> + Send;

    fn delete_dead_letter(
        &self,
        queue: &str,
        receipt: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;

    /// Shows a message that a reader hid to other readers again at once.
    fn show_dead_letter(
        &self,
        queue: &str,
        receipt: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
}
