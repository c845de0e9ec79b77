//! A global mutable cell shared by every CPU: a spin lock with re-entrance detection.
//!
//! The kernel runs with interrupts masked, except on the x86 application processors, which
//! take shootdown IPIs while they wait for and run the suite's jobs (`crate::smp`); that IPI's
//! handler touches no `GlobalCell`. So the only "concurrency" on one CPU is a trap taken while
//! the kernel is inside some code. [`GlobalCell::with`] hands out a `&mut T` for the
//! duration of a closure; other CPUs wait (servicing TLB shootdowns meanwhile, so that a CPU
//! holding the lock while it waits for their acknowledgement cannot deadlock), and a nested
//! borrow on the same CPU panics: that is a trap handler touching state the interrupted code
//! is using, a kernel bug, not a race to paper over.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Interior-mutable global state, borrowed through [`GlobalCell::with`].
pub(crate) struct GlobalCell<T> {
    /// 0 when free, else the index of the owning CPU plus one.
    owner: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: `with` gives out the `&mut T` only while holding the lock (`owner` acquired with
// `Acquire`, released with `Release`), so accesses from different CPUs are serialized; `T: Send`
// because the value is handed from CPU to CPU.
unsafe impl<T: Send> Sync for GlobalCell<T> {}

impl<T> GlobalCell<T> {
    /// Creates the cell.
    pub(crate) const fn new(value: T) -> Self {
        Self {
            owner: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the value.
    ///
    /// # Panics
    /// If this CPU already holds it (a trap handler re-entering state the interrupted code
    /// holds).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let me = crate::smp::this_cpu() + 1;
        while let Err(owner) =
            self.owner
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        {
            assert!(
                owner != me,
                "GlobalCell borrowed twice (re-entered from a trap?)"
            );
            crate::smp::while_waiting();
        }
        struct Unlock<'a>(&'a AtomicUsize);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        let _unlock = Unlock(&self.owner);
        // SAFETY: the lock is held (see the `Sync` impl) until `_unlock` drops after `f`.
        f(unsafe { &mut *self.value.get() })
    }
}
