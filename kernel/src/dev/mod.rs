//! Devices: PCI discovery at boot and the swap disk.
//!
//! [`enumerate`] walks bus 0 and every bus behind a PCI-to-PCI bridge
//! through a [`pci::ConfigSpace`] (host-tested against a fake one). On bare
//! metal, [`init`] logs each function once and opens the first virtio-blk
//! device as the [`SwapDisk`]; [`swap_disk`] hands it out, behind a
//! `spin::Mutex` (`None` without a disk).

use alloc::vec::Vec;

#[allow(unsafe_code)]
pub mod pci;
#[cfg(target_os = "none")]
pub mod swap_disk;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod virtio;

#[cfg(target_os = "none")]
pub use swap_disk::{DiskError, SwapDisk};

/// Bytes per swap slot (one page).
pub const SWAP_PAGE_SIZE: usize = 4096;

/// Size, in pages, of the swap disk `cargo xtask test` attaches to the
/// kernel-test boots (4 MiB); the kernel tests check the disk has exactly
/// this many slots.
pub const TEST_SWAP_PAGES: u64 = 1024;

/// PCI vendor ID of virtio devices.
pub const VIRTIO_VENDOR: u16 = 0x1af4;
/// Device IDs of a virtio block device: transitional (legacy and modern
/// interfaces) and modern-only.
pub const VIRTIO_BLOCK_DEVICES: [u16; 2] = [0x1001, 0x1042];

/// Whether `function` is a virtio block device.
pub fn is_virtio_block(function: &pci::Function) -> bool {
    function.vendor_id == VIRTIO_VENDOR && VIRTIO_BLOCK_DEVICES.contains(&function.device_id)
}

/// Every function on bus 0 and on the buses behind its bridges (depth
/// first, in bus/device/function order). A bus is scanned at most once, so
/// a misprogrammed bridge cannot make the walk loop.
pub fn enumerate(config: &impl pci::ConfigSpace) -> Vec<pci::Function> {
    let mut functions = Vec::new();
    let mut scanned = [false; 256];
    scan_bus(config, 0, &mut scanned, &mut functions);
    functions
}

fn scan_bus(config: &impl pci::ConfigSpace, bus: u8, scanned: &mut [bool; 256], out: &mut Vec<pci::Function>) {
    if core::mem::replace(&mut scanned[usize::from(bus)], true) {
        return;
    }
    for device in 0..pci::DEVICES_PER_BUS {
        let Some(first) = pci::Address::new(bus, device, 0).and_then(|address| pci::Function::read(config, address))
        else {
            continue;
        };
        let functions = if first.multifunction { pci::FUNCTIONS_PER_DEVICE } else { 1 };
        for function in 0..functions {
            let found = if function == 0 {
                Some(first)
            } else {
                pci::Address::new(bus, device, function).and_then(|address| pci::Function::read(config, address))
            };
            let Some(found) = found else { continue };
            out.push(found);
            if found.is_bridge() {
                let secondary = (config.read(found.address, pci::register::BRIDGE_BUSES) >> 8) as u8;
                if secondary != 0 {
                    scan_bus(config, secondary, scanned, out);
                }
            }
        }
    }
}

/// What a function is, for the boot log: virtio devices by kind, the rest by class.
pub fn describe(function: &pci::Function) -> &'static str {
    if is_virtio_block(function) {
        "virtio block device"
    } else if function.vendor_id == VIRTIO_VENDOR {
        "virtio device"
    } else {
        function.class_name()
    }
}

/// The swap disk once [`init`] has run: `None` inside if there is none.
#[cfg(target_os = "none")]
static SWAP_DISK: spin::Once<Option<spin::Mutex<SwapDisk>>> = spin::Once::new();

/// Enumerates PCI, logs each function once, and opens the first virtio
/// block device as the swap disk. Call once at boot, after the heap and
/// page tables are up; later calls do nothing.
#[cfg(target_os = "none")]
pub fn init() {
    SWAP_DISK.call_once(|| {
        let functions = enumerate(&pci::PortConfigAccess);
        log::info!("pci: {} functions", functions.len());
        for function in &functions {
            log::info!(
                "pci {} {:04x}:{:04x} class {:02x}.{:02x}.{:02x} {}",
                function.address,
                function.vendor_id,
                function.device_id,
                function.class,
                function.subclass,
                function.prog_if,
                describe(function)
            );
        }
        let Some(function) = functions.iter().find(|function| is_virtio_block(function)) else {
            log::info!("swap disk: none (no virtio block device)");
            return None;
        };
        match SwapDisk::open(function.address) {
            Ok(disk) => {
                log::info!(
                    "swap disk: virtio-blk at {}, {} slots ({} KiB)",
                    function.address,
                    disk.slots(),
                    disk.slots() * (SWAP_PAGE_SIZE as u64 / 1024)
                );
                Some(spin::Mutex::new(disk))
            }
            Err(error) => {
                log::warn!("swap disk: virtio-blk at {} unusable: {error}", function.address);
                None
            }
        }
    });
}

