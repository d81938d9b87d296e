//! The one binary of every function: `_HANDLER` picks the handler, an unknown name is
//! refused naming the functions there are.

use std::process::Command;

fn start(handler: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_greenlight-functions"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Some(h) = handler {
        cmd.env("_HANDLER", h);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_or_missing_handler_is_refused_with_the_names_there_are() {
    for handler in [Some("nope"), Some("Check"), Some(""), None] {
        let (ok, stderr) = start(handler);
        assert!(!ok, "{handler:?}");
        assert!(
            stderr.contains("no greenlight function is named"),
            "{handler:?}: {stderr}"
        );
        for name in greenlight_lambda::FUNCTIONS {
            assert!(stderr.contains(name), "{handler:?}: {stderr}");
        }
    }
}

#[test]
fn every_function_name_reaches_its_handler_s_start_up() {
    // Past the choice, a function reads its settings first: without them it stops, naming
    // the missing variable, not the handler.
    for name in greenlight_lambda::FUNCTIONS {
        let (ok, stderr) = start(Some(name));
        assert!(!ok, "{name}");
        assert!(
            stderr.contains("environment variable GREENLIGHT_TOPIC is not set")
                && !stderr.contains("no greenlight function is named"),
            "{name}: {stderr}"
        );
    }
}
