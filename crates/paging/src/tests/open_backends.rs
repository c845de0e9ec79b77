//! A kernel's own backend over the page table's public range operations: a shared-memory
//! object mapped into two address spaces, next to the built-in backends.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::vec::Vec;

use page_table_multiarch::{PageSize, PagingHandler};
use vmlayer_arch::TlbFlushRequest;
use vmlayer_areas::{MappingBackend, MappingResult, MemoryArea};

use super::frames::{TestFrames, live_frames};
use super::*;
use crate::{AddressSpace, Area, AreaBackend, Backend, PageTable, Placement};

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);

/// What happened, in order: flushes of the table and frames handed back by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Flush,
    Returned(usize),
}

std::thread_local! {
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
    /// References to each shared frame held by mappings.
    static MAPPED: RefCell<BTreeMap<usize, usize>> = const { RefCell::new(BTreeMap::new()) };
}

fn flush_hook(_: &TlbFlushRequest) {
    EVENTS.with_borrow_mut(|events| events.push(Event::Flush));
}

/// A shared-memory object: frames that several areas map, page `i` of the area to frame `i`.
#[derive(Debug)]
struct SharedObject {
    frames: Vec<PhysAddr>,
}

/// The kernel's area kinds.
#[derive(Clone, Debug)]
enum KernelBackend {
    Builtin(Backend),
    /// The object and the address its first page is mapped at.
    Shared(Rc<SharedObject>, usize),
}

impl From<Backend> for KernelBackend {
    fn from(backend: Backend) -> Self {
        Self::Builtin(backend)
    }
}

type Table = PageTable<TestFrames>;

impl MappingBackend<MappingFlags, Table> for KernelBackend {
    fn map(
        &self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        pt: &mut Table,
    ) -> MappingResult {
        match self {
            Self::Builtin(backend) => backend.map(start, size, flags, pt),
            Self::Shared(object, base) => {
                let frame_of = |page: VirtAddr| Ok(object.frames[(page.as_usize() - base) >> 12]);
                pt.map_frames(start, size, flags, frame_of)?;
                for page in pages(start.as_usize(), size) {
                    let frame = object.frames[(page - base) >> 12].as_usize();
                    MAPPED.with_borrow_mut(|mapped| *mapped.entry(frame).or_default() += 1);
                }
                Ok(())
            }
        }
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut Table) -> MappingResult {
        match self {
            Self::Builtin(backend) => backend.unmap(start, size, pt),
            Self::Shared(..) => pt.unmap_and_return(start, size, |frame| {
                EVENTS.with_borrow_mut(|events| events.push(Event::Returned(frame.as_usize())));
                MAPPED.with_borrow_mut(|mapped| {
                    *mapped.get_mut(&frame.as_usize()).expect("a mapped frame") -= 1;
                });
            }),
        }
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        pt: &mut Table,
    ) -> MappingResult {
        match self {
            Self::Builtin(backend) => backend.protect(start, size, flags, pt),
            Self::Shared(..) => pt.protect(start, size, flags),
        }
    }

    fn can_merge(
        &self,
        left: &MemoryArea<MappingFlags, Self>,
        right: &MemoryArea<MappingFlags, Self>,
    ) -> bool {
        match (left.backend(), right.backend()) {
            (Self::Builtin(a), Self::Builtin(b)) => {
                let unwrap = |area: &MemoryArea<MappingFlags, Self>, backend: &Backend| {
                    MemoryArea::new(area.start(), area.size(), area.flags(), *backend)
                };
                MappingBackend::<MappingFlags, Table>::can_merge(
                    a,
                    &unwrap(left, a),
                    &unwrap(right, b),
                )
            }
            _ => false,
        }
    }
}

impl AreaBackend<TestFrames, Arch> for KernelBackend {
    fn populate(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page: VirtAddr,
        pt: &mut Table,
    ) -> Result<(), crate::FaultError> {
        match self {
            Self::Builtin(backend) => {
                let area = MemoryArea::new(area.start(), area.size(), area.flags(), *backend);
                backend.populate(&area, page, pt)
            }
            Self::Shared(..) => Err(crate::FaultError::NotPopulatable),
        }
    }

    fn describe(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        match self {
            Self::Builtin(backend) => {
                let area = MemoryArea::new(area.start(), area.size(), area.flags(), *backend);
                AreaBackend::<TestFrames, Arch>::describe(backend, &area, f)
            }
            Self::Shared(object, _) => write!(f, "shared {} pages", object.frames.len()),
        }
    }
}

