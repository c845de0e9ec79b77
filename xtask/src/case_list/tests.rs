//! Tests of the case-list format.

use super::parse_required_cases;
use crate::arch::Arch;

const LIST: &str = "# comment\nmap\n\nstale_tlb  # trailing comment\n\
                    aarch64: kernel_half_in_ttbr1\n  riscv64 :sv48_only # spaces allowed\ncow\n";

#[test]
fn names_and_comments() {
    assert_eq!(
        parse_required_cases(
            "# comment\nmap\n\nstale_tlb  # trailing\ncow\n",
            Arch::X86_64
        ),
        Ok(vec![
            "map".to_owned(),
            "stale_tlb".to_owned(),
            "cow".to_owned()
        ]),
        "comments and blanks skipped"
    );
}

#[test]
fn an_isa_prefix_requires_the_case_on_that_isa_only() {
    let names = |arch| parse_required_cases(LIST, arch).expect("a valid list");
    assert_eq!(
        names(Arch::Aarch64),
        ["map", "stale_tlb", "kernel_half_in_ttbr1", "cow"],
        "aarch64"
    );
    assert_eq!(
        names(Arch::Riscv64),
        ["map", "stale_tlb", "sv48_only", "cow"],
        "riscv64"
    );
    assert_eq!(names(Arch::X86_64), ["map", "stale_tlb", "cow"], "x86_64");
}

#[test]
fn an_unknown_isa_or_a_missing_name_is_an_error() {
    assert_eq!(
        parse_required_cases("map\naarch46: kernel_half_in_ttbr1\n", Arch::Aarch64),
        Err("line 2: `aarch46` is not an ISA (one of x86_64, aarch64, riscv64)".to_owned())
    );
    assert_eq!(
        parse_required_cases("aarch64:  # nothing\n", Arch::X86_64),
        Err("line 1: `aarch64:` names no case".to_owned()),
        "checked on every ISA, not only the named one"
    );
}

#[test]
fn the_repository_list_parses_for_every_isa() {
    let text = std::fs::read_to_string(crate::workspace::root().join("ci/kernel-cases.txt"))
        .expect("ci/kernel-cases.txt is readable");
    for arch in Arch::ALL {
        let required = parse_required_cases(&text, arch).expect("a valid list");
        assert_eq!(
            required.contains(&"kernel_half_in_ttbr1".to_owned()),
            arch == Arch::Aarch64,
            "{arch}: the TTBR1 case is required on aarch64 only"
        );
        assert_eq!(
            required.contains(&"table_reclamation".to_owned()),
            true,
            "{arch}: common cases stay required"
        );
    }
}
