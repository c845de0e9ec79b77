//! The `Arch` table: the single place that knows, per ISA, the Rust triples, the unit-test
//! packages, the QEMU binaries and machine arguments, the boot configurations the kernel suite
//! runs under (default, small and large memory, several CPUs, other CPU models, and kernel
//! builds with other cargo features such as RISC-V Sv48 and Svpbmt), the host packages that
//! provide them and the kernel's exit protocol.
//!
//! Everything else in the xtask asks this table; no other file spells a triple or a QEMU flag.

use std::fmt;
use std::path::Path;

use crate::exit_protocol::ExitProtocol;
use crate::qemu_version::{MINIMUM_QEMU, QemuVersion};

/// One of the three ISAs the workspace supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    /// x86-64 (4-level paging), unit-tested natively on the host.
    X86_64,
    /// AArch64 (4 KiB granule, 48-bit VA), unit-tested under `qemu-aarch64-static` (or
    /// `qemu-aarch64`).
    Aarch64,
    /// RISC-V Sv39 (Sv48 and Svpbmt as features), unit-tested under `qemu-riscv64-static` (or
    /// `qemu-riscv64`).
    Riscv64,
}

/// A program on the host's `PATH`, the Debian package that provides it and, for QEMU, the oldest
/// version that serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostProgram {
    /// The executable's file name, looked up on `PATH` (the name the Debian package installs).
    pub(crate) program: &'static str,
    /// Other names of a program that serves as well, looked up after `program`: QEMU's own
    /// `make install` (and Debian's dynamically linked `qemu-user`) name the user-mode emulator
    /// `qemu-riscv64`, Debian's `qemu-user-static` names it `qemu-riscv64-static`.
    pub(crate) alternatives: &'static [&'static str],
    /// The Debian/Ubuntu package that installs it.
    pub(crate) debian_package: &'static str,
    /// For QEMU binaries, the oldest version (from `--version`) that is used as is; an older one
    /// counts as missing. `None`: any version serves.
    pub(crate) minimum_version: Option<QemuVersion>,
}

/// A file the host must have (a cross C library) and the Debian package that provides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostFile {
    /// Absolute path of the file.
    pub(crate) path: &'static str,
    /// The Debian/Ubuntu package that installs it.
    pub(crate) debian_package: &'static str,
}

/// How an ISA's unit tests run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnitTests {
    /// Plain `cargo test` on the workspace's default members, on the host (x86_64 hosts).
    Native,
    /// `cargo test --target <linux-gnu triple> -p …` with each test binary run under qemu-user.
    Emulated(EmulatedUnitTests),
}

/// The cross tool chain for running an ISA's unit tests under qemu-user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EmulatedUnitTests {
    /// The hosted target the tests are compiled for, e.g. `riscv64gc-unknown-linux-gnu`.
    pub(crate) triple: &'static str,
    /// The qemu-user emulator that runs the test binaries (under whichever of its names set-up
    /// found on `PATH`).
    pub(crate) runner: HostProgram,
    /// The cross C compiler used as linker (rust-lld alone cannot link linux-gnu targets).
    pub(crate) linker: HostProgram,
    /// The cross sysroot holding the target's dynamic loader and libc, passed to qemu-user as
    /// `-L`.
    pub(crate) sysroot: &'static str,
    /// A file of the cross libc development package (the linker needs its `crt1.o`).
    pub(crate) libc_dev: HostFile,
}

/// Everything the xtask knows about one ISA.
#[derive(Debug)]
pub(crate) struct ArchSpec {
    /// The name used on the command line and in reports.
    pub(crate) name: &'static str,
    /// The bare-metal target the example kernel is built for.
    pub(crate) bare_metal_triple: &'static str,
    /// How the unit tests run.
    pub(crate) unit_tests: UnitTests,
    /// The ISA's crates: unit-tested together (under qemu-user when emulated) and checked for the
    /// bare-metal target. `vmlayer_areas` selects ours, not the upstream dev-dependency.
    pub(crate) packages: &'static [&'static str],
    /// The full-system emulator that boots the kernel.
    pub(crate) qemu_system: HostProgram,
    /// Machine arguments for `qemu_system` (before `-kernel`); see `platform.md`.
    pub(crate) machine_args: &'static [&'static str],
    /// How the kernel reports its verdict to QEMU.
    pub(crate) exit_protocol: ExitProtocol,
    /// The boots `cargo xtask test` runs (the first is the plain default): each adds QEMU
    /// arguments after `machine_args` (QEMU keeps the last `-cpu` and `-m`) and may build the
    /// kernel with cargo features (a translation mode, a memory-type encoding). The kernel needs
    /// no QEMU flag of its own for any of them: it reads RAM and CPUs from the firmware.
    pub(crate) boots: &'static [BootVariant],
}

