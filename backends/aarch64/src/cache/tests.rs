//! Tests of the instruction-visibility sequence for several `CTR_EL0` values (Arm ARM K11.5.2).

use super::CacheOperation::{
    CleanDataLine as Clean, DataSynchronizationBarrier as Dsb,
    InstructionSynchronizationBarrier as Isb, InvalidateInstructionLine as Invalidate,
};
use super::*;

/// Cortex-A72 (QEMU `-cpu cortex-a72`): DminLine = IminLine = 4 (64 bytes), IDC = DIC = 0.
const CTR_64_BYTE_LINES: u64 = 0x8444_c004;
/// A CPU with 32-byte lines on both sides (DminLine = IminLine = 3).
const CTR_32_BYTE_LINES: u64 = 0x8443_c003;
/// 64-byte data lines, 32-byte instruction lines.
const CTR_MIXED_LINES: u64 = 0x8444_c003;

fn steps(ctr: u64, address: usize, size: usize) -> Vec<CacheOperation> {
    let mut steps = Vec::new();
    for_each_operation(ctr, address, size, |step| steps.push(step));
    steps
}

#[test]
fn line_sizes_come_from_ctr_el0() {
    assert_eq!(data_line_size(CTR_64_BYTE_LINES), 64, "DminLine 4");
    assert_eq!(instruction_line_size(CTR_64_BYTE_LINES), 64, "IminLine 4");
    assert_eq!(data_line_size(CTR_32_BYTE_LINES), 32, "DminLine 3");
    assert_eq!(instruction_line_size(CTR_32_BYTE_LINES), 32, "IminLine 3");
    assert_eq!(
        (
            data_line_size(CTR_MIXED_LINES),
            instruction_line_size(CTR_MIXED_LINES)
        ),
        (64, 32),
        "mixed"
    );
}

#[test]
fn a_page_with_64_byte_lines_cleans_then_invalidates_every_line() {
    let ops = steps(CTR_64_BYTE_LINES, 0x4000_0000, 0x1000);
    let mut expected: Vec<_> = (0..64).map(|i| Clean(0x4000_0000 + i * 64)).collect();
    expected.push(Dsb);
    expected.extend((0..64).map(|i| Invalidate(0x4000_0000 + i * 64)));
    expected.extend([Dsb, Isb]);
    assert_eq!(ops, expected);
}

#[test]
fn unaligned_ranges_cover_every_line_they_touch() {
    // 32-byte lines: [0x101c, 0x1044) touches the lines at 0x1000, 0x1020 and 0x1040.
    assert_eq!(
        steps(CTR_32_BYTE_LINES, 0x101c, 0x28),
        [
            Clean(0x1000),
            Clean(0x1020),
            Clean(0x1040),
            Dsb,
            Invalidate(0x1000),
            Invalidate(0x1020),
            Invalidate(0x1040),
            Dsb,
            Isb
        ],
        "32-byte lines"
    );
    // One byte: one line each side.
    assert_eq!(
        steps(CTR_64_BYTE_LINES, 0x107f, 1),
        [Clean(0x1040), Dsb, Invalidate(0x1040), Dsb, Isb],
        "one byte"
    );
    // Data and instruction lines of different sizes are walked separately.
    assert_eq!(
        steps(CTR_MIXED_LINES, 0x1030, 0x20),
        [
            Clean(0x1000),
            Clean(0x1040),
            Dsb,
            Invalidate(0x1020),
            Invalidate(0x1040),
            Dsb,
            Isb
        ],
        "64-byte data, 32-byte instruction lines"
    );
}

#[test]
fn idc_skips_the_data_clean_and_dic_the_instruction_invalidate() {
    assert_eq!(
        steps(CTR_64_BYTE_LINES | CTR_IDC, 0x2000, 0x80),
        [Dsb, Invalidate(0x2000), Invalidate(0x2040), Dsb, Isb],
        "IDC"
    );
    assert_eq!(
        steps(CTR_64_BYTE_LINES | CTR_DIC, 0x2000, 0x80),
        [Clean(0x2000), Clean(0x2040), Dsb, Isb],
        "DIC"
    );
    assert_eq!(
        steps(CTR_64_BYTE_LINES | CTR_IDC | CTR_DIC, 0x2000, 0x80),
        [Dsb, Isb],
        "IDC and DIC: barriers only"
    );
}

#[test]
fn empty_and_top_of_memory_ranges() {
    assert_eq!(steps(CTR_64_BYTE_LINES, 0x1000, 0), [], "empty range");
    let top = usize::MAX - 0x3f;
    assert_eq!(
        steps(CTR_64_BYTE_LINES, top, 0x40),
        [Clean(top), Dsb, Invalidate(top), Dsb, Isb],
        "last line of the address space, no overflow"
    );
}

#[test]
fn hosted_sync_is_a_no_op() {
    // Under qemu-user the kernel's view of the cache is not ours to maintain: must return.
    sync_instruction_cache(0x1000, 0x1000);
}
