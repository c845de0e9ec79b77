//! Processes: a user address space sharing the kernel half, a loaded program, saved user
//! registers, a heap break and an output.
//!
//! The life of a process, each step through `vmlayer_paging`:
//! 1. **create** ([`Process::spawn`]): `AddressSpace::new_user(&kernel, lower half)` (one table
//!    page; the kernel half is shared, never copied);
//! 2. **load**: the text as a lazy `USER | READ | EXECUTE` area at [`TEXT_START`], the data as
//!    `USER | READ | WRITE` at [`DATA_START`] (both with `AddressSpace::map`, `Placement::
//!    NoReplace`), their bytes written with `AddressSpace::load`, which ignores the areas'
//!    permissions and syncs the instruction cache; a lazy stack of [`STACK_SIZE`] below
//!    [`STACK_TOP`] with a PROT_NONE guard page below it; the heap (`brk`) starts empty at the
//!    page after the data;
//! 3. **switch and run** ([`Process::run`]): the process's root becomes current
//!    (`kernel_space::switch_to_process`), `crate::user::enter` runs it in user mode until it
//!    traps;
//! 4. **fault**: a page fault from user mode goes to `AddressSpace::handle_page_fault` of the
//!    space that translates the address (`kernel_space::handle_user_fault`): resolved (a lazy
//!    page populated) → the instruction runs again; refused → the process is killed with
//!    `SIGSEGV` and the fault's `si_code` (`FaultError::segv_code`), and the kernel goes on;
//! 5. **system call**: `crate::syscall::dispatch` serves it (`read_user`, `map`, `unmap`,
//!    `mprotect`, `mremap`, `find_free_area`, `map_alloc`), the result goes into the result
//!    register; `wait4` stops the run for the scheduler, which owns the other processes;
//! 6. **fork** ([`Process::fork`], the system call `clone`): `AddressSpace::fork` (private
//!    pages shared copy-on-write, `MAP_SHARED` pages shared writable, counted in the kernel's
//!    frame table), the user registers copied with result 0; the parent gets the child's pid
//!    and goes on running at once, in its own space (no root switch in between), and the child
//!    waits in [`Process::forked`] until the scheduler (`crate::scheduler`) takes it;
//! 7. **exit**: `exit(code)` or a kill ends the run; the kernel may still inspect the space
//!    (a zombie, until `wait4` reaps it), and dropping the [`Process`] drops its space, which
//!    returns every frame and table page it took (a frame shared with another process when
//!    its last mapping goes).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use vmlayer_paging::{
    Access, Area, Backend, FaultError, FaultResolution, MappingError, MappingFlags, PageFaultInfo,
    Placement,
};

use crate::global_cell::GlobalCell;
use crate::kernel_space::{self, AddressSpace, Space, va};
use crate::layout::PAGE_SIZE;
use crate::programs::Program;
use crate::syscall::{self, Action, WaitRequest};
use crate::user::{self, UserContext, UserTrap};

/// Where a program's text is loaded and entered (4 MiB, as ELF executables often are).
pub(crate) const TEXT_START: usize = 0x40_0000;
/// Where a program's data is loaded (the text may take up to 1 MiB).
pub(crate) const DATA_START: usize = 0x50_0000;
/// Where `mmap` without a fixed address starts looking (256 MiB).
pub(crate) const MMAP_BASE: usize = 0x1000_0000;
/// The top of the stack (2 GiB); it grows down, lazily.
pub(crate) const STACK_TOP: usize = 0x8000_0000;
/// The stack's size: 16 pages, the first touch of each one populated by a page fault.
pub(crate) const STACK_SIZE: usize = 16 * PAGE_SIZE;
/// The PROT_NONE page right below the stack: an overflow faults there (`SEGV_ACCERR`), and no
/// kernel-chosen `mmap` lands next to the stack.
pub(crate) const STACK_GUARD: usize = STACK_TOP - STACK_SIZE - PAGE_SIZE;

/// `SIGKILL`: the process was killed because a page could not get memory.
pub(crate) const SIGKILL: usize = 9;
/// `SIGSEGV`: the process made an access its address space refuses.
pub(crate) const SIGSEGV: usize = 11;
/// `SIGILL`: any other trap (this kernel does not tell illegal instructions from the rest).
pub(crate) const SIGILL: usize = 4;

