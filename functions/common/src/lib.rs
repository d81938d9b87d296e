//! What every greenlight Lambda function shares. A function's `main.rs` only wires: it
//! calls [`serve`] with one of the [`handlers`], which turn the state machine's payload into
//! a call of a core use case.

pub mod handlers;

use std::future::Future;

use greenlight_aws::AwsCloud;
use greenlight_core::rollout::ErrorName;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failure with a stable Step Functions error name (`Greenlight.…`), so that the state
/// machine's `Retry` and `Catch` can match it. Never a Rust type name.
#[derive(Debug)]
pub struct Failure {
    pub name: &'static str,
    pub message: String,
}

impl Failure {
    pub fn of<E: ErrorName>(e: E) -> Self {
        Failure {
            name: e.error_name(),
            message: e.to_string(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Failure {
            name: "Greenlight.InvalidInput",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Diagnostic {
        Diagnostic {
            error_type: f.name.to_string(),
            error_message: f.message,
        }
    }
}

/// Settings every function reads from its environment (set by template.yaml).
#[derive(Clone, Debug)]
pub struct Settings {
    pub table: String,
    pub topic: String,
    pub state_machine: Option<String>,
}

impl Settings {
    /// Reads the settings, naming the missing variable when one is absent.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        };
        Ok(Settings {
            table: var("GREENLIGHT_TABLE")?,
            topic: var("GREENLIGHT_TOPIC")?,
            state_machine: std::env::var("GREENLIGHT_STATE_MACHINE").ok(),
        })
    }
}

/// Runs a handler as a Lambda function: JSON logs, clients built once per cold start.
pub async fn serve<Req, Resp, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(AwsCloud, Settings, Req) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Resp, Failure>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let cloud = AwsCloud::from_env(settings.table.clone()).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Req>| {
        let cloud = cloud.clone();
        let settings = settings.clone();
        async move {
            tracing::info!(request_id = %event.context.request_id, "handling");
            let result = handler(cloud, settings, event.payload).await;
            if let Err(f) = &result {
                tracing::warn!(error = f.name, message = %f.message, "failed");
            }
            result
        }
    }))
    .await
}
