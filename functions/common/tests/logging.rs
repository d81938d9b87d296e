//! At any log level, no log line carries the raw event the Lambda runtime receives: the
//! `await` function's input holds a task token.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged_at(level: Option<&str>) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(greenlight_lambda::log_filter(level))
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // What lambda_runtime logs at TRACE for every invocation.
        tracing::trace!(
            target: "lambda_runtime::layers::api_response",
            body = r#"{"purpose":"approval","token":"AQCEAAAAKgAAAAMAAAAA-secret"}"#,
            "raw JSON event received from Lambda"
        );
        tracing::trace!(target: "greenlight_lambda", "greenlight's own trace line");
        tracing::info!(target: "lambda_runtime", "runtime info line");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text
}

#[test]
fn a_trace_level_never_prints_the_raw_event() {
    for level in [Some("TRACE"), Some("trace"), Some("DEBUG"), None] {
        let text = logged_at(level);
        assert!(!text.contains("secret"), "{level:?}: {text}");
        assert!(text.contains("runtime info line"), "{level:?}: {text}");
    }
    // The level still applies to greenlight's own lines.
    assert!(logged_at(Some("TRACE")).contains("greenlight's own trace line"));
    assert!(!logged_at(Some("INFO")).contains("greenlight's own trace line"));
    // A filter written for RUST_LOG's directive syntax is read as a level or refused.
    assert!(!logged_at(Some("lambda_runtime=trace")).contains("secret"));
}
