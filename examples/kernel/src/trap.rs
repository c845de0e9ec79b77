//! The neutral half of trap handling: the per-ISA vectors save the registers, decode the cause and
//! call [`kernel_fault`] with the ISA-neutral `vmlayer_paging::PageFaultInfo` (decoded by the ISA
//! crate's `decode_page_fault`). Three outcomes:
//! 1. the installed page-fault handler (`AddressSpace::handle_page_fault`) resolves the fault
//!    (a lazy page populated, or a stale TLB entry flushed): the faulting instruction is retried
//!    (RESUME). A refusal (`vmlayer_paging::FaultError`) is never retried: the hardware would fault
//!    again, forever;
//! 2. a probe armed a recovery point ([`crate::probe`]): the fault is recorded and execution
//!    continues at the recovery point (SKIP);
//! 3. otherwise the kernel reports the unexpected fault and exits QEMU with failure.
//!
//! Traps from user mode never come here: the ISA glue returns them to the caller of
//! `crate::user::enter` (with the user registers saved), which serves them as ordinary kernel
//! code. The suite's routine runs (`crate::user::run`) ask [`user_fault`], the same handler
//! as kernel faults; processes ask their own space (`crate::process`).
//!
//! The vectors save the integer registers only. That suffices here because every kernel-mode
//! page fault is taken inside an assembly probe called through the C ABI (`crate::probe`),
//! where the caller-saved floating-point/SIMD registers are dead and the Rust handler preserves
//! the callee-saved ones, and because user code uses no floating point (the user context of
//! `crate::user` holds the integer registers only). A kernel whose
//! Rust code may fault on lazily mapped memory must also save the FP/SIMD state in its vectors
//! (aarch64: q0–q31, FPCR, FPSR; riscv64: f0–f31, fcsr; `x86_64-unknown-none` is soft-float).

use core::fmt;

use crate::arch::TrapFrame;
use crate::global_cell::GlobalCell;
use crate::println;

pub(crate) use vmlayer_paging::{Access, FaultError, FaultResolution, PageFaultInfo};

/// Formats a fault for messages: `Write fault at 0x1000 from kernel mode`.
pub(crate) fn describe(fault: &PageFaultInfo) -> impl fmt::Display + '_ {
    struct Describe<'a>(&'a PageFaultInfo);
    impl fmt::Display for Describe<'_> {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mode = if self.0.user { "user" } else { "kernel" };
            write!(
                formatter,
                "{:?} fault at {:#x} from {mode} mode",
                self.0.access,
                self.0.address.as_usize()
            )
        }
    }
    Describe(fault)
}

/// A page-fault handler: `Ok` when the access can be retried, else why not.
pub(crate) type PageFaultHandler = fn(PageFaultInfo) -> Result<FaultResolution, FaultError>;

struct TrapState {
    page_fault_handler: Option<PageFaultHandler>,
    handled_faults: usize,
    refused_faults: usize,
    last_refusal: Option<FaultError>,
}

static STATE: GlobalCell<TrapState> = GlobalCell::new(TrapState {
    page_fault_handler: None,
    handled_faults: 0,
    refused_faults: 0,
    last_refusal: None,
});

/// Installs (or removes) the handler asked first on every kernel-mode page fault.
pub(crate) fn set_page_fault_handler(handler: Option<PageFaultHandler>) {
    STATE.with(|state| state.page_fault_handler = handler);
}

/// How many faults the page-fault handler has resolved since boot.
pub(crate) fn handled_fault_count() -> usize {
    STATE.with(|state| state.handled_faults)
}

/// How many faults the page-fault handler has refused since boot, and the last reason.
pub(crate) fn refused_faults() -> (usize, Option<FaultError>) {
    STATE.with(|state| (state.refused_faults, state.last_refusal))
}

/// Asks the installed handler; counts the answer.
fn handle(fault: PageFaultInfo) -> Result<FaultResolution, FaultError> {
    let handler = STATE.with(|state| state.page_fault_handler);
    let result = handler.map_or(Err(FaultError::NoArea), |handler| handler(fault));
    STATE.with(|state| match result {
        Ok(_) => state.handled_faults += 1,
        Err(error) => {
            state.refused_faults += 1;
            state.last_refusal = Some(error);
        }
    });
    result
}

/// Called by the per-ISA vector for a page fault taken in kernel mode.
pub(crate) fn kernel_fault(frame: &mut TrapFrame, fault: PageFaultInfo) {
    let error = match handle(fault) {
        Ok(_) => return,
        Err(error) => error,
    };
    if crate::probe::recover(frame, fault) {
        return;
    }
    unexpected(format_args!(
        "unhandled {} (pc {:#x}): {error}",
        describe(&fault),
        frame.pc()
    ));
}

/// A page fault taken in user mode during a routine run (`crate::user::run`): `true` when the
/// page-fault handler resolved it and user mode may resume at the faulting instruction.
pub(crate) fn user_fault(fault: PageFaultInfo) -> bool {
    handle(fault).is_ok()
}

/// Reports a trap the kernel cannot handle and exits QEMU with failure.
pub(crate) fn unexpected(what: fmt::Arguments<'_>) -> ! {
    // No summary line: a kernel that dies mid-suite must not look like a finished run.
    crate::arch::prepare_fatal_report();
    println!("kernel trap: {what}");
    crate::arch::exit_qemu(false)
}