/// Where a process's `write` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Straight to the serial console.
    Console,
    /// Into a buffer the kernel reads (the suite's cases, whose console lines must stay
    /// `test NAME ... ok`).
    Captured(Vec<u8>),
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It called `exit(code)` (the status is `code & 0xff`).
    Exited(usize),
    /// Killed for a page fault its address space refused: `SIGSEGV` with the error's
    /// `si_code`, or `SIGKILL` when a page could not get memory.
    Killed {
        /// The faulting address.
        address: usize,
        /// What the access was.
        access: Access,
        /// Why the address space refused it.
        error: FaultError,
    },
    /// Killed (`SIGILL`) for another trap: the ISA's cause.
    Trapped {
        /// `scause`, `ESR_EL1` or the vector number.
        cause: usize,
    },
}

impl Exit {
    fn killed(fault: PageFaultInfo, error: FaultError) -> Self {
        Self::Killed {
            address: fault.address.as_usize(),
            access: fault.access,
            error,
        }
    }

    /// The status `wait4` reports (Linux's encoding): `code << 8` for an exit, the signal's
    /// number for a kill.
    pub(crate) fn wait_status(&self) -> u32 {
        match *self {
            Self::Exited(code) => ((code & 0xff) as u32) << 8,
            Self::Killed { .. } | Self::Trapped { .. } => {
                self.signal().map_or(0, |(signal, _)| signal as u32)
            }
        }
    }

    /// The signal that killed the process and its `si_code` (`None` for a normal exit).
    pub(crate) fn signal(&self) -> Option<(usize, Option<i32>)> {
        match self {
            Self::Exited(_) => None,
            Self::Killed { error, .. } => match error.segv_code() {
                Some(code) => Some((SIGSEGV, Some(code))),
                None => Some((SIGKILL, None)),
            },
            Self::Trapped { .. } => Some((SIGILL, None)),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exited(code) => write!(formatter, "exited with status {code}"),
            Self::Killed {
                address,
                access,
                error,
            } => {
                let signal = match error.segv_code() {
                    Some(1) => "SIGSEGV (SEGV_MAPERR)",
                    Some(_) => "SIGSEGV (SEGV_ACCERR)",
                    None => "SIGKILL",
                };
                write!(
                    formatter,
                    "killed by {signal}: {access:?} at {address:#x}, {error}"
                )
            }
            Self::Trapped { cause } => write!(formatter, "killed by SIGILL: trap cause {cause:#x}"),
        }
    }
}

/// Why [`Process::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// It called `sched_yield`: it runs again at its next turn (with result 0).
    Yielded,
    /// It called `wait4` and the kernel must answer it: with an exited child, or after one
    /// exits (`crate::scheduler`); [`Process::answer`] puts the result in its register.
    Waiting(WaitRequest),
    /// It ended (also recorded in [`Process::exit`]); it never runs again.
    Ended(Exit),
}

/// Why a process could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpawnError {
    /// Creating the space or mapping a segment failed.
    Map(MappingError),
    /// Writing a segment's bytes failed (no memory for a page).
    Load(FaultError),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Map(error) => write!(formatter, "mapping a segment failed: {error}"),
            Self::Load(error) => write!(formatter, "loading a segment failed: {error}"),
        }
    }
}

impl From<MappingError> for SpawnError {
    fn from(error: MappingError) -> Self {
        Self::Map(error)
    }
}

impl From<FaultError> for SpawnError {
    fn from(error: FaultError) -> Self {
        Self::Load(error)
    }
}

/// The next process id.
static NEXT_PID: GlobalCell<usize> = GlobalCell::new(1);

