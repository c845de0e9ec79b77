//! Address-space identifiers (RISC-V `satp.ASID`, AArch64 `TTBR0_EL1.ASID`, x86 PCIDs) with
//! generation rollover, after the design of Linux's arm64 allocator (`arch/arm64/mm/context.c`):
//! switching between address spaces needs no TLB flush, and an ASID is reused only after every
//! CPU has flushed the translations tagged with it.
//!
//! Each space keeps an [`AsidContext`]: a generation number and an ASID. A switch whose context
//! is of the current generation installs its ASID as it is. Otherwise the space gets a new ASID
//! of the current generation: its old one if no other space took it since, else a free one.
//! When none is free the generation rolls over: every ASID is free again except those running
//! on a CPU right now (kept, so running spaces keep theirs), and every CPU must flush its
//! non-global TLB entries before it next installs an ASID ([`AsidSwitch::flush_local`]).
//!
//! The allocator takes `&mut self`: a kernel keeps it behind its lock (Linux takes a spinlock on
//! the slow path only; that refinement is the kernel's to add).

use alloc::vec;
use alloc::vec::Vec;

/// The ASID state of one address space. A new space starts with [`AsidContext::NEW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AsidContext {
    /// The generation the ASID belongs to; 0 before the first switch.
    generation: u64,
    asid: usize,
}

impl AsidContext {
    /// A space that has never run.
    pub const NEW: Self = Self {
        generation: 0,
        asid: 0,
    };

    /// The ASID of the last switch (meaningful only while its generation is current).
    pub const fn asid(&self) -> usize {
        self.asid
    }

    /// Packed into one word (`generation << 16 | asid`; ASIDs have at most 16 bits).
    pub(crate) const fn pack(self) -> u64 {
        self.generation << 16 | self.asid as u64
    }

    /// The inverse of [`Self::pack`].
    pub(crate) const fn unpack(packed: u64) -> Self {
        Self {
            generation: packed >> 16,
            asid: (packed & 0xffff) as usize,
        }
    }
}

/// What a switch to a space on one CPU must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsidSwitch {
    /// The ASID to write with the root (`satp`, `TTBR0_EL1`, CR3's PCID).
    pub asid: usize,
    /// Whether this CPU must flush every non-global translation (all ASIDs) right after it
    /// writes the root and before any access through it: a rollover made ASIDs of an older
    /// generation free for reuse (after, because until the write the old root may refill
    /// translations under its old ASID, which this rollover may have freed).
    pub flush_local: bool,
}

/// The ASIDs of one machine: `1 << bits` of them (ASID 0 is never handed out: it is the
/// kernel's, or "no ASID" where the hardware has none), shared by `cpus` CPUs.
#[derive(Debug)]
pub struct AsidAllocator {
    count: usize,
    generation: u64,
    /// Which ASIDs the current generation has handed out.
    used: Vec<bool>,
    /// Where the search for a free ASID continues.
    next: usize,
    /// The context running on each CPU (`None`: none since the last rollover).
    active: Vec<Option<AsidContext>>,
    /// The context each CPU ran when the generation last rolled over, kept for it.
    reserved: Vec<Option<AsidContext>>,
    /// CPUs that must flush before they next install an ASID.
    flush_pending: Vec<bool>,
    rollovers: u64,
}

impl AsidAllocator {
    /// An allocator for `bits`-bit ASIDs (`bits` in 1..=16) and `cpus` CPUs (at least 1);
    /// `None` unless there is at least one ASID per CPU besides ASID 0 (`2^bits - 1 >= cpus`),
    /// which a rollover needs: the other CPUs keep theirs and the switching CPU needs one.
    pub fn new(bits: u32, cpus: usize) -> Option<Self> {
        if !(1..=16).contains(&bits) || cpus == 0 || (1usize << bits) - 1 < cpus {
            return None;
        }
        let count = 1usize << bits;
        Some(Self {
            count,
            generation: 1,
            used: vec![false; count],
            next: 1,
            active: vec![None; cpus],
            reserved: vec![None; cpus],
            flush_pending: vec![false; cpus],
            rollovers: 0,
        })
    }

