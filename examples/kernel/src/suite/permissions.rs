//! Cases 1 and 2: permissions by real access; unmap then map again.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::cell::UnsafeCell;
use core::ops::Range;

use vmlayer_paging::MappingFlags;

use super::fixtures::{Frame, expect_kernel_fault, read_faults, read_ok, slot, write_ok};
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::{self, PAGE_SIZE, phys_to_virt};
use crate::probe;
use crate::trap::Access;
use crate::{ensure_eq, ensure_ok};

/// For R, R+W, R+X, R+W+X and NONE: a read, a write and an execute attempt succeed or fault
/// exactly as the flags say, with the right fault kind and address.
pub(crate) fn permissions_by_real_access() -> Result<(), String> {
    let read = MappingFlags::READ;
    let write = MappingFlags::WRITE;
    let execute = MappingFlags::EXECUTE;
    let combinations = [
        ("R", read),
        ("RW", read | write),
        ("RX", read | execute),
        ("RWX", read | write | execute),
        ("NONE", MappingFlags::empty()),
    ];
    for (index, (name, flags)) in combinations.into_iter().enumerate() {
        let page = slot(0) + index * 0x20_0000;
        let frame = Frame::filled(0x1111_0000 + index as u64)?;
        frame.put_code(crate::arch::RETURN_INSTRUCTION);
        let first_word = frame.word(0);
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_linear(
                va(page),
                pa(frame.paddr),
                PAGE_SIZE,
                flags
            )),
            "map_linear {name}"
        );

        let data = page + 8;
        match probe::read(page) {
            Ok(value) if flags.contains(read) => {
                ensure_eq!(value, first_word, "{name}: value read")
            }
            result if flags.contains(read) => {
                return Err(format!("{name}: read faulted: {result:x?}"));
            }
            result => expect_kernel_fault(result, page, Access::Read, &format!("{name}: read"))?,
        }
        // SAFETY: `data` is our own test page (word 1, after the return instruction).
        let written = unsafe { probe::write(data, 0x5a5a) };
        if flags.contains(write) {
            ensure_eq!(written, Ok(()), "{name}: write");
            ensure_eq!(frame.word(1), 0x5a5a, "{name}: written value in the frame");
        } else {
            expect_kernel_fault(written, data, Access::Write, &format!("{name}: write"))?;
            ensure_eq!(
                frame.word(1),
                0x1111_0000 + index as u64,
                "{name}: frame unchanged by the refused write"
            );
        }
        // SAFETY: the page starts with the ISA's return instruction.
        let executed = unsafe { probe::execute(page) };
        if flags.contains(execute) {
            ensure_eq!(executed, Ok(()), "{name}: execute");
        } else {
            expect_kernel_fault(executed, page, Access::Execute, &format!("{name}: execute"))?;
        }
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
            "unmap {name}"
        );
    }
    kernel_image_permissions()
}

/// Eight bytes of code, aligned as every ISA requires of an instruction address.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct AlignedCode([u8; 8]);

impl AlignedCode {
    /// The ISA's return instruction, padded with zeros.
    const fn return_instruction() -> Self {
        let bytes = crate::arch::RETURN_INSTRUCTION;
        let mut code = [0u8; 8];
        let mut index = 0;
        while index < bytes.len() {
            code[index] = bytes[index];
            index += 1;
        }
        Self(code)
    }
}

/// A return instruction in writable data: fetching it must fault (data is never executable).
static RETURN_IN_DATA: ReturnInData = ReturnInData(UnsafeCell::new(AlignedCode([0; 8])));

struct ReturnInData(UnsafeCell<AlignedCode>);

// SAFETY: single hart; written only by `kernel_image_permissions`, before the fetch attempt.
unsafe impl Sync for ReturnInData {}

/// A return instruction in rodata: fetching it must fault (rodata is not executable).
static RETURN_IN_RODATA: AlignedCode = AlignedCode::return_instruction();

/// A constant in rodata: writing it must fault.
static RODATA_WORD: u64 = 0x0123_4567_89ab_cdef;

