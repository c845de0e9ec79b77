//! The workspace the xtask drives: its root directory, nested cargo invocations, and where cargo
//! put a built binary.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the xtask lives in `<root>/xtask`).
pub(crate) fn root() -> &'static Path {
    let manifest_directory = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_directory.parent().unwrap_or(manifest_directory)
}

/// The cargo that runs the xtask (`$CARGO`, set by `cargo run`), else `cargo` from `PATH`.
fn cargo_program() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// `cargo <subcommand>` run from the workspace root, so the toolchain file and
/// `.cargo/config.toml` apply.
pub(crate) fn cargo(subcommand: &str) -> Command {
    let mut command = Command::new(cargo_program());
    command.arg(subcommand).current_dir(root());
    command
}

/// The path of the executable `binary_name` in the JSON messages of a
/// `cargo build --message-format=json-render-diagnostics` run (one JSON object per line).
pub(crate) fn executable_from_messages(messages: &str, binary_name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|line| json_string_field(line, "executable"))
        .map(PathBuf::from)
        .rfind(|path| path.file_name().is_some_and(|name| name == binary_name))
}

/// The value of the string field `key` in a flat search of one JSON line: its first occurrence,
/// wherever it is nested (cargo's messages carry `"executable"` once, at the top level, and
/// `"name"` first in `"target"`); `None` when absent or `null`.
pub(crate) fn json_string_field(line: &str, key: &str) -> Option<String> {
    json_string_after(line, &format!("\"{key}\":\""))
}

/// The JSON string that starts right after the first `marker` in `line` (which ends with the
/// string's opening quote, e.g. `"kind":["`), unescaped.
pub(crate) fn json_string_after(line: &str, marker: &str) -> Option<String> {
    let start = line.find(marker)? + marker.len();
    let mut value = String::new();
    let mut characters = line[start..].chars();
    while let Some(character) = characters.next() {
        match character {
            '"' => return Some(value),
            '\\' => match characters.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = characters.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                escaped => value.push(escaped),
            },
            other => value.push(other),
        }
    }
    None
}

/// The most lines [`quote_lines`] quotes.
const QUOTED_LINES: usize = 8;

/// cargo's `error…` lines and `process didn't exit successfully` lines from its stderr: compile
/// errors, unknown packages, test binaries killed by a signal.
pub(crate) fn cargo_error_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|line| {
            line.starts_with("error") || line.contains("process didn't exit successfully")
        })
        .map(str::to_owned)
        .collect()
}

/// Up to 8 lines joined with ` | ` for a one-line message.
pub(crate) fn quote_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        return "(no error line was printed)".to_owned();
    }
    let mut quoted = lines[..lines.len().min(QUOTED_LINES)].join(" | ");
    if lines.len() > QUOTED_LINES {
        quoted.push_str(" | …");
    }
    quoted
}

#[cfg(test)]
mod tests;
