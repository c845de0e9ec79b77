//! One memory area: a page-aligned range with one set of flags and one backend.

use core::fmt;

use memory_addr::{VirtAddr, VirtAddrRange};

use crate::tree::Extent;

/// A contiguous range of virtual memory with the same flags, mapped by one backend.
///
/// The physical frames behind it are the backend's business and need not be contiguous.
#[derive(Clone)]
pub struct MemoryArea<F, B> {
    start: VirtAddr,
    size: usize,
    flags: F,
    backend: B,
}

impl<F: Copy, B> MemoryArea<F, B> {
    /// Creates an area of `size` bytes at `start`.
    ///
    /// Never panics: an area whose range is unaligned, empty or overflows the address space can be
    /// built, and [`MemorySet::map`](crate::MemorySet::map) rejects it with
    /// [`MappingError::InvalidParam`](crate::MappingError::InvalidParam).
    pub const fn new(start: VirtAddr, size: usize, flags: F, backend: B) -> Self {
        Self {
            start,
            size,
            flags,
            backend,
        }
    }

    /// The range `[start, end)`. For an area whose end would overflow the address space (which a
    /// set never holds), `end` saturates at `usize::MAX`.
    pub fn va_range(&self) -> VirtAddrRange {
        VirtAddrRange {
            start: self.start,
            end: self.end(),
        }
    }

    /// The first address of the area.
    pub const fn start(&self) -> VirtAddr {
        self.start
    }

    /// The address one past the last byte of the area (saturating, see [`Self::va_range`]).
    pub fn end(&self) -> VirtAddr {
        VirtAddr::from_usize(self.start.as_usize().saturating_add(self.size))
    }

    /// The size in bytes.
    pub const fn size(&self) -> usize {
        self.size
    }

    /// The flags (permissions and attributes) of every page in the area.
    pub const fn flags(&self) -> F {
        self.flags
    }

    /// The backend that maps the area.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// `start` as a plain number.
    pub(crate) const fn start_usize(&self) -> usize {
        self.start.as_usize()
    }

    /// The exclusive end as a plain number; only valid for areas a set holds (no overflow).
    pub(crate) const fn end_usize(&self) -> usize {
        self.start.as_usize() + self.size
    }

    pub(crate) const fn set_flags(&mut self, flags: F) {
        self.flags = flags;
    }

    /// Makes the area `[start, new_end)`: shorter, or longer over a range the caller made part
    /// of it (`start < new_end`).
    pub(crate) const fn set_end(&mut self, new_end: usize) {
        self.size = new_end - self.start.as_usize();
    }

    /// Keeps `[new_start, end)`; the caller guarantees `start < new_start < end`.
    pub(crate) const fn shrink_start(&mut self, new_start: usize) {
        self.size -= new_start - self.start.as_usize();
        self.start = VirtAddr::from_usize(new_start);
    }
}

impl<F: Copy, B: Clone> MemoryArea<F, B> {
    /// Splits off `[at, end)` as a new area with a clone of the backend; `self` keeps
    /// `[start, at)`. The caller guarantees `start < at < end`.
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        let right = Self {
            start: VirtAddr::from_usize(at),
            size: self.end_usize() - at,
            flags: self.flags,
            backend: self.backend.clone(),
        };
        self.set_end(at);
        right
    }
}

impl<F: Copy, B> Extent for MemoryArea<F, B> {
    fn lo(&self) -> usize {
        self.start_usize()
    }

    fn hi(&self) -> usize {
        self.end_usize()
    }
}

impl<F: fmt::Debug + Copy, B> fmt::Debug for MemoryArea<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryArea")
            .field("va_range", &self.va_range())
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}
