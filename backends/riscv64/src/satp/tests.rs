//! Tests of the `satp` field layout.

use memory_addr::PhysAddr;

use super::*;

#[test]
fn satp_fields_are_where_the_spec_puts_them() {
    let root = PhysAddr::from(0x8020_5000);
    assert_eq!(
        satp_value(TranslationMode::Sv39, 0, root),
        0x8000_0000_0008_0205,
        "Sv39"
    );
    assert_eq!(
        satp_value(TranslationMode::Sv48, 0, root),
        0x9000_0000_0008_0205,
        "Sv48"
    );
    assert_eq!(
        satp_value(TranslationMode::Sv39, 0xabcd, root),
        0x8abc_d000_0008_0205,
        "ASID in bits 59:44"
    );
    assert_eq!(
        satp_value(TranslationMode::Bare, 0, PhysAddr::from(0)),
        0,
        "bare"
    );
    assert_eq!(root_of_satp(0x8abc_d000_0008_0205), root, "root back");
    let top_root = PhysAddr::from((1usize << 56) - 0x1000);
    assert_eq!(
        root_of_satp(satp_value(TranslationMode::Sv48, 7, top_root)),
        top_root,
        "56-bit PA"
    );
}

#[test]
fn a_refused_mode_is_detected_from_the_read_back() {
    let root = PhysAddr::from(0x8020_5000);
    let sv48 = satp_value(TranslationMode::Sv48, 0, root);
    let sv39 = satp_value(TranslationMode::Sv39, 0, root);
    let cases = [
        (sv48, sv48, true, "Sv48 taken"),
        (sv39, sv39, true, "Sv39 taken"),
        (sv48, 0, false, "Sv48 refused, hart was bare"),
        (
            sv48,
            satp_value(TranslationMode::Sv39, 0, PhysAddr::from(0x8010_0000)),
            false,
            "Sv48 refused, Sv39 kept",
        ),
        (sv39, 0, false, "Sv39 refused"),
        (
            sv39,
            sv39 | 0xffff << SATP_ASID_SHIFT,
            true,
            "ASID bits differ (WARL): MODE decides",
        ),
    ];
    for (written, read_back, expected, what) in cases {
        assert_eq!(
            mode_took(written, read_back),
            expected,
            "{what}: {written:#x} / {read_back:#x}"
        );
    }
}
