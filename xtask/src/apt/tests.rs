use super::{
    AptPlan, Consent, InstalledChanges, PackageVersion, Removals, VersionChange, install_arguments,
    simulate_install,
};
use crate::error::XtaskError;

/// `apt-get -s install qemu-utils` on a Debian 12 machine without it (recorded on this kind of
/// machine): additions only.
const PLAIN_INSTALL: &str = "\
NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
Building dependency tree...
Reading state information...
The following additional packages will be installed:
  libboost-thread1.74.0 libfmt9 libgfapi0 libgfrpc0 libgfxdr0 libglusterfs0
  libiscsi7 libnfs13 librados2 librbd1 libssh-4 qemu-block-extra
The following NEW packages will be installed:
  libboost-thread1.74.0 libfmt9 libgfapi0 libgfrpc0 libgfxdr0 libglusterfs0
  libiscsi7 libnfs13 librados2 librbd1 libssh-4 qemu-block-extra qemu-utils
0 upgraded, 13 newly installed, 0 to remove and 137 not upgraded.
Inst libboost-thread1.74.0 (1.74.0+ds1-21 Debian:12.15/oldstable [amd64])
Inst libnfs13 (4.0.0-1+deb12u1 Debian-Security:12/oldstable-security [amd64])
Inst librados2 (16.2.15+ds-0+deb12u2 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Inst qemu-utils (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf libboost-thread1.74.0 (1.74.0+ds1-21 Debian:12.15/oldstable [amd64])
Conf libnfs13 (4.0.0-1+deb12u1 Debian-Security:12/oldstable-security [amd64])
Conf librados2 (16.2.15+ds-0+deb12u2 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Conf qemu-utils (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
";

/// An install that also upgrades an installed package (recorded: `apt-get -s install
/// ca-certificates qemu-utils`).
const INSTALL_WITH_UPGRADE: &str = "\
The following NEW packages will be installed:
  qemu-utils
The following packages will be upgraded:
  ca-certificates
1 upgraded, 1 newly installed, 0 to remove and 136 not upgraded.
Inst ca-certificates [20230311+deb12u1] (20250419~deb12u2 Debian-Security:12/oldstable-security [all])
Inst qemu-utils (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf ca-certificates (20250419~deb12u2 Debian-Security:12/oldstable-security [all])
Conf qemu-utils (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
";

/// The issue: QEMU 10.0 from bookworm-backports is installed (`qemu-utils`, `qemu-system-x86`
/// and their common packages), and set-up asks for `qemu-system-misc`, whose candidate is
/// bookworm's 7.2. Its exact-version dependency on `qemu-system-common` downgrades the common
/// packages and takes `qemu-utils` 10.0 with them.
const BACKPORTS_REMOVAL: &str = "\
Reading package lists...
Building dependency tree...
Reading state information...
The following additional packages will be installed:
  qemu-system-common qemu-system-data
The following packages will be REMOVED:
  qemu-system-x86 qemu-utils
The following NEW packages will be installed:
  qemu-system-misc
The following packages will be DOWNGRADED:
  qemu-system-common qemu-system-data
0 upgraded, 1 newly installed, 2 downgraded, 2 to remove and 0 not upgraded.
Remv qemu-system-x86 [1:10.0.2+ds-2+deb13u1~bpo12+1]
Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]
Inst qemu-system-data [1:10.0.2+ds-2+deb13u1~bpo12+1] (1:7.2+dfsg-7+deb12u18 Debian:12.15/oldstable [all])
Inst qemu-system-common [1:10.0.2+ds-2+deb13u1~bpo12+1] (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Inst qemu-system-misc (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf qemu-system-data (1:7.2+dfsg-7+deb12u18 Debian:12.15/oldstable [all])
Conf qemu-system-common (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf qemu-system-misc (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
";

/// A removal recorded on Debian 12: `apt-get -s install --no-install-recommends
/// qemu-user-binfmt`, which conflicts with the installed `qemu-user-static`.
const CONFLICT_REMOVAL: &str = "\
The following additional packages will be installed:
  qemu-user
The following packages will be REMOVED:
  qemu-user-static
The following NEW packages will be installed:
  qemu-user qemu-user-binfmt
0 upgraded, 2 newly installed, 1 to remove and 137 not upgraded.
Remv qemu-user-static [1:7.2+dfsg-7+deb12u18+b3]
Inst qemu-user (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Inst qemu-user-binfmt (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf qemu-user (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Conf qemu-user-binfmt (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
";

/// A downgrade recorded on Debian 12 (asking for the security archive's older build), with
/// apt's trailing `[]` on a line with broken recommendations.
const DOWNGRADE: &str = "\
The following packages will be DOWNGRADED:
  qemu-system-common qemu-system-data qemu-system-misc
0 upgraded, 0 newly installed, 3 downgraded, 0 to remove and 137 not upgraded.
Inst qemu-system-misc [1:7.2+dfsg-7+deb12u18+b3] (1:7.2+dfsg-7+deb12u15 Debian-Security:12/oldstable-security [amd64]) []
Inst qemu-system-common [1:7.2+dfsg-7+deb12u18+b3] (1:7.2+dfsg-7+deb12u15 Debian-Security:12/oldstable-security [amd64])
Conf qemu-system-misc (1:7.2+dfsg-7+deb12u15 Debian-Security:12/oldstable-security [amd64])
Conf qemu-system-common (1:7.2+dfsg-7+deb12u15 Debian-Security:12/oldstable-security [amd64])
";

fn package(package: &str, version: &str) -> PackageVersion {
    PackageVersion {
        package: package.to_owned(),
        version: version.to_owned(),
    }
}

fn change(package: &str, installed: &str, candidate: &str) -> VersionChange {
    VersionChange {
        package: package.to_owned(),
        installed: installed.to_owned(),
        candidate: candidate.to_owned(),
    }
}

const BACKPORTS: &str = "1:10.0.2+ds-2+deb13u1~bpo12+1";

#[test]
fn a_plain_install_only_adds() {
    let plan = AptPlan::parse(PLAIN_INSTALL);
    assert_eq!(
        plan.new,
        [
            package("libboost-thread1.74.0", "1.74.0+ds1-21"),
            package("libnfs13", "4.0.0-1+deb12u1"),
            package("librados2", "16.2.15+ds-0+deb12u2"),
            package("qemu-utils", "1:7.2+dfsg-7+deb12u18+b3"),
        ]
    );
    assert_eq!(plan.upgrades, []);
    assert_eq!(plan.installed_changes(), InstalledChanges::default());
}

#[test]
fn an_upgrade_is_not_a_downgrade() {
    let plan = AptPlan::parse(INSTALL_WITH_UPGRADE);
    assert_eq!(
        plan.upgrades,
        [change(
            "ca-certificates",
            "20230311+deb12u1",
            "20250419~deb12u2"
        )]
    );
    assert_eq!(
        plan.new,
        [package("qemu-utils", "1:7.2+dfsg-7+deb12u18+b3")]
    );
    assert!(plan.installed_changes().is_empty(), "{plan:?}");
}

#[test]
fn the_backports_qemu_removal_is_found() {
    let plan = AptPlan::parse(BACKPORTS_REMOVAL);
    assert_eq!(
        plan.removals,
        [
            package("qemu-system-x86", BACKPORTS),
            package("qemu-utils", BACKPORTS)
        ]
    );
    assert_eq!(
        plan.downgrades,
        [
            change("qemu-system-data", BACKPORTS, "1:7.2+dfsg-7+deb12u18"),
            change("qemu-system-common", BACKPORTS, "1:7.2+dfsg-7+deb12u18+b3"),
        ]
    );
    assert_eq!(
        plan.new,
        [package("qemu-system-misc", "1:7.2+dfsg-7+deb12u18+b3")]
    );
    assert_eq!(
        plan.installed_changes().to_string(),
        "  remove    qemu-system-x86 1:10.0.2+ds-2+deb13u1~bpo12+1\n\
         \x20 remove    qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1\n\
         \x20 downgrade qemu-system-data 1:10.0.2+ds-2+deb13u1~bpo12+1 -> 1:7.2+dfsg-7+deb12u18\n\
         \x20 downgrade qemu-system-common 1:10.0.2+ds-2+deb13u1~bpo12+1 -> \
         1:7.2+dfsg-7+deb12u18+b3\n"
    );
}

#[test]
fn conflict_removals_and_downgrades_are_found() {
    let removal = AptPlan::parse(CONFLICT_REMOVAL);
    assert_eq!(
        removal.removals,
        [package("qemu-user-static", "1:7.2+dfsg-7+deb12u18+b3")]
    );
    assert_eq!(removal.new.len(), 2, "{removal:?}");
    let downgrade = AptPlan::parse(DOWNGRADE);
    assert_eq!(
        downgrade.downgrades,
        [
            change(
                "qemu-system-misc",
                "1:7.2+dfsg-7+deb12u18+b3",
                "1:7.2+dfsg-7+deb12u15"
            ),
            change(
                "qemu-system-common",
                "1:7.2+dfsg-7+deb12u18+b3",
                "1:7.2+dfsg-7+deb12u15"
            ),
        ]
    );
    assert_eq!(downgrade.removals, []);
    assert_eq!(
        AptPlan::parse("Purg foo [1.0]\nRemv bar:i386 [2.0-1]\n").removals,
        [package("foo", "1.0"), package("bar:i386", "2.0-1")],
        "purges and foreign-architecture packages"
    );
}

#[test]
fn consent_comes_from_the_flag_or_ci_true() {
    assert_eq!(Consent::of(Removals::Refuse, None), Consent::NotGiven);
    assert_eq!(Consent::of(Removals::Allow, None), Consent::Flag);
    assert_eq!(Consent::of(Removals::Allow, Some("true")), Consent::Flag);
    assert_eq!(
        Consent::of(Removals::Refuse, Some("true")),
        Consent::CiEnvironment
    );
    assert_eq!(
        Consent::of(Removals::Refuse, Some("TRUE")),
        Consent::CiEnvironment
    );
    assert_eq!(
        Consent::of(Removals::Refuse, Some("1")),
        Consent::CiEnvironment
    );
    for value in ["false", "0", "", "woodpecker"] {
        assert_eq!(
            Consent::of(Removals::Refuse, Some(value)),
            Consent::NotGiven,
            "CI={value}"
        );
    }
}

#[test]
fn removals_stop_the_install_without_consent() {
    let plan = AptPlan::parse(BACKPORTS_REMOVAL);
    let stopped = install_arguments(&["qemu-system-misc"], &plan, Consent::NotGiven)
        .expect_err("removes qemu-utils 10.0");
    assert_eq!(stopped.removals.len(), 2);
    assert_eq!(stopped.removals[1], package("qemu-utils", BACKPORTS));
    assert_eq!(stopped.downgrades.len(), 2);
    let downgrade_only = AptPlan::parse(DOWNGRADE);
    assert_eq!(
        install_arguments(&["qemu-system-misc"], &downgrade_only, Consent::NotGiven)
            .map_err(|changes| changes.downgrades.len()),
        Err(2),
        "a downgrade alone stops as well"
    );
}

#[test]
fn the_stop_names_every_package_and_the_way_out() {
    let plan = AptPlan::parse(BACKPORTS_REMOVAL);
    let changes = install_arguments(&["qemu-system-misc"], &plan, Consent::NotGiven)
        .expect_err("removes qemu-utils 10.0");
    let error = XtaskError::WouldChangeInstalledPackages {
        command: "apt-get install -y --no-install-recommends qemu-system-misc".to_owned(),
        changes,
    };
    assert_eq!(
        error.to_string(),
        "`apt-get install -y --no-install-recommends qemu-system-misc` would change packages \
         installed on this machine, so set-up installed nothing:\n\
         \x20 remove    qemu-system-x86 1:10.0.2+ds-2+deb13u1~bpo12+1\n\
         \x20 remove    qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1\n\
         \x20 downgrade qemu-system-data 1:10.0.2+ds-2+deb13u1~bpo12+1 -> 1:7.2+dfsg-7+deb12u18\n\
         \x20 downgrade qemu-system-common 1:10.0.2+ds-2+deb13u1~bpo12+1 -> \
         1:7.2+dfsg-7+deb12u18+b3\n\
         To let set-up go ahead, rerun with `--allow-removals` (or with CI=true in the \
         environment).\n\
         To keep these packages, install what is missing yourself from the same source as them \
         (for packages from backports: `apt-get install -t <release>-backports …`), or put a \
         QEMU 7.0.0 or newer that provides the missing programs on PATH: set-up uses it as is."
    );
}

#[test]
fn agreed_removals_proceed_without_no_remove() {
    let plan = AptPlan::parse(BACKPORTS_REMOVAL);
    for consent in [Consent::Flag, Consent::CiEnvironment] {
        assert_eq!(
            install_arguments(&["qemu-system-misc"], &plan, consent),
            Ok([
                "install",
                "-y",
                "--no-install-recommends",
                "--allow-downgrades",
                "qemu-system-misc"
            ]
            .map(String::from)
            .to_vec()),
            "{consent:?}"
        );
    }
}

#[test]
fn a_safe_install_forbids_removals_to_apt_itself() {
    let plan = AptPlan::parse(PLAIN_INSTALL);
    let arguments = install_arguments(&["qemu-utils"], &plan, Consent::NotGiven);
    assert_eq!(
        arguments,
        Ok([
            "install",
            "-y",
            "--no-install-recommends",
            "--no-remove",
            "qemu-utils"
        ]
        .map(String::from)
        .to_vec())
    );
    // Consent changes nothing when nothing installed is touched.
    assert_eq!(
        install_arguments(&["qemu-utils"], &plan, Consent::CiEnvironment),
        arguments
    );
}

/// Runs the real `apt-get -s install` (no root needed, changes nothing) on a Debian 12 host with
/// this repository's set-up done (`qemu-user-static` installed, `qemu-utils` not):
/// `cargo test -p xtask -- --ignored apt_simulation --nocapture`.
#[test]
#[ignore = "needs apt-get and a Debian 12 host set up for this workspace"]
fn apt_simulation_on_this_host() {
    // A harmless install: qemu-utils adds packages only.
    let plan = simulate_install(&["qemu-utils"]).expect("apt-get -s runs");
    println!("qemu-utils: {plan:#?}");
    assert_eq!(
        plan.installed_changes().to_string(),
        "",
        "qemu-utils removes and downgrades nothing"
    );
    assert_eq!(
        install_arguments(&["qemu-utils"], &plan, Consent::NotGiven),
        Ok([
            "install",
            "-y",
            "--no-install-recommends",
            "--no-remove",
            "qemu-utils"
        ]
        .map(String::from)
        .to_vec())
    );
    // qemu-user-binfmt conflicts with the installed qemu-user-static: set-up would stop.
    let plan = simulate_install(&["qemu-user-binfmt"]).expect("apt-get -s runs");
    let stopped = install_arguments(&["qemu-user-binfmt"], &plan, Consent::NotGiven)
        .expect_err("removes qemu-user-static");
    println!("qemu-user-binfmt would:\n{stopped}");
    assert_eq!(
        stopped
            .removals
            .iter()
            .map(|removal| removal.package.as_str())
            .collect::<Vec<_>>(),
        ["qemu-user-static"]
    );
}
