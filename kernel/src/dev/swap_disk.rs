//! The swap disk: one virtio block device seen as an array of 4 KiB slots.
//!
//! No partitions and no file system: slot `n` is bytes `n * 4096 ..
//! (n + 1) * 4096` of the device. I/O is polled, one page per request,
//! through [`super::virtio::BlockDevice`]; every failure comes back as a
//! [`DiskError`]. The cost is the caller's: it spins until the device
//! answers. Each request is a device notification (an exit to QEMU) plus
//! QEMU's file I/O on its own thread; under TCG on a 2-core host a page
//! took 140k to 630k TSC cycles (about 0.05 to 0.25 ms) to read or write,
//! varying from run to run (the `per_page_cost_is_logged` test prints the
//! `swap-disk-cost` line).

use super::pci;
use super::virtio::{BlockDevice, BlockError, IoError, OpenError, SECTORS_PER_PAGE};
use super::SWAP_PAGE_SIZE;
use core::fmt;
use virtio_drivers::device::blk::RespStatus;

/// Why a page could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// `slot` is not below the disk's `slots`.
    SlotOutOfRange {
        /// The slot asked for.
        slot: u64,
        /// The disk's size in slots.
        slots: u64,
    },
    /// The device completed the request with an error status
    /// (virtio-blk `IOERR`, `UNSUPP`, or an unknown value).
    DeviceStatus(RespStatus),
    /// The request did not complete (driver error, timeout, or a device
    /// left unusable by an earlier timeout), or the disk is read-only.
    Io(IoError),
}

impl From<BlockError> for DiskError {
    fn from(error: BlockError) -> DiskError {
        match error {
            BlockError::Status(status) => DiskError::DeviceStatus(status),
            BlockError::Io(error) => DiskError::Io(error),
        }
    }
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::SlotOutOfRange { slot, slots } => write!(f, "slot {slot} out of range (disk has {slots} slots)"),
            DiskError::DeviceStatus(RespStatus::IO_ERR) => f.write_str("the device reported an I/O error (VIRTIO_BLK_S_IOERR)"),
            DiskError::DeviceStatus(RespStatus::UNSUPPORTED) => {
                f.write_str("the device does not support the request (VIRTIO_BLK_S_UNSUPP)")
            }
            DiskError::DeviceStatus(status) => write!(f, "the device answered with unknown status {status:?}"),
            DiskError::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}

/// The swap device: a virtio block device of [`SwapDisk::slots`] pages.
pub struct SwapDisk {
    device: BlockDevice,
    slots: u64,
    address: pci::Address,
}

impl SwapDisk {
    /// Opens the virtio block device at `address` as the swap disk (a
    /// trailing part of a page, if the size is not a multiple of 4 KiB, is
    /// not used).
    pub fn open(address: pci::Address) -> Result<SwapDisk, OpenError> {
        let device = BlockDevice::open(address)?;
        let slots = device.capacity_sectors() / SECTORS_PER_PAGE;
        Ok(SwapDisk { device, slots, address })
    }

    /// Capacity in 4 KiB pages.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// Where the device sits on the PCI bus.
    pub fn address(&self) -> pci::Address {
        self.address
    }

    /// The first sector of `slot`, if the disk has it.
    fn sector(&self, slot: u64) -> Result<u64, DiskError> {
        if slot < self.slots {
            Ok(slot * SECTORS_PER_PAGE)
        } else {
            Err(DiskError::SlotOutOfRange { slot, slots: self.slots })
        }
    }

    /// Reads slot `slot` into `buffer`.
    pub fn read_page(&mut self, slot: u64, buffer: &mut [u8; SWAP_PAGE_SIZE]) -> Result<(), DiskError> {
        let sector = self.sector(slot)?;
        Ok(self.device.read_page(sector, buffer)?)
    }

    /// Writes `buffer` to slot `slot`.
    pub fn write_page(&mut self, slot: u64, buffer: &[u8; SWAP_PAGE_SIZE]) -> Result<(), DiskError> {
        let sector = self.sector(slot)?;
        Ok(self.device.write_page(sector, buffer)?)
    }

    /// The block device underneath, without the slot range check (tests use
    /// it to make the device itself refuse a request).
    fn device(&mut self) -> &mut BlockDevice {
        &mut self.device
    }
}

#[cfg(target_os = "none")]
mod ktests {
    use super::*;
    use crate::arch::cpu;
    use crate::dev::{self, TEST_SWAP_PAGES};
    use crate::ktest::{ktest, Failure};
    use crate::{ensure, ensure_eq};
    use alloc::boxed::Box;
    use alloc::format;

