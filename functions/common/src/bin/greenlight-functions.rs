//! Every greenlight Lambda function in one binary: the function's `Handler` in template.yaml
//! (`check`, `shift`, …), which Lambda passes as `_HANDLER`, chooses the handler at start-up.

// The handlers' futures nest the SDK's deeply; the default query depth is too low for them.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let name = std::env::var("_HANDLER").unwrap_or_default();
    match greenlight_lambda::serve_function(&name).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Lambda reports the exit as an init error, with this line in the function's log.
            eprintln!("greenlight-functions: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
