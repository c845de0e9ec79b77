use super::*;

#[test]
fn docs_rs_tables_are_read_with_their_default_target_first() {
    let manifest = "[package]\nname = \"x\"\n\n[package.metadata.docs.rs]\n# comment\n\
                    default-target = \"x86_64-unknown-none\"\n\
                    targets = [\"x86_64-unknown-none\", \"aarch64-unknown-none\"]\n\
                    features = [\"svpbmt\"]\n\n[lints]\nworkspace = true\n";
    let docs = docs_rs_of(manifest).unwrap();
    assert_eq!(
        docs.all_targets(),
        ["x86_64-unknown-none", "aarch64-unknown-none"]
    );
    assert_eq!(docs.features, ["svpbmt"]);
}

#[test]
fn docs_rs_tables_that_ci_cannot_check_are_refused() {
    assert!(docs_rs_of("[package]\nname = \"x\"\n").is_err(), "missing");
    let unknown = "[package.metadata.docs.rs]\nall-features = true\ntargets = [\"a\"]\n";
    assert!(docs_rs_of(unknown).unwrap_err().contains("all-features"));
    let empty = "[package.metadata.docs.rs]\ntargets = []\n";
    assert!(docs_rs_of(empty).is_err(), "no target at all");
    let multi_line = "[package.metadata.docs.rs]\ntargets = [\n\"a\",\n]\n";
    assert!(docs_rs_of(multi_line).is_err());
}

#[test]
fn the_workspace_rust_version_is_read_from_workspace_package() {
    let manifest = "[workspace]\nmembers = []\n[workspace.package]\nversion = \"0.1.0\"\n\
                    rust-version = \"1.91\"\n[workspace.dependencies]\nrust-version = \"9\"\n";
    assert_eq!(rust_version_of(manifest).unwrap(), "1.91");
    assert!(rust_version_of("[workspace.package]\nversion = \"1\"\n").is_err());
    assert_eq!(msrv_toolchain("1.91"), "1.91.0");
    assert_eq!(msrv_toolchain("1.91.1"), "1.91.1");
}

/// Every member of the workspace is a library crate or a dev tool of the lists above, so a new
/// crate cannot escape the packaging and MSRV checks.
#[test]
fn every_workspace_member_is_a_listed_library_crate_or_dev_tool() {
    let manifest = read("Cargo.toml").unwrap();
    let members_line = manifest
        .lines()
        .find(|line| line.starts_with("members"))
        .unwrap();
    let members = parse_string_array(members_line.split_once('=').unwrap().1.trim()).unwrap();
    let mut listed: Vec<&str> = LIBRARY_CRATES
        .iter()
        .chain(DEV_TOOLS)
        .map(|(_, directory)| *directory)
        .collect();
    listed.sort_unstable();
    let mut members: Vec<&str> = members.iter().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, listed);
    for (name, directory) in LIBRARY_CRATES.iter().chain(DEV_TOOLS) {
        let crate_manifest = read(&format!("{directory}/Cargo.toml")).unwrap();
        assert!(
            crate_manifest.contains(&format!("name = \"{name}\"")),
            "{directory} is not {name}"
        );
        let publishes = !crate_manifest.contains("publish = false");
        assert_eq!(
            publishes,
            LIBRARY_CRATES.contains(&(name, directory)),
            "{name}"
        );
    }
}

/// The published crates carry what crates.io and docs.rs show, and their docs.rs targets are
/// targets the workspace builds.
#[test]
fn every_library_crate_has_package_metadata_and_known_docs_targets() {
    let known: Vec<&str> = Arch::ALL
        .iter()
        .map(|arch| arch.spec().bare_metal_triple)
        .chain(["x86_64-unknown-linux-gnu"])
        .collect();
    for (name, directory) in LIBRARY_CRATES {
        let manifest = read(&format!("{directory}/Cargo.toml")).unwrap();
        for key in [
            "description",
            "readme",
            "keywords",
            "categories",
            "include",
            "documentation",
        ] {
            assert!(
                manifest
                    .lines()
                    .any(|line| line.starts_with(&format!("{key} ="))),
                "{name}: no {key}"
            );
        }
        assert!(
            !manifest.contains("repository"),
            "{name}: no real repository to name"
        );
        for file in ["README.md", "CHANGELOG.md", "LICENSE"] {
            assert!(
                manifest.contains(&format!("\"{file}\"")),
                "{name}: {file} not included"
            );
            assert!(
                workspace::root().join(directory).join(file).exists(),
                "{directory}/{file} missing"
            );
        }
        for target in docs_rs_of(&manifest).unwrap().all_targets() {
            assert!(
                known.contains(&target.as_str()),
                "{name}: docs.rs target {target}"
            );
        }
    }
}

/// The minimum Rust version in `rust-version` is the one the READMEs state.
#[test]
fn the_readmes_state_the_workspace_rust_version() {
    let msrv = rust_version_of(&read("Cargo.toml").unwrap()).unwrap();
    let statement = format!("Minimum Rust version: {msrv}");
    let mut readmes = vec!["README.md".to_owned()];
    readmes.extend(
        LIBRARY_CRATES
            .iter()
            .map(|(_, directory)| format!("{directory}/README.md")),
    );
    for readme in readmes {
        let text = read(&readme).unwrap().replace('\n', " ");
        assert!(
            text.contains(&statement),
            "{readme} does not say `{statement}`"
        );
    }
}

#[test]
fn cargo_warnings_are_found_among_its_progress_lines() {
    let stderr = "   Packaging vmlayer_arch v0.1.0 (/w/crates/paging_arch)\n\
                  warning: manifest has no documentation, homepage or repository\n\
                  \x20 = note: see https://doc.rust-lang.org/cargo/reference/manifest.html\n\
                  \x20   Packaged 15 files, 48.9KiB (16.8KiB compressed)\n";
    assert_eq!(
        warning_lines(stderr),
        ["warning: manifest has no documentation, homepage or repository"]
    );
    assert!(warning_lines("   Verifying vmlayer_arch v0.1.0\n   Finished `dev`\n").is_empty());
}