/// A process (see the module docs).
pub(crate) struct Process {
    /// Its id, for messages.
    pub(crate) pid: usize,
    /// Its program's name.
    pub(crate) name: &'static str,
    /// Its address space: the lower half, sharing the kernel half.
    pub(crate) space: AddressSpace,
    /// Its user registers while it does not run.
    context: UserContext,
    /// Where the heap starts: the page after the data segment.
    pub(crate) heap_start: usize,
    /// The program break (`brk`).
    pub(crate) brk: usize,
    /// Where `write` goes.
    pub(crate) output: Output,
    /// Page faults its address space resolved (lazy pages populated, copies on write, ...).
    pub(crate) resolved_faults: usize,
    /// The last faults it resolved: page and how (at most [`FAULT_LOG_LENGTH`], oldest
    /// dropped), for the cases that check copy-on-write.
    pub(crate) fault_log: Vec<(usize, FaultResolution)>,
    /// How it ended, once it has.
    pub(crate) exit: Option<Exit>,
    /// The pid of the process that forked it (`None` for a spawned one).
    pub(crate) parent: Option<usize>,
    /// Children it forked during its last run, until the scheduler takes them.
    pub(crate) forked: Vec<Process>,
    /// The `wait4` it is blocked in, until the scheduler answers it.
    pub(crate) waiting: Option<WaitRequest>,
}

/// How many resolved faults [`Process::fault_log`] keeps.
pub(crate) const FAULT_LOG_LENGTH: usize = 16;

/// A new process id.
fn next_pid() -> usize {
    NEXT_PID.with(|next| {
        *next += 1;
        *next - 1
    })
}

impl Process {
    /// Creates a process running `program` with `arguments` in its first argument registers:
    /// a new user space, the program's text and data loaded, a lazy stack with a guard page.
    ///
    /// # Errors
    /// If the frame pool runs out (the partly built space is dropped, returning its frames).
    pub(crate) fn spawn(
        program: &Program,
        arguments: [usize; 3],
        output: Output,
    ) -> Result<Self, SpawnError> {
        let mut space = kernel_space::new_user_space()?;
        let user = MappingFlags::USER;
        let (read, write, execute) = (
            MappingFlags::READ,
            MappingFlags::WRITE,
            MappingFlags::EXECUTE,
        );
        let lazy = Backend::Alloc { populate: false };
        let text_size = pages(program.text.len());
        let data_size = pages(program.data.len());
        assert!(
            TEXT_START + text_size <= DATA_START,
            "program {} has more text than fits below DATA_START",
            program.name
        );
        for (start, size, flags) in [
            (TEXT_START, text_size, user | read | execute),
            (DATA_START, data_size, user | read | write),
            (STACK_GUARD, PAGE_SIZE, user),
            (STACK_TOP - STACK_SIZE, STACK_SIZE, user | read | write),
        ] {
            space.map(
                Area::new(va(start), size, flags, lazy),
                Placement::NoReplace,
            )?;
        }
        space.load(va(TEXT_START), program.text)?;
        space.load(va(DATA_START), program.data)?;
        let heap_start = DATA_START + data_size;
        Ok(Self {
            pid: next_pid(),
            name: program.name,
            space,
            context: UserContext::new(TEXT_START, STACK_TOP, arguments),
            heap_start,
            brk: heap_start,
            output,
            resolved_faults: 0,
            fault_log: Vec::new(),
            exit: None,
            parent: None,
            forked: Vec::new(),
            waiting: None,
        })
    }

    /// `fork`: a child with a copy of this process's address space (`AddressSpace::fork`:
    /// nothing copied yet, frames shared copy-on-write or, for `MAP_SHARED`, writable), its
    /// registers with result 0 (the pc is past the system call), its break and an output of
    /// the same kind (an empty buffer if captured). Called while this process's space is the
    /// current one, which `fork` flushes for the pages it made read-only.
    ///
    /// # Errors
    /// If the frame pool runs out for the child's tables (nothing of the child remains).
    pub(crate) fn fork(&mut self) -> Result<Self, MappingError> {
        let space = self.space.fork()?;
        let mut context = self.context.clone();
        context.set_return_value(0);
        let output = match self.output {
            Output::Console => Output::Console,
            Output::Captured(_) => Output::Captured(Vec::new()),
        };
        Ok(Self {
            pid: next_pid(),
            name: self.name,
            space,
            context,
            heap_start: self.heap_start,
            brk: self.brk,
            output,
            resolved_faults: 0,
            fault_log: Vec::new(),
            exit: None,
            parent: Some(self.pid),
            forked: Vec::new(),
            waiting: None,
        })
    }

