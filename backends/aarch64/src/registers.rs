//! The translation table base registers: `TTBR0_EL1` for the lower (user) half and
//! `TTBR1_EL1` for the upper (kernel) half.
//!
//! # The kernel-half story
//!
//! With `TCR_EL1.T0SZ = T1SZ = 16` and 4 KiB granules, addresses whose bits 63:48 are all zero
//! translate through `TTBR0_EL1`, those whose bits 63:48 are all ones through `TTBR1_EL1`
//! ([`Half::of`]). A kernel loads its own table (the upper half) into `TTBR1_EL1` once at boot
//! with `switch_kernel_root`; switching address spaces (`switch_user_root`, which
//! `PagingArch::activate` calls) only rewrites `TTBR0_EL1`, so the kernel half never has to be
//! copied into user tables (both functions exist in bare-metal builds only). Both halves index
//! a table with bits 47:39, so one table must only hold addresses of one half (an upper-half
//! address would alias the lower-half address with the same bits 47:0); `AddressSpace` refuses
//! a map in the other half than its first area's. A kernel that keeps itself in the lower half
//! instead maps itself into every TTBR0 table as global (non-`USER`) pages. The example kernel
//! runs in the upper half: its kernel space (`AddressSpace::new_kernel`: the image and the
//! direct map of RAM) is the table of `TTBR1_EL1`, its user spaces (`new_user`) those of
//! `TTBR0_EL1`.
//!
//! The CPU set-up around it is the kernel's: `TCR_EL1.T1SZ = 16`, `TG1` = 4 KiB, the walk
//! attributes `IRGN1`/`ORGN1`/`SH1`, and `EPD1` clear once `TTBR1_EL1` holds a table (then a
//! TLB flush: TCR fields may be cached in TLB entries). Changes below the kernel root are
//! flushed like any other (see [`crate::tlb`]: the by-address operand keeps `VA[55:48]`, so it
//! names the upper-half address; kernel-half entries are global and the all-ASID forms drop
//! them).
//!
//! # ASIDs
//!
//! This crate assumes `TCR_EL1.A1 = 0` ([`crate::cpu::TCR_A1`] clear): the ASID comes from
//! `TTBR0_EL1`, so one `MSR TTBR0_EL1` changes the user root and its ASID together (with
//! `A1 = 1` the ASID would come from `TTBR1_EL1` and a switch would need two writes with a
//! reserved table between them, as Linux does). `TTBR1_EL1`'s ASID field is then unused and
//! written 0; the kernel half is global.
//!
//! - [`switch_user_root`] (`PagingArch::activate`) writes ASID 0 and drops this CPU's TLB.
//! - [`switch_user_root_asid`] (`PagingArch::activate_asid`) writes a non-zero ASID and keeps
//!   the TLB: the translations cached for that ASID stay valid (the allocator guarantees they
//!   are the table's). After a rollover it drops this CPU's TLB first (`TLBI VMALLE1`, not
//!   broadcast: every CPU does it before its own next switch).
//!
//! The ASID is 8 or 16 bits wide ([`crate::cpu::asid_bits`]: `ID_AA64MMFR0_EL1.ASIDBits` and
//! `TCR_EL1.AS`); with 8, the upper 8 bits of the field must be 0.

use memory_addr::PhysAddr;

#[cfg(test)]
mod tests;

/// `BADDR` of a TTBR: the root table's address, bits 47:1 (4 KiB aligned here, bits 47:12).
pub const TTBR_BASE_ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;
/// The ASID field of a TTBR, bits 63:48.
pub const TTBR_ASID_SHIFT: u32 = 48;

/// Which half of the virtual address space, hence which TTBR, translates an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Half {
    /// Bits 63:48 all zero: `TTBR0_EL1`, the user half.
    Lower,
    /// Bits 63:48 all one: `TTBR1_EL1`, the kernel half.
    Upper,
}

impl Half {
    /// The half translating `vaddr`, or `None` for an address in neither (a translation fault
    /// at any level with `T0SZ = T1SZ = 16` and top-byte-ignore off).
    ///
    /// ```
    /// use vmlayer_aarch64::registers::Half;
    ///
    /// assert_eq!(Half::of(0x0000_ffff_ffff_f000), Some(Half::Lower));
    /// assert_eq!(Half::of(0xffff_0000_0000_0000), Some(Half::Upper));
    /// assert_eq!(Half::of(0x0001_0000_0000_0000), None);
    /// ```
    pub const fn of(vaddr: usize) -> Option<Self> {
        match (vaddr as u64) >> 48 {
            0 => Some(Self::Lower),
            0xffff => Some(Self::Upper),
            _ => None,
        }
    }
}

/// The TTBR value selecting the root table at `root` with address-space identifier `asid`.
///
/// ```
/// use vmlayer_aarch64::PhysAddr;
/// use vmlayer_aarch64::registers::ttbr_value;
///
/// assert_eq!(ttbr_value(PhysAddr::from(0x4010_2000), 0), 0x4010_2000);
/// assert_eq!(ttbr_value(PhysAddr::from(0x4010_2000), 9), 0x0009_0000_4010_2000);
/// ```
pub const fn ttbr_value(root: PhysAddr, asid: u16) -> u64 {
    ((root.as_usize() as u64) & TTBR_BASE_ADDRESS_MASK) | ((asid as u64) << TTBR_ASID_SHIFT)
}

