use std::cmp::Ordering::{self, Equal, Greater, Less};

use super::{compare, split};

/// Pairs with the answer `dpkg --compare-versions A lt|eq|gt B` gives (checked with dpkg 1.21 on
/// Debian 12).
const PAIRS: &[(&str, Ordering, &str)] = &[
    // The case: bookworm-backports' QEMU 10.0 against bookworm's 7.2.
    (
        "1:10.0.2+ds-2+deb13u1~bpo12+1",
        Greater,
        "1:7.2+dfsg-7+deb12u18+b3",
    ),
    // A security update older than the point release's binNMU.
    ("1:7.2+dfsg-7+deb12u15", Less, "1:7.2+dfsg-7+deb12u18+b3"),
    // A binNMU suffix sorts after the plain version.
    ("1:7.2+dfsg-7+deb12u18+b3", Greater, "1:7.2+dfsg-7+deb12u18"),
    // A backport (`~bpo`) sorts before the release it was backported from.
    ("10.0.2+ds-2+deb13u1~bpo12+1", Less, "10.0.2+ds-2+deb13u1"),
    // The epoch wins over everything.
    ("1:7.2", Greater, "10.0"),
    ("2:1.0", Greater, "1:9.9"),
    // `~` sorts before the end of the string, which sorts before anything else.
    ("1.0~rc1", Less, "1.0"),
    ("1.0~~", Less, "1.0~"),
    ("1.0", Less, "1.0+b1"),
    ("1.0", Less, "1.0a"),
    // Letters sort before other characters.
    ("1.0a", Less, "1.0+"),
    // Digit runs compare numerically, leading zeros ignored.
    ("1.10", Greater, "1.9"),
    ("1.01", Equal, "1.1"),
    ("0:1.0-1", Equal, "1.0-1"),
    (
        "12345678901234567890123",
        Greater,
        "12345678901234567890122",
    ),
    // The revision compares after the upstream version.
    ("1.0-2", Less, "1.0-10~"),
    ("1.0-10~", Less, "1.0-10"),
    ("1.0-1", Less, "1.0-1.1"),
    ("2.36-9+deb12u10", Greater, "2.36-9+deb12u4"),
];

#[test]
fn versions_compare_as_dpkg_does() {
    for &(left, expected, right) in PAIRS {
        assert_eq!(compare(left, right), expected, "{left} vs {right}");
        assert_eq!(
            compare(right, left),
            expected.reverse(),
            "{right} vs {left}"
        );
    }
}

#[test]
fn versions_split_into_epoch_upstream_and_revision() {
    assert_eq!(
        split("1:10.0.2+ds-2+deb13u1~bpo12+1"),
        ("1", "10.0.2+ds", "2+deb13u1~bpo12+1")
    );
    assert_eq!(split("7.2-1-2"), ("0", "7.2-1", "2"), "last hyphen");
    assert_eq!(split("1.0"), ("0", "1.0", ""), "native package");
}
