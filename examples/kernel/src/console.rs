//! `print!`/`println!` over the ISA's serial port (ns16550, PL011 or COM1; see `arch`).

use core::fmt::{self, Write};

/// A zero-sized writer to the serial console.
pub(crate) struct Console;

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                crate::arch::console_write_byte(b'\r');
            }
            crate::arch::console_write_byte(byte);
        }
        Ok(())
    }
}

/// Formats to the console; used by the macros.
pub(crate) fn print_args(args: fmt::Arguments<'_>) {
    // The console never fails (polling UART), so the fmt::Result carries nothing to act on.
    let _ = Console.write_fmt(args);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_args(format_args!($($arg)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*))) };
}
