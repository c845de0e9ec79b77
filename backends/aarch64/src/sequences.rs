//! The exact instruction sequences of this crate, written once as macros so that the `asm!`
//! blocks (compiled only for bare metal) and the hosted tests see the same text.
//!
//! The tests pin what upstream gets wrong: a store barrier before every `TLBI` (the descriptor
//! writes must reach the table walkers first), the Inner Shareable (broadcast) forms wherever
//! other CPUs may hold the translations, and a completion barrier of the same shareability as
//! the `TLBI`s after them.

// Hosted builds have no asm! blocks; only their tests expand the macros.
#![cfg_attr(
    not(any(test, target_os = "none")),
    expect(
        unused_macros,
        reason = "expanded only by bare-metal asm! blocks and by the tests"
    )
)]

/// Start of a run of `TLBI`s: the store barrier that makes the descriptor writes visible to the
/// table walkers first. `is`: of every CPU of the Inner Shareable domain (`DSB ISHST`), before
/// broadcast `TLBI …IS`; `local`: of this CPU (`DSB NSHST`, as Linux's `local_flush_tlb_all`
/// and `local_flush_tlb_page_nonotify` in `arch/arm64/include/asm/tlbflush.h`), before the
/// non-broadcast forms: only this CPU's walker must see the stores before the `TLBI`.
macro_rules! tlbi_begin {
    (is) => {
        "dsb ishst"
    };
    (local) => {
        "dsb nshst"
    };
}

/// End of a run of `TLBI`s: wait until the invalidation has completed (`is`: on every CPU of the
/// Inner Shareable domain, `DSB ISH`; `local`: on this CPU, `DSB NSH`), then resynchronize this
/// CPU's instruction stream (`ISB`) so that it refetches with the new translations.
macro_rules! tlbi_end {
    (is) => {
        "dsb ish\nisb"
    };
    (local) => {
        "dsb nsh\nisb"
    };
}

/// Write operand `{0}` to a translation table base register, then drop this CPU's TLB (every
/// ASID, global entries too).
macro_rules! switch_ttbr {
    ($register:literal) => {
        concat!(
            "dsb ishst\nmsr ",
            $register,
            ", {0}\nisb\ntlbi vmalle1\ndsb ish\nisb"
        )
    };
}

/// Write operand `{0}` (a root with a non-zero ASID) to `TTBR0_EL1` and keep the TLB: the
/// translations this CPU cached for that ASID stay valid. The store barrier first makes this
/// CPU's writes to the new table visible to its table walker.
macro_rules! switch_ttbr0_keep_tlb {
    () => {
        "dsb ishst\nmsr ttbr0_el1, {0}\nisb"
    };
}

/// As [`switch_ttbr0_keep_tlb`], then drop every stage-1 EL1&0 translation of this CPU (every
/// ASID: `TLBI VMALLE1`, not broadcast), wait for that to complete (`DSB NSH`) and resync
/// (`ISB`): an ASID allocator's rollover made the ASIDs of the previous generation free for
/// reuse. The flush comes **after** the write: until the `MSR` and its `ISB`, the CPU still
/// runs the old root with the old ASID and may refill (speculatively) translations tagged with
/// it, which the new generation may have handed to another space.
macro_rules! switch_ttbr0_then_local_flush {
    () => {
        "dsb ishst\nmsr ttbr0_el1, {0}\nisb\ntlbi vmalle1\ndsb nsh\nisb"
    };
}

#[cfg(test)]
mod tests {
    fn lines(sequence: &str) -> Vec<&str> {
        sequence.lines().collect()
    }

    #[test]
    fn barriers_match_the_shareability_of_the_tlbis() {
        assert_eq!(
            lines(tlbi_begin!(is)),
            ["dsb ishst"],
            "broadcast: store barrier"
        );
        assert_eq!(
            lines(tlbi_end!(is)),
            ["dsb ish", "isb"],
            "broadcast: completion on every CPU"
        );
        assert_eq!(
            lines(tlbi_begin!(local)),
            ["dsb nshst"],
            "local: store barrier"
        );
        assert_eq!(
            lines(tlbi_end!(local)),
            ["dsb nsh", "isb"],
            "local: completion on this CPU"
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

    #[test]
    fn an_asid_switch_keeps_the_tlb_or_flushes_this_cpu_first() {
        assert_eq!(
            lines(switch_ttbr0_keep_tlb!()),
            ["dsb ishst", "msr ttbr0_el1, {0}", "isb"],
            "no TLBI: the ASID's translations stay"
        );
        assert_eq!(
            lines(switch_ttbr0_then_local_flush!()),
            [
                "dsb ishst",
                "msr ttbr0_el1, {0}",
                "isb",
                "tlbi vmalle1",
                "dsb nsh",
                "isb"
            ],
            "rollover: this CPU's TLB dropped (not broadcast) after the write, so that nothing \
             the old root refilled under the old ASID survives"
        );
    }
}
