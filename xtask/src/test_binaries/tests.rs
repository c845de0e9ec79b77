use std::path::PathBuf;

use super::{TestBinary, package_name, test_binaries};

/// Real `cargo test --no-run --message-format=json-render-diagnostics` output (shortened): a
/// dependency, an integration test, a crate's unit tests, a build script, the xtask's own binary
/// built for its integration tests (not a test binary), an example and the xtask's unit tests.
const MESSAGES: &str = concat!(
    r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#proptest@1.7.0","manifest_path":"/r/proptest-1.7.0/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"proptest","src_path":"/r/proptest-1.7.0/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":["std"],"filenames":["/t/debug/deps/libproptest-1.rlib"],"executable":null,"fresh":true}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/paging#vmlayer_paging@0.1.0","manifest_path":"/w/crates/paging/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"process_flow","src_path":"/w/crates/paging/tests/process_flow.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/t/debug/deps/process_flow-2"],"executable":"/t/debug/deps/process_flow-2","fresh":true}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/paging#vmlayer_paging@0.1.0","manifest_path":"/w/crates/paging/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"vmlayer_paging","src_path":"/w/crates/paging/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/t/debug/deps/vmlayer_paging-3"],"executable":"/t/debug/deps/vmlayer_paging-3","fresh":false}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/memory_set#vmlayer_areas@0.1.0","manifest_path":"/w/crates/memory_set/Cargo.toml","target":{"kind":["custom-build"],"crate_types":["bin"],"name":"build-script-build","src_path":"/w/crates/memory_set/build.rs","edition":"2024","doc":false,"doctest":false,"test":false},"profile":{"opt_level":"0","debuginfo":0,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/build/vmlayer_areas-4/build-script-build"],"executable":null,"fresh":true}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"xtask","src_path":"/w/xtask/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/xtask"],"executable":"/t/debug/xtask","fresh":true}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/paging#vmlayer_paging@0.1.0","manifest_path":"/w/crates/paging/Cargo.toml","target":{"kind":["example"],"crate_types":["bin"],"name":"walk","src_path":"/w/crates/paging/examples/walk.rs","edition":"2024","doc":false,"doctest":false,"test":false},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/examples/walk-5"],"executable":"/t/debug/examples/walk-5","fresh":true}"#,
    "\n",
    r#"{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"xtask","src_path":"/w/xtask/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/t/debug/deps/xtask-6"],"executable":"/t/debug/deps/xtask-6","fresh":true}"#,
    "\n",
    r#"{"reason":"build-finished","success":true}"#,
    "\n"
);

fn binary(
    package: &str,
    kind: &str,
    target: &str,
    executable: &str,
    directory: &str,
) -> TestBinary {
    TestBinary {
        package: package.to_owned(),
        kind: kind.to_owned(),
        target: target.to_owned(),
        executable: PathBuf::from(executable),
        package_directory: PathBuf::from(directory),
    }
}

#[test]
fn only_test_profile_executables_are_test_binaries_in_cargo_order() {
    assert_eq!(
        test_binaries(MESSAGES),
        [
            binary(
                "vmlayer_paging",
                "lib",
                "vmlayer_paging",
                "/t/debug/deps/vmlayer_paging-3",
                "/w/crates/paging"
            ),
            binary(
                "vmlayer_paging",
                "test",
                "process_flow",
                "/t/debug/deps/process_flow-2",
                "/w/crates/paging"
            ),
            binary("xtask", "bin", "xtask", "/t/debug/deps/xtask-6", "/w/xtask"),
        ],
        "no dependency, build script, plain binary or example; lib before integration tests"
    );
}

#[test]
fn a_binary_is_named_by_package_kind_and_a_target_of_another_name() {
    let [paging, flow, xtask] = <[TestBinary; 3]>::try_from(test_binaries(MESSAGES)).unwrap();
    assert_eq!(paging.to_string(), "`vmlayer_paging` (lib)");
    assert_eq!(flow.to_string(), "`vmlayer_paging` (test `process_flow`)");
    assert_eq!(xtask.to_string(), "`xtask` (bin)");
    let dashed = binary("page-walk", "lib", "page_walk", "/t/w", "/w");
    assert_eq!(
        dashed.to_string(),
        "`page-walk` (lib)",
        "crate name of a dashed package"
    );
}

#[test]
fn package_names_come_from_every_package_id_form() {
    assert_eq!(
        package_name("path+file:///w/crates/paging#vmlayer_paging@0.1.0").as_deref(),
        Some("vmlayer_paging")
    );
    assert_eq!(
        package_name("path+file:///w/xtask#0.1.0").as_deref(),
        Some("xtask")
    );
    assert_eq!(
        package_name("vmlayer_paging 0.1.0 (path+file:///w/crates/paging)").as_deref(),
        Some("vmlayer_paging")
    );
    assert_eq!(package_name(""), None);
}

#[test]
fn a_failed_build_has_no_test_binaries() {
    let messages = concat!(
        r#"{"reason":"compiler-message","package_id":"path+file:///w/crates/paging#vmlayer_paging@0.1.0","message":{"rendered":"error[E0425]"}}"#,
        "\n",
        r#"{"reason":"build-finished","success":false}"#,
        "\n"
    );
    assert_eq!(test_binaries(messages), []);
}
