//! The approval URL: answers an approval as the IAM principal AWS authenticated. Wiring only: the handler is `greenlight_lambda::handlers::approve_url`.

// The handler's future nests the SDK's deeply; the default query depth is too low for it.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_lambda::serve(greenlight_lambda::handlers::approve_url).await
}
