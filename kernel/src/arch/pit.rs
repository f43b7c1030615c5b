//! The 8254 programmable interval timer, used once at boot as a known clock
//! (1.193182 MHz) to measure the TSC frequency.

use super::cpu::rdtsc;
use x86_64::instructions::port::Port;

/// The PIT's input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Measures how many TSC cycles pass in `millis` milliseconds, using PIT
/// channel 2 in one-shot mode (its gate and output are visible in port 0x61,
/// so no interrupt is needed).
pub fn measure_tsc_cycles(millis: u64) -> u64 {
    let count = (PIT_HZ * millis / 1000).clamp(1, 0xffff) as u16;
    let mut control = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x42, 0x43 and 0x61 are PIT channel 2 and the system
    // control port; this only programs channel 2 (the speaker, kept off) and
    // touches no memory.
    unsafe {
        let gate_off = control.read() & !0x03;
        control.write(gate_off | 0x01); // gate high, speaker off
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write(count as u8);
        channel2.write((count >> 8) as u8); // counting starts now
        let start = rdtsc();
        while control.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        let end = rdtsc();
        control.write(gate_off);
        end - start
    }
}
