//! Arguments that may be too big for a command line (Linux refuses one
//! over 128 KiB): `-` reads standard input, `@FILE` a file.

use std::io::Read;

use anyhow::Context;

/// The text an argument stands for: itself, standard input for `-`, a
/// file's contents for `@FILE` (`@@...` is a literal `@...`).
pub fn read_arg(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
        return Ok(s);
    }
    if let Some(literal) = arg.strip_prefix("@@") {
        return Ok(format!("@{literal}"));
    }
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(arg.to_owned()),
    }
}
