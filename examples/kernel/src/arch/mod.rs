//! The per-ISA boot and trap glue. Each module provides the same small surface:
//! `ISA_NAME`, `CPU_ID_KIND`, `KERNEL_PHYS_BASE` (where the image is loaded), `RAM_WINDOW`,
//! `BOOT_MAPPED_END` (the end of the boot mapping's direct map), `discover_memory`,
//! `console_write_byte`, `exit_qemu`, `TrapFrame` (with `pc` and `resume_at`), the probes
//! `probe_read`/`probe_write`/`probe_execute`, `RETURN_INSTRUCTION`, `UserContext` and
//! `enter_user` (user mode, `user.rs`; the user programs' machine code is in `programs.rs`),
//! `enable_kernel_space`, `protect_user_memory`, `user_memory_blocked` and `MMIO_REGIONS`;
//! for `crate::hardware` (the MMU state read from the manual, not from our crates)
//! `translation_root`, `classify_entry`, `memory_type`, `BUILD_LEVELS`, `DEVICE_MEMORY` and
//! `NORMAL_MEMORY`; `console_transmitter_drains` (a load of the console's status register) and
//! `prepare_fatal_report`. AArch64 adds `kernel_half_registers` (the boot log's `TTBR1_EL1`
//! and `TCR_EL1`).
//!
//! Each `boot.rs` enters at the image's physical address, turns on a boot mapping (identity,
//! the image at its upper-half link address, the direct map of the first GiBs) and jumps to
//! the link address before any Rust code runs.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub(crate) use self::aarch64::*;
#[cfg(target_arch = "riscv64")]
pub(crate) use self::riscv64::*;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::x86_64::*;
