//! Just enough ACPI to list the CPUs: the PVH start info's `rsdp_paddr` → the RSDP → the XSDT
//! (or the RSDT) → the MADT ("APIC") → its Processor Local APIC entries.
//!
//! Sections of the ACPI Specification 6.5: §5.2.5.3 RSDP structure, §5.2.6 system description
//! table header, §5.2.7 RSDT, §5.2.8 XSDT, §5.2.12 MADT, §5.2.12.2 Processor Local APIC
//! structure. Every table is read through the boot mapping's direct map (the first 4 GiB, see
//! `boot.rs`), so this runs before the kernel space is active; every read is bounds-checked
//! against the table's length and every table's checksum is verified before it is trusted.

use crate::layout::phys_to_virt;

/// The PVH start info's `rsdp_paddr` (byte offset 32, version ≥ 1; `firmware::pvh` checked the
/// magic and version).
const START_INFO_RSDP: usize = 32;
/// The system description table header's size.
const HEADER_SIZE: usize = 36;
/// Longer tables than this are taken as garbage.
const MAX_TABLE_SIZE: usize = 1 << 20;
/// MADT entry type 0: Processor Local APIC.
const PROCESSOR_LOCAL_APIC: u8 = 0;
/// Processor Local APIC flags bit 0: the processor is usable.
const ENABLED: u32 = 1;

/// The most CPUs [`local_apic_ids`] reports.
pub(super) const MAX_LISTED: usize = 256;

/// The APIC ids of the enabled processors, in MADT order (at most [`MAX_LISTED`]).
pub(super) struct ApicIds {
    pub(super) ids: [u8; MAX_LISTED],
    pub(super) count: usize,
}

/// `length` bytes of physical memory at `paddr`, if they lie inside the boot mapping.
///
/// # Safety
/// The boot mapping must be active and nothing may write those bytes while the slice lives
/// (firmware tables: nobody writes them).
unsafe fn physical(paddr: usize, length: usize) -> Option<&'static [u8]> {
    let end = paddr.checked_add(length)?;
    if paddr == 0 || end > super::BOOT_MAPPED_END {
        return None;
    }
    // SAFETY: below `BOOT_MAPPED_END` the boot mapping maps physical memory read-write at
    // `phys_to_virt`; the caller vouches that nothing writes it meanwhile.
    Some(unsafe { core::slice::from_raw_parts(phys_to_virt(paddr) as *const u8, length) })
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

/// Whether `bytes` sum to 0 (mod 256), as every ACPI checksum requires.
fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &byte| sum.wrapping_add(byte)) == 0
}

/// The system description table at `paddr` (header included), if its length is sane, its
/// checksum right and, when `signature` is given, its signature that one.
///
/// # Safety
/// As [`physical`].
unsafe fn table(paddr: usize, signature: Option<&[u8; 4]>) -> Option<&'static [u8]> {
    // SAFETY: forwarded contract.
    let header = unsafe { physical(paddr, HEADER_SIZE) }?;
    let length = read_u32(header, 4)? as usize;
    if !(HEADER_SIZE..=MAX_TABLE_SIZE).contains(&length)
        || signature.is_some_and(|signature| header[..4] != signature[..])
    {
        return None;
    }
    // SAFETY: forwarded contract.
    let table = unsafe { physical(paddr, length) }?;
    checksum_ok(table).then_some(table)
}

/// The physical addresses of the tables the RSDP lists: the XSDT's 64-bit entries (revision
/// ≥ 2), else the RSDT's 32-bit ones.
///
/// # Safety
/// As [`physical`].
unsafe fn root_table(rsdp: usize) -> Result<(&'static [u8], usize), &'static str> {
    // SAFETY: forwarded contract.
    let first = unsafe { physical(rsdp, 20) }.ok_or("the RSDP is outside the boot mapping")?;
    if &first[..8] != b"RSD PTR " || !checksum_ok(first) {
        return Err("no valid RSDP at the address the PVH start info gives");
    }
    if first[15] >= 2 {
        // SAFETY: forwarded contract.
        let whole = unsafe { physical(rsdp, 36) }.ok_or("the RSDP is outside the boot mapping")?;
        let xsdt = read_u64(whole, 24).unwrap_or(0) as usize;
        if checksum_ok(whole) && xsdt != 0 {
            // SAFETY: forwarded contract.
            return unsafe { table(xsdt, Some(b"XSDT")) }
                .map(|xsdt| (xsdt, 8))
                .ok_or("the XSDT is invalid");
        }
    }
    let rsdt = read_u32(first, 16).unwrap_or(0) as usize;
    // SAFETY: forwarded contract.
    unsafe { table(rsdt, Some(b"RSDT")) }
        .map(|rsdt| (rsdt, 4))
        .ok_or("the RSDT is invalid")
}

/// The APIC ids of the enabled processors the MADT lists (Processor Local APIC entries with
/// the Enabled flag), read from the tables the PVH start info at `start_info` points to.
/// Processors listed only as Processor Local x2APIC entries (type 9, APIC ids above 254) are
/// not reported: this kernel drives the local APIC in xAPIC mode.
///
/// # Errors
/// What is missing or invalid.
///
/// # Safety
/// The boot mapping must be active; `start_info` must be the start info `firmware::pvh`
/// accepted.
pub(super) unsafe fn local_apic_ids(start_info: usize) -> Result<ApicIds, &'static str> {
    // SAFETY: the start info lies in the boot mapping (the caller's contract); nothing writes it.
    let info = unsafe { physical(start_info, START_INFO_RSDP + 8) }
        .ok_or("the PVH start info is outside the boot mapping")?;
    let rsdp = read_u64(info, START_INFO_RSDP).unwrap_or(0) as usize;
    if rsdp == 0 {
        return Err("the PVH start info gives no RSDP");
    }
    // SAFETY: forwarded contract (firmware tables, read-only).
    let (root, entry_size) = unsafe { root_table(rsdp) }?;
    let madt = root[HEADER_SIZE..]
        .chunks_exact(entry_size)
        .filter_map(|entry| match entry_size {
            8 => read_u64(entry, 0).map(|address| address as usize),
            _ => read_u32(entry, 0).map(|address| address as usize),
        })
        // SAFETY: as above.
        .find_map(|address| unsafe { table(address, Some(b"APIC")) })
        .ok_or("no valid MADT (\"APIC\" table)")?;
    // The entries follow the local APIC address (u32) and the flags (u32).
    let mut listed = ApicIds {
        ids: [0; MAX_LISTED],
        count: 0,
    };
    let mut offset = HEADER_SIZE + 8;
    while offset + 2 <= madt.len() {
        let (kind, length) = (madt[offset], usize::from(madt[offset + 1]));
        let entry = madt
            .get(offset..offset + length)
            .filter(|_| length >= 2)
            .ok_or("a MADT entry overruns the table")?;
        if kind == PROCESSOR_LOCAL_APIC && length >= 8 {
            let flags = read_u32(entry, 4).unwrap_or(0);
            if flags & ENABLED != 0 && listed.count < MAX_LISTED {
                listed.ids[listed.count] = entry[3];
                listed.count += 1;
            }
        }
        offset += length;
    }
    Ok(listed)
}