/// One boot configuration of the table: a name for reports, the cargo features of the kernel
/// build it boots and the QEMU arguments it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BootVariant {
    /// Short name, e.g. `large-memory`.
    pub(crate) name: &'static str,
    /// Cargo features of the example kernel for this boot, e.g. `["sv48"]`; empty for the
    /// default build. The kernel is built once per distinct set.
    pub(crate) kernel_features: &'static [&'static str],
    /// Arguments added after the machine arguments, e.g. `["-m", "4G"]`.
    pub(crate) qemu_args: &'static [&'static str],
}

/// A boot configuration to run: from the table, or `custom` from the command line
/// (`cargo xtask test -- <QEMU arguments>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BootConfig {
    /// Short name, e.g. `default`, `large-memory`, `custom`.
    pub(crate) name: String,
    /// Cargo features of the kernel build, sorted and without duplicates (empty: the default
    /// build).
    pub(crate) kernel_features: Vec<String>,
    /// Arguments added after the machine arguments.
    pub(crate) qemu_args: Vec<String>,
}

impl BootConfig {
    /// How many CPUs QEMU gives the machine: the last `-smp N` or `-smp cpus=N` (QEMU keeps
    /// the last), else 1.
    pub(crate) fn cpus(&self) -> usize {
        let mut cpus = 1;
        for pair in self.qemu_args.windows(2) {
            if pair[0] == "-smp" {
                let first = pair[1].split(',').next().unwrap_or_default();
                let count = first.strip_prefix("cpus=").unwrap_or(first);
                cpus = count.parse().unwrap_or(1);
            }
        }
        cpus
    }

    /// The configuration of the command line's extra QEMU arguments (default kernel build).
    pub(crate) fn custom(qemu_args: &[String]) -> Self {
        Self {
            name: "custom".to_owned(),
            kernel_features: Vec::new(),
            qemu_args: qemu_args.to_vec(),
        }
    }
}

impl From<&BootVariant> for BootConfig {
    fn from(variant: &BootVariant) -> Self {
        let mut kernel_features: Vec<String> = variant
            .kernel_features
            .iter()
            .map(|&feature| feature.to_owned())
            .collect();
        kernel_features.sort_unstable();
        kernel_features.dedup();
        Self {
            name: variant.name.to_owned(),
            kernel_features,
            qemu_args: variant
                .qemu_args
                .iter()
                .map(|&argument| argument.to_owned())
                .collect(),
        }
    }
}

impl fmt::Display for BootConfig {
    /// `default`, `large-memory: -m 4G`, or with kernel features
    /// `svpbmt [features svpbmt]: -cpu rv64,svpbmt=on`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name)?;
        if !self.kernel_features.is_empty() {
            write!(formatter, " [features {}]", self.kernel_features.join(","))?;
        }
        if !self.qemu_args.is_empty() {
            write!(formatter, ": {}", self.qemu_args.join(" "))?;
        }
        Ok(())
    }
}

/// One kernel build and the boot configurations that boot it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelBuild {
    /// The cargo features of the build (sorted; empty: the default build).
    pub(crate) features: Vec<String>,
    /// Indices into the configurations, in their order.
    pub(crate) configs: Vec<usize>,
}

/// The kernel builds `configs` need: one per distinct feature set, in the order of the first
/// configuration that uses it, each with the configurations it serves.
pub(crate) fn kernel_builds(configs: &[BootConfig]) -> Vec<KernelBuild> {
    let mut builds: Vec<KernelBuild> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        match builds
            .iter_mut()
            .find(|build| build.features == config.kernel_features)
        {
            Some(build) => build.configs.push(index),
            None => builds.push(KernelBuild {
                features: config.kernel_features.clone(),
                configs: vec![index],
            }),
        }
    }
    builds
}

/// The plain boot: the machine arguments alone (QEMU's default RAM, one CPU), default build.
const DEFAULT_BOOT: BootVariant = BootVariant {
    name: "default",
    kernel_features: &[],
    qemu_args: &[],
};

/// The workspace package of the bare-metal example kernel (binary of the same name).
pub(crate) const KERNEL_PACKAGE: &str = "example_kernel";
/// The example kernel's directory, relative to the workspace root.
pub(crate) const KERNEL_DIRECTORY: &str = "examples/kernel";

