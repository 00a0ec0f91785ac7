//! "Does this JSON contain that one": how `tabscope wait --match` picks an
//! event. An object matches when each of the pattern's keys matches; a list
//! when the pattern's entries match its first entries, in order; anything
//! else when equal. So `{"name": "tabs.onUpdated", "args": [5, {"status":
//! "complete"}]}` picks tab 5 finishing its load, whatever else it carries.

use serde_json::Value;

pub fn contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => {
            p.iter().all(|(k, pv)| v.get(k).is_some_and(|x| contains(x, pv)))
        }
        (Value::Array(v), Value::Array(p)) => {
            p.len() <= v.len() && p.iter().zip(v).all(|(pv, x)| contains(x, pv))
        }
        // 5 and 5.0 are the same JavaScript number.
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => value == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pattern_matches_what_it_names_and_ignores_the_rest() {
        let ev = json!({"seq": 3, "name": "tabs.onUpdated", "args": [5, {"status": "complete"}, {"id": 5, "url": "u"}]});
        assert!(contains(&ev, &json!({})));
        assert!(contains(&ev, &json!({"name": "tabs.onUpdated", "args": [5.0, {"status": "complete"}]})));
        assert!(!contains(&ev, &json!({"args": [6]})));
        assert!(!contains(&ev, &json!({"args": [5, {"status": "loading"}]})));
        assert!(!contains(&ev, &json!({"missing": null})));
        assert!(!contains(&json!([1]), &json!([1, 2])), "a longer list is not contained");
    }
}
