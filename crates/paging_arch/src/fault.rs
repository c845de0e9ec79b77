//! The neutral description of a page fault.

use memory_addr::VirtAddr;
use page_table_multiarch::MappingFlags;

/// The kind of access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A page fault as every ISA can describe it: which address, which access, from which mode.
///
/// Each ISA crate decodes its own trap registers into this (`scause` + `stval` on RISC-V,
/// `ESR_EL1` + `FAR_EL1` on AArch64, the `#PF` error code + `CR2` on x86_64) with a plain
/// function over numbers, so the decoding is tested on any host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFaultInfo {
    /// The faulting virtual address.
    pub address: VirtAddr,
    /// What the faulting instruction tried to do.
    pub access: Access,
    /// Whether the access came from user mode (`true`) or from the kernel (`false`).
    pub user: bool,
}

impl PageFaultInfo {
    /// The flags an area must carry for this access to be legal: the access flag, plus `USER`
    /// when the access came from user mode.
    ///
    /// ```
    /// use paging_arch::{Access, MappingFlags, PageFaultInfo, VirtAddr};
    ///
    /// let fault = PageFaultInfo { address: VirtAddr::from(0x1000), access: Access::Write, user: true };
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