    /// Runs the process in user mode until it yields, waits or ends (see [`Stop`]); an ended
    /// process does not run again. A `fork` does not stop it: the child goes to
    /// [`Self::forked`] and the parent continues in its own space.
    pub(crate) fn run(&mut self) -> Stop {
        if let Some(exit) = self.exit {
            return Stop::Ended(exit);
        }
        // SAFETY: the space lives in `self`, which this call borrows mutably and which nothing
        // below replaces or drops; `switch_to(Space::User)` makes another space current before
        // the borrow ends.
        unsafe { kernel_space::switch_to_process(&self.space) };
        let stop = loop {
            match user::enter(&mut self.context) {
                UserTrap::SystemCall => {
                    let (number, arguments) = self.context.system_call();
                    match syscall::dispatch(self, number, arguments) {
                        Action::Return(value) => self.context.set_return_value(value),
                        Action::Yield => {
                            self.context.set_return_value(0);
                            break Stop::Yielded;
                        }
                        Action::Wait(request) => break Stop::Waiting(request),
                        Action::Exit(code) => break Stop::Ended(Exit::Exited(code)),
                    }
                }
                UserTrap::PageFault(fault) => {
                    match kernel_space::handle_user_fault(&mut self.space, fault) {
                        Ok(resolution) => self.log_fault(fault, resolution),
                        Err(error) => break Stop::Ended(Exit::killed(fault, error)),
                    }
                }
                UserTrap::Other { cause } => break Stop::Ended(Exit::Trapped { cause }),
            }
        };
        kernel_space::switch_to(Space::User);
        if let Stop::Ended(exit) = stop {
            self.exit = Some(exit);
        }
        stop
    }

    fn log_fault(&mut self, fault: PageFaultInfo, resolution: FaultResolution) {
        self.resolved_faults += 1;
        if self.fault_log.len() == FAULT_LOG_LENGTH {
            self.fault_log.remove(0);
        }
        let page = fault.address.as_usize() & !(PAGE_SIZE - 1);
        self.fault_log.push((page, resolution));
    }

    /// Puts `value` in the result register of the system call it stopped in (`wait4`).
    pub(crate) fn answer(&mut self, value: usize) {
        self.context.set_return_value(value);
    }

    /// Runs the process until it ends, letting it continue after each `sched_yield` (no other
    /// process runs in between). A `wait4` answers `-ECHILD`: without the scheduler no child
    /// runs (the children it forks are dropped with it).
    pub(crate) fn run_to_exit(&mut self) -> Exit {
        loop {
            match self.run() {
                Stop::Ended(exit) => return exit,
                Stop::Yielded => {}
                Stop::Waiting(_) => self.answer(syscall::ECHILD.wrapping_neg()),
            }
        }
    }

    /// Hands bytes the process wrote to its output.
    pub(crate) fn output(&mut self, bytes: &[u8]) {
        match &mut self.output {
            Output::Console => crate::print!("{}", String::from_utf8_lossy(bytes)),
            Output::Captured(buffer) => buffer.extend_from_slice(bytes),
        }
    }

    /// What the process wrote, if its output is captured.
    pub(crate) fn captured(&self) -> &[u8] {
        match &self.output {
            Output::Console => &[],
            Output::Captured(buffer) => buffer,
        }
    }

    /// The user pc at the last trap (for messages).
    pub(crate) fn pc(&self) -> usize {
        self.context.pc()
    }

    /// Reads the 64-bit word at user address `address` (for the kernel's checks, as `read_user`
    /// does for a system call).
    pub(crate) fn read_word(&mut self, address: usize) -> Result<u64, FaultError> {
        let mut bytes = [0; 8];
        self.space.read_user(va(address), &mut bytes)?;
        Ok(u64::from_ne_bytes(bytes))
    }
}

/// `size` bytes rounded up to whole pages, at least one.
fn pages(size: usize) -> usize {
    size.max(1).next_multiple_of(PAGE_SIZE)
}
