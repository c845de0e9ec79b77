//! Sets of CPUs: which CPUs may hold translations of a page table in their TLBs.
//!
//! A kernel numbers its CPUs `0..MAX_CPUS` (its own indices, not hardware ids). An address
//! space keeps a [`CpuSet`] that the switch code of `vmlayer_paging` updates; every flush
//! request carries a [`CpuMask`] snapshot of it taken **after** the page-table entries were
//! written, so a shootdown hook reaches exactly the CPUs that may still use the old
//! translations.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// The most CPUs a mask can name.
pub const MAX_CPUS: usize = 256;

const WORDS: usize = MAX_CPUS / 64;

/// A set of CPU indices (`0..MAX_CPUS`), by value.
///
/// ```
/// use vmlayer_arch::CpuMask;
///
/// let mut mask = CpuMask::EMPTY;
/// assert!(mask.insert(3) && mask.insert(70));
/// assert!(!mask.insert(256), "out of range");
/// assert_eq!(mask.iter().collect::<Vec<_>>(), [3, 70]);
/// assert_eq!(mask.without(3), CpuMask::single(70).unwrap());
/// assert!(mask.is_only(70) == false && CpuMask::single(70).unwrap().is_only(70));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuMask([u64; WORDS]);

impl CpuMask {
    /// No CPU.
    pub const EMPTY: Self = Self([0; WORDS]);

    /// Only `cpu`; `None` if `cpu >= MAX_CPUS`.
    pub const fn single(cpu: usize) -> Option<Self> {
        if cpu >= MAX_CPUS {
            return None;
        }
        let mut words = [0; WORDS];
        words[cpu / 64] = 1 << (cpu % 64);
        Some(Self(words))
    }

    /// Adds `cpu`; `false` if it is out of range (nothing changes then).
    pub fn insert(&mut self, cpu: usize) -> bool {
        if cpu >= MAX_CPUS {
            return false;
        }
        self.0[cpu / 64] |= 1 << (cpu % 64);
        true
    }

    /// Whether `cpu` is in the set.
    pub const fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.0[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    /// The set without `cpu`.
    pub const fn without(mut self, cpu: usize) -> Self {
        if cpu < MAX_CPUS {
            self.0[cpu / 64] &= !(1 << (cpu % 64));
        }
        self
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        let mut word = 0;
        while word < WORDS {
            if self.0[word] != 0 {
                return false;
            }
            word += 1;
        }
        true
    }

    /// Whether the set is exactly `{cpu}`.
    pub fn is_only(&self, cpu: usize) -> bool {
        Self::single(cpu) == Some(*self)
    }

    /// How many CPUs are in the set.
    pub fn len(&self) -> usize {
        self.0.iter().map(|word| word.count_ones() as usize).sum()
    }

    /// The CPUs in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_CPUS).filter(|&cpu| self.contains(cpu))
    }

    /// The 64 CPUs from `64 * word` as bits (bit `i` = CPU `64 * word + i`); 0 past the end.
    /// (RISC-V SBI calls take harts in such windows.)
    pub const fn word(&self, word: usize) -> u64 {
        if word < WORDS { self.0[word] } else { 0 }
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.iter()).finish()
    }
}

/// A set of CPU indices shared between CPUs: updated with atomics, read as a [`CpuMask`].
///
/// ```
/// use vmlayer_arch::{CpuMask, CpuSet};
///
/// let set = CpuSet::new();
/// set.insert(1);
/// set.insert(2);
/// set.remove(1);
/// assert_eq!(set.snapshot(), CpuMask::single(2).unwrap());
/// ```
#[derive(Default)]
pub struct CpuSet([AtomicU64; WORDS]);

impl CpuSet {
    /// An empty set.
    pub const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; WORDS])
    }

    /// Adds `cpu` (ignored past [`MAX_CPUS`]). Sequentially consistent: a CPU that adds itself
    /// before it starts translating through a table, and a CPU that writes entries of that
    /// table and then takes a [`snapshot`](Self::snapshot), cannot both miss each other.
    pub fn insert(&self, cpu: usize) {
        if cpu < MAX_CPUS {
            self.0[cpu / 64].fetch_or(1 << (cpu % 64), Ordering::SeqCst);
        }
    }

    /// Removes `cpu`: it holds no translation of the table any more.
    pub fn remove(&self, cpu: usize) {
        if cpu < MAX_CPUS {
            self.0[cpu / 64].fetch_and(!(1 << (cpu % 64)), Ordering::SeqCst);
        }
    }

    /// Whether `cpu` is in the set now.
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.0[cpu / 64].load(Ordering::SeqCst) & (1 << (cpu % 64)) != 0
    }

    /// The set now (sequentially consistent with [`insert`](Self::insert)).
    pub fn snapshot(&self) -> CpuMask {
        let mut mask = CpuMask::EMPTY;
        for (word, atomic) in mask.0.iter_mut().zip(&self.0) {
            *word = atomic.load(Ordering::SeqCst);
        }
        mask
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(formatter)
    }
}
