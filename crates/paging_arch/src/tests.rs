//! Unit tests of the neutral types.

use core::sync::atomic::{AtomicUsize, Ordering};

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::MappingFlags;

use crate::{
    Access, FLUSH_ALL_THRESHOLD_PAGES, PageFaultInfo, TlbFlush, TlbFlushRequest, level_size,
    set_tlb_flush_hook, table_index, tlb_flush_hook,
};

fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

#[test]
fn flush_requests_pick_page_range_or_all_by_size() {
    let threshold_end = FLUSH_ALL_THRESHOLD_PAGES * 0x1000;
    assert_eq!(
        TlbFlush::covering(va(0x2000), va(0x1000)),
        None,
        "reversed range"
    );
    assert_eq!(
        TlbFlush::covering(va(0x1000), va(0x1800)),
        Some(TlbFlush::Page(va(0x1000)))
    );
    assert_eq!(
        TlbFlush::covering(va(0), va(threshold_end)),
        Some(TlbFlush::Range {
            start: va(0),
            end: va(threshold_end)
        }),
        "exactly the threshold"
    );
    assert_eq!(
        TlbFlush::covering(va(0), va(threshold_end + 0x1000)),
        Some(TlbFlush::All)
    );
    let top = usize::MAX & !0xfff;
    assert_eq!(
        TlbFlush::covering(va(top), va(usize::MAX)),
        Some(TlbFlush::Page(va(top)))
    );
}

static FIRST_CALLS: AtomicUsize = AtomicUsize::new(0);
static SECOND_CALLS: AtomicUsize = AtomicUsize::new(0);

fn first_hook(_: &TlbFlushRequest) {
    FIRST_CALLS.fetch_add(1, Ordering::Relaxed);
}

fn second_hook(_: &TlbFlushRequest) {
    SECOND_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// Calls the installed hook, if any, and returns how often each test hook has run.
fn call_installed_hook() -> (bool, usize, usize) {
    let request = TlbFlushRequest::new(PhysAddr::from(0x1000), TlbFlush::All);
    let installed = tlb_flush_hook();
    if let Some(hook) = installed {
        hook(&request);
    }
    (
        installed.is_some(),
        FIRST_CALLS.load(Ordering::Relaxed),
        SECOND_CALLS.load(Ordering::Relaxed),
    )
}

#[test]
fn the_global_hook_can_be_installed_replaced_and_removed() {
    // The only test touching the global hook, so parallel tests do not interfere.
    assert_eq!(call_installed_hook(), (false, 0, 0), "no hook by default");
    set_tlb_flush_hook(Some(first_hook));
    assert_eq!(call_installed_hook(), (true, 1, 0), "first hook installed");
    set_tlb_flush_hook(Some(second_hook));
    assert_eq!(
        call_installed_hook(),
        (true, 1, 1),
        "replaced by the second"
    );
    set_tlb_flush_hook(None);
    assert_eq!(call_installed_hook(), (false, 1, 1), "removed");
}

#[test]
fn faults_require_the_access_flag_and_user_for_user_mode() {
    let fault = |access, user| PageFaultInfo::new(va(0x1000), access, user);
    assert_eq!(
        fault(Access::Read, false).required_flags(),
        MappingFlags::READ
    );
    assert_eq!(
        fault(Access::Execute, false).required_flags(),
        MappingFlags::EXECUTE
    );
    assert_eq!(
        fault(Access::Write, true).required_flags(),
        MappingFlags::WRITE | MappingFlags::USER
    );
}

#[test]
fn levels_cover_4k_2m_1g_512g_and_index_nine_bits_each() {
    assert_eq!(
        [0, 1, 2, 3].map(level_size),
        [0x1000, 0x20_0000, 0x4000_0000, 0x80_0000_0000]
    );
    let address = 0xffff_8123_4567_8000usize;
    assert_eq!(
        [0, 1, 2, 3].map(|level| table_index(address, level)),
        [0x78, 0x2b, 0x8d, 0x102]
    );
}
