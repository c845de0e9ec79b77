//! The error type of every fallible operation.

use core::fmt;

/// Why a mapping operation failed.
///
/// Backends return these too: a backend that fails must leave the page table as it was for the
/// range it was asked to change (see [`MappingBackend`](crate::MappingBackend)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MappingError {
    /// An argument is invalid: an unaligned address or size, a zero size where one is needed,
    /// a range that overflows the address space, or flags the backend cannot express.
    InvalidParam,
    /// The range overlaps an existing area and replacing it was not requested.
    AlreadyExists,
    /// The page table is not in the state the operation expects (for example a backend found a
    /// page mapped where the area set says there is none).
    BadState,
    /// Memory ran out: a frame or page-table page could not be allocated, or the area limit set
    /// with [`MemorySet::with_max_areas`](crate::MemorySet::with_max_areas) would be exceeded.
    NoMemory,
    /// The operation needs the range to be mapped and it is not (wholly): `mprotect` over a
    /// hole, a resize of an address where no area starts.
    NotMapped,
}

impl MappingError {
    /// The Linux errno a system call answers with for this error (a positive number, as in
    /// `asm-generic/errno-base.h`; return its negation):
    ///
    /// | error | errno | for example |
    /// |---|---|---|
    /// | `InvalidParam` | `EINVAL` (22) | `munmap` of an unaligned address |
    /// | `AlreadyExists` | `EEXIST` (17) | `mmap` with `MAP_FIXED_NOREPLACE` over an area |
    /// | `BadState` | `EFAULT` (14) | a backend found the page table in an unexpected state |
    /// | `NoMemory` | `ENOMEM` (12) | no frame, or the area limit reached |
    /// | `NotMapped` | `ENOMEM` (12) | `mprotect` of a range with a hole, as Linux answers (`mremap` of an unmapped range answers `EFAULT` (14) in Linux: a kernel maps that case itself) |
    ///
    /// ```
    /// use vmlayer_areas::MappingError;
    ///
    /// assert_eq!(MappingError::NoMemory.errno(), 12);
    /// ```
    pub const fn errno(self) -> i32 {
        match self {
            Self::InvalidParam => 22,
            Self::AlreadyExists => 17,
            Self::BadState => 14,
            Self::NoMemory | Self::NotMapped => 12,
        }
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidParam => "invalid parameter",
            Self::AlreadyExists => "range overlaps an existing mapping",
            Self::BadState => "page table is in an unexpected state",
            Self::NoMemory => "out of memory",
            Self::NotMapped => "the range is not mapped",
        })
    }
}

impl core::error::Error for MappingError {}

/// The result of a mapping operation.
pub type MappingResult<T = ()> = Result<T, MappingError>;
