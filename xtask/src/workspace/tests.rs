use std::path::PathBuf;

use super::{executable_from_messages, root};

#[test]
fn root_holds_the_workspace_manifest_and_this_crate() {
    assert!(
        root().join("Cargo.toml").is_file(),
        "root: {}",
        root().display()
    );
    assert!(
        root().join("xtask/Cargo.toml").is_file(),
        "xtask under root"
    );
}

#[test]
fn the_kernel_executable_is_found_among_artifacts() {
    let messages = concat!(
        r#"{"reason":"compiler-artifact","package_id":"x","target":{"name":"build-script-build"},"executable":null,"fresh":true}"#,
        "\n",
        r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"example_kernel"},"filenames":["/t/riscv64gc-unknown-none-elf/release/example_kernel"],"executable":"/t/riscv64gc-unknown-none-elf/release/example_kernel","fresh":false}"#,
        "\n",
        r#"{"reason":"build-finished","success":true}"#,
        "\n"
    );
    assert_eq!(
        executable_from_messages(messages, "example_kernel"),
        Some(PathBuf::from(
            "/t/riscv64gc-unknown-none-elf/release/example_kernel"
        ))
    );
    assert_eq!(
        executable_from_messages(messages, "other"),
        None,
        "wrong binary name"
    );
}

#[test]
fn escaped_paths_are_decoded() {
    let messages =
        r#"{"reason":"compiler-artifact","executable":"/a \"b\"\\c\u0041/example_kernel"}"#;
    assert_eq!(
        executable_from_messages(messages, "example_kernel"),
        Some(PathBuf::from("/a \"b\"\\cA/example_kernel"))
    );
}
