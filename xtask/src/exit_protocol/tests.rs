use super::ExitProtocol;

#[test]
fn success_statuses_follow_each_device() {
    assert_eq!(
        ExitProtocol::SifiveTest.success_status(),
        0,
        "sifive_test 0x5555 → 0"
    );
    assert_eq!(
        ExitProtocol::Semihosting.success_status(),
        0,
        "SYS_EXIT code 0 → 0"
    );
    assert_eq!(
        ExitProtocol::IsaDebugExit.success_status(),
        33,
        "write 0x10 → (0x10<<1)|1"
    );
}

#[test]
fn status_zero_on_x86_is_a_crash_not_a_pass() {
    assert!(
        !ExitProtocol::IsaDebugExit.is_success(0),
        "reset/triple fault exits 0"
    );
    let text = ExitProtocol::IsaDebugExit.explain(0);
    assert!(
        text.contains("triple fault"),
        "explanation names the crash: {text}"
    );
}

#[test]
fn x86_failure_write_decodes_the_value() {
    assert!(
        !ExitProtocol::IsaDebugExit.is_success(35),
        "0x11 → 35 is a failure"
    );
    let text = ExitProtocol::IsaDebugExit.explain(35);
    assert!(text.contains("wrote 0x11"), "decoded value in: {text}");
}

#[test]
fn nonzero_status_fails_on_riscv_and_aarch64() {
    assert!(
        !ExitProtocol::SifiveTest.is_success(1),
        "0x3333 | 1 << 16 → 1"
    );
    assert!(
        !ExitProtocol::Semihosting.is_success(1),
        "SYS_EXIT code 1 → 1"
    );
    assert!(
        !ExitProtocol::SifiveTest.is_success(33),
        "x86's pass is not riscv's"
    );
    let text = ExitProtocol::SifiveTest.explain(3);
    assert!(text.contains("failure code 3"), "code named in: {text}");
}
