//! Cases that `cargo mutants` showed the other tests did not pin down (see `MUTANTS.md` at the
//! workspace root).

use crate::asid::{AsidAllocator, AsidContext};

#[test]
fn a_context_reports_the_asid_of_its_last_switch() {
    let mut asids = AsidAllocator::new(2, 1).unwrap();
    let mut first = AsidContext::NEW;
    let mut second = AsidContext::NEW;
    assert_eq!(first.asid(), 0, "never ran");
    let switch = asids.switch(0, &mut first);
    assert_eq!((switch.asid, first.asid()), (1, 1));
    let switch = asids.switch(0, &mut second);
    assert_eq!((switch.asid, second.asid()), (2, 2));
    assert_eq!(first.asid(), 1, "unchanged while the generation holds");
}
