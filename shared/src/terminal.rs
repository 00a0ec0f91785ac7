//! Text from outside on its way to a terminal.
//!
//! A tab title in Thunderbird can be an e-mail subject a stranger wrote; URLs,
//! session values, browser names and event names come from the browser too.
//! A terminal obeys control sequences (`ESC ] 0 ; … BEL` retitles it,
//! `ESC [ 2 J` clears it, some terminals act on 8-bit C1 codes), and Unicode
//! direction overrides make text read other than it is. Everything printed
//! for people goes through [`escape`]; JSON printed to a terminal goes
//! through [`escape_json`], which keeps it valid JSON.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters a terminal would act on, or that change how text reads: C0
/// controls, DEL, C1 controls, and the bidirectional embeddings, overrides
/// and isolates.
pub fn is_unsafe(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line of text, safe to print: every unsafe character (newlines and
/// tabs included) becomes a visible escape such as `\x1b` or `\u{202e}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_except(s, |_| false)
}

/// Text of several lines (a report, an error chain): like [`escape`], but
/// newlines stay.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_except(s, |c| c == '\n')
}

fn escape_except(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !is_unsafe(c) || keep(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// JSON text, safe to print: serde_json already escapes C0 controls inside
/// strings, but writes DEL, C1 controls and direction overrides as they are.
/// They can only occur inside strings, where `\uXXXX` means the same.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Pretty JSON's own newlines and indentation are fine; inside strings
/// serde_json has escaped every other C0 control.
fn is_unsafe_in_json(c: char) -> bool {
    is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r' | ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\x1b]0;PWNED\x07\x1b[2J";

    #[test]
    fn control_sequences_become_visible_text() {
        assert_eq!(escape(HOSTILE), "\\x1b]0;PWNED\\x07\\x1b[2J");
        assert_eq!(escape("a\u{9b}31m\u{7f}b"), "a\\x9b31m\\x7fb");
        assert_eq!(escape("evil\u{202e}fdp.exe"), "evil\\u{202e}fdp.exe");
        assert_eq!(escape("two\nlines\r\tx"), "two\\nlines\\r\\tx");
        assert_eq!(escape_lines("two\nlines\x1b"), "two\nlines\\x1b");
        assert!(matches!(escape("Inbox – Ünïcödé ✓ 📬"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_json_and_means_the_same() {
        let v = serde_json::json!({ "title": format!("{HOSTILE}\u{9b}2J\u{202e}\u{7f}") });
        for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
            let safe = escape_json(&text);
            assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe:?}");
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, v);
        }
    }
}
