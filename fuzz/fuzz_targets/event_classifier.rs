//! Any JSON as an EventBridge event: the classifier names the problem or classifies it,
//! never panics, and a push it accepts is matched against the example configuration
//! without panicking; a tag it lets through follows ECR's grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use greenlight_core::config::Config;
use greenlight_core::event::{parse_event, valid_tag, EcrEvent};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        greenlight_core::config::load(include_str!("../../examples/greenlight.yaml"))
            .config
            .expect("the example is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(EcrEvent::Push(push)) = parse_event(&value) {
        if let Some(tag) = &push.tag {
            assert!(valid_tag(tag), "{tag:?}");
        }
        let _ = greenlight_core::matching::match_push(config(), &push);
    }
});
