//! A global mutable cell for a single-hart kernel that never enables interrupts.
//!
//! The example kernel runs on one hart with interrupts masked, so the only "concurrency" is a trap
//! taken while the kernel is inside some code. [`GlobalCell::with`] hands out a `&mut T` for the
//! duration of a closure and refuses (panics) a nested borrow, which is exactly what a trap handler
//! touching state that the interrupted code is using would be: a kernel bug, not a race to paper
//! over.

use core::cell::{Cell, UnsafeCell};

/// Interior-mutable global state, borrowed through [`GlobalCell::with`].
pub(crate) struct GlobalCell<T> {
    borrowed: Cell<bool>,
    value: UnsafeCell<T>,
}

// SAFETY: the kernel runs on a single hart with interrupts disabled (the boot code never enables
// them, no other hart is started), so there is never a second thread of execution; re-entrance
// from a trap handler is caught by the `borrowed` flag in `with`.
unsafe impl<T> Sync for GlobalCell<T> {}

impl<T> GlobalCell<T> {
    /// Creates the cell.
    pub(crate) const fn new(value: T) -> Self {
        Self {
            borrowed: Cell::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the value.
    ///
    /// # Panics
    /// If the value is already borrowed (a trap handler re-entering state the interrupted code
    /// holds).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            !self.borrowed.get(),
            "GlobalCell borrowed twice (re-entered from a trap?)"
        );
        self.borrowed.set(true);
        // SAFETY: `borrowed` guarantees this is the only live reference (single hart, see the
        // `Sync` impl), and it is released below before anyone else can borrow.
        let result = f(unsafe { &mut *self.value.get() });
        self.borrowed.set(false);
        result
    }
}
