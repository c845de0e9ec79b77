//! Picks the ISA crate: an explicit cargo feature, else the build target's architecture.

// Two explicit choices cannot both hold.
#[cfg(any(
    all(feature = "x86_64", feature = "aarch64"),
    all(feature = "x86_64", feature = "riscv64"),
    all(feature = "aarch64", feature = "riscv64"),
))]
compile_error!("vmlayer_paging: enable at most one of the features `x86_64`, `aarch64`, `riscv64`");

#[cfg(all(feature = "x86_64", not(target_arch = "x86_64")))]
compile_error!(
    "vmlayer_paging: feature `x86_64` needs target_arch = \"x86_64\" (page_table_multiarch compiles \
     each ISA's page-table types only for its own architecture)"
);
#[cfg(all(feature = "aarch64", not(target_arch = "aarch64")))]
compile_error!(
    "vmlayer_paging: feature `aarch64` needs target_arch = \"aarch64\" (page_table_multiarch compiles \
     each ISA's page-table types only for its own architecture)"
);
#[cfg(all(feature = "riscv64", not(target_arch = "riscv64")))]
compile_error!(
    "vmlayer_paging: feature `riscv64` needs target_arch = \"riscv64\" (page_table_multiarch compiles \
     each ISA's page-table types only for its own architecture)"
);
#[cfg(all(feature = "sv48", not(target_arch = "riscv64")))]
compile_error!("vmlayer_paging: feature `sv48` is for riscv64 targets only");
#[cfg(all(feature = "svpbmt", not(target_arch = "riscv64")))]
compile_error!("vmlayer_paging: feature `svpbmt` is for riscv64 targets only");

cfg_if::cfg_if! {
    if #[cfg(target_arch = "x86_64")] {
        /// The ISA this build targets: x86_64 4-level paging.
        pub type Arch = vmlayer_x86_64::X86_64;
        pub use vmlayer_x86_64 as isa;
    } else if #[cfg(all(target_arch = "riscv64", feature = "sv48"))] {
        /// The ISA this build targets: RISC-V Sv48.
        pub type Arch = vmlayer_riscv64::Sv48;
        pub use vmlayer_riscv64 as isa;
    } else if #[cfg(target_arch = "riscv64")] {
        /// The ISA this build targets: RISC-V Sv39.
        pub type Arch = vmlayer_riscv64::Sv39;
        pub use vmlayer_riscv64 as isa;
    } else if #[cfg(target_arch = "aarch64")] {
        /// The ISA this build targets: AArch64, 4 KiB granule, 48-bit.
        pub type Arch = vmlayer_aarch64::AArch64;
        pub use vmlayer_aarch64 as isa;
    } else {
        compile_error!("vmlayer_paging supports target_arch x86_64, aarch64 and riscv64 only");
    }
}
