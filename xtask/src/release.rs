//! What makes the library crates fit for other kernels to depend on, checked by `cargo xtask ci`:
//! `cargo package` succeeds without a warning, the docs build as docs.rs will build them (the
//! targets and features of each crate's `[package.metadata.docs.rs]`), and the crates build for
//! the three bare-metal targets with exactly the minimum Rust version of the workspace's
//! `rust-version`.
//!
//! The manifests are the single source: this module reads `rust-version` and the docs.rs tables
//! from them (a line-based reading of our own files; the xtask has no dependencies), and its
//! tests check that every workspace member is either a library crate listed here or a dev tool,
//! and that the READMEs state the same minimum version.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::arch::Arch;
use crate::ci::CiStep;
use crate::error::XtaskError;
use crate::workspace;

/// The published library crates: package name and directory (relative to the workspace root).
pub(crate) const LIBRARY_CRATES: &[(&str, &str)] = &[
    ("vmlayer_areas", "crates/memory_set"),
    ("vmlayer_arch", "crates/paging_arch"),
    ("vmlayer_paging", "crates/paging"),
    ("vmlayer_x86_64", "backends/x86_64"),
    ("vmlayer_aarch64", "backends/aarch64"),
    ("vmlayer_riscv64", "backends/riscv64"),
];

/// The workspace members that are never published (`publish = false`): the dev tools.
pub(crate) const DEV_TOOLS: &[(&str, &str)] =
    &[("xtask", "xtask"), ("example_kernel", "examples/kernel")];

/// How docs.rs builds one crate's documentation (`[package.metadata.docs.rs]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DocsRs {
    /// `default-target`, if set.
    pub(crate) default_target: Option<String>,
    /// `targets`: the other targets docs.rs builds (an empty list means only the default).
    pub(crate) targets: Vec<String>,
    /// `features`.
    pub(crate) features: Vec<String>,
}

impl DocsRs {
    /// Every target docs.rs builds, default first, without duplicates.
    pub(crate) fn all_targets(&self) -> Vec<String> {
        let mut all: Vec<String> = self.default_target.iter().cloned().collect();
        for target in &self.targets {
            if !all.contains(target) {
                all.push(target.clone());
            }
        }
        all
    }
}

/// The lines of the TOML table `[name]` in `manifest` (up to the next table header).
fn table_lines<'a>(manifest: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let header = format!("[{name}]");
    let mut lines = manifest.lines();
    lines.by_ref().find(|line| line.trim() == header)?;
    Some(
        lines
            .take_while(|line| !line.trim_start().starts_with('['))
            .collect(),
    )
}

/// The value text of `key = value` among `lines` (comments and blank lines skipped).
fn value_of<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let (left, right) = line.split_once('=')?;
        (left.trim() == key).then(|| right.trim())
    })
}

/// A TOML basic string `"…"` (no escapes: our manifests use none).
fn parse_string(value: &str) -> Result<String, String> {
    value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|inner| !inner.contains(['"', '\\']))
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a plain string, found `{value}`"))
}

/// A one-line TOML array of plain strings `["a", "b"]`.
fn parse_string_array(value: &str) -> Result<Vec<String>, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| format!("expected a one-line array, found `{value}`"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_string)
        .collect()
}

/// The docs.rs table of a crate manifest.
///
/// # Errors
///
/// A message if the table is missing or holds a key this reader does not understand (so a new
/// key cannot be silently ignored by CI).
pub(crate) fn docs_rs_of(manifest: &str) -> Result<DocsRs, String> {
    let lines =
        table_lines(manifest, "package.metadata.docs.rs").ok_or("no [package.metadata.docs.rs]")?;
    let mut docs = DocsRs::default();
    for line in &lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("cannot read `{line}`"));
        };
        let value = value.trim();
        match key.trim() {
            "default-target" => docs.default_target = Some(parse_string(value)?),
            "targets" => docs.targets = parse_string_array(value)?,
            "features" => docs.features = parse_string_array(value)?,
            other => return Err(format!("docs.rs key `{other}` is not checked by the xtask")),
        }
    }
    if docs.all_targets().is_empty() {
        return Err("docs.rs would build for no explicit target".to_owned());
    }
    Ok(docs)
}

/// `rust-version` of the workspace manifest's `[workspace.package]`.
///
/// # Errors
///
/// A message if it is missing or not a plain string.
pub(crate) fn rust_version_of(workspace_manifest: &str) -> Result<String, String> {
    let lines =
        table_lines(workspace_manifest, "workspace.package").ok_or("no [workspace.package]")?;
    parse_string(value_of(&lines, "rust-version").ok_or("no rust-version")?)
}

