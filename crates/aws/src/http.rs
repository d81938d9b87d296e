//! `Prober` over HTTP(S).

use std::time::Instant;

use greenlight_core::ports::{ProbeResult, Prober};
use greenlight_core::Duration;

use crate::AwsCloud;

impl Prober for AwsCloud {
    async fn get(&self, url: &str, timeout: Duration) -> ProbeResult {
        let started = Instant::now();
        let result = self
            .http
            .get(url)
            .timeout(std::time::Duration::from_secs(timeout.as_secs().max(1)))
            .send()
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(response) => ProbeResult {
                status: Some(response.status().as_u16()),
                error: None,
                elapsed_ms,
            },
            Err(e) => ProbeResult {
                status: None,
                error: Some(if e.is_timeout() {
                    format!("no answer within {timeout}")
                } else {
                    e.to_string()
                }),
                elapsed_ms,
            },
        }
    }
}
