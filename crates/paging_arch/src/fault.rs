//! The neutral description of a page fault.

use memory_addr::VirtAddr;
use page_table_multiarch::MappingFlags;

/// The kind of access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// A load (or a read-modify-write that faulted on its read).
    Read,
    /// A store or an atomic that writes.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    /// The flag an area must carry to permit this access: `READ`, `WRITE` or `EXECUTE`.
    pub const fn required_flag(self) -> MappingFlags {
        match self {
            Self::Read => MappingFlags::READ,
            Self::Write => MappingFlags::WRITE,
            Self::Execute => MappingFlags::EXECUTE,
        }
    }
}

/// What the hardware reported about why the translation failed, where the ISA says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultCause {
    /// No valid entry translates the address (x86 `P = 0` in the error code; an AArch64
    /// translation fault). Nothing mapped, PROT_NONE, or a stale "invalid" cached by the TLB.
    NotPresent,
    /// A valid entry exists but forbids the access (x86 `P = 1`; an AArch64 permission fault):
    /// read-only, no-execute, a user access to a kernel page, or a kernel access to a user page
    /// under SMAP / PAN.
    Permission,
    /// AArch64 access-flag fault: the descriptor has `AF = 0`.
    AccessFlag,
    /// A paging-structure entry has a reserved bit set (x86 `RSVD`): the table is corrupt or
    /// maps a physical address the CPU cannot express. Never an ordinary fault.
    ReservedBit,
    /// The ISA does not say (RISC-V page faults: `scause` names only the access).
    Unspecified,
}

/// A page fault as every ISA can describe it: which address, which access, from which mode,
/// and what the hardware said about it.
///
/// Each ISA crate decodes its own trap registers into this (`scause` + `stval` + `sstatus` on
/// RISC-V, `ESR_EL1` + `FAR_EL1` + `SPSR_EL1` on AArch64, the `#PF` error code + `CR2` +
/// `RFLAGS` + `CR4` on x86_64) with a plain function over numbers, so the decoding is tested on
/// any host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFaultInfo {
    /// The faulting virtual address.
    pub address: VirtAddr,
    /// What the faulting instruction tried to do.
    pub access: Access,
    /// Whether the access came from user mode (`true`) or from the kernel (`false`).
    pub user: bool,
    /// What the hardware reported ([`FaultCause::Unspecified`] where the ISA does not say).
    pub cause: FaultCause,
    /// For a kernel-mode fault: whether the CPU let the kernel load and store user pages at the
    /// time (RISC-V `sstatus.SUM = 1`; AArch64 `PSTATE.PAN = 0`, as saved in `SPSR_EL1`; x86
    /// `CR4.SMAP = 0` or `RFLAGS.AC = 1`). When `false`, a kernel load or store to a `USER` page
    /// faults however the page is mapped, so it can never be "retried". Always `false` for user
    /// faults.
    pub user_memory_access: bool,
    /// The CPU that faulted (the kernel's index, as in `CpuMask`; 0 unless the kernel says,
    /// see [`Self::on_cpu`]). Two CPUs can take the same fault at once: only the same fault
    /// again *on the same CPU* means the hardware disagrees with the table.
    pub cpu: usize,
}

impl PageFaultInfo {
    /// A fault whose cause the ISA does not report, with kernel access to user memory off
    /// (the safe assumption: a kernel access to a user page is then refused, never retried).
    ///
    /// ```
    /// use vmlayer_arch::{Access, FaultCause, PageFaultInfo, VirtAddr};
    ///
    /// let fault = PageFaultInfo::new(VirtAddr::from(0x1000), Access::Read, true);
    /// assert_eq!(fault.cause, FaultCause::Unspecified);
    /// assert!(!fault.user_memory_access);
    /// ```
    pub const fn new(address: VirtAddr, access: Access, user: bool) -> Self {
        Self {
            address,
            access,
            user,
            cause: FaultCause::Unspecified,
            user_memory_access: false,
            cpu: 0,
        }
    }

    /// The same fault, taken on CPU `cpu` (the kernel's index). An SMP kernel sets it on every
    /// fault it hands to `handle_page_fault`.
    ///
    /// ```
    /// use vmlayer_arch::{Access, PageFaultInfo, VirtAddr};
    ///
    /// let fault = PageFaultInfo::new(VirtAddr::from(0x1000), Access::Read, true).on_cpu(3);
    /// assert_eq!(fault.cpu, 3);
    /// ```
    pub const fn on_cpu(mut self, cpu: usize) -> Self {
        self.cpu = cpu;
        self
    }

    /// The flags an area must carry for this access to be legal: the access flag, plus `USER`
    /// when the access came from user mode.
    ///
    /// ```
    /// use vmlayer_arch::{Access, MappingFlags, PageFaultInfo, VirtAddr};
    ///
    /// let fault = PageFaultInfo::new(VirtAddr::from(0x1000), Access::Write, true);
    /// assert_eq!(fault.required_flags(), MappingFlags::WRITE | MappingFlags::USER);
    /// ```
    pub const fn required_flags(&self) -> MappingFlags {
        let access = self.access.required_flag();
        if self.user {
            access.union(MappingFlags::USER)
        } else {
            access
        }
    }
}
