use super::{MINIMUM_QEMU, QemuVersion};

fn version(major: u32, minor: u32, micro: u32) -> QemuVersion {
    QemuVersion {
        major,
        minor,
        micro,
    }
}

#[test]
fn debian_and_upstream_version_lines_parse() {
    let samples = [
        // Debian 12's qemu-system-x86 (this machine).
        (
            "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n\
             Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n",
            version(7, 2, 22),
        ),
        // Debian 12's qemu-user-static.
        (
            "qemu-riscv64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n\
             Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n",
            version(7, 2, 22),
        ),
        // bookworm-backports' QEMU 10.0 (the qemu-utils).
        (
            "qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
             Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n",
            version(10, 0, 2),
        ),
        (
            "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n",
            version(10, 0, 2),
        ),
        // A build from git, and Ubuntu 18.04's (no space before the parenthesis).
        (
            "QEMU emulator version 9.2.50 (v9.2.0-1234-g0123456789)\n",
            version(9, 2, 50),
        ),
        (
            "QEMU emulator version 2.11.1(Debian 1:2.11+dfsg-1ubuntu7.41)\n",
            version(2, 11, 1),
        ),
        // Two numbers only, and a bare line.
        ("QEMU emulator version 8.0\n", version(8, 0, 0)),
        ("qemu-aarch64 version 6.2.0", version(6, 2, 0)),
    ];
    for (output, expected) in samples {
        assert_eq!(QemuVersion::parse(output), Some(expected), "{output:?}");
    }
}

#[test]
fn output_without_a_version_number_is_rejected() {
    for output in [
        "",
        "qemu-system-riscv64: unknown option '--version'\n",
        "QEMU emulator version (unknown)\n",
        "version 7\n",
        "version 7.2.x\n",
        "Copyright (c) 2003-2022 Fabrice Bellard\n",
    ] {
        assert_eq!(QemuVersion::parse(output), None, "{output:?}");
    }
}

#[test]
fn versions_order_numerically_against_the_minimum() {
    assert_eq!(MINIMUM_QEMU, version(7, 0, 0));
    assert!(version(7, 2, 22) >= MINIMUM_QEMU, "Debian 12's 7.2");
    assert!(version(10, 0, 2) >= MINIMUM_QEMU, "backports' 10.0");
    assert!(version(6, 2, 0) < MINIMUM_QEMU, "Ubuntu 22.04's 6.2");
    assert!(
        version(10, 0, 0) > version(9, 10, 0),
        "numeric, not textual"
    );
    assert_eq!(version(10, 0, 2).to_string(), "10.0.2");
}
