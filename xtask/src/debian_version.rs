//! Debian package versions (`[epoch:]upstream[-revision]`) and their order, as
//! `dpkg --compare-versions` defines it (deb-version(7)): the epoch numerically, then the upstream
//! version and the revision, each compared as alternating non-digit and digit runs, where `~`
//! sorts before everything (even the end of the string), letters before other characters, and
//! digit runs numerically.
//!
//! Set-up compares the installed and the candidate version of each package in an `apt-get`
//! simulation, to tell a downgrade from an upgrade.

use std::cmp::Ordering;

/// Compares two Debian versions as `dpkg --compare-versions` does.
///
/// Malformed versions are compared as well as they can be (a non-numeric epoch counts as 0);
/// apt's output never contains one.
pub(crate) fn compare(left: &str, right: &str) -> Ordering {
    let (left_epoch, left_upstream, left_revision) = split(left);
    let (right_epoch, right_upstream, right_revision) = split(right);
    compare_digit_runs(left_epoch, right_epoch)
        .then_with(|| compare_part(left_upstream, right_upstream))
        .then_with(|| compare_part(left_revision, right_revision))
}

/// Splits a version into epoch (`"0"` when absent), upstream version and revision (`""` when
/// absent): the epoch ends at the first `:`, the revision starts after the last `-`.
fn split(version: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|byte| byte.is_ascii_digit()) => (epoch, rest),
        _ => ("0", version),
    };
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    (epoch, upstream, revision)
}

/// The sort weight of a byte in a non-digit run (`None` is the end of the string): `~` lowest,
/// then the end, then letters, then everything else.
fn weight(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b'~') => -1,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => i32::from(byte),
        Some(byte) => i32::from(byte) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit runs (byte by byte, by [`weight`]) and digit runs
/// (numerically).
fn compare_part(left: &str, right: &str) -> Ordering {
    let (mut left, mut right) = (left.as_bytes(), right.as_bytes());
    while !left.is_empty() || !right.is_empty() {
        loop {
            let (left_byte, right_byte) = (left.first().copied(), right.first().copied());
            let left_in_run = left_byte.is_some_and(|byte| !byte.is_ascii_digit());
            let right_in_run = right_byte.is_some_and(|byte| !byte.is_ascii_digit());
            if !left_in_run && !right_in_run {
                break;
            }
            let order = weight(left_byte).cmp(&weight(right_byte));
            if order != Ordering::Equal {
                return order;
            }
            // Equal weights inside a run mean both bytes exist (the end only equals a digit,
            // which ends the run).
            left = &left[1..];
            right = &right[1..];
        }
        let left_digits = left.iter().take_while(|byte| byte.is_ascii_digit()).count();
        let right_digits = right
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        let order = compare_digit_runs(
            std::str::from_utf8(&left[..left_digits]).unwrap_or("0"),
            std::str::from_utf8(&right[..right_digits]).unwrap_or("0"),
        );
        if order != Ordering::Equal {
            return order;
        }
        left = &left[left_digits..];
        right = &right[right_digits..];
    }
    Ordering::Equal
}

/// Compares two runs of ASCII digits as numbers of any length (leading zeros ignored).
fn compare_digit_runs(left: &str, right: &str) -> Ordering {
    let left = left.trim_start_matches('0');
    let right = right.trim_start_matches('0');
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

#[cfg(test)]
mod tests;
