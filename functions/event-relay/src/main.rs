//! Puts every notification of the topic on the default EventBridge bus. Wiring only: the handler is `greenlight_lambda::handlers::event_relay`.

// The handler's future nests the SDK's deeply; the default query depth is too low for it.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_lambda::serve(greenlight_lambda::handlers::event_relay).await
}
