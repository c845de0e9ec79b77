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
            Arch::X86_64,
            1
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
    let names = |arch| parse_required_cases(LIST, arch, 1).expect("a valid list");
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
        parse_required_cases("map\naarch46: kernel_half_in_ttbr1\n", Arch::Aarch64, 1),
        Err(
            "line 2: `aarch46` is not an ISA (one of x86_64, aarch64, riscv64) nor `smp`"
                .to_owned()
        )
    );
    assert_eq!(
        parse_required_cases("aarch64:  # nothing\n", Arch::X86_64, 1),
        Err("line 1: `aarch64:` names no case".to_owned()),
        "checked on every ISA, not only the named one"
    );
}

#[test]
fn the_repository_list_requires_the_ttbr1_case_on_aarch64_only() {
    let text = std::fs::read_to_string(crate::workspace::root().join("ci/kernel-cases.txt"))
        .expect("ci/kernel-cases.txt is readable");
    let names = |arch| parse_required_cases(&text, arch, 1).expect("a valid list");
    let (x86_64, aarch64, riscv64) = (
        names(Arch::X86_64),
        names(Arch::Aarch64),
        names(Arch::Riscv64),
    );
    assert!(x86_64.len() >= 25, "the cases of every ISA");
    assert_eq!(riscv64, x86_64, "nothing specific to riscv64 or x86_64");
    let aarch64_only: Vec<&str> = aarch64
        .iter()
        .map(String::as_str)
        .filter(|name| !x86_64.iter().any(|common| common == name))
        .collect();
    assert_eq!(
        aarch64_only,
        ["kernel_half_in_ttbr1"],
        "aarch64 adds its case"
    );
    assert_eq!(aarch64.len(), x86_64.len() + 1, "and keeps the others");
}

#[test]
fn the_repository_list_requires_the_shared_kernel_case_on_every_isa() {
    let text = std::fs::read_to_string(crate::workspace::root().join("ci/kernel-cases.txt"))
        .expect("ci/kernel-cases.txt is readable");
    for arch in [Arch::X86_64, Arch::Aarch64, Arch::Riscv64] {
        let names = parse_required_cases(&text, arch, 1).expect("a valid list");
        assert!(
            names
                .iter()
                .any(|name| name == "kernel_mapping_reaches_user_spaces"),
            "{arch:?} requires the higher-half kernel's shared-kernel case"
        );
    }
}

#[test]
fn the_repository_list_requires_the_process_cases_on_every_isa() {
    let text = std::fs::read_to_string(crate::workspace::root().join("ci/kernel-cases.txt"))
        .expect("ci/kernel-cases.txt is readable");
    let process_cases = [
        "user_cannot_reach_kernel",
        "write_bad_pointer_is_efault",
        "mprotect_read_only_refuses_store",
        "brk_grows_and_shrinks",
        "munmap_then_access_faults",
        "two_processes_same_address",
        "fork_isolates_writes",
        "fork_shares_frames_until_written",
        "map_shared_survives_fork",
        "mremap_move_keeps_data",
        "fork_frees_every_frame",
    ];
    for arch in [Arch::X86_64, Arch::Aarch64, Arch::Riscv64] {
        let names = parse_required_cases(&text, arch, 1).expect("a valid list");
        let missing: Vec<&str> = process_cases
            .iter()
            .copied()
            .filter(|case| !names.iter().any(|name| name == case))
            .collect();
        assert_eq!(
            missing,
            Vec::<&str>::new(),
            "{arch:?} requires every process case"
        );
    }
}

#[test]
fn an_smp_prefix_requires_the_case_with_several_cpus_only() {
    let list = "map\nsmp: shootdown_unmap\naarch64: ttbr1\n";
    assert_eq!(
        parse_required_cases(list, Arch::Riscv64, 1).unwrap(),
        ["map"],
        "one CPU"
    );
    assert_eq!(
        parse_required_cases(list, Arch::Riscv64, 4).unwrap(),
        ["map", "shootdown_unmap"],
        "four CPUs"
    );
    assert_eq!(
        parse_required_cases(list, Arch::Aarch64, 2).unwrap(),
        ["map", "shootdown_unmap", "ttbr1"]
    );
    assert!(
        parse_required_cases("smp:\n", Arch::X86_64, 4).is_err(),
        "no name"
    );
}

#[test]
fn the_repository_list_requires_the_smp_cases_with_several_cpus() {
    let text = std::fs::read_to_string(crate::workspace::root().join("ci/kernel-cases.txt"))
        .expect("ci/kernel-cases.txt is readable");
    for arch in [Arch::X86_64, Arch::Aarch64, Arch::Riscv64] {
        let one = parse_required_cases(&text, arch, 1).expect("a valid list");
        let four = parse_required_cases(&text, arch, 4).expect("a valid list");
        let smp_only: Vec<&str> = four
            .iter()
            .map(String::as_str)
            .filter(|name| !one.iter().any(|common| common == name))
            .collect();
        assert_eq!(
            smp_only,
            [
                "shootdown_write_protect",
                "shootdown_unmap",
                "shootdown_huge_split",
                "shootdown_frame_reuse",
                "shootdown_rounds"
            ],
            "{arch:?}"
        );
        for case in [
            "concurrent_lazy_faults",
            "asid_alternation",
            "asid_rollover",
        ] {
            assert!(
                one.iter().any(|name| name == case),
                "{arch:?}: {case} on one CPU too"
            );
        }
    }
}
