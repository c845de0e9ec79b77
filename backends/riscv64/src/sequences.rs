//! The exact instruction sequences of this crate, written once as macros so that the `asm!`
//! blocks (compiled only for bare metal) and the hosted tests see the same text.
//!
//! The tests pin the operands that upstream gets wrong: a by-address fence must pass `zero` as
//! `rs2` (all address spaces, global entries included), not a register holding ASID 0.

// Hosted builds have no asm! blocks; only their tests expand the macros.
#![cfg_attr(
    not(any(test, target_os = "none")),
    expect(
        unused_macros,
        reason = "expanded only by bare-metal asm! blocks and by the tests"
    )
)]

/// Fence one virtual address (operand `{0}`) in all address spaces.
macro_rules! sfence_page {
    () => {
        "sfence.vma {0}, zero"
    };
}

/// Fence everything: all addresses, all address spaces, global entries included.
macro_rules! sfence_all {
    () => {
        "sfence.vma zero, zero"
    };
}

/// Fence one virtual address (operand `{0}`) in the address space whose ASID is operand `{1}`
/// (non-global leaf entries only).
macro_rules! sfence_page_asid {
    () => {
        "sfence.vma {0}, {1}"
    };
}

/// Fence every non-global translation (all levels) of the ASID in operand `{0}`.
macro_rules! sfence_asid {
    () => {
        "sfence.vma zero, {0}"
    };
}

/// Switch `satp` to operand `{0}` (which carries a non-zero ASID) without fencing, returning
/// the previous value in `{1}` and the value read back in `{2}`. The translations this hart
/// cached for that ASID stay valid: the ASID allocator guarantees they belong to the table.
macro_rules! switch_satp_keep_asid {
    () => {
        "csrr {1}, satp\ncsrw satp, {0}\ncsrr {2}, satp"
    };
}

/// Write `satp` = operand `{0}`, read it back into `{1}`, and put the previous value `{2}`
/// back, then fence everything: the `satp.ASID` probe (the field is WARL).
macro_rules! probe_satp {
    () => {
        "csrw satp, {0}\ncsrr {1}, satp\ncsrw satp, {2}\nsfence.vma zero, zero"
    };
}

/// Switch `satp` to operand `{0}` with a full fence on both sides, returning the previous
/// value in `{1}` and the value read back after the write in `{2}` (`satp.MODE` is WARL).
macro_rules! switch_satp {
    () => {
        "csrr {1}, satp\nsfence.vma zero, zero\ncsrw satp, {0}\nsfence.vma zero, zero\ncsrr {2}, satp"
    };
}

/// Put back the `satp` value `{0}` after a refused switch, and fence.
macro_rules! restore_satp {
    () => {
        "csrw satp, {0}\nsfence.vma zero, zero"
    };
}

/// Make earlier stores to instruction memory visible to this hart's instruction fetches.
macro_rules! fence_i {
    () => {
        "fence.i"
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn fences_cover_every_address_space_and_global_entries() {
        assert_eq!(
            sfence_page!(),
            "sfence.vma {0}, zero",
            "rs2 = x0, not an ASID register"
        );
        assert_eq!(sfence_all!(), "sfence.vma zero, zero", "rs1 = rs2 = x0");
        // With an ASID: rs2 is the register holding it (non-global entries of that space).
        assert_eq!(sfence_page_asid!(), "sfence.vma {0}, {1}");
        assert_eq!(sfence_asid!(), "sfence.vma zero, {0}");
        // A switch to a space with an ASID keeps its translations: no fence at all.
        let keep: Vec<&str> = switch_satp_keep_asid!().lines().collect();
        assert_eq!(keep, ["csrr {1}, satp", "csrw satp, {0}", "csrr {2}, satp"]);
        let probe: Vec<&str> = probe_satp!().lines().collect();
        assert_eq!(
            probe,
            [
                "csrw satp, {0}",
                "csrr {1}, satp",
                "csrw satp, {2}",
                "sfence.vma zero, zero"
            ]
        );
        let switch: Vec<&str> = switch_satp!().lines().collect();
        assert_eq!(
            switch,
            [
                "csrr {1}, satp",
                "sfence.vma zero, zero",
                "csrw satp, {0}",
                "sfence.vma zero, zero",
                "csrr {2}, satp"
            ],
            "save, fence, write, fence, read back"
        );
        let restore: Vec<&str> = restore_satp!().lines().collect();
        assert_eq!(
            restore,
            ["csrw satp, {0}", "sfence.vma zero, zero"],
            "restore, fence"
        );
        assert_eq!(fence_i!(), "fence.i", "Zifencei");
    }
}