const X86_64: ArchSpec = ArchSpec {
    name: "x86_64",
    bare_metal_triple: "x86_64-unknown-none",
    unit_tests: UnitTests::Native,
    packages: &[
        "vmlayer_areas",
        "vmlayer_arch",
        "vmlayer_paging",
        "vmlayer_x86_64",
    ],
    qemu_system: HostProgram {
        program: "qemu-system-x86_64",
        alternatives: &[],
        debian_package: "qemu-system-x86",
        minimum_version: Some(MINIMUM_QEMU),
    },
    machine_args: &[
        "-machine",
        "q35",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ],
    exit_protocol: ExitProtocol::IsaDebugExit,
    // q35 with 4 GiB: RAM below 640 KiB, 1 MiB..2 GiB and 4..6 GiB (above the PCI hole).
    boots: &[
        DEFAULT_BOOT,
        BootVariant {
            name: "small-memory",
            kernel_features: &[],
            qemu_args: &["-m", "64M", "-cpu", "Nehalem"],
        },
        BootVariant {
            name: "large-memory",
            kernel_features: &[],
            qemu_args: &["-m", "4G"],
        },
        BootVariant {
            name: "multi-cpu",
            kernel_features: &[],
            qemu_args: &["-smp", "4", "-m", "2G", "-cpu", "max"],
        },
        BootVariant {
            name: "small-asids",
            kernel_features: &["small-asids"],
            qemu_args: &["-smp", "4", "-cpu", "max"],
        },
    ],
};

const AARCH64: ArchSpec = ArchSpec {
    name: "aarch64",
    bare_metal_triple: "aarch64-unknown-none",
    unit_tests: UnitTests::Emulated(EmulatedUnitTests {
        triple: "aarch64-unknown-linux-gnu",
        runner: HostProgram {
            program: "qemu-aarch64-static",
            alternatives: &["qemu-aarch64"],
            debian_package: "qemu-user-static",
            minimum_version: Some(MINIMUM_QEMU),
        },
        linker: HostProgram {
            program: "aarch64-linux-gnu-gcc",
            alternatives: &[],
            debian_package: "gcc-aarch64-linux-gnu",
            minimum_version: None,
        },
        sysroot: "/usr/aarch64-linux-gnu",
        libc_dev: HostFile {
            path: "/usr/aarch64-linux-gnu/lib/crt1.o",
            debian_package: "libc6-dev-arm64-cross",
        },
    }),
    packages: &[
        "vmlayer_areas",
        "vmlayer_arch",
        "vmlayer_paging",
        "vmlayer_aarch64",
    ],
    qemu_system: HostProgram {
        program: "qemu-system-aarch64",
        alternatives: &[],
        debian_package: "qemu-system-arm",
        minimum_version: Some(MINIMUM_QEMU),
    },
    machine_args: &["-machine", "virt", "-cpu", "cortex-a72", "-semihosting"],
    exit_protocol: ExitProtocol::Semihosting,
    boots: &[
        DEFAULT_BOOT,
        BootVariant {
            name: "small-memory",
            kernel_features: &[],
            qemu_args: &["-m", "64M", "-cpu", "cortex-a53"],
        },
        BootVariant {
            name: "large-memory",
            kernel_features: &[],
            qemu_args: &["-m", "4G", "-cpu", "cortex-a57"],
        },
        BootVariant {
            name: "multi-cpu",
            kernel_features: &[],
            qemu_args: &["-smp", "4", "-m", "2G", "-cpu", "max"],
        },
        BootVariant {
            name: "small-asids",
            kernel_features: &["small-asids"],
            qemu_args: &["-smp", "4", "-cpu", "max"],
        },
    ],
};

const RISCV64: ArchSpec = ArchSpec {
    name: "riscv64",
    bare_metal_triple: "riscv64gc-unknown-none-elf",
    unit_tests: UnitTests::Emulated(EmulatedUnitTests {
        triple: "riscv64gc-unknown-linux-gnu",
        runner: HostProgram {
            program: "qemu-riscv64-static",
            alternatives: &["qemu-riscv64"],
            debian_package: "qemu-user-static",
            minimum_version: Some(MINIMUM_QEMU),
        },
        linker: HostProgram {
            program: "riscv64-linux-gnu-gcc",
            alternatives: &[],
            debian_package: "gcc-riscv64-linux-gnu",
            minimum_version: None,
        },
        sysroot: "/usr/riscv64-linux-gnu",
        libc_dev: HostFile {
            path: "/usr/riscv64-linux-gnu/lib/crt1.o",
            debian_package: "libc6-dev-riscv64-cross",
        },
    }),
    packages: &[
        "vmlayer_areas",
        "vmlayer_arch",
        "vmlayer_paging",
        "vmlayer_riscv64",
    ],
    qemu_system: HostProgram {
        program: "qemu-system-riscv64",
        alternatives: &[],
        debian_package: "qemu-system-misc",
        minimum_version: Some(MINIMUM_QEMU),
    },
    machine_args: &["-machine", "virt", "-bios", "default"],
    exit_protocol: ExitProtocol::SifiveTest,
    // With 4 harts OpenSBI may pick any of them as the boot hart.
    boots: &[
        DEFAULT_BOOT,
        BootVariant {
            name: "small-memory",
            kernel_features: &[],
            qemu_args: &["-m", "64M", "-cpu", "sifive-u54"],
        },
        BootVariant {
            name: "large-memory",
            kernel_features: &[],
            qemu_args: &["-m", "4G"],
        },
        BootVariant {
            name: "multi-cpu",
            kernel_features: &[],
            qemu_args: &["-smp", "4", "-m", "2G"],
        },
        BootVariant {
            name: "small-asids",
            kernel_features: &["small-asids"],
            qemu_args: &["-smp", "4"],
        },
        // Sv48 (4-level tables) with 4 GiB of RAM; `rv64` implements Sv48 (`sifive-u54` would
        // refuse the mode at boot).
        BootVariant {
            name: "sv48",
            kernel_features: &["sv48"],
            qemu_args: &["-m", "4G"],
        },
        // DEVICE as Svpbmt `PBMT = IO`: the bits are reserved (every access faults) on a CPU
        // without the extension, which QEMU 7.2's `rv64` lacks unless told.
        BootVariant {
            name: "svpbmt",
            kernel_features: &["svpbmt"],
            qemu_args: &["-cpu", "rv64,svpbmt=on"],
        },
    ],
};

