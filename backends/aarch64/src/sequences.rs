//! The exact instruction sequences of this crate, written once as macros so that the `asm!`
//! blocks (compiled only for bare metal) and the hosted tests see the same text.
//!
//! The tests pin what upstream gets wrong: a `DSB ISHST` before every `TLBI` (the descriptor
//! writes must reach the table walkers first) and the Inner Shareable (broadcast) forms, so that
//! every CPU drops the translation.

// Hosted builds have no asm! blocks; only their tests expand the macros.
#![cfg_attr(
    not(any(test, target_os = "none")),
    expect(
        unused_macros,
        reason = "expanded only by bare-metal asm! blocks and by the tests"
    )
)]

/// Invalidate one address (operand `{0}`, see `tlb::tlbi_operand`) in all ASIDs, all levels,
/// on every CPU.
macro_rules! tlbi_page_all_asids {
    () => {
        "dsb ishst\ntlbi vaae1is, {0}\ndsb ish\nisb"
    };
}

/// Invalidate one address of one ASID (operand `{0}`), all levels, on every CPU.
macro_rules! tlbi_page_one_asid {
    () => {
        "dsb ishst\ntlbi vae1is, {0}\ndsb ish\nisb"
    };
}

/// Start of a range invalidation: the store barrier before the first `TLBI`.
macro_rules! tlbi_range_begin {
    () => {
        "dsb ishst"
    };
}

/// One address of a range (operand `{0}`), all ASIDs, all levels, broadcast; no barrier.
macro_rules! tlbi_range_page {
    () => {
        "tlbi vaae1is, {0}"
    };
}

/// End of a range invalidation: wait for completion on every CPU, then resynchronize.
macro_rules! tlbi_range_end {
    () => {
        "dsb ish\nisb"
    };
}

/// Invalidate every EL1&0 stage-1 translation on every CPU.
macro_rules! tlbi_all {
    () => {
        "dsb ishst\ntlbi vmalle1is\ndsb ish\nisb"
    };
}

/// Write operand `{0}` to a translation table base register, then drop this CPU's TLB.
macro_rules! switch_ttbr {
    ($register:literal) => {
        concat!(
            "dsb ishst\nmsr ",
            $register,
            ", {0}\nisb\ntlbi vmalle1\ndsb ish\nisb"
        )
    };
}

#[cfg(test)]
mod tests {
    fn lines(sequence: &str) -> Vec<&str> {
        sequence.lines().collect()
    }

    #[test]
    fn every_tlbi_is_broadcast_and_preceded_by_a_store_barrier() {
        assert_eq!(
            lines(tlbi_page_all_asids!()),
            ["dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb"],
            "by address"
        );
        assert_eq!(
            lines(tlbi_page_one_asid!()),
            ["dsb ishst", "tlbi vae1is, {0}", "dsb ish", "isb"],
            "by address and ASID"
        );
        assert_eq!(
            lines(tlbi_all!()),
            ["dsb ishst", "tlbi vmalle1is", "dsb ish", "isb"],
            "everything"
        );
        let range = [tlbi_range_begin!(), tlbi_range_page!(), tlbi_range_end!()].join("\n");
        assert_eq!(
            lines(&range),
            lines(tlbi_page_all_asids!()),
            "range = page, barriers shared"
        );
    }

    #[test]
    fn root_switch_writes_the_register_then_flushes() {
        assert_eq!(
            lines(switch_ttbr!("ttbr0_el1")),
            [
                "dsb ishst",
                "msr ttbr0_el1, {0}",
                "isb",
                "tlbi vmalle1",
                "dsb ish",
                "isb"
            ],
            "TTBR0"
        );
        assert_eq!(
            lines(switch_ttbr!("ttbr1_el1"))[1],
            "msr ttbr1_el1, {0}",
            "TTBR1"
        );
    }
}
