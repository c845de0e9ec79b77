//! A global slot for one function-pointer hook (the TLB-flush and instruction-sync hooks),
//! written once here so the type erasure and its safety argument exist once.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Holds an optional function pointer of type `F`; null means "no hook".
pub(crate) struct HookSlot<F> {
    erased: AtomicPtr<()>,
    _hook: PhantomData<F>,
}

impl<F: Copy> HookSlot<F> {
    /// An empty slot.
    ///
    /// # Safety
    ///
    /// `F` must be a function-pointer type (`fn(..) -> ..`): those have the size of a data
    /// pointer on every target this crate supports and are never null.
    pub(crate) const unsafe fn new() -> Self {
        Self {
            erased: AtomicPtr::new(core::ptr::null_mut()),
            _hook: PhantomData,
        }
    }

    /// Installs `hook`, or empties the slot with `None`.
    pub(crate) fn set(&self, hook: Option<F>) {
        let erased = hook.map_or(core::ptr::null_mut(), |hook| {
            // SAFETY: `F` is a function-pointer type (`new`'s contract): same size as `*mut ()`.
            unsafe { core::mem::transmute_copy::<F, *mut ()>(&hook) }
        });
        self.erased.store(erased, Ordering::Release);
    }

    /// The installed hook, if any.
    pub(crate) fn get(&self) -> Option<F> {
        let erased = self.erased.load(Ordering::Acquire);
        // SAFETY: the slot only ever holds null or an `F` stored by `set`; casting the pointer
        // back yields the same function.
        (!erased.is_null()).then(|| unsafe { core::mem::transmute_copy::<*mut (), F>(&erased) })
    }
}
