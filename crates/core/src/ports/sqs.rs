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

/// What a timer is for: the wait of a `waitForTaskToken` state that rounds of checks
/// answer (issue 14's polling off the Standard workflow's bill).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TickPurpose {
    /// After deploy: the new colour becomes stable, then passes its pre-traffic probes.
    Settle,
    /// A traffic step's bake.
    Bake,
    /// The watched rollback window after a success.
    Window,
}

impl TickPurpose {
    /// The one name people read, the same in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TickPurpose::Settle => "settle",
            TickPurpose::Bake => "bake",
            TickPurpose::Window => "window",
        }
    }
}

impl std::fmt::Display for TickPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One round of checks to run at `due`, for the wait whose task token is `token`. The
/// message body on the stack's tick queue (SQS, encrypted at rest); the token is never
/// logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub purpose: TickPurpose,
    pub token: String,
    pub due: DateTime<Utc>,
    /// Rounds in a row that could not run (an AWS call that failed in a way that can
    /// succeed later); the wait fails at [`crate::usecase::tick::MAX_ATTEMPTS`].
    #[serde(default)]
    pub attempts: u32,
    /// The rollout as the last round left it (the state the wait answers with).
    pub rollout: Box<crate::rollout::Rollout>,
}

/// Delayed delivery of ticks: the stack's tick queue (SQS with per-message delay), whose
/// messages invoke the `check` function. SQS delays at most 15 minutes; a later tick is
/// delivered early and waits again (its `due` says when it is for).
pub trait Timers: Send + Sync {
    fn schedule(&self, tick: &Tick, delay: Duration)
        -> impl Future<Output = PortResult<()>> + Send;
}
