#!/usr/bin/env bash
# Proves that `cargo xtask test` fails, naming the ISA and the case, for each failure mode of
# issue 5: a failing unit test, a hanging unit test (named with its test binary, within the
# per-binary deadline), a failing conformance case, a hanging kernel and a triple-faulting
# kernel; and that the riscv64 `svpbmt` build really emits Svpbmt bits: booted on a CPU without
# Svpbmt (QEMU 7.2 then faults on every access through a PBMT != 0 leaf) it must fail at its
# first UART access. Each scenario breaks a scratch clone of this repository on purpose, runs
# `cargo xtask test --arch <isa>`, and checks the exit status and the failure line.
#
# Usage: ci/failure-modes.sh [scratch-directory [scenario...]]   (default: a new temporary
# directory; pass the same directory again to reuse its build cache; name scenarios, e.g.
# `unit-test-hang`, to run only those). Takes about 10 minutes warm (the kernel hang is waited
# for once per boot configuration of the ISA, the unit-test hang for 90 s). Not part of
# `cargo xtask ci`: it tests the xtask itself, by breaking code on purpose.
set -euo pipefail

source_repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${1:-$(mktemp -d)}"
selected=("${@:2}")
scenarios=(unit-test unit-test-hang conformance-case hang triple-fault svpbmt-without-cpu-support)
for name in "${selected[@]}"; do
    if [[ " ${scenarios[*]} " != *" $name "* ]]; then
        echo "unknown scenario \`$name\`; the scenarios are: ${scenarios[*]}" >&2
        exit 2
    fi
done
if [ -d "$scratch/.git" ]; then
    git -C "$scratch" fetch -q "$source_repository" HEAD
    git -C "$scratch" reset -q --hard FETCH_HEAD
else
    git clone -q "$source_repository" "$scratch"
fi
cd "$scratch"
unset CARGO_TARGET_DIR
echo "scratch clone: $scratch at $(git log --oneline -1)"

failures=0
ran=0
# wanted NAME: whether the scenario was selected (all are, when none is named).
wanted() {
    local name
    [ ${#selected[@]} -eq 0 ] && return 0
    for name in "${selected[@]}"; do
        [ "$name" = "$1" ] && return 0
    done
    return 1
}
# scenario NAME ISA EXPECTED-LINE: runs the tests on the broken clone, then restores it.
scenario() {
    local name=$1 arch=$2 expected=$3 log="$scratch/failure-mode-$1.log"
    ran=$((ran + 1))
    if git diff --quiet; then
        echo "FAIL $name: the breakage could not be injected (kernel or backend source changed?)"
        failures=$((failures + 1))
        return
    fi
    local status=0 started=$SECONDS
    cargo xtask test --arch "$arch" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ] && grep -qF -- "$expected" "$log"; then
        echo "ok   $name: exit status $status after $((SECONDS - started)) s, reported:"
    else
        echo "FAIL $name: exit status $status, expected a failure reporting: $expected"
        failures=$((failures + 1))
    fi
    sed -n '/^Failures:/,/^$/p' "$log"
    git checkout -q -- .
}

# 1. A failing unit test in the riscv64 backend, run under qemu-riscv64-static.
if wanted unit-test; then
    cat >>backends/riscv64/src/lib.rs <<'RUST'

#[cfg(test)]
mod injected_failure {
    #[test]
    fn injected_failing_unit_test() {
        assert_eq!(1 + 1, 3, "deliberately wrong");
    }
}
RUST
    scenario unit-test riscv64 \
        "riscv64 unit tests: test \`injected_failure::injected_failing_unit_test\` FAILED"
fi

# 2. A hanging unit test in the x86_64 backend: each test binary runs under its own deadline
#    (90 s here, from XTASK_TEST_BINARY_DEADLINE), at which the xtask kills it and names the
#    tests that never printed a result, with the binary.
if wanted unit-test-hang; then
    cat >>backends/x86_64/src/lib.rs <<'RUST'

#[cfg(test)]
mod injected_hang {
    #[test]
    fn injected_hanging_unit_test() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
RUST
    XTASK_TEST_BINARY_DEADLINE=90 scenario unit-test-hang x86_64 \
        "x86_64 unit tests: hang: test binary \`vmlayer_x86_64\` (lib) did not finish within 90 s; unfinished: test \`injected_hang::injected_hanging_unit_test\`"
fi

# 3. Failing conformance cases: the kernel's test-only backend that drops execute-never.
if wanted conformance-case; then
    sed -i 's/^default = \[\]/default = ["broken-drop-nx"]/' examples/kernel/Cargo.toml
    scenario conformance-case aarch64 \
        "aarch64 kernel suite (default): case \`permissions_by_real_access\` FAILED"
fi

# 4. A hanging kernel: the stale_tlb case spins forever.
if wanted hang; then
    sed -i 's/^pub(crate) fn stale_tlb() -> Result<(), String> {/&\n    #[allow(clippy::empty_loop)]\n    loop {}\n    #[allow(unreachable_code)]/' \
        examples/kernel/src/suite/tlb.rs
    scenario hang riscv64 \
        "riscv64 kernel suite (default): hang: QEMU did not exit within 120 s, in case \`stale_tlb\`"
fi

# 5. A triple-faulting x86 kernel: EFER.NXE left clear, so loading our page table (which sets NX)
#    faults with no handler and the CPU resets; with -no-reboot QEMU exits 0.
if wanted triple-fault; then
    sed -i 's/    "    orl \$0x900, %eax",/    "    orl $0x100, %eax",/' examples/kernel/src/arch/x86_64/boot.rs
    scenario triple-fault x86_64 \
        "x86_64 kernel suite (default): QEMU exited with status 0: the guest reset, which with -no-reboot means a triple fault"
fi

# 6. The svpbmt build on a CPU without Svpbmt: the boot table's `svpbmt=on` dropped. The UART's
#    leaf (in the direct map, 0xffffffc0_00000000 + pa) has PBMT = IO, reserved bits on this
#    CPU, so the first console write after the switch to the kernel space faults (the kernel
#    goes back to its boot mapping, which has no PBMT bits, to report it).
if wanted svpbmt-without-cpu-support; then
    sed -i 's/"rv64,svpbmt=on"/"rv64"/' xtask/src/arch.rs
    scenario svpbmt-without-cpu-support riscv64 \
        "riscv64 kernel suite (svpbmt [features svpbmt]: -cpu rv64): QEMU exited with status 1: the kernel reported failure code 1 through sifive_test (or QEMU itself failed); success is status 0, before the first case (last console line: \`kernel trap: unhandled Read fault at 0xffffffc010000005 from kernel mode"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure mode(s) not detected as required"
    exit 1
fi
echo "all $ran failure mode(s) make \`cargo xtask test\` fail, naming the ISA and the case"
