//! How an image behaves once ECS runs it.

/// How an image behaves once ECS runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Behaviour {
    /// Seconds from the service update until its tasks run.
    pub start_secs: u64,
    /// Tasks exit at once; ECS gives up after a few attempts and the rollout fails.
    pub crash_on_start: bool,
    /// Tasks run, but the target group's health check never passes.
    pub never_healthy: bool,
    /// Fraction of requests answered with 500 once the image takes traffic.
    pub error_rate: f64,
    /// Seconds after its tasks run until their health check stops passing (a leak, a
    /// deadlock): the targets turn unhealthy while requests still succeed, so no 5xx alarm
    /// sees it.
    pub unhealthy_after_secs: Option<u64>,
    /// Median response time, in milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile response time, in milliseconds.
    pub latency_p99_ms: f64,
}

impl Behaviour {
    pub fn healthy() -> Self {
        Behaviour {
            start_secs: 40,
            crash_on_start: false,
            never_healthy: false,
            error_rate: 0.0,
            unhealthy_after_secs: None,
            latency_p50_ms: 40.0,
            latency_p99_ms: 180.0,
        }
    }
    pub fn slow(start_secs: u64) -> Self {
        Behaviour {
            start_secs,
            ..Self::healthy()
        }
    }
    pub fn crashing() -> Self {
        Behaviour {
            crash_on_start: true,
            ..Self::healthy()
        }
    }
    pub fn never_healthy() -> Self {
        Behaviour {
            never_healthy: true,
            ..Self::healthy()
        }
    }
    pub fn erroring(rate: f64) -> Self {
        Behaviour {
            error_rate: rate,
            ..Self::healthy()
        }
    }
}

impl Behaviour {
    /// Whether its health check fails once its tasks have run `running_for` seconds: it
    /// never passes, or it has stopped passing.
    pub fn health_failing(&self, running_for: u64) -> bool {
        self.never_healthy
            || self
                .unhealthy_after_secs
                .is_some_and(|after| running_for >= after)
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::healthy()
    }
}
