//! The scheduler: a table of processes (parents, children, zombies), a cooperative round-robin
//! run queue, and the system calls that reach across processes (`fork` hands the child over,
//! `wait4` reaps it).
//!
//! There is no timer: a process runs until it yields (`sched_yield`), blocks in `wait4`, or
//! ends. The run queue is first in, first out: a child forked during a turn is queued before
//! its parent's next turn, so after `fork(); sched_yield()` the child runs first. A process
//! that ends wakes every process blocked in `wait4`, which then looks for its exited child
//! again. A reaped child leaves the table, and dropping it returns its frames (the ones it
//! still shares stay with their other mappings, counted in the frame table).
//!
//! Nothing here touches `vmlayer_paging` except through [`Process`]: `fork` is
//! `AddressSpace::fork` (in [`Process::fork`]), and `wait4` writes the status with
//! `AddressSpace::write_user`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::kernel_space::va;
use crate::process::{Exit, Output, Process, SpawnError, Stop};
use crate::programs::Program;
use crate::syscall::{ECHILD, EFAULT, WaitRequest};

/// The processes of one run: every process spawned into it, every child they fork, and the
/// zombies until their parent reaps them. Dropping it drops them all (and their spaces).
#[derive(Default)]
pub(crate) struct Scheduler {
    processes: Vec<Process>,
}

/// What a blocked `wait4` gets when the scheduler looks again.
enum WaitOutcome {
    /// The result to put in the waiter's register: a child's pid, 0 (`WNOHANG`) or `-errno`.
    Answer(usize),
    /// Children match, none has exited yet: stay blocked.
    Blocked,
}

impl Scheduler {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Creates a process running `program` (as `Process::spawn`) and adds it; returns its pid.
    ///
    /// # Errors
    /// As `Process::spawn`.
    pub(crate) fn spawn(
        &mut self,
        program: &Program,
        arguments: [usize; 3],
        output: Output,
    ) -> Result<usize, SpawnError> {
        let process = Process::spawn(program, arguments, output)?;
        let pid = process.pid;
        self.processes.push(process);
        Ok(pid)
    }

    /// The process `pid`, unless it was reaped (or never existed).
    pub(crate) fn get(&self, pid: usize) -> Option<&Process> {
        self.processes.iter().find(|process| process.pid == pid)
    }

    /// The process `pid`, mutable.
    pub(crate) fn get_mut(&mut self, pid: usize) -> Option<&mut Process> {
        self.processes.iter_mut().find(|process| process.pid == pid)
    }

    /// The pids of `pid`'s children still in the table (running or zombies), oldest first.
    pub(crate) fn children(&self, pid: usize) -> Vec<usize> {
        self.processes
            .iter()
            .filter(|process| process.parent == Some(pid))
            .map(|process| process.pid)
            .collect()
    }

    /// Gives process `pid` one turn: answers its pending `wait4` if a child has exited (else
    /// it stays blocked: [`Stop::Waiting`]), then runs it until it yields, blocks in `wait4`
    /// or ends. The children it forks join the table. `None` if there is no such process.
    pub(crate) fn run(&mut self, pid: usize) -> Option<Stop> {
        self.turn(pid, &mut Vec::new())
    }

    /// [`Self::run`], adding the pids of the children forked during the turn to `forked`.
    fn turn(&mut self, pid: usize, forked: &mut Vec<usize>) -> Option<Stop> {
        loop {
            let process = self.get_mut(pid)?;
            if let Some(exit) = process.exit {
                return Some(Stop::Ended(exit));
            }
            if let Some(request) = process.waiting {
                match self.try_wait(pid, request) {
                    WaitOutcome::Answer(value) => {
                        let process = self.get_mut(pid)?;
                        process.waiting = None;
                        process.answer(value);
                    }
                    WaitOutcome::Blocked => return Some(Stop::Waiting(request)),
                }
            }
            let process = self.get_mut(pid)?;
            let stop = process.run();
            let children = core::mem::take(&mut process.forked);
            if let Stop::Waiting(request) = stop {
                process.waiting = Some(request);
            }
            forked.extend(children.iter().map(|child| child.pid));
            self.processes.extend(children);
            match stop {
                // Answered at once if a child already exited; else the loop returns `Waiting`.
                Stop::Waiting(_) => {}
                Stop::Yielded | Stop::Ended(_) => return Some(stop),
            }
        }
    }

    /// Runs every process that has not ended, round-robin (first in, first out; children
    /// queued as they are forked), until each has ended or waits for a child that never
    /// exits (then it is left blocked, its `exit` still `None`).
    pub(crate) fn run_all(&mut self) {
        let mut ready: VecDeque<usize> = self
            .processes
            .iter()
            .filter(|process| process.exit.is_none())
            .map(|process| process.pid)
            .collect();
        let mut blocked = Vec::new();
        while let Some(pid) = ready.pop_front() {
            let mut forked = Vec::new();
            let stop = self.turn(pid, &mut forked);
            // Children forked during the turn run before the parent's next turn.
            ready.extend(forked);
            match stop {
                Some(Stop::Yielded) => ready.push_back(pid),
                Some(Stop::Waiting(_)) => blocked.push(pid),
                Some(Stop::Ended(_)) => ready.extend(blocked.drain(..)),
                None => {}
            }
        }
    }

    /// Looks for an exited child of `parent` that `request` matches: reaps it (out of the
    /// table, its space dropped), writes its status to `request.status_address` (a 32-bit
    /// `int`, unless the address is 0) and answers its pid. `-ECHILD` if no child matches, 0
    /// with `WNOHANG` if none has exited.
    fn try_wait(&mut self, parent: usize, request: WaitRequest) -> WaitOutcome {
        let matches = |process: &Process| {
            process.parent == Some(parent) && request.pid.is_none_or(|pid| pid == process.pid)
        };
        if !self.processes.iter().any(matches) {
            return WaitOutcome::Answer(ECHILD.wrapping_neg());
        }
        let exited = self
            .processes
            .iter()
            .position(|process| matches(process) && process.exit.is_some());
        let Some(index) = exited else {
            return if request.no_hang {
                WaitOutcome::Answer(0)
            } else {
                WaitOutcome::Blocked
            };
        };
        let child = self.processes.remove(index);
        let status = child.exit.map_or(0, |exit: Exit| exit.wait_status());
        let child_pid = child.pid;
        drop(child);
        if request.status_address != 0 {
            let Some(waiter) = self.get_mut(parent) else {
                return WaitOutcome::Answer(ECHILD.wrapping_neg());
            };
            let written = waiter
                .space
                .write_user(va(request.status_address), &status.to_ne_bytes());
            if written.is_err() {
                return WaitOutcome::Answer(EFAULT.wrapping_neg());
            }
        }
        WaitOutcome::Answer(child_pid)
    }
}
