//! Edits one member of a JSON document in its text: every other byte of the
//! file stays as the browser wrote it (number forms, escapes, unknown
//! fields, order), so an offline edit changes only what was asked.
//!
//! serde_json finds the spans: values deserialized as borrowed `RawValue`s
//! are slices of the input, so their offsets are where to splice.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON pointer's steps (`/windows/0/tabs/1/extData` is
/// `["windows", "0", "tabs", "1", "extData"]`): object keys, or array
/// indices where the value is an array.
pub type Path = [String];

/// Sets `member` of the object at `path` to `new` (raw JSON text), or
/// removes it when `new` is `None`. Objects missing on the way are created
/// for a set; array elements are never created. Returns `None` when a
/// removal found nothing to remove.
pub fn edit_member(
    text: &str,
    path: &Path,
    member: &str,
    new: Option<&str>,
) -> Result<Option<String>, String> {
    if let Some(v) = new {
        serde_json::from_str::<&RawValue>(v).map_err(|e| format!("the new value is not JSON: {e}"))?;
    }
    let (start, end) = trimmed(text);
    let Some(inner) = edit(&text[start..end], path, 0, member, new)? else { return Ok(None) };
    Ok(Some(format!("{}{inner}{}", &text[..start], &text[end..])))
}

/// The span of `text` without surrounding whitespace.
fn trimmed(text: &str) -> (usize, usize) {
    let start = text.len() - text.trim_start().len();
    (start, text.trim_end().len().max(start))
}

fn edit(
    value: &str,
    path: &Path,
    depth: usize,
    member: &str,
    new: Option<&str>,
) -> Result<Option<String>, String> {
    let here =
        || if depth == 0 { "the document".to_owned() } else { format!("/{}", path[..depth].join("/")) };
    if value.starts_with('[') {
        let step = path.get(depth).ok_or_else(|| format!("{} is a list, not an object", here()))?;
        let items: Vec<&RawValue> = serde_json::from_str(value).map_err(|e| format!("{}: {e}", here()))?;
        let i: usize =
            step.parse().map_err(|_| format!("{} is a list: \"{step}\" is not a position in it", here()))?;
        let child =
            items.get(i).ok_or_else(|| format!("{} has {} entries, no entry {i}", here(), items.len()))?;
        let Some(changed) = edit(child.get(), path, depth + 1, member, new)? else { return Ok(None) };
        return Ok(Some(splice(value, child.get(), &changed)));
    }
    let Ordered(members) = serde_json::from_str(value).map_err(|_| format!("{} is not an object", here()))?;
    let (key, child_path) = match path.get(depth) {
        Some(step) => (step.as_str(), true),
        None => (member, false),
    };
    let found = members.iter().position(|(k, _)| k == key);
    match (found, child_path, new) {
        (Some(i), true, _) => {
            let child = members[i].1.get();
            let Some(changed) = edit(child, path, depth + 1, member, new)? else { return Ok(None) };
            Ok(Some(splice(value, child, &changed)))
        }
        (Some(i), false, Some(v)) => Ok(Some(splice(value, members[i].1.get(), v))),
        (Some(i), false, None) => {
            // Only this object is written anew; its other members' values keep their text.
            let kept: Vec<String> = members
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (k, v))| format!("{}:{}", quoted(k), v.get()))
                .collect();
            Ok(Some(format!("{{{}}}", kept.join(","))))
        }
        (None, _, None) => Ok(None),
        (None, true, Some(_)) => {
            let Some(created) = edit("{}", path, depth + 1, member, new)? else { return Ok(None) };
            Ok(Some(insert(value, key, &created, members.is_empty())))
        }
        (None, false, Some(v)) => Ok(Some(insert(value, key, v, members.is_empty()))),
    }
}

/// `whole` with its sub-slice `part` replaced by `new`.
fn splice(whole: &str, part: &str, new: &str) -> String {
    // `part` is borrowed from `whole` (serde_json's RawValue from a str).
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    debug_assert!(start + part.len() <= whole.len());
    format!("{}{new}{}", &whole[..start], &whole[start + part.len()..])
}

