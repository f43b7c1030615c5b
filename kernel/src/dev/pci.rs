//! PCI configuration space through the legacy I/O ports 0xCF8/0xCFC
//! ("configuration mechanism #1").
//!
//! QEMU's default machine (i440fx, `pc`) has no ECAM window, so every
//! configuration access writes an address to `CONFIG_ADDRESS` (0xCF8) and
//! then reads or writes the 32-bit register through `CONFIG_DATA` (0xCFC).
//! The pair is not atomic: a lock keeps the two steps together. The address
//! encoding and the header fields are plain functions, tested on the host;
//! the port access exists only on bare metal, where [`PortConfigAccess`]
//! also serves as virtio-drivers' `ConfigurationAccess`.

use core::fmt;

/// The `CONFIG_ADDRESS` port.
pub const CONFIG_ADDRESS_PORT: u16 = 0xcf8;
/// The `CONFIG_DATA` port.
pub const CONFIG_DATA_PORT: u16 = 0xcfc;

/// Devices per bus.
pub const DEVICES_PER_BUS: u8 = 32;
/// Functions per device.
pub const FUNCTIONS_PER_DEVICE: u8 = 8;

/// Register offsets in the common configuration header.
pub mod register {
    /// Vendor ID (low 16 bits) and device ID (high 16 bits).
    pub const ID: u8 = 0x00;
    /// Command (low 16 bits) and status (high 16 bits).
    pub const COMMAND_STATUS: u8 = 0x04;
    /// Revision, programming interface, subclass, class (low to high byte).
    pub const CLASS: u8 = 0x08;
    /// Cache line size, latency timer, header type, BIST (low to high byte).
    pub const HEADER_TYPE: u8 = 0x0c;
    /// In a PCI-to-PCI bridge's header: primary, secondary and subordinate bus numbers.
    pub const BRIDGE_BUSES: u8 = 0x18;
}

/// Header type of a PCI-to-PCI bridge (bit 7, multi-function, masked off).
pub const HEADER_TYPE_BRIDGE: u8 = 0x01;
/// Set in the header-type byte of function 0 of a multi-function device.
pub const HEADER_TYPE_MULTIFUNCTION: u8 = 0x80;
/// What an absent function's vendor ID reads as.
pub const NO_VENDOR: u16 = 0xffff;

/// Bus, device and function of one PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// Bus number.
    pub bus: u8,
    /// Device number, below [`DEVICES_PER_BUS`].
    pub device: u8,
    /// Function number, below [`FUNCTIONS_PER_DEVICE`].
    pub function: u8,
}

impl Address {
    /// The address, if `device` and `function` are in range.
    pub const fn new(bus: u8, device: u8, function: u8) -> Option<Address> {
        if device < DEVICES_PER_BUS && function < FUNCTIONS_PER_DEVICE {
            Some(Address { bus, device, function })
        } else {
            None
        }
    }

    /// The `CONFIG_ADDRESS` value that selects `register` of this function:
    /// enable bit 31, bus in bits 23..16, device in 15..11, function in
    /// 10..8 and the register's dword offset in 7..2 (bits 1..0 are zero,
    /// so `register` is rounded down to a multiple of 4).
    pub const fn config_address(self, register: u8) -> u32 {
        0x8000_0000
            | (self.bus as u32) << 16
            | ((self.device & 0x1f) as u32) << 11
            | ((self.function & 0x07) as u32) << 8
            | (register & 0xfc) as u32
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Reads 32-bit configuration registers: port I/O on bare metal, a fake
/// configuration space in host tests.
pub trait ConfigSpace {
    /// The aligned 32-bit register at `register` (rounded down to a
    /// multiple of 4) of function `address`; all ones if it is absent.
    fn read(&self, address: Address, register: u8) -> u32;
}

/// What discovery reads from a function's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Where it is.
    pub address: Address,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Base class.
    pub class: u8,
    /// Subclass.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Header type without the multi-function bit (0: device, 1: PCI-to-PCI bridge).
    pub header_type: u8,
    /// Function 0 of a device that has more functions.
    pub multifunction: bool,
}

impl Function {
    /// Reads the header of `address`, if a function is there.
    pub fn read(config: &impl ConfigSpace, address: Address) -> Option<Function> {
        let id = config.read(address, register::ID);
        let vendor_id = id as u16;
        if vendor_id == NO_VENDOR || vendor_id == 0 {
            return None;
        }
        let class = config.read(address, register::CLASS);
        let header = (config.read(address, register::HEADER_TYPE) >> 16) as u8;
        Some(Function {
            address,
            vendor_id,
            device_id: (id >> 16) as u16,
            class: (class >> 24) as u8,
            subclass: (class >> 16) as u8,
            prog_if: (class >> 8) as u8,
            header_type: header & !HEADER_TYPE_MULTIFUNCTION,
            multifunction: header & HEADER_TYPE_MULTIFUNCTION != 0,
        })
    }

    /// Whether this is a PCI-to-PCI bridge.
    pub fn is_bridge(&self) -> bool {
        self.header_type == HEADER_TYPE_BRIDGE
    }

    /// A short description of the class, for the boot log.
    pub fn class_name(&self) -> &'static str {
        class_name(self.class, self.subclass)
    }
}

