//! The allocator against a model of every CPU's TLB: random switches, accesses, new and dropped
//! spaces, with ASID spaces small enough to roll over again and again.

use std::vec::Vec;

use proptest::prelude::*;

use super::{AsidAllocator, AsidContext};

#[derive(Debug, Clone)]
enum Op {
    /// Switch a CPU to a space (by index among the live ones).
    Switch {
        cpu: usize,
        space: usize,
    },
    /// The running space touches memory: its translations enter the CPU's TLB under its ASID.
    Access {
        cpu: usize,
    },
    New,
    /// Drop a space that runs nowhere.
    Drop {
        space: usize,
    },
}

fn op(cpus: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..cpus, 0..64usize).prop_map(|(cpu, space)| Op::Switch { cpu, space }),
        4 => (0..cpus).prop_map(|cpu| Op::Access { cpu }),
        2 => Just(Op::New),
        1 => (0..64usize).prop_map(|space| Op::Drop { space }),
    ]
}

/// Runs `ops` and checks, at every switch, that the CPU's TLB holds no translation tagged with
/// the installed ASID that belongs to another space, and that no two CPUs run different spaces
/// under one ASID.
fn run(bits: u32, cpus: usize, ops: &[Op]) -> Result<u64, TestCaseError> {
    let Some(mut allocator) = AsidAllocator::new(bits, cpus) else {
        prop_assert!(
            (1usize << bits) - 1 < cpus,
            "refused {bits} bits for {cpus} CPUs"
        );
        return Ok(0);
    };
    // Live spaces: (identity, context).
    let mut spaces: Vec<(usize, AsidContext)> = (0..3).map(|id| (id, AsidContext::NEW)).collect();
    let mut next_id = 3;
    // Per CPU: the running space and its ASID, and the TLB's (ASID, space) tags.
    let mut running: Vec<Option<(usize, usize)>> = std::vec![None; cpus];
    let mut tlbs: Vec<Vec<(usize, usize)>> = std::vec![Vec::new(); cpus];
    for op in ops {
        match *op {
            Op::Switch { cpu, space } => {
                if spaces.is_empty() {
                    continue;
                }
                let index = space % spaces.len();
                let (id, context) = &mut spaces[index];
                let switch = allocator.switch(cpu, context).unwrap();
                prop_assert!(switch.asid != 0 && switch.asid < 1 << bits, "{switch:?}");
                if switch.flush_local {
                    tlbs[cpu].clear();
                }
                for &(asid, owner) in &tlbs[cpu] {
                    prop_assert!(
                        asid != switch.asid || owner == *id,
                        "CPU {cpu} would use space {owner}'s translations for space {id} (ASID {asid})"
                    );
                }
                running[cpu] = Some((*id, switch.asid));
                for (other, run) in running.iter().enumerate() {
                    if let Some((other_id, other_asid)) = run {
                        prop_assert!(
                            other_asid != &switch.asid || other_id == id,
                            "CPUs {cpu} and {other} run spaces {id} and {other_id} under one ASID"
                        );
                        // A flush by the space's ASID must reach every CPU that runs it.
                        prop_assert!(
                            other_id != id || other_asid == &switch.asid,
                            "space {id} runs under ASID {} on CPU {other} and {} on CPU {cpu}",
                            other_asid,
                            switch.asid
                        );
                    }
                }
            }
            Op::Access { cpu } => {
                if let Some((id, asid)) = running[cpu]
                    && spaces.iter().any(|(live, _)| *live == id)
                {
                    tlbs[cpu].push((asid, id));
                }
            }
            Op::New => {
                spaces.push((next_id, AsidContext::NEW));
                next_id += 1;
            }
            Op::Drop { space } => {
                if spaces.is_empty() {
                    continue;
                }
                let index = space % spaces.len();
                let id = spaces[index].0;
                if running
                    .iter()
                    .flatten()
                    .all(|(running_id, _)| *running_id != id)
                {
                    spaces.swap_remove(index);
                }
            }
        }
    }
    Ok(allocator.rollovers())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::tests::proptest_cases(if cfg!(miri) { 2 } else { 512 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_cpu_ever_uses_another_spaces_translations(
        bits in 1u32..=3,
        cpus in 1usize..=4,
        ops in proptest::collection::vec(op(4), 1..300),
    ) {
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                Op::Switch { cpu, space } => Op::Switch { cpu: cpu % cpus, space },
                Op::Access { cpu } => Op::Access { cpu: cpu % cpus },
                other => other,
            })
            .collect();
        run(bits, cpus, &ops)?;
    }
}

#[test]
fn switching_back_and_forth_needs_no_flush_until_the_asids_run_out() {
    let mut allocator = AsidAllocator::new(3, 1).unwrap();
    let mut contexts = [AsidContext::NEW; 7];
    for round in 0..3 {
        for context in &mut contexts {
            let switch = allocator.switch(0, context).unwrap();
            assert!(
                !switch.flush_local,
                "round {round}: 7 spaces fit in 7 ASIDs"
            );
        }
    }
    assert_eq!(allocator.rollovers(), 0);
    let mut eighth = AsidContext::NEW;
    assert!(
        allocator.switch(0, &mut eighth).unwrap().flush_local,
        "the eighth space rolls over"
    );
    assert_eq!(allocator.rollovers(), 1);
}

#[test]
fn the_model_catches_an_allocator_that_reuses_an_asid_without_a_flush() {
    // An allocator with the rollover's flush forgotten must fail the model: replay a sequence
    // that rolls over with one CPU keeping stale translations.
    let ops = [
        Op::Switch { cpu: 0, space: 0 },
        Op::Access { cpu: 0 },
        Op::Switch { cpu: 0, space: 1 },
        Op::Access { cpu: 0 },
        Op::New,
        Op::Switch { cpu: 0, space: 3 },
        Op::Switch { cpu: 0, space: 0 },
    ];
    assert!(
        AsidAllocator::new(1, 2).is_none(),
        "one ASID cannot serve two CPUs"
    );
    assert!(run(1, 1, &ops).is_ok(), "the real allocator passes");
    let broken = std::panic::catch_unwind(|| {
        BROKEN.with(|broken| broken.set(true));
        let result = run(1, 1, &ops);
        BROKEN.with(|broken| broken.set(false));
        result
    });
    assert!(
        matches!(broken, Ok(Err(_))),
        "the model must reject it: {broken:?}"
    );
}

std::thread_local! {
    /// Test-only: makes `switch` forget the flush a rollover requires.
    pub(crate) static BROKEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn a_cpu_the_allocator_was_not_made_for_is_refused() {
    let mut allocator = AsidAllocator::new(4, 2).unwrap();
    let mut context = AsidContext::NEW;
    assert_eq!(allocator.cpus(), 2);
    assert_eq!(allocator.switch(2, &mut context), None);
    assert_eq!(context, AsidContext::NEW, "nothing changed");
    assert!(allocator.switch(1, &mut context).is_some());
}