/// A new first member of the object `obj` (its text starts with `{`).
fn insert(obj: &str, key: &str, value: &str, empty: bool) -> String {
    let comma = if empty { "" } else { "," };
    format!("{{{}:{value}{comma}{}", quoted(key), &obj[1..])
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// An object's members in file order, values as their text.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Ordered<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Ordered<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn p(s: &str) -> Vec<String> {
        s.split('/').filter(|x| !x.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn a_set_changes_only_the_member_and_keeps_every_other_byte() {
        let text = " {\"a\": 1.50, \"w\":[{\"e\" : {\"k\":\"\\u00e9\",\"x\":2}}], \"z\":1e3}\n";
        let out = edit_member(text, &p("w/0/e"), "x", Some("\"new\"")).unwrap().unwrap();
        assert_eq!(out, " {\"a\": 1.50, \"w\":[{\"e\" : {\"k\":\"\\u00e9\",\"x\":\"new\"}}], \"z\":1e3}\n");
        // A new member, and objects created on the way.
        let out = edit_member(text, &p("w/0/f/g"), "k", Some("true")).unwrap().unwrap();
        assert_eq!(
            out,
            " {\"a\": 1.50, \"w\":[{\"f\":{\"g\":{\"k\":true}},\"e\" : {\"k\":\"\\u00e9\",\"x\":2}}], \"z\":1e3}\n"
        );
        let out = edit_member("{}", &[], "k", Some("1")).unwrap().unwrap();
        assert_eq!(out, "{\"k\":1}");
    }

    #[test]
    fn a_removal_rewrites_only_its_object_and_an_absent_member_changes_nothing() {
        let text = "{\"keep\": 1.0, \"o\": {\"a\": 1e2, \"b\": [1, 2], \"c\": \"\\/\"}}";
        let out = edit_member(text, &p("o"), "b", None).unwrap().unwrap();
        assert_eq!(out, "{\"keep\": 1.0, \"o\": {\"a\":1e2,\"c\":\"\\/\"}}");
        assert_eq!(edit_member(text, &p("o"), "nope", None).unwrap(), None);
        assert_eq!(edit_member(text, &p("missing/deeper"), "b", None).unwrap(), None);
    }

    #[test]
    fn a_path_that_does_not_fit_the_document_is_a_clear_error() {
        let text = "{\"windows\": [{\"tabs\": []}]}";
        let e = edit_member(text, &p("windows/3/tabs"), "k", Some("1")).unwrap_err();
        assert_eq!(e, "/windows has 1 entries, no entry 3");
        let e = edit_member(text, &p("windows/x"), "k", Some("1")).unwrap_err();
        assert!(e.contains("not a position"), "{e}");
        let e = edit_member(text, &p("windows/0/tabs"), "k", Some("1")).unwrap_err();
        assert!(e.contains("/windows/0/tabs is a list"), "{e}");
        assert!(edit_member(text, &[], "k", Some("{bad")).unwrap_err().contains("not JSON"));
        assert!(edit_member("[1", &p("0"), "k", Some("1")).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zé\"\\\\/ ]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The same edit on a parsed document: `Err` where a step is no object.
    fn expected_edit(
        doc: &Value,
        path: &[String],
        member: &str,
        new: Option<&Value>,
    ) -> Result<Option<Value>, ()> {
        let obj = doc.as_object().ok_or(())?;
        let mut out = obj.clone();
        match path.split_first() {
            None => match new {
                Some(v) => {
                    out.insert(member.to_owned(), v.clone());
                }
                None => {
                    if out.shift_remove(member).is_none() {
                        return Ok(None);
                    }
                }
            },
            Some((step, rest)) => {
                let child = match obj.get(step) {
                    Some(c) => c.clone(),
                    None if new.is_none() => return Ok(None),
                    None => json!({}),
                };
                let Some(changed) = expected_edit(&child, rest, member, new)? else { return Ok(None) };
                out.insert(step.clone(), changed);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    proptest! {
        /// Whatever the document, the edit is exactly a Value-level set or
        /// removal of that member, and nothing else.
        #[test]
        fn an_edit_equals_the_same_edit_on_the_parsed_document(
            doc in prop::collection::vec(("[a-c]{1,2}", json_value()), 0..4),
            path in prop::collection::vec("[a-c]{1,2}", 0..3),
            member in "[a-d]{1,2}",
            new in prop::option::of(json_value()),
        ) {
            let doc = Value::Object(doc.into_iter().collect());
            let text = serde_json::to_string_pretty(&doc).unwrap();
            let new_text = new.as_ref().map(|v| v.to_string());
            let got = edit_member(&text, &path, &member, new_text.as_deref());
            match (got, expected_edit(&doc, &path, &member, new.as_ref())) {
                (Err(_), Err(())) => {}
                (Ok(None), Ok(None)) => {}
                (Ok(Some(out)), Ok(Some(expected))) => {
                    prop_assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), expected);
                }
                (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
            }
        }
    }
}
