use std::path::Path;

use super::{Arch, BootConfig, BootVariant, KernelBuild, UnitTests, kernel_builds};
use crate::exit_protocol::ExitProtocol;

#[test]
fn names_round_trip() {
    for arch in Arch::ALL {
        assert_eq!(
            Arch::from_name(arch.name()),
            Some(arch),
            "{arch} parses back"
        );
    }
    assert_eq!(Arch::from_name("mips"), None, "unknown ISA");
}

#[test]
fn each_isa_has_its_exit_protocol() {
    assert_eq!(
        Arch::X86_64.spec().exit_protocol,
        ExitProtocol::IsaDebugExit
    );
    assert_eq!(
        Arch::Aarch64.spec().exit_protocol,
        ExitProtocol::Semihosting
    );
    assert_eq!(Arch::Riscv64.spec().exit_protocol, ExitProtocol::SifiveTest);
}

#[test]
fn emulated_runner_environment_names_the_triple() {
    let UnitTests::Emulated(emulated) = Arch::Riscv64.spec().unit_tests else {
        panic!("riscv64 unit tests run under qemu-user");
    };
    let [linker, runner] = emulated.cargo_environment(emulated.runner.program);
    assert_eq!(
        linker,
        (
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER".to_owned(),
            "riscv64-linux-gnu-gcc".to_owned()
        )
    );
    assert_eq!(
        runner,
        (
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_RUNNER".to_owned(),
            "qemu-riscv64-static -L /usr/riscv64-linux-gnu".to_owned()
        )
    );
    // Upstream QEMU's name for the same emulator serves as well.
    assert_eq!(emulated.runner.alternatives, ["qemu-riscv64"]);
    let [_, upstream_runner] = emulated.cargo_environment("qemu-riscv64");
    assert_eq!(upstream_runner.1, "qemu-riscv64 -L /usr/riscv64-linux-gnu");
}

#[test]
fn rust_targets_include_the_hosted_test_triple_only_when_emulated() {
    assert_eq!(Arch::X86_64.rust_targets(), ["x86_64-unknown-none"]);
    assert_eq!(
        Arch::Aarch64.rust_targets(),
        ["aarch64-unknown-none", "aarch64-unknown-linux-gnu"]
    );
}

#[test]
fn automated_boot_arguments_put_serial_on_stdout_and_end_with_the_kernel() {
    let arguments = Arch::X86_64.qemu_test_arguments(&[], Path::new("/k"));
    assert_eq!(
        arguments.join(" "),
        "-machine q35 -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -display none -serial stdio -monitor none -kernel /k"
    );
    let interactive = Arch::Riscv64.qemu_interactive_arguments(&[], Path::new("/k"));
    assert_eq!(
        interactive.join(" "),
        "-machine virt -bios default -nographic -kernel /k"
    );
}

#[test]
fn extra_qemu_arguments_come_after_the_machine_arguments() {
    let extra = [
        "-m".to_owned(),
        "4G".to_owned(),
        "-cpu".to_owned(),
        "max".to_owned(),
    ];
    let arguments = Arch::Aarch64.qemu_test_arguments(&extra, Path::new("/k"));
    assert_eq!(
        arguments.join(" "),
        "-machine virt -cpu cortex-a72 -semihosting -m 4G -cpu max \
         -display none -serial stdio -monitor none -kernel /k",
        "QEMU keeps the last -cpu"
    );
    let interactive = Arch::X86_64.qemu_interactive_arguments(&extra[..2], Path::new("/k"));
    assert_eq!(
        interactive.join(" "),
        "-machine q35 -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -m 4G -nographic -kernel /k"
    );
}

