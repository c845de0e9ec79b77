//! Frame pools for the benchmarks: pre-touched host memory, physical = virtual, like a
//! kernel's free list, so that measurements show page-table work and not the host's page
//! faults (glibc hands freed 4 KiB blocks back to the OS, and re-touching them costs more than
//! the mapping). `PagingHandler` has no `self`, so each pool is a type of its own.

/// Defines `$name`, a `PagingHandler` over a pool of `$frames` single frames, with
/// `$name::fill()` (allocates and touches the pool; returns its first address).
macro_rules! frame_pool {
    ($name:ident, $frames:expr) => {
        struct $name;

        impl $name {
            fn free_frames() -> &'static std::sync::Mutex<Vec<usize>> {
                static FREE: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
                &FREE
            }

            /// Allocates the pool, touches every page, and returns its first address.
            fn fill() -> usize {
                let layout =
                    std::alloc::Layout::from_size_align($frames * 0x1000, 0x1000).expect("layout");
                // SAFETY: non-zero size; the pool lives as long as the process.
                let base = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
                assert_ne!(base, 0, "pool allocation");
                for frame in 0..$frames {
                    // SAFETY: inside the allocation; touched now so that host page faults stay
                    // out of the timing.
                    unsafe { ((base + frame * 0x1000) as *mut u8).write_volatile(1) };
                }
                Self::free_frames()
                    .lock()
                    .expect("pool")
                    .extend((0..$frames).rev().map(|frame| base + frame * 0x1000));
                base
            }
        }

        impl vmlayer_paging::PagingHandler for $name {
            fn alloc_frames(count: usize, _align: usize) -> Option<vmlayer_paging::PhysAddr> {
                if count != 1 {
                    return None;
                }
                Self::free_frames()
                    .lock()
                    .expect("pool")
                    .pop()
                    .map(vmlayer_paging::PhysAddr::from)
            }

            fn dealloc_frames(paddr: vmlayer_paging::PhysAddr, count: usize) {
                assert_eq!(count, 1, "the pool hands out single frames");
                Self::free_frames()
                    .lock()
                    .expect("pool")
                    .push(paddr.as_usize());
            }

            fn phys_to_virt(paddr: vmlayer_paging::PhysAddr) -> vmlayer_paging::VirtAddr {
                vmlayer_paging::VirtAddr::from(paddr.as_usize())
            }
        }
    };
}
