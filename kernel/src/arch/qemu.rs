//! Leaving QEMU with a status code through the `isa-debug-exit` device.
//!
//! Writing `v` to port 0xf4 makes QEMU exit with status `(v << 1) | 1`. Both
//! verdicts are non-zero and distinct from a crash or a triple fault (QEMU
//! exits 0 on those with `-no-reboot`), so nothing can be mistaken for success.

use crate::verdict;
use x86_64::instructions::port::Port;

/// I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The kernel's verdict (values in [`crate::verdict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything asked of the kernel succeeded.
    Success = verdict::SUCCESS,
    /// A test failed, or the kernel hit a fatal error.
    Failure = verdict::FAILURE,
}

/// Exits QEMU with `code`. Off QEMU (no debug-exit device) it halts forever.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the isa-debug-exit device under QEMU and unused on
    // the PC platform otherwise; writing to it has no effect on memory.
    unsafe { port.write(code as u32) };
    super::cpu::halt_forever()
}

/// I/O port of QEMU's debug console (`-debugcon file:PATH`): every byte
/// written to it goes to the host file, apart from the serial log.
pub const DEBUGCON_PORT: u16 = 0xe9;

/// Whether QEMU's debug console is attached: reading its port then returns
/// the port number (an unassigned port reads as 0xff).
pub fn debugcon_present() -> bool {
    let mut port = Port::<u8>::new(DEBUGCON_PORT);
    // SAFETY: reading port 0xe9 has no side effect: QEMU's debug console
    // answers 0xe9, an unassigned port all ones.
    unsafe { port.read() == DEBUGCON_PORT as u8 }
}

/// Writes `bytes` to QEMU's debug console (lost if it is not attached).
pub fn debugcon_write(bytes: &[u8]) {
    let mut port = Port::<u8>::new(DEBUGCON_PORT);
    for &byte in bytes {
        // SAFETY: port 0xe9 is QEMU's debug console, or unassigned; writing
        // to it has no effect on memory.
        unsafe { port.write(byte) };
    }
}
