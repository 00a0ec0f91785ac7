//! `Tab`'s fields by their API names, in one list for reading a whole tab
//! and for setting one property (`tabs.onUpdated`'s changeInfo).
//!
//! Written by hand because a tab is most of the traffic: serde's derive
//! with `#[serde(flatten)]` (for the fields no document lists) buffers every
//! key and value before it reads any; this reads each value straight into
//! its field. A key given twice keeps the last value, as `serde_json::Value`
//! does.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::Tab;

/// Reads the value of `key` from `d` into its field of `tab` (into `extra`
/// for a key no field has).
fn set_field<'de, D: Deserializer<'de>>(tab: &mut Tab, key: &str, d: D) -> Result<(), D::Error> {
    macro_rules! fields {
        ($($name:literal => $field:ident),* $(,)?) => {
            match key {
                $($name => tab.$field = Deserialize::deserialize(d)?,)*
                _ => {
                    tab.extra.insert(key.to_owned(), Value::deserialize(d)?);
                }
            }
        };
    }
    fields! {
        "id" => id, "index" => index, "windowId" => window_id, "active" => active,
        "highlighted" => highlighted, "status" => status, "title" => title, "url" => url,
        "favIconUrl" => fav_icon_url, "type" => kind, "mailTab" => mail_tab, "spaceId" => space_id,
        "width" => width, "height" => height, "cookieStoreId" => cookie_store_id,
        "groupId" => group_id, "splitViewId" => split_view_id, "incognito" => incognito, "pinned" => pinned, "hidden" => hidden,
        "discarded" => discarded, "audible" => audible, "mutedInfo" => muted_info,
        "attention" => attention, "autoDiscardable" => auto_discardable, "isArticle" => is_article,
        "isInReaderMode" => is_in_reader_mode, "lastAccessed" => last_accessed,
        "openerTabId" => opener_tab_id, "successorTabId" => successor_tab_id,
        "sessionId" => session_id, "sharingState" => sharing_state,
    }
    Ok(())
}

impl Tab {
    /// Sets one property by its API name. A value of the wrong type is
    /// refused and the tab kept as it was (a field is assigned only once
    /// its value has been read).
    pub fn set_property(&mut self, key: &str, value: Value) -> serde_json::Result<()> {
        set_field(self, key, value)
    }
}

impl<'de> Deserialize<'de> for Tab {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tab, D::Error> {
        d.deserialize_map(TabVisitor)
    }
}

struct TabVisitor;

impl<'de> Visitor<'de> for TabVisitor {
    type Value = Tab;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tabs.Tab object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tab, A::Error> {
        let mut tab = Tab::default();
        // The fields the API always sends; the rest default.
        let (mut id, mut index, mut window_id) = (false, false, false);
        while let Some(Key(key)) = map.next_key()? {
            match &*key {
                "id" => id = true,
                "index" => index = true,
                "windowId" => window_id = true,
                _ => {}
            }
            map.next_value_seed(Field { tab: &mut tab, key: &key })?;
        }
        for (present, name) in [(id, "id"), (index, "index"), (window_id, "windowId")] {
            if !present {
                return Err(de::Error::missing_field(name));
            }
        }
        Ok(tab)
    }
}

/// A key, borrowed from the input where it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The value of one key, read into its field.
struct Field<'t> {
    tab: &'t mut Tab,
    key: &'t str,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        set_field(self.tab, self.key, d)
    }
}
