//! The conformance suite, written once for the three ISAs. Every case maps memory with our
//! `vmlayer_paging::AddressSpace`, then checks by real accesses — kernel probes and user-mode runs — that
//! the MMU does exactly what the flags say; the process cases (`processes.rs`, and `fork.rs` for
//! fork, wait, `MAP_SHARED` and `mremap`) let user programs make the accesses and system calls
//! themselves.

use crate::harness::{self, Outcome, TestCase};

mod fault_discipline;
mod fixtures;
mod fork;
mod isolation;
#[cfg(target_arch = "aarch64")]
mod kernel_half;
mod lazy;
mod permissions;
mod processes;
mod reclamation;
mod regime;
mod shared_kernel;
mod smp;
mod tlb;
mod user_mode;

/// The cases, in order (table reclamation last: it checks that nothing leaked). AArch64 adds
/// `kernel_half_in_ttbr1` (only AArch64 has a second root register, which holds the kernel
/// space; the case list `ci/kernel-cases.txt` requires it there only).
const CASES: [TestCase; EXPECTED_CASES] = [
    TestCase {
        name: "permissions_by_real_access",
        run: permissions::permissions_by_real_access,
    },
    TestCase {
        name: "unmap_then_remap",
        run: permissions::unmap_then_remap,
    },
    TestCase {
        name: "stale_tlb",
        run: tlb::stale_tlb,
    },
    TestCase {
        name: "lazy_allocation",
        run: lazy::lazy_allocation,
    },
    TestCase {
        name: "prot_none_round_trip",
        run: lazy::prot_none_round_trip,
    },
    TestCase {
        name: "huge_page_split",
        run: tlb::huge_page_split,
    },
    TestCase {
        name: "two_address_spaces",
        run: isolation::two_address_spaces,
    },
    TestCase {
        name: "user_kernel_separation",
        run: user_mode::user_kernel_separation,
    },
    TestCase {
        name: "kernel_access_to_user_memory",
        run: fault_discipline::kernel_access_to_user_memory,
    },
    TestCase {
        name: "physical_address_width",
        run: fault_discipline::physical_address_width,
    },
    #[cfg(target_arch = "aarch64")]
    TestCase {
        name: "kernel_half_in_ttbr1",
        run: kernel_half::kernel_half_in_ttbr1,
    },
    TestCase {
        name: "kernel_mapping_reaches_user_spaces",
        run: shared_kernel::kernel_mapping_reaches_user_spaces,
    },
    TestCase {
        name: "translation_mode",
        run: regime::translation_mode,
    },
    TestCase {
        name: "device_memory_type",
        run: regime::device_memory_type,
    },
    TestCase {
        name: "user_cannot_reach_kernel",
        run: processes::user_cannot_reach_kernel,
    },
    TestCase {
        name: "write_bad_pointer_is_efault",
        run: processes::write_bad_pointer_is_efault,
    },
    TestCase {
        name: "mprotect_read_only_refuses_store",
        run: processes::mprotect_read_only_refuses_store,
    },
    TestCase {
        name: "brk_grows_and_shrinks",
        run: processes::brk_grows_and_shrinks,
    },
    TestCase {
        name: "munmap_then_access_faults",
        run: processes::munmap_then_access_faults,
    },
    TestCase {
        name: "two_processes_same_address",
        run: processes::two_processes_same_address,
    },
    TestCase {
        name: "fork_isolates_writes",
        run: fork::fork_isolates_writes,
    },
    TestCase {
        name: "fork_shares_frames_until_written",
        run: fork::fork_shares_frames_until_written,
    },
    TestCase {
        name: "map_shared_survives_fork",
        run: fork::map_shared_survives_fork,
    },
    TestCase {
        name: "mremap_move_keeps_data",
        run: fork::mremap_move_keeps_data,
    },
    TestCase {
        name: "fork_frees_every_frame",
        run: fork::fork_frees_every_frame,
    },
    TestCase {
        name: "concurrent_lazy_faults",
        run: smp::concurrent_lazy_faults,
    },
    TestCase {
        name: "asid_alternation",
        run: smp::asid_alternation,
    },
    TestCase {
        name: "asid_rollover",
        run: smp::asid_rollover,
    },
    TestCase {
        name: "table_reclamation",
        run: reclamation::table_reclamation,
    },
];

/// The number of cases the suite declares on one CPU; the run passes only if exactly this
/// many passed (plus [`SMP_CASES`] with several CPUs).
const EXPECTED_CASES: usize = if cfg!(target_arch = "aarch64") {
    29
} else {
    28
};

/// The cases that need a second CPU (`smp:` in `ci/kernel-cases.txt`): shootdown seen by
/// accesses on CPU 1, and the flush rounds counted.
const SMP_CASES: [TestCase; 5] = [
    TestCase {
        name: "shootdown_write_protect",
        run: smp::shootdown_write_protect,
    },
    TestCase {
        name: "shootdown_unmap",
        run: smp::shootdown_unmap,
    },
    TestCase {
        name: "shootdown_huge_split",
        run: smp::shootdown_huge_split,
    },
    TestCase {
        name: "shootdown_frame_reuse",
        run: smp::shootdown_frame_reuse,
    },
    TestCase {
        name: "shootdown_rounds",
        run: smp::shootdown_rounds,
    },
];

/// Runs every case (the SMP ones when more than one CPU runs) and returns the outcome.
pub(crate) fn run_all() -> Outcome {
    let mut cases: alloc::vec::Vec<&TestCase> = CASES.iter().collect();
    let mut expected = EXPECTED_CASES;
    if crate::smp::cpu_count() > 1 {
        // Before `table_reclamation`, which checks that nothing leaked.
        let last = cases.pop();
        cases.extend(SMP_CASES.iter());
        cases.extend(last);
        expected += SMP_CASES.len();
    }
    harness::run(&cases, expected)
}