/// The root table a TTBR value points to.
pub const fn root_of_ttbr(ttbr: u64) -> PhysAddr {
    PhysAddr::from_usize((ttbr & TTBR_BASE_ADDRESS_MASK) as usize)
}

/// Makes `root` the lower-half (user) table of this CPU with ASID 0 and drops this CPU's cached
/// translations: `DSB ISHST; MSR TTBR0_EL1; ISB; TLBI VMALLE1; DSB ISH; ISB`.
///
/// The flush is local: with one ASID for every address space, another CPU's stale entries
/// belong to whatever it runs and are dropped at its own switch.
///
/// # Safety
///
/// `root` must be the root of a complete 4-level table that maps every lower-half address this
/// CPU uses from here on (its code and stack if they live in the lower half), and it must stay
/// alive while it is installed.
#[cfg(target_os = "none")]
pub unsafe fn switch_user_root(root: PhysAddr) {
    // SAFETY: the caller guarantees the new table maps everything the CPU uses next; the
    // barriers and the TLBI only order accesses and drop cached translations.
    unsafe {
        core::arch::asm!(
            switch_ttbr!("ttbr0_el1"),
            in(reg) ttbr_value(root, 0),
            options(nostack),
        );
    }
}

/// Makes `root` the lower-half (user) table of this CPU with ASID `asid`. With `asid == 0`,
/// [`switch_user_root`] (which drops this CPU's TLB). Otherwise the TLB is kept, the
/// translations this CPU cached for `asid` stay in use: `DSB ISHST; MSR TTBR0_EL1; ISB`; with
/// `flush_local` this CPU's whole TLB is dropped right after the write (every ASID, global
/// entries too: there is no local "every non-global entry" form): `DSB ISHST; MSR TTBR0_EL1;
/// ISB; TLBI VMALLE1; DSB NSH; ISB` (after, not before: until the write the old root may refill
/// entries under the old ASID, which a rollover may have given to another space). The `ISB` makes every later instruction translate with the new root and ASID; one
/// `MSR` changes both, since the ASID comes from `TTBR0_EL1` (`TCR_EL1.A1 = 0`, see the module
/// docs).
///
/// # Safety
///
/// As [`switch_user_root`]; moreover `asid` must fit in the ASID width the CPU runs with
/// ([`crate::cpu::asid_bits`]), `TCR_EL1.A1` must be 0, and every translation this CPU holds
/// for `asid` must be a translation of `root` (an ASID allocator guarantees it, or asks for
/// `flush_local`).
#[cfg(target_os = "none")]
pub unsafe fn switch_user_root_asid(root: PhysAddr, asid: u16, flush_local: bool) {
    if asid == 0 {
        // SAFETY: forwarded contract.
        unsafe { switch_user_root(root) };
    } else if flush_local {
        // SAFETY: the caller guarantees the new table maps everything the CPU uses next; the
        // barriers and the TLBI only order accesses and drop cached translations.
        unsafe {
            core::arch::asm!(
                switch_ttbr0_then_local_flush!(),
                in(reg) ttbr_value(root, asid),
                options(nostack),
            );
        }
    } else {
        // SAFETY: as above; the caller guarantees that what this CPU cached for `asid`
        // translates through `root`, so keeping it is correct.
        unsafe {
            core::arch::asm!(
                switch_ttbr0_keep_tlb!(),
                in(reg) ttbr_value(root, asid),
                options(nostack),
            );
        }
    }
}

/// Makes `root` the upper-half (kernel) table of this CPU and drops this CPU's cached
/// translations, global ones included.
///
/// Each CPU calls it once at boot (the same root on every CPU); later changes below that root
/// are flushed through [`crate::tlb`] like any other.
///
/// # Safety
///
/// `root` must be the root of a complete 4-level table that maps every upper-half address this
/// CPU uses from here on, and it must stay alive while it is installed.
#[cfg(target_os = "none")]
pub unsafe fn switch_kernel_root(root: PhysAddr) {
    // SAFETY: as in `switch_user_root`.
    unsafe {
        core::arch::asm!(
            switch_ttbr!("ttbr1_el1"),
            in(reg) ttbr_value(root, 0),
            options(nostack),
        );
    }
}

/// The current value of `TTBR0_EL1`.
#[cfg(target_os = "none")]
pub fn read_ttbr0() -> u64 {
    let value: u64;
    // SAFETY: reading TTBR0_EL1 at EL1 has no side effect.
    unsafe {
        core::arch::asm!("mrs {0}, ttbr0_el1", out(reg) value, options(nomem, nostack));
    }
    value
}

/// The current value of `TTBR1_EL1`.
#[cfg(target_os = "none")]
pub fn read_ttbr1() -> u64 {
    let value: u64;
    // SAFETY: reading TTBR1_EL1 at EL1 has no side effect.
    unsafe {
        core::arch::asm!("mrs {0}, ttbr1_el1", out(reg) value, options(nomem, nostack));
    }
    value
}
