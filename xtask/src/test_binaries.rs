//! The test binaries a `cargo test --no-run --message-format=json-render-diagnostics` build
//! produced, read from cargo's JSON messages, so the xtask can run each one itself under its own
//! deadline.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::workspace::{json_string_after, json_string_field};

/// One libtest binary: a crate's unit tests (`lib`, `bin`) or an integration test (`test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestBinary {
    /// The package, e.g. `vmlayer_paging`.
    pub(crate) package: String,
    /// The target's kind: `lib`, `bin`, `test`, `bench` or `example`.
    pub(crate) kind: String,
    /// The target's name, e.g. `vmlayer_paging` or, for `tests/process_flow.rs`, `process_flow`.
    pub(crate) target: String,
    /// The executable cargo built.
    pub(crate) executable: PathBuf,
    /// The package's directory, where cargo runs its tests (paths in tests, and proptest's
    /// regression files, are relative to it).
    pub(crate) package_directory: PathBuf,
}

impl fmt::Display for TestBinary {
    /// `` `vmlayer_paging` (lib) ``, `` `vmlayer_paging` (test `process_flow`) ``, `` `xtask` (bin) ``:
    /// the package, the kind, and the target where it is not the package's own name.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "`{}` ({}", self.package, self.kind)?;
        if self.target != self.package.replace('-', "_") {
            write!(formatter, " `{}`", self.target)?;
        }
        formatter.write_str(")")
    }
}

/// The test binaries in cargo's JSON messages (one object per line): the `compiler-artifact`
/// messages of the test profile that carry an executable, in cargo's own run order (by package,
/// then lib, bins, integration tests, then by name), each executable once.
pub(crate) fn test_binaries(messages: &str) -> Vec<TestBinary> {
    let mut binaries: Vec<TestBinary> = messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#) && is_test_profile(line))
        .filter_map(|line| {
            let manifest = PathBuf::from(json_string_field(line, "manifest_path")?);
            Some(TestBinary {
                package: package_name(&json_string_field(line, "package_id")?)?,
                kind: json_string_after(line, r#""kind":[""#)?,
                target: json_string_field(line, "name")?,
                executable: PathBuf::from(json_string_field(line, "executable")?),
                package_directory: manifest.parent().unwrap_or(Path::new(".")).to_path_buf(),
            })
        })
        .collect();
    binaries.sort_by(|a, b| {
        (&a.package, kind_rank(&a.kind), &a.target).cmp(&(
            &b.package,
            kind_rank(&b.kind),
            &b.target,
        ))
    });
    binaries.dedup_by(|a, b| a.executable == b.executable);
    binaries
}

/// Whether the message's `"profile"` object says `"test":true` (the target's own `"test"` flag,
/// in `"target"`, only says whether it may be tested).
fn is_test_profile(line: &str) -> bool {
    line.split_once(r#""profile":{"#)
        .and_then(|(_, profile)| profile.split_once('}'))
        .is_some_and(|(profile, _)| profile.contains(r#""test":true"#))
}

/// The order cargo runs a package's test binaries in.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "lib" => 0,
        "bin" => 1,
        "test" => 2,
        "bench" => 3,
        _ => 4,
    }
}

/// The package name in a cargo package ID: `path+file:///w/crates/paging#vmlayer_paging@0.1.0`,
/// `path+file:///w/xtask#0.1.0` (the name is the directory's, so the spec omits it), or the older
/// `vmlayer_paging 0.1.0 (path+file:///w/crates/paging)`.
fn package_name(package_id: &str) -> Option<String> {
    let name = match package_id.split_once('#') {
        Some((url, fragment)) => match fragment.split_once('@') {
            Some((name, _)) => name,
            None => url.trim_end_matches('/').rsplit('/').next()?,
        },
        None => package_id.split_whitespace().next()?,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests;
