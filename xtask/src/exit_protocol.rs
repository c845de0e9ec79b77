//! How each ISA's kernel tells QEMU "all passed" or "something failed", and how to read QEMU's
//! exit status back.
//!
//! Only the protocol's explicit success status counts as a pass. In particular x86_64's
//! `isa-debug-exit` device turns a guest write of `v` into QEMU status `(v << 1) | 1`, so a pass
//! (`0x10`) is 33 and QEMU's own status 0 can only mean the guest reset, which with `-no-reboot`
//! is what a triple fault looks like.

/// The device or call a kernel uses to end the QEMU run with a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitProtocol {
    /// RISC-V `virt` machine's sifive_test MMIO register: `0x5555` ends QEMU with status 0,
    /// `0x3333 | code << 16` ends it with status `code`.
    SifiveTest,
    /// Arm semihosting `SYS_EXIT` with `ADP_Stopped_ApplicationExit` and a code (QEMU needs
    /// `-semihosting`): QEMU's status is the code, 0 on a pass.
    Semihosting,
    /// x86 `isa-debug-exit` I/O port: a write of `v` ends QEMU with status `(v << 1) | 1`.
    /// The kernel writes `0x10` on a pass (status 33) and `0x11` on a failure (status 35).
    IsaDebugExit,
}

impl ExitProtocol {
    /// The QEMU exit status that means "the kernel ran every case and all passed".
    pub(crate) fn success_status(self) -> i32 {
        match self {
            Self::SifiveTest | Self::Semihosting => 0,
            Self::IsaDebugExit => (0x10 << 1) | 1,
        }
    }

    /// Whether QEMU's exit status is this protocol's success code.
    pub(crate) fn is_success(self, status: i32) -> bool {
        status == self.success_status()
    }

    /// A sentence explaining what a QEMU exit status means under this protocol, for messages.
    pub(crate) fn explain(self, status: i32) -> String {
        if self.is_success(status) {
            return format!("QEMU exited with status {status}: the kernel reported success");
        }
        match self {
            Self::SifiveTest => format!(
                "QEMU exited with status {status}: the kernel reported failure code {status} \
                 through sifive_test (or QEMU itself failed); success is status 0"
            ),
            Self::Semihosting => format!(
                "QEMU exited with status {status}: the kernel's semihosting SYS_EXIT code was \
                 {status} (or QEMU itself failed); success is status 0"
            ),
            Self::IsaDebugExit if status == 0 => "QEMU exited with status 0: the guest reset, \
                 which with -no-reboot means a triple fault (a crash); isa-debug-exit success \
                 is status 33"
                .to_owned(),
            Self::IsaDebugExit if status % 2 == 1 => format!(
                "QEMU exited with status {status}: the kernel wrote {:#x} to isa-debug-exit \
                 (0x11 = failure; success writes 0x10 = status 33; status 1 is also QEMU's own \
                 error status)",
                status >> 1
            ),
            Self::IsaDebugExit => format!(
                "QEMU exited with status {status}: not produced by isa-debug-exit (a QEMU \
                 error); success is status 33"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
