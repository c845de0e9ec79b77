//! Cases 4 and 5: lazy allocation through the page-fault handler; PROT_NONE round trip.

use alloc::format;
use alloc::string::String;

use vmlayer_paging::MappingFlags;

use super::fixtures::{expect_kernel_fault, read_faults, read_ok, slot, write_faults, write_ok};
use crate::kernel_space::{self, Space, va};
use crate::layout::PAGE_SIZE;
use crate::trap::{self, Access};
use crate::{ensure_eq, ensure_ok, probe};

/// First touch of each page faults exactly once and finds a zeroed page; a forbidden access is
/// refused and populates nothing.
pub(crate) fn lazy_allocation() -> Result<(), String> {
    let base = slot(3);
    let pages = 8;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_alloc(
            va(base),
            pages * PAGE_SIZE,
            read_write,
            false
        )),
        "map_alloc without populate"
    );
    let faults_before = trap::handled_fault_count();
    let touched = [0usize, 2, 5, 7];
    for &index in &touched {
        let page = base + index * PAGE_SIZE;
        ensure_eq!(
            kernel_space::with(Space::User, |space| kernel_space::is_mapped(space, page)),
            false,
            "page {index} not populated before its first touch"
        );
        ensure_eq!(
            read_ok(page + 16, "first touch")?,
            0,
            "page {index} reads zero"
        );
        write_ok(page + 24, 0x77, "second touch (write)")?;
    }
    ensure_eq!(
        trap::handled_fault_count() - faults_before,
        touched.len(),
        "one fault per touched page"
    );
    for &index in &touched {
        let page = base + index * PAGE_SIZE;
        for word in 0..PAGE_SIZE / 8 {
            let expected = if word == 3 { 0x77 } else { 0 };
            ensure_eq!(
                read_ok(page + word * 8, "whole page")?,
                expected,
                "page {index} word {word}"
            );
        }
    }
    ensure_eq!(
        trap::handled_fault_count() - faults_before,
        touched.len(),
        "no more faults once populated"
    );
    ensure_eq!(
        kernel_space::with(Space::User, |space| kernel_space::is_mapped(
            space,
            base + PAGE_SIZE
        )),
        false,
        "untouched page 1 stays unpopulated"
    );

    // Forbidden accesses to a lazy read-only area: refused, nothing populated.
    let read_only = base + 0x10_0000;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_alloc(
            va(read_only),
            PAGE_SIZE,
            MappingFlags::READ,
            false
        )),
        "map_alloc read-only"
    );
    let faults_before = trap::handled_fault_count();
    write_faults(read_only, "write to a lazy read-only page")?;
    // SAFETY: an instruction fetch from our own (not executable) test page; it must fault.
    let executed = unsafe { probe::execute(read_only) };
    expect_kernel_fault(
        executed,
        read_only,
        Access::Execute,
        "execute a lazy non-executable page",
    )?;
    ensure_eq!(
        trap::handled_fault_count(),
        faults_before,
        "forbidden accesses are not handled"
    );
    ensure_eq!(
        kernel_space::with(Space::User, |space| kernel_space::is_mapped(
            space, read_only
        )),
        false,
        "refused accesses populate nothing"
    );
    read_faults(base + 0x20_0000, "outside every area")?;
    ensure_eq!(
        read_ok(read_only, "allowed read")?,
        0,
        "the allowed read populates a zero page"
    );
    ensure_eq!(
        trap::handled_fault_count(),
        faults_before + 1,
        "the allowed read faulted once"
    );

    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(base), 0x20_0000)),
        "unmap"
    );
    Ok(())
}

/// Data survives PROT_NONE and back; while NONE, reads, writes and fetches fault.
pub(crate) fn prot_none_round_trip() -> Result<(), String> {
    let base = slot(4);
    let pages = 2;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_alloc(
            va(base),
            pages * PAGE_SIZE,
            read_write,
            true
        )),
        "map_alloc populated"
    );
    for index in 0..pages {
        write_ok(base + index * PAGE_SIZE, 0xc0de_0000 + index as u64, "fill")?;
    }
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.protect(
            va(base),
            pages * PAGE_SIZE,
            MappingFlags::empty()
        )),
        "protect NONE"
    );
    let faults_before = trap::handled_fault_count();
    for index in 0..pages {
        let page = base + index * PAGE_SIZE;
        read_faults(page, "read while NONE")?;
        write_faults(page, "write while NONE")?;
        // SAFETY: instruction fetch from our own test page; it must fault.
        let executed = unsafe { probe::execute(page) };
        expect_kernel_fault(
            executed,
            page,
            Access::Execute,
            &format!("execute page {index} while NONE"),
        )?;
    }
    ensure_eq!(
        trap::handled_fault_count(),
        faults_before,
        "faults on a NONE area are refused, not handled"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.protect(
            va(base),
            pages * PAGE_SIZE,
            read_write
        )),
        "protect RW"
    );
    for index in 0..pages {
        ensure_eq!(
            read_ok(base + index * PAGE_SIZE, "after NONE")?,
            0xc0de_0000 + index as u64,
            "page {index} data kept"
        );
    }
    ensure_ok!(
        kernel_space::with(Space::User, |space| space
            .unmap(va(base), pages * PAGE_SIZE)),
        "unmap"
    );
    Ok(())
}
