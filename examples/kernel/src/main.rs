//! A bare-metal example kernel that embeds our virtual-memory crates and proves them on a real
//! MMU under QEMU, on RISC-V (Sv39, or Sv48 with the feature `sv48`), AArch64 and x86_64.
//!
//! Run order (see `README.md` for the integration guide):
//! 1. boot: `arch::*::boot` — per-ISA entry at the physical load address: the boot mapping
//!    (identity and upper half), the jump to the image's upper-half link address, stack, bss,
//!    trap vectors; then `kernel_main`, the neutral part;
//! 2. memory: the memory map (`firmware`, `layout`), the frame pool, the heap and the frame
//!    table (through the boot mapping's direct map), the kernel space and the first user space
//!    (`kernel_space`);
//! 3. processes: user programs (`programs`) loaded into user spaces and run in user mode
//!    (`process`, `user`), forked, waited for and run round-robin (`scheduler`), first `hello`
//!    and `touch` on the console;
//! 4. system calls: what those programs ask for (`syscall`);
//! 5. CPUs: `smp` starts every other CPU the firmware lists (`arch::*::smp`: SBI HSM
//!    `hart_start`, PSCI `CPU_ON`, INIT-SIPI-SIPI), each on its own stack with its index in a
//!    per-CPU register; each joins the kernel space and runs the jobs CPU 0 posts. Every switch
//!    goes through the CPU's `CpuContext` with one ASID allocator (`kernel_space`), and the
//!    flush hook (`smp::shootdown`) reaches the CPUs each request names;
//! 6. the test suite (`suite`), then exit QEMU with a status only a full pass can produce.
//!
//! Only `src/arch/<isa>/` is per-ISA; everything else is written once.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

// `sv48` is refused by vmlayer_paging on other ISAs; `svpbmt` would silently do nothing there.
#[cfg(all(feature = "svpbmt", not(target_arch = "riscv64")))]
compile_error!("example_kernel: feature `svpbmt` is for riscv64 targets only");

#[cfg(target_os = "none")]
mod arch;
#[cfg(all(target_os = "none", feature = "broken-drop-nx"))]
mod broken_arch;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod firmware;
#[cfg(target_os = "none")]
mod frame_pool;
#[cfg(target_os = "none")]
mod global_cell;
#[cfg(target_os = "none")]
mod hardware;
#[cfg(target_os = "none")]
mod harness;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod kernel_space;
#[cfg(target_os = "none")]
mod layout;
#[cfg(target_os = "none")]
mod probe;
#[cfg(target_os = "none")]
mod process;
#[cfg(target_os = "none")]
mod programs;
#[cfg(target_os = "none")]
mod range_list;
#[cfg(target_os = "none")]
mod scheduler;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
mod suite;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
mod trap;
#[cfg(target_os = "none")]
mod user;

/// The neutral kernel entry, called by the per-ISA boot code on the boot CPU (`boot_cpu`, see
/// `arch::CPU_ID_KIND`; the other CPUs stay parked by the firmware until
/// `smp::start_secondaries` starts them, after the first processes) once a stack exists, bss is
/// zero, the console works, trap vectors are installed and the per-CPU register says CPU 0.
/// `boot_argument` locates the firmware's description of the machine (device tree or PVH start
/// info, see `arch::discover_memory`; also the CPU list).
#[cfg(target_os = "none")]
fn kernel_main(boot_argument: usize, boot_cpu: usize) -> ! {
    println!("example_kernel: booted on {}", arch::ISA_NAME);
    println!("boot CPU: {} {boot_cpu:#x}", arch::CPU_ID_KIND);
    layout::print_layout();
    layout::set_memory(&firmware::memory_map(boot_argument));
    // Until the kernel space is active, only what the boot mapping's direct map covers is
    // reachable.
    frame_pool::init(layout::usable_ram(), arch::BOOT_MAPPED_END);
    let heap_frames =
        frame_pool::take_forever(HEAP_FRAMES).expect("usable RAM too small for the heap");
    heap::init(layout::phys_to_virt(heap_frames.start)..layout::phys_to_virt(heap_frames.end));
    let frame_table = frame_pool::init_frame_table(&layout::usable_ram());
    kernel_space::init(frame_table);
    frame_pool::release_all();
    first_processes();
    smp::start_secondaries(boot_argument, boot_cpu);
    let outcome = suite::run_all();
    kernel_space::print_maps();
    let pool = frame_pool::stats();
    println!(
        "frame pool: {} frames in use, {} on the free list, {} untouched",
        pool.in_use, pool.free_listed, pool.untouched
    );
    arch::exit_qemu(outcome.is_success())
}

/// The first processes, on the console: `hello` writes a line and exits; `touch` reads the
/// kernel's text and is killed. Each is created, loaded, run in user mode and dropped
/// (`process`); the frames they took come back.
#[cfg(target_os = "none")]
fn first_processes() {
    use process::{Output, Process};
    let in_use_before = frame_pool::stats().in_use;
    let kernel_text = layout::kernel_layout().text.start;
    for (index, (program, arguments)) in [
        (programs::hello(), [0; 3]),
        (programs::touch(), [programs::TOUCH_LOAD, kernel_text, 0]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut process = Process::spawn(&program, arguments, Output::Console)
            .expect("no memory for the first processes");
        let exit = process.run_to_exit();
        match exit {
            process::Exit::Exited(_) => {
                println!("process {} ({}): {exit}", process.pid, process.name)
            }
            _ => println!(
                "process {} ({}): {exit} (pc {:#x})",
                process.pid,
                process.name,
                process.pc()
            ),
        }
        if index == 0 {
            print!("{}", process.space);
        }
    }
    println!(
        "frames in use: {in_use_before} before the first processes, {} after",
        frame_pool::stats().in_use
    );
}

/// Frames carved once from the pool for the kernel heap (4 MiB).
#[cfg(target_os = "none")]
const HEAP_FRAMES: usize = 1024;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // No summary line: a kernel that dies mid-suite must not look like a finished run.
    arch::prepare_fatal_report();
    println!("kernel panic: {info}");
    arch::exit_qemu(false)
}

/// On a hosted target this crate is only type-checked; the kernel itself is booted under QEMU.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "example_kernel is a bare-metal program: build it with \
         `cargo build -p example_kernel --release --target <riscv64gc-unknown-none-elf|aarch64-unknown-none|x86_64-unknown-none>` \
         and boot it under QEMU (cargo xtask)"
    );
    std::process::exit(2);
}
