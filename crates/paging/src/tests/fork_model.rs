//! Property test: fork, copy-on-write writes, shared memory, mremap, unmap, protect and drops of
//! processes in random order, with random allocation failures, against a page-granular model
//! of what each process sees; after every step every process reads what the model says, every
//! shared frame's count is its number of mappings minus one, and every frame in use is a
//! mapped page or a table.

use std::collections::BTreeMap;
use std::vec::Vec;

use proptest::prelude::*;
use vmlayer_arch::{Access, PageFaultInfo};

use super::frames::{live_frames, set_allocation_budget, use_frame_pool};
use super::*;
use crate::{Area, Backend, FaultError, FrameTable, MappingError, Placement, Remap};

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
const USER_READ: MappingFlags = READ.union(MappingFlags::USER);
/// Private pages per process, at one of two bases (mremap moves between them): the second is
/// not 2 MiB-aligned like the first, and the area straddles a 2 MiB boundary there, so a move
/// splits every leaf table's entries over two destination tables.
const PRIVATE_PAGES: usize = 12;
const BASES: [usize; 2] = [0x40_0000, 0x401f_a000];
/// A shared area of the first process, inherited by every fork.
const SHARED: usize = 0x80_0000;
const SHARED_PAGES: usize = 4;
const MAX_PROCESSES: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    /// A user store of `value` (fault first if needed, then the write lands).
    Write {
        process: usize,
        page: usize,
        value: u8,
    },
    /// A store to the shared area.
    WriteShared {
        process: usize,
        page: usize,
        value: u8,
    },
    Fork {
        process: usize,
    },
    Exit {
        process: usize,
    },
    /// Moves the private area to the other base.
    Mremap {
        process: usize,
    },
    Unmap {
        process: usize,
        page: usize,
    },
    /// Read-only or back to read-write, one page.
    Protect {
        process: usize,
        page: usize,
        writable: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let process = 0..MAX_PROCESSES;
    prop_oneof![
        6 => (process.clone(), 0..PRIVATE_PAGES, 1..=255u8)
            .prop_map(|(process, page, value)| Step::Write { process, page, value }),
        2 => (process.clone(), 0..SHARED_PAGES, 1..=255u8)
            .prop_map(|(process, page, value)| Step::WriteShared { process, page, value }),
        3 => process.clone().prop_map(|process| Step::Fork { process }),
        2 => process.clone().prop_map(|process| Step::Exit { process }),
        2 => process.clone().prop_map(|process| Step::Mremap { process }),
        1 => (process.clone(), 0..PRIVATE_PAGES).prop_map(|(process, page)| Step::Unmap { process, page }),
        2 => (process, 0..PRIVATE_PAGES, any::<bool>())
            .prop_map(|(process, page, writable)| Step::Protect { process, page, writable }),
    ]
}

/// What a process sees: its private pages (`None`: unmapped; `Some(byte)`: the first byte of
/// the page, 0 if never written), whether each is writable, its base, and which shared family
/// it belongs to.
#[derive(Debug, Clone)]
struct ModelProcess {
    private: [Option<u8>; PRIVATE_PAGES],
    writable: [bool; PRIVATE_PAGES],
    base: usize,
    family: usize,
}

struct World {
    spaces: Vec<Space>,
    model: Vec<ModelProcess>,
    /// The shared pages of each family (every process descends from one first process).
    shared: BTreeMap<usize, [u8; SHARED_PAGES]>,
    frames: &'static FrameTable,
}

fn first_byte(space: &Space, address: usize) -> Option<u8> {
    let translation = space.query(va(address))?;
    // SAFETY: test frames are host memory at physical = virtual, and mapped.
    Some(unsafe { (translation.paddr.as_usize() as *const u8).read() })
}

