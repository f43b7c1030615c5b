//! The legacy 8259 PICs: remapped away from the exception vectors and masked,
//! because the kernel uses the local APIC instead.

use x86_64::instructions::port::Port;

/// First vector of the remapped master PIC (the slave follows at +8).
pub const PIC_VECTOR_BASE: u8 = 0x20;

/// Remaps both PICs to `PIC_VECTOR_BASE..+16` and masks every line, so a
/// stray legacy interrupt can never be mistaken for a CPU exception.
pub fn remap_and_mask() {
    let mut master_command = Port::<u8>::new(0x20);
    let mut master_data = Port::<u8>::new(0x21);
    let mut slave_command = Port::<u8>::new(0xa0);
    let mut slave_data = Port::<u8>::new(0xa1);
    let mut delay = Port::<u8>::new(0x80);
    // SAFETY: these are the standard 8259 ports; the sequence is the ICW1-4
    // initialisation followed by masking all lines, which affects no memory.
    unsafe {
        let mut write = |port: &mut Port<u8>, value: u8| {
            port.write(value);
            delay.write(0);
        };
        write(&mut master_command, 0x11); // ICW1: initialise, expect ICW4
        write(&mut slave_command, 0x11);
        write(&mut master_data, PIC_VECTOR_BASE); // ICW2: vector offsets
        write(&mut slave_data, PIC_VECTOR_BASE + 8);
        write(&mut master_data, 4); // ICW3: slave on line 2
        write(&mut slave_data, 2);
        write(&mut master_data, 0x01); // ICW4: 8086 mode
        write(&mut slave_data, 0x01);
        write(&mut master_data, 0xff); // mask everything
        write(&mut slave_data, 0xff);
    }
}
