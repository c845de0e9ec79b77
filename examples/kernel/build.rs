//! Picks the linker script and link arguments of the target ISA.
//!
//! The linker arguments live here and not in `.cargo/config.toml`, because that file is shared by
//! the whole workspace (hosted test runners, cross linkers) and must not leak bare-metal flags.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    println!("cargo:rerun-if-changed=build.rs");
    if target_os != "none" {
        // A hosted build (e.g. `cargo clippy --workspace` on the host) only type-checks the
        // neutral code; nothing to link specially.
        return;
    }
    let script = match target_arch.as_str() {
        "riscv64" => "riscv64.ld",
        "aarch64" => "aarch64.ld",
        "x86_64" => "x86_64.ld",
        other => panic!("example_kernel supports riscv64, aarch64 and x86_64, not {other}"),
    };
    let script_path = manifest_dir.join("link").join(script);
    println!("cargo:rerun-if-changed={}", script_path.display());
    // `-L` lets the per-ISA script `INCLUDE common.ld`.
    println!(
        "cargo:rustc-link-arg-bins=-L{}",
        manifest_dir.join("link").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("link/common.ld").display()
    );
    println!("cargo:rustc-link-arg-bins=-T{}", script_path.display());
    if target_arch == "x86_64" {
        // x86_64-unknown-none links static-pie by default; the 32-bit PVH stub uses absolute
        // 32-bit addresses, so the image must be linked at its fixed load address.
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-znoexecstack");
    }
}
