//! The golden list of conformance cases (`ci/kernel-cases.txt`): which `test NAME ... ok` lines
//! every kernel run of an ISA must print.
//!
//! One entry a line; `#` starts a comment; blank lines are ignored. An entry is a case name,
//! required on every ISA, or `ISA: name`, required on that ISA only (for a case that exists on
//! one ISA because only its hardware has the feature, e.g. `aarch64: kernel_half_in_ttbr1`),
//! or `smp: name`, required on every ISA in the boot configurations with more than one CPU.
//! A prefix that is neither `smp` nor an ISA of the [`Arch`] table is an error, so a typo
//! cannot silently drop a requirement.

use crate::arch::Arch;

/// The prefix of a case that needs several CPUs.
const SMP_PREFIX: &str = "smp";

/// The cases `text` (a case list) requires on `arch` with `cpus` CPUs, in file order.
///
/// # Errors
///
/// A message naming the line when an entry's ISA prefix is not a supported ISA or an entry has
/// no case name.
pub(crate) fn parse_required_cases(
    text: &str,
    arch: Arch,
    cpus: usize,
) -> Result<Vec<String>, String> {
    let mut required = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let entry = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if entry.is_empty() {
            continue;
        }
        let (only_on, name) = match entry.split_once(':') {
            Some((prefix, name)) if prefix.trim() == SMP_PREFIX => {
                let name = name.trim();
                if cpus > 1 && !name.is_empty() {
                    required.push(name.to_owned());
                    continue;
                }
                (Some(None), name)
            }
            Some((isa, name)) => {
                let isa = isa.trim();
                let only_on = Arch::from_name(isa).ok_or_else(|| {
                    format!(
                        "line {}: `{isa}` is not an ISA (one of {}) nor `{SMP_PREFIX}`",
                        index + 1,
                        Arch::ALL.map(Arch::name).join(", ")
                    )
                })?;
                (Some(Some(only_on)), name.trim())
            }
            None => (None, entry),
        };
        if name.is_empty() {
            return Err(format!("line {}: `{entry}` names no case", index + 1));
        }
        // `Some(None)`: an `smp:` case on one CPU, not required.
        if only_on.is_none_or(|only_on| only_on == Some(arch)) {
            required.push(name.to_owned());
        }
    }
    Ok(required)
}

#[cfg(test)]
mod tests;
