//! The kernel heap (`alloc` for the area set's B-tree and the test messages): power-of-two size
//! classes from 16 B to 64 KiB over a fixed region carved once from the frame pool and reached
//! through the direct map (so it works before the kernel space exists). Each class
//! keeps a free list, so freed blocks are reused (many map/unmap cycles do not grow the heap).

use core::alloc::{GlobalAlloc, Layout};
use core::ops::Range;

use crate::global_cell::GlobalCell;

const MIN_CLASS_SHIFT: u32 = 4;
const MAX_CLASS_SHIFT: u32 = 16;
const CLASS_COUNT: usize = (MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1) as usize;

struct Heap {
    next: usize,
    end: usize,
    free_heads: [usize; CLASS_COUNT],
}

static HEAP: GlobalCell<Heap> = GlobalCell::new(Heap {
    next: 0,
    end: 0,
    free_heads: [0; CLASS_COUNT],
});

/// Gives the heap its region (virtual addresses: RAM in the direct map, owned by the heap from
/// now on).
pub(crate) fn init(region: Range<usize>) {
    HEAP.with(|heap| {
        heap.next = region.start;
        heap.end = region.end;
    });
}

fn class_of(layout: Layout) -> Option<usize> {
    let size = layout
        .size()
        .max(layout.align())
        .max(1 << MIN_CLASS_SHIFT)
        .checked_next_power_of_two()?;
    let shift = size.trailing_zeros();
    (shift <= MAX_CLASS_SHIFT).then(|| (shift - MIN_CLASS_SHIFT) as usize)
}

struct KernelHeap;

// SAFETY: blocks of one class never overlap (bump-carved, each handed out once until freed), are
// aligned to their power-of-two size (≥ the layout's size and alignment) and are returned to the
// list of the same class they came from (the class is a function of the layout).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return core::ptr::null_mut();
        };
        let size = 1usize << (class as u32 + MIN_CLASS_SHIFT);
        HEAP.with(|heap| {
            let head = heap.free_heads[class];
            if head != 0 {
                // SAFETY: `head` is a free block of this class; its first word links the next one.
                heap.free_heads[class] = unsafe { (head as *const usize).read() };
                return head as *mut u8;
            }
            let start = heap.next.next_multiple_of(size);
            match start.checked_add(size) {
                Some(end) if end <= heap.end => {
                    heap.next = end;
                    start as *mut u8
                }
                _ => core::ptr::null_mut(),
            }
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let class = class_of(layout).expect("dealloc of a layout alloc refused");
        HEAP.with(|heap| {
            // SAFETY: the caller returns a block this allocator handed out for `layout`, at least
            // 16 bytes and 16-aligned, so it can hold the link word.
            unsafe { (ptr as *mut usize).write(heap.free_heads[class]) };
            heap.free_heads[class] = ptr as usize;
        });
    }
}

#[global_allocator]
static GLOBAL_HEAP: KernelHeap = KernelHeap;