    /// How many times the generation rolled over.
    pub fn rollovers(&self) -> u64 {
        self.rollovers
    }

    /// How many CPUs the allocator serves (`0..cpus()`).
    pub fn cpus(&self) -> usize {
        self.active.len()
    }

    /// Switches `cpu` to the space whose ASID state is `context` (updated in place), and says
    /// which ASID to install and whether to flush after the root write; `None` (nothing
    /// changes) for a CPU the allocator was not made for (`cpu >= cpus()`).
    pub fn switch(&mut self, cpu: usize, context: &mut AsidContext) -> Option<AsidSwitch> {
        if cpu >= self.active.len() {
            return None;
        }
        if context.generation != self.generation {
            *context = self.new_context(cpu, *context);
        }
        #[cfg_attr(not(test), expect(unused_mut, reason = "the test-only breakage below"))]
        let mut flush_local = core::mem::take(&mut self.flush_pending[cpu]);
        #[cfg(test)]
        if tests::BROKEN.with(core::cell::Cell::get) {
            flush_local = false;
        }
        self.active[cpu] = Some(*context);
        Some(AsidSwitch {
            asid: context.asid,
            flush_local,
        })
    }

    /// A context of the current generation for a space whose last one was `old`.
    fn new_context(&mut self, cpu: usize, old: AsidContext) -> AsidContext {
        if old.generation != 0 {
            // A CPU that kept running the space through a rollover kept its ASID for it.
            let kept = self
                .reserved
                .iter()
                .flatten()
                .any(|reserved| *reserved == old);
            if kept {
                let new = AsidContext {
                    generation: self.generation,
                    asid: old.asid,
                };
                // Every CPU that kept it keeps it in the new generation's terms too, so that a
                // later rollover still finds it (Linux's `check_update_reserved_asid`).
                for reserved in self.reserved.iter_mut().flatten() {
                    if *reserved == old {
                        *reserved = new;
                    }
                }
                return new;
            }
            // Its ASID may still be free in the new generation.
            if !self.used[old.asid] {
                self.used[old.asid] = true;
                return AsidContext {
                    generation: self.generation,
                    asid: old.asid,
                };
            }
        }
        let asid = match self.find_free() {
            Some(asid) => asid,
            None => {
                self.roll_over(cpu);
                // At most `cpus - 1` ASIDs are kept, and the constructor made sure there are
                // more: one is free.
                self.find_free().unwrap_or(1)
            }
        };
        self.used[asid] = true;
        AsidContext {
            generation: self.generation,
            asid,
        }
    }

    fn find_free(&mut self) -> Option<usize> {
        let found = (self.next..self.count)
            .chain(1..self.next)
            .find(|&asid| !self.used[asid])?;
        self.next = found + 1;
        if self.next == self.count {
            self.next = 1;
        }
        Some(found)
    }

    /// A new generation: every ASID is free except those the other CPUs run now (or, for a CPU
    /// that has not switched since the last rollover, the one it was running then); every CPU
    /// must flush before it installs an ASID again. `switching`, the CPU that rolls over, is
    /// leaving its space and keeps nothing.
    fn roll_over(&mut self, switching: usize) {
        self.generation += 1;
        self.rollovers += 1;
        self.used.iter_mut().for_each(|used| *used = false);
        for cpu in 0..self.active.len() {
            let running = self.active[cpu].take().or(self.reserved[cpu]);
            let running = running.filter(|_| cpu != switching);
            let kept = running.map(|context| AsidContext {
                generation: self.generation,
                asid: context.asid,
            });
            if let Some(context) = kept {
                self.used[context.asid] = true;
            }
            // Remember the old context, so that its space finds its ASID kept.
            self.reserved[cpu] = running;
            self.flush_pending[cpu] = true;
        }
        self.next = 1;
    }
}

#[cfg(test)]
pub(crate) mod tests;
