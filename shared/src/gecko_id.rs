//! Add-on ids as Gecko accepts them. An id from outside (an add-on's
//! manifest, the command line) becomes a file name in a profile and an entry
//! in the host manifest, so it is checked against Gecko's own grammar first:
//! `name@domain` from `[A-Za-z0-9._-]`, or a `{GUID}`
//! (`gIDTest` in Gecko's XPIProvider: no slashes, no `..` path, nothing else).

/// Gecko caps ids well below this; it also keeps file names short.
const MAX_LEN: usize = 200;

pub fn check(id: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!("add-on id {:?} is not a valid Gecko id: {why}", crate::terminal::escape(id)))
    };
    if id.is_empty() || id.len() > MAX_LEN {
        return bad("it must be 1 to 200 characters");
    }
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if let Some((name, domain)) = id.split_once('@') {
        if word(name) && !domain.is_empty() && word(domain) {
            return Ok(());
        }
        return bad("an email-like id has only letters, digits, '.', '_' and '-' around one '@'");
    }
    if is_guid(id) {
        return Ok(());
    }
    bad("use name@domain (letters, digits, '.', '_', '-') or a {GUID}")
}

fn is_guid(id: &str) -> bool {
    let Some(inner) = id.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else { return false };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn gecko_ids_pass_and_paths_do_not() {
        for ok in
            ["tabscope-agent@tabscope.dev", "a@b", "@x.y", "{d4b0b4c1-2f3e-4a5b-8c6d-7e8f9a0b1c2d}", "..@.."]
        {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "../../x",
            "/etc/passwd",
            "a/b@c",
            "a@b/../../c",
            "x@",
            "no-at-sign",
            "a@b@c",
            "{not-a-guid}",
            "a\u{1b}[2J@b",
            "a@b\0",
            "a\\b@c",
        ] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
        assert!(check(&format!("{}@x", "a".repeat(300))).is_err());
        assert!(!check("a\u{1b}@b").unwrap_err().contains('\u{1b}'), "the message is safe to print");
    }
}
