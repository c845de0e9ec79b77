//! Cases 10 and 11: a fault the hardware will repeat is refused, never retried; a physical
//! address the CPU cannot express is refused before anything is mapped.

use alloc::string::String;

use vmlayer_paging::{FaultError, MappingError, MappingFlags};

use super::fixtures::{Frame, slot};
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::PAGE_SIZE;
use crate::{arch, ensure_eq, ensure_ok, probe, trap};

/// A kernel load and store to a present `USER` page: where the CPU forbids them (RISC-V
/// `sstatus.SUM = 0`, Arm PAN, x86 SMAP) each faults once and the address space refuses it
/// with `UserMemoryBlocked` (an answer of "retry" would fault again forever); elsewhere they
/// succeed.
pub(crate) fn kernel_access_to_user_memory() -> Result<(), String> {
    let page = slot(40);
    let frame = Frame::filled(0x5553_4552)?;
    let user_rw = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(page),
            pa(frame.paddr),
            PAGE_SIZE,
            user_rw
        )),
        "map the user page"
    );
    let blocked = arch::user_memory_blocked();
    let handled_before = trap::handled_fault_count();
    let (refused_before, _) = trap::refused_faults();
    let read = probe::read(page);
    // SAFETY: the page is this case's own mapping of `frame`.
    let write = unsafe { probe::write(page + 8, 0x77) };
    let (refused_after, last_refusal) = trap::refused_faults();
    if blocked {
        ensure_eq!(read.is_err(), true, "kernel read of a user page must fault");
        ensure_eq!(
            write.is_err(),
            true,
            "kernel write of a user page must fault"
        );
        ensure_eq!(refused_after, refused_before + 2, "each fault refused once");
        ensure_eq!(
            last_refusal,
            Some(FaultError::UserMemoryBlocked),
            "refused as blocked user memory"
        );
        ensure_eq!(frame.word(1), 0x5553_4552, "the write did not land");
    } else {
        ensure_eq!(
            read.ok(),
            Some(0x5553_4552),
            "kernel read without SUM/PAN/SMAP"
        );
        ensure_eq!(write.is_ok(), true, "kernel write without SUM/PAN/SMAP");
        ensure_eq!(frame.word(1), 0x77, "the write landed");
        ensure_eq!(refused_after, refused_before, "nothing refused");
    }
    ensure_eq!(
        trap::handled_fault_count(),
        handled_before,
        "no fault was answered 'retry'"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap"
    );
    Ok(())
}

/// `map_linear` of a physical range at or beyond the CPU's width (x86 CPUID 0x80000008, Arm
/// `ID_AA64MMFR0_EL1.PARange`, the Sv39 PPN) is refused with `InvalidParam`: such an entry has
/// reserved bits set (on x86 every access faults with RSVD, forever).
pub(crate) fn physical_address_width() -> Result<(), String> {
    let page = slot(41);
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    kernel_space::with(Space::User, |space| {
        let bits = space.page_table().phys_addr_bits();
        let limit = 1usize << bits;
        ensure_eq!(
            space.map_linear(va(page), pa(limit), PAGE_SIZE, read_write),
            Err(MappingError::InvalidParam),
            "map at 1 << {bits}"
        );
        ensure_eq!(
            space.map_linear(va(page), pa(limit - PAGE_SIZE), 2 * PAGE_SIZE, read_write),
            Err(MappingError::InvalidParam),
            "map straddling 1 << {bits}"
        );
        ensure_eq!(space.find_area(va(page)).is_none(), true, "no area left");
        ensure_ok!(
            space.map_linear(va(page), pa(limit - PAGE_SIZE), PAGE_SIZE, read_write),
            "the last addressable page"
        );
        ensure_ok!(space.unmap(va(page), PAGE_SIZE), "unmap");
        Ok(())
    })
}