type KernelSpace = AddressSpace<TestFrames, Arch, KernelBackend>;

fn shared_area(object: &Rc<SharedObject>, start: usize) -> Area<KernelBackend> {
    let size = object.frames.len() * 0x1000;
    Area::new(
        va(start),
        size,
        USER_RW,
        KernelBackend::Shared(Rc::clone(object), start),
    )
}

#[test]
fn a_shared_object_is_seen_by_two_spaces_and_its_frames_come_back_after_the_flush() {
    let baseline = live_frames();
    let frames = (0..2).map(|_| TestFrames::alloc_frame().unwrap()).collect();
    let object = Rc::new(SharedObject { frames });
    let mut first = KernelSpace::try_new().unwrap();
    let mut second = KernelSpace::try_new().unwrap();
    first.set_tlb_flush_hook(Some(flush_hook));
    second.set_tlb_flush_hook(Some(flush_hook));
    first
        .map(shared_area(&object, 0x1000_0000), Placement::NoReplace)
        .unwrap();
    second
        .map(shared_area(&object, 0x2000_0000), Placement::NoReplace)
        .unwrap();
    // The built-in backends work beside it.
    first
        .map_alloc(va(0x3000_0000), 0x1000, USER_RW, false)
        .unwrap();

    first.write_user(va(0x1000_1ffc), b"shared!!").unwrap_err();
    first.write_user(va(0x1000_1ff8), b"shared!!").unwrap();
    let mut seen = [0u8; 8];
    second.read_user(va(0x2000_1ff8), &mut seen).unwrap();
    assert_eq!(&seen, b"shared!!", "one frame, two mappings");
    let listing = std::string::ToString::to_string(&second);
    assert!(listing.ends_with("rw-p shared 2 pages user\n"), "{listing}");

    EVENTS.with_borrow_mut(Vec::clear);
    first.unmap(va(0x1000_0000), 0x2000).unwrap();
    let events = EVENTS.with_borrow_mut(std::mem::take);
    let first_return = events
        .iter()
        .position(|e| matches!(e, Event::Returned(_)))
        .unwrap();
    assert!(
        events[..first_return].contains(&Event::Flush),
        "returned before a flush: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Returned(_)))
            .count(),
        2
    );
    MAPPED.with_borrow(|mapped| assert!(mapped.values().all(|&count| count == 1), "{mapped:?}"));
    second.read_user(va(0x2000_1ff8), &mut seen).unwrap();
    assert_eq!(&seen, b"shared!!", "still mapped in the second space");

    drop(second);
    MAPPED.with_borrow(|mapped| assert!(mapped.values().all(|&count| count == 0), "{mapped:?}"));
    drop(first);
    for &frame in &object.frames {
        TestFrames::dealloc_frame(frame);
    }
    assert_eq!(live_frames(), baseline);
}

#[test]
fn the_public_range_operations_check_their_input() {
    let mut table = Table::try_new().unwrap();
    let invalid = Err(crate::MappingError::InvalidParam);
    assert_eq!(
        table.map_contiguous(va(0x1000), pa(0x2001), 0x1000, RW),
        invalid
    );
    assert_eq!(
        table.map_frames(va(0x1000), 0x1000, RW, |_| Ok(pa(0x2800))),
        invalid
    );
    assert_eq!(
        table.map_frames(va(0x1000), 0, RW, |_| Ok(pa(0x2000))),
        invalid
    );
    assert_eq!(table.unmap(va(0x1800), 0x1000), invalid);
    assert_eq!(
        table.query(va(0x1000)),
        None,
        "nothing mapped by a refused call"
    );
    table
        .map_contiguous(va(0x20_0000), pa(0x4000_0000), 0x40_0000, RW)
        .unwrap();
    assert_eq!(
        table.query(va(0x20_0000)).unwrap().page_size,
        PageSize::Size2M
    );
    table.protect(va(0x20_0000), 0x1000, READ).unwrap();
    assert_eq!(
        table.query(va(0x20_1000)).unwrap().flags,
        normalized(RW),
        "split, the rest kept"
    );
    table.unmap(va(0x20_0000), 0x40_0000).unwrap();
    assert_eq!(table.query(va(0x20_0000)), None);
}