/// The value following `flag` in `arguments`, if any.
fn value_of<'a>(arguments: &'a [&'a str], flag: &str) -> Option<&'a str> {
    arguments
        .windows(2)
        .find(|pair| pair[0] == flag)
        .map(|pair| pair[1])
}

#[test]
fn every_isa_boots_default_large_memory_and_multi_cpu_configurations() {
    for arch in Arch::ALL {
        let boots = arch.spec().boots;
        assert_eq!(
            boots[0].name, "default",
            "{arch}: the plain boot comes first"
        );
        assert!(
            boots[0].qemu_args.is_empty() && boots[0].kernel_features.is_empty(),
            "{arch}: the default adds nothing"
        );
        let memory_in_gib = |variant: &&super::BootVariant| {
            value_of(variant.qemu_args, "-m")
                .and_then(|size| size.strip_suffix('G'))
                .and_then(|gib| gib.parse::<u32>().ok())
        };
        assert!(
            boots
                .iter()
                .filter_map(|variant| memory_in_gib(&variant))
                .any(|gib| gib >= 4),
            "{arch}: a boot with 4 GiB or more"
        );
        assert!(
            boots
                .iter()
                .any(|variant| value_of(variant.qemu_args, "-smp")
                    .and_then(|count| count.parse::<u32>().ok())
                    .is_some_and(|count| count > 1)),
            "{arch}: a boot with several CPUs"
        );
        assert!(
            boots
                .iter()
                .any(|variant| value_of(variant.qemu_args, "-cpu").is_some()),
            "{arch}: a boot on another CPU model"
        );
        let mut names: Vec<&str> = boots.iter().map(|variant| variant.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            boots.len(),
            "{arch}: configuration names are unique"
        );
        for variant in boots {
            assert!(
                !variant.qemu_args.iter().any(|argument| [
                    "-kernel",
                    "-serial",
                    "-monitor",
                    "-display",
                    "-nographic",
                    "-machine"
                ]
                .contains(argument)),
                "{arch} {}: a configuration only adds memory, CPU and similar flags",
                variant.name
            );
        }
    }
}

#[test]
fn boot_configurations_print_their_name_features_and_arguments() {
    let configs = Arch::X86_64.boot_configs();
    assert_eq!(configs[0].to_string(), "default");
    let large = configs.iter().find(|config| config.name == "large-memory");
    assert_eq!(
        large.map(ToString::to_string).as_deref(),
        Some("large-memory: -m 4G")
    );
    let custom = BootConfig::custom(&["-smp".to_owned(), "4".to_owned()]);
    assert_eq!(custom.to_string(), "custom: -smp 4");
    assert!(
        custom.kernel_features.is_empty(),
        "custom boots the default build"
    );
    let riscv = Arch::Riscv64.boot_configs();
    let svpbmt = riscv.iter().find(|config| config.name == "svpbmt");
    assert_eq!(
        svpbmt.map(ToString::to_string).as_deref(),
        Some("svpbmt [features svpbmt]: -cpu rv64,svpbmt=on")
    );
    let features_only = BootConfig::from(&BootVariant {
        name: "both",
        kernel_features: &["sv48", "svpbmt"],
        qemu_args: &[],
    });
    assert_eq!(features_only.to_string(), "both [features sv48,svpbmt]");
}

#[test]
fn a_variant_s_features_are_sorted_and_deduplicated() {
    let config = BootConfig::from(&BootVariant {
        name: "x",
        kernel_features: &["svpbmt", "sv48", "svpbmt"],
        qemu_args: &["-m", "1G"],
    });
    assert_eq!(config.kernel_features, ["sv48", "svpbmt"]);
    assert_eq!(config.qemu_args, ["-m", "1G"]);
}

/// A configuration with `features` (and no QEMU arguments).
fn config(name: &str, features: &[&str]) -> BootConfig {
    BootConfig {
        name: name.to_owned(),
        kernel_features: features.iter().map(|&feature| feature.to_owned()).collect(),
        qemu_args: Vec::new(),
    }
}

#[test]
fn the_kernel_is_built_once_per_distinct_feature_set_in_first_use_order() {
    let configs = [
        config("default", &[]),
        config("sv48", &["sv48"]),
        config("small", &[]),
        config("svpbmt", &["svpbmt"]),
        config("sv48-big", &["sv48"]),
        config("both", &["sv48", "svpbmt"]),
    ];
    let build = |features: &[&str], configs: &[usize]| KernelBuild {
        features: features.iter().map(|&feature| feature.to_owned()).collect(),
        configs: configs.to_vec(),
    };
    assert_eq!(
        kernel_builds(&configs),
        [
            build(&[], &[0, 2]),
            build(&["sv48"], &[1, 4]),
            build(&["svpbmt"], &[3]),
            build(&["sv48", "svpbmt"], &[5]),
        ]
    );
    assert_eq!(kernel_builds(&[]), []);
    // The table's own configurations: riscv64 needs four builds (default, sv48, svpbmt,
    // small-asids), the others two (default, small-asids).
    assert_eq!(kernel_builds(&Arch::Riscv64.boot_configs()).len(), 4);
    assert_eq!(kernel_builds(&Arch::X86_64.boot_configs()).len(), 2);
}

/// The names of the `[features]` section of a Cargo.toml text.
fn cargo_features(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "[features]")
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

#[test]
fn features_are_read_from_the_features_section_only() {
    let manifest = "[dependencies]\nx = \"1\"\n[features]\n# comment\ndefault = []\nsv48 = [\"a/sv48\"]\n[lints]\nworkspace = true\n";
    assert_eq!(cargo_features(manifest), ["default", "sv48"]);
}

#[test]
fn every_kernel_feature_of_the_table_is_a_real_feature_of_the_kernel() {
    let path = crate::workspace::root()
        .join(super::KERNEL_DIRECTORY)
        .join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path).expect("the kernel's Cargo.toml");
    let declared = cargo_features(&manifest);
    for arch in Arch::ALL {
        for variant in arch.spec().boots {
            for feature in variant.kernel_features {
                assert!(
                    declared.iter().any(|name| name == feature),
                    "{arch} {}: `{feature}` is not a feature of {}",
                    variant.name,
                    path.display()
                );
                assert!(
                    *feature != "default" && !feature.starts_with("broken-"),
                    "{arch} {}: `{feature}` is the default or a test-only breakage",
                    variant.name
                );
            }
        }
    }
}

