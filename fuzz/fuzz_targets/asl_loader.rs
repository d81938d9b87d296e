//! Any JSON as a state machine definition: the loader refuses what it cannot run with a
//! reason, never panics.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let subs = BTreeMap::from([("PrepareFunctionArn".to_string(), "prepare".to_string())]);
    if let Err(e) = greenlight_asl::Machine::load(&value, &subs) {
        assert!(!e.to_string().is_empty());
    }
});
