//! `tabs.onUpdated`'s changeInfo: the properties of a tab that changed.
//!
//! Nearly every changeInfo carries one property (`title`, `status`,
//! `favIconUrl`); as a `serde_json::Map` each cost a vector, a hash table
//! and its key on the heap, on the bridge's busiest path. Here one property
//! is held inline and its name too when short (every API name is).

use std::fmt;

use compact_str::CompactString;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use smallvec::SmallVec;

/// The properties in the order sent. A property sent twice keeps its first
/// place and its last value, as `serde_json::Map` keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeInfo(SmallVec<[(CompactString, Value); 1]>);

impl ChangeInfo {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `key` to `value`, in its place if it is there already.
    pub fn insert(&mut self, key: impl Into<CompactString>, value: Value) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<K: Into<CompactString>> FromIterator<(K, Value)> for ChangeInfo {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(pairs: I) -> Self {
        let mut out = ChangeInfo::default();
        for (k, v) in pairs {
            out.insert(k, v);
        }
        out
    }
}

impl From<Map<String, Value>> for ChangeInfo {
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl<'de> Deserialize<'de> for ChangeInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChangeInfo;
            // As serde_json::Map says it, so that errors read as before.
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChangeInfo, A::Error> {
                let mut out = ChangeInfo::default();
                while let Some(key) = map.next_key::<CompactString>()? {
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_as_a_serde_json_map_reads() {
        for text in [
            r#"{"title":"a"}"#,
            r#"{"status":"loading","url":"https://example.org/"}"#,
            r#"{"title":"old","n":1,"title":"new"}"#,
            r#"{}"#,
            r#"{"mutedInfo":{"muted":true,"reason":"user"},"a\"b":[1,{"c":null}]}"#,
        ] {
            let map: Map<String, Value> = serde_json::from_str(text).unwrap();
            let ours: ChangeInfo = serde_json::from_str(text).unwrap();
            let pairs: Vec<_> = ours.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
            let theirs: Vec<_> = map.clone().into_iter().collect();
            assert_eq!(pairs, theirs, "{text}");
            assert_eq!(ours, ChangeInfo::from(map), "{text}");
        }
        assert_eq!(serde_json::from_str::<ChangeInfo>(r#"{"title":"old","title":"new"}"#).unwrap().len(), 1);
        for bad in [r#"["title"]"#, r#""title""#, r#"{"title":}"#, "null"] {
            let map = serde_json::from_str::<Map<String, Value>>(bad).unwrap_err().to_string();
            let ours = serde_json::from_str::<ChangeInfo>(bad).unwrap_err().to_string();
            assert_eq!(ours, map, "{bad}");
        }
    }

    #[test]
    fn a_value_is_set_in_its_place() {
        let mut c = ChangeInfo::from(json!({"a": 1, "b": 2}).as_object().unwrap().clone());
        c.insert("a", json!(3));
        c.insert("c", json!(4));
        assert_eq!(c.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!((c.get("a"), c.contains_key("z")), (Some(&json!(3)), false));
    }
}
