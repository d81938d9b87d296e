//! Run on a schedule: finds, for every environment that deploys on push, the newest matching image nothing has acted on, and starts its rollout. Wiring only: the handler is `greenlight_lambda::handlers::reconcile`.

// The handler's future nests the SDK's deeply; the default query depth is too low for it.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_lambda::serve(greenlight_lambda::handlers::reconcile).await
}
