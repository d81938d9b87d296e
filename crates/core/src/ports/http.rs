//! HTTP probes.

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeResult {
    /// The HTTP status, when a response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why no response arrived (timeout, connection refused, TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// HTTP requests for health probes (not an AWS call, but outside the domain all the same).
pub trait Prober: Send + Sync {
    fn get(&self, url: &str, timeout: Duration) -> impl Future<Output = ProbeResult> + Send;
}
