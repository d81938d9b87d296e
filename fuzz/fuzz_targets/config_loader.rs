//! Any text as greenlight.yaml: `config::load` reports problems, never panics, and a
//! configuration it accepts survives a JSON round trip and validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let report = greenlight_core::config::load(&text);
    for p in &report.problems {
        assert!(!p.message.is_empty());
    }
    if let Some(config) = report.config {
        let json = serde_json::to_string(&config).expect("a configuration serializes");
        let again: greenlight_core::config::Config =
            serde_json::from_str(&json).expect("and reads back");
        assert_eq!(again, config);
    }
});
