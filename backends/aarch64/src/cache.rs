//! Instruction-cache maintenance before new code runs.
//!
//! # Making written instructions visible
//!
//! The sequence for "Ensuring the visibility of updates to instructions" (Arm ARM K11.5.2; the
//! cache maintenance instructions in D7.5.9 "Data and instruction cache maintenance"):
//!
//! ```text
//! DC CVAU, Xn    // for each data-cache line of the range: clean to the point of unification
//! DSB ISH        // the cleans complete
//! IC IVAU, Xn    // for each instruction-cache line of the range: invalidate to PoU
//! DSB ISH        // the invalidations complete
//! ISB            // this CPU refetches
//! ```
//!
//! The line sizes come from `CTR_EL0` (`DminLine`, bits 19:16, and `IminLine`, bits 3:0: log2
//! of the number of 4-byte words), not a constant. `CTR_EL0.IDC` (bit 28) says the data-cache
//! clean to PoU is not required for instruction-to-data coherence, `CTR_EL0.DIC` (bit 29) that
//! the instruction-cache invalidation is not; the barriers stay (Arm ARM, register description
//! of `CTR_EL0`). [`for_each_operation`] yields the sequence as data so that it is tested on any
//! host; [`sync_instruction_cache`] executes it on bare metal only. `IC IVAU` is broadcast to
//! the Inner Shareable domain, so one CPU's sequence covers every CPU.

#[cfg(test)]
mod tests;

/// `CTR_EL0.IDC` (bit 28): data-cache clean to PoU not required for coherence.
pub const CTR_IDC: u64 = 1 << 28;
/// `CTR_EL0.DIC` (bit 29): instruction-cache invalidation to PoU not required for coherence.
pub const CTR_DIC: u64 = 1 << 29;

/// One step of the instruction-visibility sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheOperation {
    /// `DC CVAU` on the data-cache line at this (line-aligned) address.
    CleanDataLine(usize),
    /// `IC IVAU` on the instruction-cache line at this (line-aligned) address.
    InvalidateInstructionLine(usize),
    /// `DSB ISH`.
    DataSynchronizationBarrier,
    /// `ISB`.
    InstructionSynchronizationBarrier,
}

/// The smallest data-cache line in bytes: `4 << CTR_EL0.DminLine`.
///
/// ```
/// assert_eq!(vmlayer_aarch64::cache::data_line_size(0x8444_c004), 64);
/// ```
pub const fn data_line_size(ctr: u64) -> usize {
    4 << ((ctr >> 16) & 0xf)
}

/// The smallest instruction-cache line in bytes: `4 << CTR_EL0.IminLine`.
///
/// ```
/// assert_eq!(vmlayer_aarch64::cache::instruction_line_size(0x8444_c004), 64);
/// ```
pub const fn instruction_line_size(ctr: u64) -> usize {
    4 << (ctr & 0xf)
}

/// Calls `operation` for each step that makes `[address, address + size)` visible to
/// instruction fetches on a CPU whose `CTR_EL0` is `ctr` (see the module docs): a clean per data
/// line unless `IDC`, `DSB ISH`, an invalidate per instruction line and `DSB ISH` unless `DIC`,
/// then `ISB`. Lines are visited from the line containing `address` up to the one containing the
/// last byte. Nothing for `size == 0`.
///
/// ```
/// use vmlayer_aarch64::cache::{CacheOperation::*, for_each_operation};
///
/// let mut steps = Vec::new();
/// // 64-byte lines (DminLine = IminLine = 4), 8 bytes straddling a line boundary.
/// for_each_operation(0x8444_c004, 0x103c, 8, |step| steps.push(step));
/// assert_eq!(steps, [
///     CleanDataLine(0x1000), CleanDataLine(0x1040), DataSynchronizationBarrier,
///     InvalidateInstructionLine(0x1000), InvalidateInstructionLine(0x1040),
///     DataSynchronizationBarrier, InstructionSynchronizationBarrier,
/// ]);
/// ```
pub fn for_each_operation(
    ctr: u64,
    address: usize,
    size: usize,
    mut operation: impl FnMut(CacheOperation),
) {
    if size == 0 {
        return;
    }
    if ctr & CTR_IDC == 0 {
        for_each_line(address, size, data_line_size(ctr), |line| {
            operation(CacheOperation::CleanDataLine(line))
        });
    }
    operation(CacheOperation::DataSynchronizationBarrier);
    if ctr & CTR_DIC == 0 {
        for_each_line(address, size, instruction_line_size(ctr), |line| {
            operation(CacheOperation::InvalidateInstructionLine(line))
        });
        operation(CacheOperation::DataSynchronizationBarrier);
    }
    operation(CacheOperation::InstructionSynchronizationBarrier);
}

/// Calls `visit` with the start of every `line_size`-byte line that holds a byte of
/// `[address, address + size)` (`size > 0`), without overflowing at the top of the address
/// space.
fn for_each_line(address: usize, size: usize, line_size: usize, mut visit: impl FnMut(usize)) {
    let first = address & !(line_size - 1);
    let last = address.saturating_add(size - 1) & !(line_size - 1);
    let mut line = first;
    loop {
        visit(line);
        if line >= last {
            break;
        }
        line += line_size;
    }
}

/// Makes `[address, address + size)` visible to instruction fetches on every CPU (the `IS`
/// forms): reads `CTR_EL0` and executes [`for_each_operation`]. A no-op on hosted builds.
pub fn sync_instruction_cache(address: usize, size: usize) {
    #[cfg(target_os = "none")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 at EL1 has no side effect.
        unsafe {
            core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags));
        }
        for_each_operation(ctr, address, size, execute);
    }
    #[cfg(not(target_os = "none"))]
    let _ = (address, size);
}

/// Executes one step.
#[cfg(target_os = "none")]
fn execute(operation: CacheOperation) {
    match operation {
        // SAFETY: cache maintenance by VA to PoU on the caller's mapped range changes no data
        // (a clean writes back, an invalidate of the instruction cache drops only copies).
        CacheOperation::CleanDataLine(line) => unsafe {
            core::arch::asm!("dc cvau, {0}", in(reg) line, options(nostack, preserves_flags));
        },
        // SAFETY: as above.
        CacheOperation::InvalidateInstructionLine(line) => unsafe {
            core::arch::asm!("ic ivau, {0}", in(reg) line, options(nostack, preserves_flags));
        },
        // SAFETY: a barrier only orders and waits.
        CacheOperation::DataSynchronizationBarrier => unsafe {
            core::arch::asm!("dsb ish", options(nostack, preserves_flags));
        },
        // SAFETY: as above.
        CacheOperation::InstructionSynchronizationBarrier => unsafe {
            core::arch::asm!("isb", options(nostack, preserves_flags));
        },
    }
}