impl Arch {
    /// Every supported ISA, in report order.
    pub(crate) const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Riscv64];

    /// This ISA's row of the table.
    pub(crate) fn spec(self) -> &'static ArchSpec {
        match self {
            Arch::X86_64 => &X86_64,
            Arch::Aarch64 => &AARCH64,
            Arch::Riscv64 => &RISCV64,
        }
    }

    /// The command-line name, e.g. `riscv64`.
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks an ISA up by its command-line name.
    pub(crate) fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|arch| arch.name() == name)
    }

    /// The Rust targets this ISA needs installed: the bare-metal one and, when the unit tests are
    /// emulated, the hosted one.
    pub(crate) fn rust_targets(self) -> Vec<&'static str> {
        let spec = self.spec();
        let mut targets = vec![spec.bare_metal_triple];
        if let UnitTests::Emulated(emulated) = spec.unit_tests {
            targets.push(emulated.triple);
        }
        targets
    }

    /// The boot configurations `cargo xtask test` runs for this ISA, default first.
    pub(crate) fn boot_configs(self) -> Vec<BootConfig> {
        self.spec().boots.iter().map(BootConfig::from).collect()
    }

    /// QEMU arguments that boot `kernel` for an automated run: the machine arguments, `extra`
    /// (a boot configuration's arguments), serial console on stdout, no display, no monitor.
    pub(crate) fn qemu_test_arguments(self, extra: &[String], kernel: &Path) -> Vec<String> {
        let mut arguments = self.machine_arguments();
        arguments.extend_from_slice(extra);
        arguments
            .extend(["-display", "none", "-serial", "stdio", "-monitor", "none"].map(String::from));
        arguments.push("-kernel".to_owned());
        arguments.push(kernel.display().to_string());
        arguments
    }

    /// QEMU arguments that boot `kernel` interactively: the machine arguments, `extra` (from the
    /// command line), and `-nographic`, which puts the serial console and the monitor (Ctrl-A x
    /// quits) on the terminal.
    pub(crate) fn qemu_interactive_arguments(self, extra: &[String], kernel: &Path) -> Vec<String> {
        let mut arguments = self.machine_arguments();
        arguments.extend_from_slice(extra);
        arguments.push("-nographic".to_owned());
        arguments.push("-kernel".to_owned());
        arguments.push(kernel.display().to_string());
        arguments
    }

    fn machine_arguments(self) -> Vec<String> {
        self.spec()
            .machine_args
            .iter()
            .map(|argument| (*argument).to_owned())
            .collect()
    }
}

impl EmulatedUnitTests {
    /// The environment that makes cargo link with the cross gcc and run test binaries (and
    /// doctests) under qemu-user, run as `runner` (one of [`Self::runner`]'s names):
    /// `CARGO_TARGET_<TRIPLE>_LINKER` and `…_RUNNER`. These override any `[target.<triple>]`
    /// entries in `.cargo/config.toml`, so an xtask run does not depend on them; with the
    /// table's first name they carry the same values.
    pub(crate) fn cargo_environment(&self, runner: &str) -> [(String, String); 2] {
        let prefix = format!(
            "CARGO_TARGET_{}",
            self.triple.to_ascii_uppercase().replace('-', "_")
        );
        [
            (format!("{prefix}_LINKER"), self.linker.program.to_owned()),
            (
                format!("{prefix}_RUNNER"),
                format!("{runner} -L {}", self.sysroot),
            ),
        ]
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