impl World {
    fn new() -> Self {
        set_allocation_budget(None);
        let frames = use_frame_pool(2048);
        let mut space = Space::try_new().unwrap();
        space.set_frame_table(frames).unwrap();
        space
            .map_alloc(va(BASES[0]), PRIVATE_PAGES * 0x1000, USER_RW, false)
            .unwrap();
        let shared = Area::new(va(SHARED), SHARED_PAGES * 0x1000, USER_RW, Backend::Shared);
        space.map(shared, Placement::NoReplace).unwrap();
        let mut families = BTreeMap::new();
        families.insert(0, [0; SHARED_PAGES]);
        Self {
            spaces: std::vec![space],
            model: std::vec![ModelProcess {
                private: [Some(0); PRIVATE_PAGES],
                writable: [true; PRIVATE_PAGES],
                base: BASES[0],
                family: 0,
            }],
            shared: families,
            frames,
        }
    }

    /// Runs `step`; with `budget`, only that many frame allocations succeed. A step refused for
    /// lack of memory must change nothing the model can see.
    fn run(&mut self, step: &Step, budget: Option<usize>) -> Result<(), TestCaseError> {
        set_allocation_budget(budget);
        let result = self.run_with_budget(step, budget);
        set_allocation_budget(None);
        result
    }

    fn run_with_budget(&mut self, step: &Step, budget: Option<usize>) -> Result<(), TestCaseError> {
        if self.spaces.is_empty() {
            return Ok(());
        }
        let index = |process: usize| process % self.spaces.len();
        match *step {
            Step::Write {
                process,
                page,
                value,
            } => {
                let p = index(process);
                let model = &self.model[p];
                let address = model.base + page * 0x1000;
                let space = &mut self.spaces[p];
                let write = PageFaultInfo::new(va(address), Access::Write, true);
                let writable_now = space
                    .query(va(address))
                    .is_some_and(|t| t.flags.contains(MappingFlags::WRITE));
                let fault = if writable_now {
                    Ok(())
                } else {
                    space.handle_page_fault(write).map(|_| ())
                };
                match (model.private[page], model.writable[page], fault) {
                    (Some(_), true, Ok(())) => {
                        space
                            .write_user(va(address), &[value])
                            .map_err(|e| TestCaseError::fail(std::format!("{e}")))?;
                        self.model[p].private[page] = Some(value);
                    }
                    (Some(_), true, Err(FaultError::NoMemory)) => prop_assert!(budget.is_some()),
                    (None, _, Err(FaultError::NoArea))
                    | (Some(_), false, Err(FaultError::AccessDenied)) => {}
                    other => {
                        return Err(TestCaseError::fail(std::format!(
                            "write {step:?}: {other:?}"
                        )));
                    }
                }
                Ok(())
            }
            Step::WriteShared {
                process,
                page,
                value,
            } => {
                let p = index(process);
                let result = self.spaces[p].write_user(va(SHARED + page * 0x1000), &[value]);
                prop_assert_eq!(result, Ok(()), "shared pages are populated and writable");
                self.shared.get_mut(&self.model[p].family).unwrap()[page] = value;
                Ok(())
            }
            Step::Fork { process } => {
                let p = index(process);
                if self.spaces.len() == MAX_PROCESSES {
                    return Ok(());
                }
                match self.spaces[p].fork() {
                    Ok(child) => {
                        self.spaces.push(child);
                        self.model.push(self.model[p].clone());
                    }
                    Err(MappingError::NoMemory) => prop_assert!(budget.is_some()),
                    Err(other) => return Err(TestCaseError::fail(std::format!("fork: {other:?}"))),
                }
                Ok(())
            }
            Step::Exit { process } => {
                let p = index(process);
                self.spaces.swap_remove(p);
                self.model.swap_remove(p);
                Ok(())
            }
            Step::Mremap { process } => {
                let p = index(process);
                let model = &self.model[p];
                let target = if model.base == BASES[0] {
                    BASES[1]
                } else {
                    BASES[0]
                };
                // The area may have holes (unmapped pages): move its first mapped run only if
                // the whole area is one run.
                if model.private.iter().any(Option::is_none) {
                    return Ok(());
                }
                let result = self.spaces[p].mremap(
                    va(model.base),
                    PRIVATE_PAGES * 0x1000,
                    PRIVATE_PAGES * 0x1000,
                    Remap::Fixed(va(target)),
                );
                match result {
                    Ok(moved) => {
                        prop_assert_eq!(moved, va(target));
                        self.model[p].base = target;
                    }
                    Err(MappingError::NotMapped) => {
                        // Pages of different protections are different areas.
                        prop_assert!(
                            self.model[p]
                                .writable
                                .iter()
                                .any(|&w| w != self.model[p].writable[0])
                        );
                    }
                    Err(MappingError::NoMemory) => prop_assert!(budget.is_some()),
                    Err(other) => {
                        return Err(TestCaseError::fail(std::format!("mremap: {other:?}")));
                    }
                }
                Ok(())
            }
            Step::Unmap { process, page } => {
                let p = index(process);
                let address = self.model[p].base + page * 0x1000;
                match self.spaces[p].unmap(va(address), 0x1000) {
                    Ok(()) => self.model[p].private[page] = None,
                    Err(MappingError::NoMemory) => prop_assert!(budget.is_some()),
                    Err(other) => {
                        return Err(TestCaseError::fail(std::format!("unmap: {other:?}")));
                    }
                }
                Ok(())
            }
            Step::Protect {
                process,
                page,
                writable,
            } => {
                let p = index(process);
                if self.model[p].private[page].is_none() {
                    return Ok(());
                }
                let address = self.model[p].base + page * 0x1000;
                let flags = if writable { USER_RW } else { USER_READ };
                match self.spaces[p].protect(va(address), 0x1000, flags) {
                    Ok(()) => self.model[p].writable[page] = writable,
                    Err(MappingError::NoMemory) => prop_assert!(budget.is_some()),
                    Err(other) => {
                        return Err(TestCaseError::fail(std::format!("protect: {other:?}")));
                    }
                }
                Ok(())
            }
        }
    }

