//! What every greenlight Lambda function shares. A function's `main.rs` only wires: it
//! calls [`serve`] with one of the [`handlers`], which turn the state machine's payload into
//! a call of a core use case.

pub mod handlers;
pub mod metrics;

use std::future::Future;

use greenlight_aws::AwsCloud;
use greenlight_core::arn::Arn;
use greenlight_core::errors::{ErrorCode, ErrorName};
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
            name: ErrorCode::InvalidInput.as_str(),
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

/// Settings every function reads from its environment (set by template.yaml), checked
/// once at start-up: a function whose topic is not an ARN does not start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub table: String,
    pub topic: Arn,
    pub state_machine: Option<String>,
}

impl Settings {
    /// Reads the settings, naming the missing or malformed variable.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        };
        let topic = var("GREENLIGHT_TOPIC")?;
        Ok(Settings {
            table: var("GREENLIGHT_TABLE")?,
            topic: Arn::parse(&topic).map_err(|e| format!("GREENLIGHT_TOPIC: {e}"))?,
            state_machine: std::env::var("GREENLIGHT_STATE_MACHINE").ok(),
        })
    }
}

/// Decodes a payload and runs a handler on it. A payload that does not decode fails as
/// `Greenlight.InvalidInput` naming what is wrong (never a Rust type name), and a handler
/// that panics fails as `Greenlight.Internal`: either way Step Functions gets a name its
/// `Catch` rules match.
pub async fn dispatch<C, Req, Resp, F, Fut>(
    handler: F,
    cloud: C,
    settings: Settings,
    payload: serde_json::Value,
) -> Result<serde_json::Value, Failure>
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
    F: Fn(C, Settings, Req) -> Fut,
    Fut: Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    let request: Req = serde_json::from_value(payload)
        .map_err(|e| Failure::invalid_input(format!("the payload does not fit: {e}")))?;
    let response = match tokio::spawn(handler(cloud, settings, request)).await {
        Ok(result) => result?,
        Err(e) => {
            return Err(Failure {
                name: ErrorCode::Internal.as_str(),
                message: if e.is_panic() {
                    "the handler stopped on a bug (a panic); what it did before is logged".into()
                } else {
                    "the handler was cancelled".into()
                },
            })
        }
    };
    serde_json::to_value(response).map_err(|e| Failure {
        name: ErrorCode::Internal.as_str(),
        message: format!("the response does not serialize: {e}"),
    })
}

/// Targets whose own logging is capped at INFO whatever level the function runs at: at
/// TRACE, the Lambda runtime prints every raw event it receives, and greenlight's events
/// carry task tokens (the `await` function's input) that must never reach a log.
pub const CAPPED_TARGETS: &[&str] = &["lambda_runtime", "lambda_runtime_api_client"];

/// The log filter: the level Lambda's logging controls ask for (`AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG` read as a level only, else INFO), with [`CAPPED_TARGETS`] at INFO.
pub fn log_filter(level: Option<&str>) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    let level = level
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let mut filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("");
    for target in CAPPED_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// JSON logs (or text, per `AWS_LAMBDA_LOG_FORMAT`) through [`log_filter`].
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let collector = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(log_filter(level.as_deref()));
    let _ = if json {
        collector.json().try_init()
    } else {
        collector.try_init()
    };
}

/// Runs a handler as a Lambda function: JSON logs, clients built once per cold start.
pub async fn serve<Req, Resp, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(AwsCloud, Settings, Req) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    init_logging();
    let settings = Settings::from_env()?;
    let cloud = AwsCloud::from_env(settings.table.clone()).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let cloud = cloud.clone();
        let settings = settings.clone();
        async move {
            tracing::info!(request_id = %event.context.request_id, "handling");
            let result = dispatch(handler, cloud, settings, event.payload).await;
            if let Err(f) = &result {
                tracing::warn!(error = f.name, message = %f.message, "failed");
            }
            result
        }
    }))
    .await
}

/// Every Lambda function of the stack, by the name its `Handler` carries in template.yaml.
/// One binary (`greenlight-functions`) serves them all: Lambda hands the function's
/// `Handler` to it as `_HANDLER`, and [`serve_function`] runs that handler.
pub const FUNCTIONS: &[&str] = &[
    "on-push",
    "reconcile",
    "prepare",
    "deploy",
    "check",
    "await",
    "shift",
    "finalize",
    "retire",
    "rollback",
    "notify",
    "alarm-relay",
    "event-relay",
    "approve",
];

/// Runs the function named `name` (one of [`FUNCTIONS`]); an unknown name is refused
/// before anything starts, naming the ones there are.
pub async fn serve_function(name: &str) -> Result<(), lambda_runtime::Error> {
    use handlers as h;
    match name {
        "on-push" => serve(h::on_push).await,
        "reconcile" => serve(h::reconcile).await,
        "prepare" => serve(h::prepare).await,
        "deploy" => serve(h::deploy).await,
        "check" => serve(h::check).await,
        "await" => serve(h::await_token).await,
        "shift" => serve(h::shift).await,
        "finalize" => serve(h::finalize).await,
        "retire" => serve(h::retire).await,
        "rollback" => serve(h::rollback).await,
        "notify" => serve(h::notify).await,
        "alarm-relay" => serve(h::alarm_relay).await,
        "event-relay" => serve(h::event_relay).await,
        "approve" => serve(h::approve_url).await,
        other => Err(unknown_function(other).into()),
    }
}

/// What a start with an unknown handler name says.
fn unknown_function(name: &str) -> String {
    format!(
        "no greenlight function is named {name:?} (the function's Handler, read from _HANDLER); the functions are: {}",
        FUNCTIONS.join(", ")
    )
}