/// The kernel's own image by real access: text is not writable, rodata is read-only, data, heap
/// and stack are not executable.
fn kernel_image_permissions() -> Result<(), String> {
    let text = (permissions_by_real_access as *const () as usize) & !7;
    let rodata = &raw const RODATA_WORD as usize;
    let return_bytes = crate::arch::RETURN_INSTRUCTION;

    // The write probes put back the word that is there, so a wrongly writable image is not
    // corrupted by the check.
    let text_word = read_ok(text, "kernel text")?;
    // SAFETY: writes back the word read; it must fault.
    let written = unsafe { probe::write(text, text_word) };
    expect_kernel_fault(written, text, Access::Write, "write to kernel text")?;
    ensure_eq!(
        read_ok(rodata, "kernel rodata")?,
        0x0123_4567_89ab_cdef,
        "rodata word"
    );
    // SAFETY: writes back the word read; it must fault.
    let written = unsafe { probe::write(rodata, 0x0123_4567_89ab_cdef) };
    expect_kernel_fault(written, rodata, Access::Write, "write to kernel rodata")?;

    let code = AlignedCode::return_instruction();
    let data = RETURN_IN_DATA.0.get();
    // SAFETY: our own static, see `ReturnInData`.
    unsafe { data.write_volatile(code) };
    let on_heap = Box::new(code);
    let on_stack = code;
    let places = [
        ("rodata", &raw const RETURN_IN_RODATA as usize),
        ("data", data as usize),
        ("heap", &raw const *on_heap as usize),
        ("stack", &raw const on_stack as usize),
    ];
    for (name, address) in places {
        crate::kernel_space::sync_instruction_cache(address, return_bytes.len());
        // SAFETY: the bytes at `address` are the return instruction; the fetch must fault.
        let executed = unsafe { probe::execute(address) };
        expect_kernel_fault(
            executed,
            address,
            Access::Execute,
            &format!("execute kernel {name}"),
        )?;
    }
    kernel_entries()
}

/// The page-table entries of the kernel's own mappings in the kernel space (first and last page
/// of each region), as the ISA decodes them: the image at its link address over its load
/// address, text R+X, rodata R, data+bss R+W; the direct map (`PHYS_OFFSET + pa`) of the RAM
/// window R+W and of the MMIO R+W+DEVICE (where the ISA has a memory-type bit: without Svpbmt,
/// RISC-V has none and the platform's PMAs make MMIO device memory). Nothing else executable,
/// nothing USER.
fn kernel_entries() -> Result<(), String> {
    use vmlayer_paging::{EntryKind, PagingArch};
    let (read, write, execute) = (
        MappingFlags::READ,
        MappingFlags::WRITE,
        MappingFlags::EXECUTE,
    );
    let device_probe =
        <kernel_space::Arch as PagingArch>::encode_leaf(pa(0), read | MappingFlags::DEVICE, 0);
    let isa_has_device = matches!(
        <kernel_space::Arch as PagingArch>::decode(device_probe, 0),
        EntryKind::Leaf { flags, .. } if flags.contains(MappingFlags::DEVICE)
    );
    let device = if isa_has_device {
        MappingFlags::DEVICE
    } else {
        MappingFlags::empty()
    };
    let image = layout::kernel_layout();
    let in_image = |range: Range<usize>| (layout::image_phys(range.start), range);
    let in_direct_map = |range: Range<usize>| {
        let start = range.start;
        (start, phys_to_virt(start)..phys_to_virt(range.end))
    };
    let mut regions = alloc::vec![
        ("text", in_image(image.text), read | execute),
        ("rodata", in_image(image.rodata), read),
        ("data+bss", in_image(image.data), read | write),
        (
            "RAM window",
            in_direct_map(layout::frame_pool_window()),
            read | write
        ),
    ];
    for range in crate::arch::MMIO_REGIONS {
        regions.push(("MMIO", in_direct_map(range.clone()), read | write | device));
    }
    let compared = read | write | execute | MappingFlags::USER | MappingFlags::DEVICE;
    for (name, (paddr, range), expected) in regions {
        for offset in [0, range.end - range.start - PAGE_SIZE] {
            let address = range.start + offset;
            let translation =
                kernel_space::with(Space::Kernel, |space| space.query(va(address)))
                    .ok_or_else(|| format!("kernel {name} page {address:#x} is not mapped"))?;
            ensure_eq!(
                translation.paddr.as_usize(),
                paddr + offset,
                "kernel {name} page {address:#x} maps its physical page"
            );
            ensure_eq!(
                translation.flags & compared,
                expected,
                "flags of the kernel {name} page {address:#x}"
            );
        }
    }
    Ok(())
}

/// Unmapped memory faults; mapped again (to another frame) it works and shows the new frame.
pub(crate) fn unmap_then_remap() -> Result<(), String> {
    let page = slot(1);
    let first = Frame::filled(0xaaaa)?;
    let second = Frame::filled(0xbbbb)?;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(page),
            pa(first.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map first"
    );
    ensure_eq!(
        read_ok(page, "mapped")?,
        0xaaaa,
        "first frame through the mapping"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap"
    );
    read_faults(page, "after unmap")?;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(page),
            pa(second.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map again"
    );
    ensure_eq!(
        read_ok(page, "mapped again")?,
        0xbbbb,
        "second frame through the mapping"
    );
    write_ok(page, 0xcccc, "mapped again")?;
    ensure_eq!(second.word(0), 0xcccc, "write reached the second frame");
    ensure_eq!(first.word(0), 0xaaaa, "first frame untouched");
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
        "final unmap"
    );
    Ok(())
}