/// A short name for a PCI class and subclass.
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x01, 0x00) => "SCSI storage",
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "storage controller",
        (0x02, 0x00) => "Ethernet controller",
        (0x02, _) => "network controller",
        (0x03, _) => "display controller",
        (0x04, _) => "multimedia controller",
        (0x05, _) => "memory controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI-to-PCI bridge",
        (0x06, 0x80) => "bridge",
        (0x06, _) => "bridge",
        (0x07, _) => "communication controller",
        (0x08, _) => "system peripheral",
        (0x0c, 0x03) => "USB controller",
        (0x0c, _) => "serial bus controller",
        (0xff, _) => "unassigned class",
        _ => "other",
    }
}

#[cfg(target_os = "none")]
pub use port::PortConfigAccess;

#[cfg(target_os = "none")]
mod port {
    use super::{Address, ConfigSpace, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT};
    use crate::sync::IrqMutex;
    use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};
    use x86_64::instructions::port::Port;

    /// Keeps each address write and the data access that follows it together.
    static CONFIG_LOCK: IrqMutex<()> = IrqMutex::new(());

    /// Configuration space through ports 0xCF8/0xCFC. It holds no state:
    /// every value accesses the same (only) configuration space.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct PortConfigAccess;

    impl PortConfigAccess {
        /// Reads the 32-bit register at `register` (rounded down to a multiple of 4).
        pub fn read_register(address: Address, register: u8) -> u32 {
            let _lock = CONFIG_LOCK.lock();
            let mut select = Port::<u32>::new(CONFIG_ADDRESS_PORT);
            let mut data = Port::<u32>::new(CONFIG_DATA_PORT);
            // SAFETY: 0xCF8/0xCFC are the PCI configuration ports, used nowhere
            // else; the lock keeps address write and data read together; a
            // configuration read has no effect on memory.
            unsafe {
                select.write(address.config_address(register));
                data.read()
            }
        }

        /// Writes the 32-bit register at `register` (rounded down to a multiple of 4).
        pub fn write_register(address: Address, register: u8, value: u32) {
            let _lock = CONFIG_LOCK.lock();
            let mut select = Port::<u32>::new(CONFIG_ADDRESS_PORT);
            let mut data = Port::<u32>::new(CONFIG_DATA_PORT);
            // The callers (discovery and the virtio transport) only write the
            // command register and BARs of a device the kernel drives.
            // SAFETY: as in `read_register`; such writes change what the
            // device decodes, never kernel memory.
            unsafe {
                select.write(address.config_address(register));
                data.write(value);
            }
        }
    }

    impl ConfigSpace for PortConfigAccess {
        fn read(&self, address: Address, register: u8) -> u32 {
            PortConfigAccess::read_register(address, register)
        }
    }

    fn address_of(device_function: DeviceFunction) -> Address {
        Address { bus: device_function.bus, device: device_function.device, function: device_function.function }
    }

    impl ConfigurationAccess for PortConfigAccess {
        fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
            PortConfigAccess::read_register(address_of(device_function), register_offset)
        }

        fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
            PortConfigAccess::write_register(address_of(device_function), register_offset, data);
        }

        /// Another handle on the same ports; the lock serialises every access.
        unsafe fn unsafe_clone(&self) -> Self {
            PortConfigAccess
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_addresses_follow_mechanism_one() {
        let host_bridge = Address::new(0, 0, 0).unwrap();
        assert_eq!(host_bridge.config_address(0), 0x8000_0000);
        let address = Address::new(0x12, 0x1f, 7).unwrap();
        assert_eq!(address.config_address(0x3c), 0x8000_0000 | 0x12 << 16 | 0x1f << 11 | 7 << 8 | 0x3c);
        assert_eq!(address.config_address(0x3f), address.config_address(0x3c), "bits 1..0 are dropped");
        assert_eq!(Address::new(0, 3, 0).unwrap().config_address(register::CLASS), 0x8000_1808);
        assert_eq!(Address::new(255, 0, 1).unwrap().config_address(0xfc), 0x80ff_01fc);
    }

    #[test]
    fn addresses_are_range_checked_and_printed_like_lspci() {
        assert_eq!(Address::new(0, 32, 0), None);
        assert_eq!(Address::new(0, 0, 8), None);
        assert_eq!(Address::new(1, 0x1f, 7).unwrap().to_string(), "01:1f.7");
    }

    struct OneFunction;

    impl ConfigSpace for OneFunction {
        fn read(&self, address: Address, register: u8) -> u32 {
            if address != Address::new(0, 4, 0).unwrap() {
                return u32::MAX;
            }
            match register {
                register::ID => 0x1001_1af4,
                register::CLASS => 0x0100_0000,
                register::HEADER_TYPE => 0x0080_0000,
                _ => 0,
            }
        }
    }

    #[test]
    fn headers_are_decoded() {
        assert_eq!(Function::read(&OneFunction, Address::new(0, 3, 0).unwrap()), None);
        let function = Function::read(&OneFunction, Address::new(0, 4, 0).unwrap()).unwrap();
        assert_eq!((function.vendor_id, function.device_id), (0x1af4, 0x1001));
        assert_eq!((function.class, function.subclass, function.prog_if), (1, 0, 0));
        assert!(function.multifunction);
        assert!(!function.is_bridge());
        assert_eq!(function.class_name(), "SCSI storage");
    }
}