    /// The swap disk, or a failure that says how to attach one.
    fn disk() -> Result<&'static spin::Mutex<SwapDisk>, Failure> {
        dev::swap_disk().ok_or_else(|| {
            Failure::new(
                format!(
                    "no swap disk: attach one of {TEST_SWAP_PAGES} pages (`cargo xtask run --swap-size {TEST_SWAP_PAGES}`; `cargo xtask test` does)"
                ),
                file!(),
                line!(),
            )
        })
    }

    /// A page whose every byte depends on `slot`, `seed` and its offset.
    fn pattern(slot: u64, seed: u8) -> Box<[u8; SWAP_PAGE_SIZE]> {
        let mut page = Box::new([0u8; SWAP_PAGE_SIZE]);
        for (offset, byte) in page.iter_mut().enumerate() {
            *byte = (slot as u8).wrapping_mul(31) ^ seed ^ (offset as u8) ^ ((offset >> 8) as u8).wrapping_mul(7);
        }
        page
    }

    #[ktest]
    fn disk_is_found_with_the_attached_size() {
        let disk = disk()?;
        let disk = disk.lock();
        ensure_eq!(disk.slots(), TEST_SWAP_PAGES);
        ensure!(dev::is_virtio_block(
            &pci::Function::read(&pci::PortConfigAccess, disk.address()).ok_or_else(|| Failure::new(
                format!("nothing at {}", disk.address()),
                file!(),
                line!()
            ))?
        ));
    }

    #[ktest]
    fn pages_round_trip_at_first_last_and_between() {
        let disk = disk()?;
        let mut disk = disk.lock();
        let slots = disk.slots();
        ensure!(slots >= 4, "only {slots} slots");
        let chosen = [0, 1, slots / 3, slots / 2 + 1, slots - 2, slots - 1];
        for (seed, &slot) in chosen.iter().enumerate() {
            ensure_eq!(disk.write_page(slot, &pattern(slot, seed as u8)), Ok(()));
        }
        let mut read = Box::new([0u8; SWAP_PAGE_SIZE]);
        for (seed, &slot) in chosen.iter().enumerate() {
            read.fill(0xa5);
            ensure_eq!(disk.read_page(slot, &mut read), Ok(()));
            let expected = pattern(slot, seed as u8);
            if let Some(offset) = (0..SWAP_PAGE_SIZE).find(|&offset| read[offset] != expected[offset]) {
                ensure!(
                    false,
                    "slot {slot} byte {offset}: read {:#04x}, wrote {:#04x}",
                    read[offset],
                    expected[offset]
                );
            }
        }
        // Rewriting one slot leaves its neighbours alone.
        ensure_eq!(disk.write_page(1, &[0u8; SWAP_PAGE_SIZE]), Ok(()));
        ensure_eq!(disk.read_page(0, &mut read), Ok(()));
        ensure!(*read == *pattern(0, 0), "slot 0 changed when slot 1 was rewritten");
        ensure_eq!(disk.read_page(1, &mut read), Ok(()));
        ensure!(read.iter().all(|&byte| byte == 0), "slot 1 was not rewritten");
    }

    #[ktest]
    fn out_of_range_slots_are_errors() {
        let disk = disk()?;
        let mut disk = disk.lock();
        let slots = disk.slots();
        let mut page = Box::new([0u8; SWAP_PAGE_SIZE]);
        for slot in [slots, slots + 1, u64::MAX] {
            ensure_eq!(disk.read_page(slot, &mut page), Err(DiskError::SlotOutOfRange { slot, slots }));
            ensure_eq!(disk.write_page(slot, &page), Err(DiskError::SlotOutOfRange { slot, slots }));
        }
        ensure_eq!(disk.read_page(slots - 1, &mut page), Ok(()));
    }

    #[ktest]
    fn device_error_status_is_an_error_not_a_panic() {
        let disk = disk()?;
        let mut disk = disk.lock();
        let past_end = disk.slots() * SECTORS_PER_PAGE;
        let mut page = Box::new([0u8; SWAP_PAGE_SIZE]);
        // Past its end the device itself refuses: virtio-blk `IOERR`.
        let refused = disk.device().read_page(past_end, &mut page).map_err(DiskError::from);
        ensure_eq!(refused, Err(DiskError::DeviceStatus(RespStatus::IO_ERR)));
        let refused = disk.device().write_page(past_end + SECTORS_PER_PAGE, &page).map_err(DiskError::from);
        ensure_eq!(refused, Err(DiskError::DeviceStatus(RespStatus::IO_ERR)));
        // The device stays usable.
        ensure_eq!(disk.read_page(0, &mut page), Ok(()));
    }

    /// Logs the mean TSC cycles per page written and read (polled, one page
    /// per request), as `swap-disk-cost read=... write=...`.
    #[ktest]
    fn per_page_cost_is_logged() {
        const PAGES: u64 = 64;
        let disk = disk()?;
        let mut disk = disk.lock();
        let count = PAGES.min(disk.slots());
        let mut page = pattern(7, 7);
        let start = cpu::rdtsc();
        for slot in 0..count {
            ensure_eq!(disk.write_page(slot, &page), Ok(()));
        }
        let write = (cpu::rdtsc() - start) / count;
        let start = cpu::rdtsc();
        for slot in 0..count {
            ensure_eq!(disk.read_page(slot, &mut page), Ok(()));
        }
        let read = (cpu::rdtsc() - start) / count;
        ensure!(*page == *pattern(7, 7), "the last page read back differs");
        log::info!(
            "swap-disk-cost read={read} write={write} TSC cycles/page ({} ns, {} ns; {count} pages each)",
            crate::time::cycles_to_nanos(read),
            crate::time::cycles_to_nanos(write)
        );
    }
}