    /// Every process reads what the model says; counts and frames are exact.
    fn check(&self, step: &Step) -> Result<(), TestCaseError> {
        let mut mappings: BTreeMap<usize, usize> = BTreeMap::new();
        for (space, model) in self.spaces.iter().zip(&self.model) {
            for page in 0..PRIVATE_PAGES {
                let address = model.base + page * 0x1000;
                let seen = first_byte(space, address);
                match model.private[page] {
                    None => prop_assert_eq!(seen, None, "after {:?}: page {} unmapped", step, page),
                    Some(0) => prop_assert!(
                        seen.is_none() || seen == Some(0),
                        "after {:?}: page {} {:?}",
                        step,
                        page,
                        seen
                    ),
                    Some(value) => {
                        prop_assert_eq!(seen, Some(value), "after {:?}: page {}", step, page)
                    }
                }
                if let Some(translation) = space.query(va(address)) {
                    *mappings.entry(translation.paddr.as_usize()).or_default() += 1;
                    if !model.writable[page] {
                        prop_assert!(!translation.flags.contains(MappingFlags::WRITE));
                    }
                }
            }
            let family = self.shared[&model.family];
            for (page, &value) in family.iter().enumerate() {
                let address = SHARED + page * 0x1000;
                prop_assert_eq!(
                    first_byte(space, address),
                    Some(value),
                    "after {:?}: shared page {}",
                    step,
                    page
                );
                *mappings
                    .entry(space.query(va(address)).unwrap().paddr.as_usize())
                    .or_default() += 1;
            }
        }
        for (&frame, &count) in &mappings {
            prop_assert_eq!(
                self.frames.sharers(pa(frame)) as usize,
                count - 1,
                "after {:?}: frame {:#x}",
                step,
                frame
            );
        }
        let tables: usize = self
            .spaces
            .iter()
            .map(|space| space.page_table().table_page_count())
            .sum();
        prop_assert_eq!(
            live_frames(),
            mappings.len() + tables,
            "after {:?}: frames in use",
            step
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(if cfg!(miri) { 2 } else { 256 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fork_cow_mremap_and_exits_keep_every_view_and_every_count_exact(
        steps in prop::collection::vec((step(), prop::option::weighted(0.15, 0..4usize)), 1..50)
    ) {
        let mut world = World::new();
        for (step, budget) in &steps {
            world.run(step, *budget)?;
            world.check(step)?;
        }
        drop(world.spaces);
        prop_assert_eq!(live_frames(), 0, "every frame back after every process exited");
    }
}