/// The `warning: …` lines of a cargo command's stderr (`cargo package` has no flag that denies
/// its own warnings, such as a missing metadata field).
pub(crate) fn warning_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect()
}

/// The rustup toolchain that is exactly `rust_version`: `1.91` means the release 1.91.0 (the
/// oldest compiler the declaration admits; the channel `1.91` would be the latest patch).
pub(crate) fn msrv_toolchain(rust_version: &str) -> String {
    if rust_version.matches('.').count() == 1 {
        format!("{rust_version}.0")
    } else {
        rust_version.to_owned()
    }
}

fn read(relative: &str) -> Result<String, XtaskError> {
    let path = workspace::root().join(relative);
    fs::read_to_string(&path).map_err(|error| XtaskError::io(format!("reading {relative}"), error))
}

fn invalid(relative: &str, message: String) -> XtaskError {
    XtaskError::CommandFailed {
        command: format!("reading {relative}"),
        reason: message,
    }
}

/// Where `cargo package` builds to verify the packages: a directory of its own, emptied before
/// every run.
fn package_target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace::root().join("target"), PathBuf::from)
        .join("package-verify")
}

/// Removes what earlier `cargo package` runs left of our crates: the packages and the build
/// of the verification, and the sources cargo unpacked from its temporary registry into
/// `$CARGO_HOME/registry/src`. Cargo treats a registry crate of the same name and version as
/// unchanged (its sources and its build), so without this a dependent crate would be verified
/// against an old copy of our own crate (none is published, so no other registry holds these
/// names).
fn forget_earlier_packages() {
    let _ = fs::remove_dir_all(package_target_dir());
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return;
    };
    for registry in fs::read_dir(sources).into_iter().flatten().flatten() {
        for unpacked in fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = unpacked.file_name().to_string_lossy().into_owned();
            let ours = LIBRARY_CRATES
                .iter()
                .any(|(crate_name, _)| name.starts_with(&format!("{crate_name}-")));
            if ours {
                let _ = fs::remove_dir_all(unpacked.path());
            }
        }
    }
}

/// The CI steps of this module: package, docs as docs.rs builds them, the MSRV builds.
///
/// # Errors
///
/// A manifest that cannot be read or understood.
pub(crate) fn ci_steps() -> Result<Vec<CiStep>, XtaskError> {
    let mut steps = Vec::new();

    forget_earlier_packages();
    let mut package = workspace::cargo("package");
    // `--allow-dirty`: a local `cargo xtask ci` on a work tree with changes checks the same
    // contents; CI runs on a clean clone anyway.
    package.args(["--workspace", "--allow-dirty", "--target-dir"]);
    package.arg(package_target_dir());
    for (name, _) in DEV_TOOLS {
        package.args(["--exclude", name]);
    }
    steps.push(CiStep::denying_warnings(
        "package (library crates, verified)",
        package,
    ));

    for (name, directory) in LIBRARY_CRATES {
        let manifest_path = format!("{directory}/Cargo.toml");
        let docs = docs_rs_of(&read(&manifest_path)?)
            .map_err(|message| invalid(&manifest_path, message))?;
        for target in docs.all_targets() {
            let mut doc = workspace::cargo("doc");
            doc.args(["--no-deps", "--package", name, "--target", &target])
                .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings");
            if !docs.features.is_empty() {
                doc.args(["--features", &docs.features.join(",")]);
            }
            steps.push(CiStep::new(format!("docs.rs {name} {target}"), doc));
        }
    }

    let rust_version =
        rust_version_of(&read("Cargo.toml")?).map_err(|message| invalid("Cargo.toml", message))?;
    let msrv = msrv_toolchain(&rust_version);
    let mut install = Command::new("rustup");
    install.args(["toolchain", "install", &msrv, "--profile", "minimal"]);
    for arch in Arch::ALL {
        install.args(["--target", arch.spec().bare_metal_triple]);
    }
    steps.push(CiStep::new(format!("msrv toolchain ({msrv})"), install));
    for arch in Arch::ALL {
        let spec = arch.spec();
        let mut build = Command::new("rustup");
        build
            .args(["run", &msrv, "cargo", "build", "--locked"])
            .args(["--target", spec.bare_metal_triple])
            .current_dir(workspace::root())
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("RUSTC");
        for package in spec.packages {
            build.args(["--package", package]);
        }
        steps.push(CiStep::new(
            format!("msrv {msrv} build {}", spec.bare_metal_triple),
            build,
        ));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests;
