//! JSON with a fixed key order, whatever map order the build's serde_json uses.

use serde_json::Value;

/// `v` with every object's keys in sorted order (recursively).
pub fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let ordered: std::collections::BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sort_keys(v))).collect();
            // `to_value` of a BTreeMap inserts in sorted order, so the order holds either way.
            serde_json::to_value(ordered).expect("a map serializes")
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_come_out_sorted_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [{"y": 1, "x": 2}], "c": 3}});
        assert_eq!(
            sort_keys(&v).to_string(),
            r#"{"a":{"c":3,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }
}
