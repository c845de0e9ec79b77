//! A set of virtual memory areas for `no_std` kernels, with Linux's `mmap` / `munmap` /
//! `mprotect` rules and O(log n) operations.
//!
//! A [`MemorySet`] holds non-overlapping [`MemoryArea`]s, each with flags (permissions) and a
//! [`MappingBackend`] that knows how to put the area's pages into a page table. The set decides
//! which ranges change; the backend changes them.
//!
//! # Rules
//!
//! - The granule is 4 KiB ([`PAGE_SIZE`]): addresses and sizes must be multiples of it, and a
//!   range whose end overflows the address space is [`MappingError::InvalidParam`].
//! - [`MemorySet::map`] refuses an overlap with [`MappingError::AlreadyExists`] unless asked to
//!   replace it (`MAP_FIXED`), in which case the overlapped parts of old areas are unmapped first.
//! - [`MemorySet::unmap`] and [`MemorySet::protect`] shrink or split the areas they cut and skip
//!   holes; a zero size changes nothing.
//! - [`MemorySet::find_free_area`] returns the lowest fitting address at or above the hint, else
//!   the lowest one below it, never a range that leaves the limit.
//! - Nothing panics, and after any error the set still describes exactly what the backends have
//!   mapped: an operation that fails before touching the page table changes nothing, a failing
//!   `protect` is rolled back where the backend allows, and a failing `unmap` leaves the set
//!   showing precisely what is still mapped.
//!
//! # Cost
//!
//! Areas live in one B+ tree keyed by start address, whose inner nodes also keep the largest
//! free gap beneath each child (as Linux's maple tree does for its VMAs), so one structure
//! answers lookups and free-range searches. A lookup, a map into a hole, an unmap or protect of
//! one area and a free-area search with 4 KiB alignment are O(log n), each one descent; an unmap
//! or protect over `k` areas is O(log n + k), plus O(log n) for each pair of neighbours merged.
//! Tree nodes freed by removals are kept for reuse until [`MemorySet::clear`] or drop.
//!
//! # Example
//!
//! A backend that records mapped pages in a `BTreeMap` (a real one writes page-table entries):
//!
//! ```
//! use std::collections::BTreeMap;
//! use vmlayer_areas::{MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet};
//! use vmlayer_areas::{VirtAddr, VirtAddrRange, PAGE_SIZE};
//!
//! /// Page number -> flags.
//! type PageTable = BTreeMap<usize, u8>;
//!
//! #[derive(Clone)]
//! struct MockBackend;
//!
//! impl MappingBackend<u8, PageTable> for MockBackend {
//!     fn map(&self, start: VirtAddr, size: usize, flags: u8, pt: &mut PageTable) -> MappingResult {
//!         let pages = start.as_usize() / PAGE_SIZE..(start.as_usize() + size) / PAGE_SIZE;
//!         if pages.clone().any(|p| pt.contains_key(&p)) {
//!             return Err(MappingError::AlreadyExists);
//!         }
//!         pt.extend(pages.map(|p| (p, flags)));
//!         Ok(())
//!     }
//!     fn unmap(&self, start: VirtAddr, size: usize, pt: &mut PageTable) -> MappingResult {
//!         let first = start.as_usize() / PAGE_SIZE;
//!         for p in first..first + size / PAGE_SIZE {
//!             pt.remove(&p);
//!         }
//!         Ok(())
//!     }
//!     fn protect(&self, start: VirtAddr, size: usize, flags: u8, pt: &mut PageTable) -> MappingResult {
//!         let first = start.as_usize() / PAGE_SIZE;
//!         for p in first..first + size / PAGE_SIZE {
//!             pt.insert(p, flags);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! const READ: u8 = 1;
//! const WRITE: u8 = 2;
//!
//! let mut pt = PageTable::new();
//! let mut set = MemorySet::<u8, PageTable, MockBackend>::new();
//!
//! // mmap 16 KiB read-write at 0x1000.
//! let area = MemoryArea::new(VirtAddr::from(0x1000), 0x4000, READ | WRITE, MockBackend);
//! set.map(area, &mut pt, false)?;
//! assert_eq!(pt.len(), 4);
//!
//! // Mapping over it without MAP_FIXED is refused and changes nothing.
//! let again = MemoryArea::new(VirtAddr::from(0x2000), 0x1000, READ, MockBackend);
//! assert_eq!(set.map(again, &mut pt, false), Err(MappingError::AlreadyExists));
//!
//! // mprotect the second page read-only: the area splits in three.
//! set.protect(VirtAddr::from(0x2000), 0x1000, |_| Some(READ), &mut pt)?;
//! let ranges: Vec<_> = set.iter().map(|a| (a.start().as_usize(), a.size(), a.flags())).collect();
//! assert_eq!(ranges, [(0x1000, 0x1000, 3), (0x2000, 0x1000, 1), (0x3000, 0x2000, 3)]);
//! assert_eq!(pt[&2], READ);
//!
//! // munmap the middle 8 KiB; the hole is found again by find_free_area.
//! set.unmap(VirtAddr::from(0x2000), 0x2000, &mut pt)?;
//! assert_eq!(set.len(), 2);
//! assert_eq!(pt.keys().copied().collect::<Vec<_>>(), [1, 4]);
//! let limit = VirtAddrRange::from_start_size(VirtAddr::from(0x1000), 0x10000);
//! let free = set.find_free_area(VirtAddr::from(0x1000), 0x2000, limit, PAGE_SIZE);
//! assert_eq!(free, Some(VirtAddr::from(0x2000)));
//!
//! set.clear(&mut pt)?;
//! assert!(set.is_empty() && pt.is_empty());
//! # Ok::<(), MappingError>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

extern crate alloc;

mod area;
mod backend;
mod error;
mod gaps;
mod set;
mod tree;

#[cfg(test)]
mod tests;

pub use memory_addr::{VirtAddr, VirtAddrRange};

pub use self::area::MemoryArea;
pub use self::backend::MappingBackend;
pub use self::error::{MappingError, MappingResult};
pub use self::set::MemorySet;

/// The granule of every area: 4 KiB. Addresses and sizes passed to a [`MemorySet`] must be
/// multiples of it.
pub const PAGE_SIZE: usize = 0x1000;