#[test]
fn riscv64_boots_sv48_and_svpbmt_builds_on_cpus_that_implement_them() {
    let boots = Arch::Riscv64.spec().boots;
    for feature in ["sv48", "svpbmt"] {
        assert!(
            boots
                .iter()
                .any(|variant| variant.kernel_features == [feature]),
            "riscv64: a boot of the `{feature}` build alone"
        );
    }
    for variant in boots {
        let cpu = value_of(variant.qemu_args, "-cpu");
        if variant.kernel_features.contains(&"svpbmt") {
            assert!(
                cpu.is_some_and(|cpu| cpu.split(',').any(|option| option == "svpbmt=on")),
                "riscv64 {}: the svpbmt build needs a CPU with svpbmt=on, got {cpu:?}",
                variant.name
            );
        }
        if variant.kernel_features.contains(&"sv48") {
            assert!(
                !cpu.is_some_and(|cpu| cpu.starts_with("sifive-u54")),
                "riscv64 {}: the SiFive U54 is an Sv39-only core (QEMU 7.2 does not model \
                 that and would accept Sv48 on it)",
                variant.name
            );
        }
    }
    for arch in [Arch::X86_64, Arch::Aarch64] {
        assert!(
            arch.spec()
                .boots
                .iter()
                .all(|variant| variant.kernel_features.iter().all(|f| *f == "small-asids")),
            "{arch}: sv48 and svpbmt are riscv64 features"
        );
    }
}

/// The `key = "value"` entries of the `[target.<triple>]` section of a cargo config text.
fn target_section(config: &str, triple: &str) -> Vec<(String, String)> {
    let header = format!("[target.{triple}]");
    config
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((
                key.trim().to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

#[test]
fn cargo_config_runners_agree_with_the_table() {
    // `.cargo/config.toml` serves plain `cargo test --target …`; the xtask passes the table's
    // values through the environment. Where both exist they must be the same.
    let path = crate::workspace::root().join(".cargo/config.toml");
    let config = std::fs::read_to_string(&path).unwrap_or_default();
    for arch in Arch::ALL {
        let UnitTests::Emulated(emulated) = arch.spec().unit_tests else {
            continue;
        };
        let [(_, linker), (_, runner)] = emulated.cargo_environment(emulated.runner.program);
        for (key, value) in target_section(&config, emulated.triple) {
            match key.as_str() {
                "linker" => assert_eq!(value, linker, "{arch} linker in {}", path.display()),
                "runner" => assert_eq!(value, runner, "{arch} runner in {}", path.display()),
                _ => {}
            }
        }
    }
}

#[test]
fn target_sections_are_read_up_to_the_next_header() {
    let config = "[alias]\nx = \"y\"\n[target.t]\nlinker = \"gcc\"\nrunner = \"qemu -L /s\"\n[other]\nlinker = \"no\"\n";
    assert_eq!(
        target_section(config, "t"),
        [
            ("linker".to_owned(), "gcc".to_owned()),
            ("runner".to_owned(), "qemu -L /s".to_owned())
        ]
    );
}

#[test]
fn a_boot_configuration_counts_its_cpus_from_smp() {
    let config =
        |args: &[&str]| BootConfig::custom(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    assert_eq!(config(&[]).cpus(), 1);
    assert_eq!(config(&["-m", "4G"]).cpus(), 1);
    assert_eq!(config(&["-smp", "4", "-cpu", "max"]).cpus(), 4);
    assert_eq!(config(&["-smp", "cpus=2,sockets=1"]).cpus(), 2);
    assert_eq!(
        config(&["-smp", "2", "-smp", "3"]).cpus(),
        3,
        "QEMU keeps the last"
    );
}

#[test]
fn every_isa_boots_one_cpu_and_four_and_a_small_asid_space() {
    for arch in Arch::ALL {
        let configs = arch.boot_configs();
        assert!(configs.iter().any(|c| c.cpus() == 1), "{arch}: one CPU");
        assert!(
            configs
                .iter()
                .any(|c| c.cpus() == 4 && c.kernel_features.is_empty()),
            "{arch}: four CPUs"
        );
        assert!(
            configs
                .iter()
                .any(|c| c.cpus() == 4 && c.kernel_features == ["small-asids"]),
            "{arch}: ASID rollovers on four CPUs"
        );
    }
}