/// The swap disk, if [`init`] found one. The lock is a plain spin lock,
/// not an `IrqMutex`: a request polls for tens of microseconds or more,
/// and interrupts stay on meanwhile.
#[cfg(target_os = "none")]
pub fn swap_disk() -> Option<&'static spin::Mutex<SwapDisk>> {
    SWAP_DISK.get().and_then(Option::as_ref)
}

#[cfg(test)]
mod tests {
    use super::pci::{register, Address, ConfigSpace};
    use super::*;
    use std::collections::HashMap;

    /// A configuration space of whole functions: (bus, device, function) →
    /// (id, class, header type, bridge buses).
    #[derive(Default)]
    struct FakeSpace {
        functions: HashMap<(u8, u8, u8), [u32; 4]>,
    }

    impl FakeSpace {
        fn add(&mut self, (bus, device, function): (u8, u8, u8), vendor: u16, id: u16, class: u32, header: u8, secondary: u8) {
            let registers = [
                u32::from(id) << 16 | u32::from(vendor),
                class << 8,
                u32::from(header) << 16,
                u32::from(secondary) << 8 | u32::from(bus),
            ];
            self.functions.insert((bus, device, function), registers);
        }
    }

    impl ConfigSpace for FakeSpace {
        fn read(&self, address: Address, register: u8) -> u32 {
            let Some(registers) = self.functions.get(&(address.bus, address.device, address.function)) else {
                return u32::MAX;
            };
            match register & 0xfc {
                register::ID => registers[0],
                register::CLASS => registers[1],
                register::HEADER_TYPE => registers[2],
                register::BRIDGE_BUSES => registers[3],
                _ => 0,
            }
        }
    }

    fn addresses(functions: &[pci::Function]) -> Vec<String> {
        functions.iter().map(|function| function.address.to_string()).collect()
    }

    #[test]
    fn i440fx_bus_zero_is_listed_in_order() {
        let mut space = FakeSpace::default();
        space.add((0, 0, 0), 0x8086, 0x1237, 0x06_00_00, 0, 0);
        space.add((0, 1, 0), 0x8086, 0x7000, 0x06_01_00, 0x80, 0);
        space.add((0, 1, 1), 0x8086, 0x7010, 0x01_01_80, 0, 0);
        space.add((0, 1, 3), 0x8086, 0x7113, 0x06_80_00, 0, 0);
        space.add((0, 4, 0), 0x1af4, 0x1001, 0x01_00_00, 0, 0);
        let functions = enumerate(&space);
        assert_eq!(addresses(&functions), ["00:00.0", "00:01.0", "00:01.1", "00:01.3", "00:04.0"]);
        assert_eq!(functions.iter().filter(|function| is_virtio_block(function)).count(), 1);
        assert_eq!(describe(&functions[2]), "IDE controller");
        assert_eq!(describe(&functions[4]), "virtio block device");
    }

    #[test]
    fn functions_beyond_zero_need_the_multifunction_bit() {
        let mut space = FakeSpace::default();
        // A single-function device that (wrongly) answers on function 1 too.
        space.add((0, 2, 0), 0x1234, 0x1111, 0x03_00_00, 0, 0);
        space.add((0, 2, 1), 0x1234, 0x1111, 0x03_00_00, 0, 0);
        assert_eq!(addresses(&enumerate(&space)), ["00:02.0"]);
    }

    #[test]
    fn bridges_are_followed_once() {
        let mut space = FakeSpace::default();
        space.add((0, 0, 0), 0x8086, 0x1237, 0x06_00_00, 0, 0);
        space.add((0, 3, 0), 0x1b36, 0x0001, 0x06_04_00, 1, 1);
        space.add((1, 5, 0), 0x1af4, 0x1042, 0x01_80_00, 0, 0);
        // A second bridge on bus 1 that claims bus 0 again must not loop.
        space.add((1, 6, 0), 0x1b36, 0x0001, 0x06_04_00, 1, 0);
        space.add((1, 7, 0), 0x1b36, 0x0001, 0x06_04_00, 1, 1);
        let functions = enumerate(&space);
        assert_eq!(addresses(&functions), ["00:00.0", "00:03.0", "01:05.0", "01:06.0", "01:07.0"]);
        assert!(is_virtio_block(&functions[2]));
    }
}
