//! Swap bookkeeping: slots on the swap device, where each evicted page
//! went, and which resident pages still have a valid copy there.
//!
//! The engine never touches page contents itself: it asks its
//! [`super::FrameSource`] to write a frame to a slot (getting back the
//! page's checksum) and to read a slot into a frame (checking that
//! checksum). So the same code runs against the kernel's virtio disk and
//! the host simulator's in-memory store.
//!
//! Slots are handed out in order, freed ones first, the last freed first
//! ([`SlotAllocator`]); a slot whose write or read fails is quarantined
//! and never handed out again. A page whose copy cannot be read back (a
//! device error or a checksum mismatch) is lost: the fault or commit fails
//! with `VassError::SwapFailed`, and the kernel kills the process
//! (`swap-lost`).

#![forbid(unsafe_code)]

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// A page-sized slot on the swap device (its index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u64);

impl core::fmt::Display for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Where a swapped-out page is, and the checksum its contents had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapEntry {
    /// The slot holding it.
    pub slot: Slot,
    /// CRC-32C of its 4 KiB, checked when it is read back.
    pub checksum: u32,
}

/// What a resident page's contents are, for eviction: whether they must be
/// written out, or are already on the device or all zero. Pages committed
/// zero-filled are [`Backing::Zero`] until the processor marks them dirty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Zero-filled and not written since (the page table's dirty bit
    /// says whether it was): dropped, not written, when evicted clean.
    Zero,
    /// Read back from swap and not written since: the slot still holds
    /// the same bytes, so a clean eviction writes nothing.
    Copy(SwapEntry),
    /// Filled by the kernel (the loader): written out on eviction whatever
    /// the dirty bit says.
    Unique,
}

/// Why the swap device could not take or give back a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapError {
    /// Every slot is in use (or there is no swap device).
    Full,
    /// The device reported an error.
    Io,
    /// The page read back does not match the checksum written.
    Corrupt,
}

/// The swap device's slots: which are free, used, or quarantined after an
/// error (never handed out again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotAllocator {
    /// Slots on the device.
    total: u64,
    /// Slots below this were handed out at least once.
    next: Slot,
    /// Slots given back (handed out again last first).
    free: Vec<Slot>,
    /// Slots that failed.
    quarantined: BTreeSet<Slot>,
    /// Slots in use.
    used: u64,
}

impl SlotAllocator {
    /// `total` slots, all free.
    pub fn new(total: u64) -> SlotAllocator {
        SlotAllocator { total, ..SlotAllocator::empty() }
    }

    /// No device: no slots.
    pub const fn empty() -> SlotAllocator {
        SlotAllocator { total: 0, next: Slot(0), free: Vec::new(), quarantined: BTreeSet::new(), used: 0 }
    }

    /// Changes the device's size; refused ([`SwapError::Full`]) if a slot
    /// at or past `total` was ever handed out.
    pub fn resize(&mut self, total: u64) -> Result<(), SwapError> {
        if self.next > Slot(total) {
            return Err(SwapError::Full);
        }
        self.total = total;
        Ok(())
    }

    /// Whether `slot` was taken out of service.
    pub fn is_quarantined(&self, slot: Slot) -> bool {
        self.quarantined.contains(&slot)
    }

    /// Slots on the device.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Slots in use.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Slots quarantined.
    pub fn quarantined(&self) -> u64 {
        self.quarantined.len() as u64
    }

    /// A free slot, or [`SwapError::Full`].
    pub fn allocate(&mut self) -> Result<Slot, SwapError> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.next < Slot(self.total) => {
                let slot = self.next;
                self.next = Slot(slot.0 + 1);
                slot
            }
            None => return Err(SwapError::Full),
        };
        self.used += 1;
        Ok(slot)
    }

    /// Gives `slot` back.
    pub fn free(&mut self, slot: Slot) {
        debug_assert!(slot < self.next && !self.free.contains(&slot), "slot {slot} freed twice or never allocated");
        self.used -= 1;
        self.free.push(slot);
    }

    /// Takes `slot` (in use) out of service for good.
    pub fn quarantine(&mut self, slot: Slot) {
        self.used -= 1;
        self.quarantined.insert(slot);
    }

    /// Whether `slot` is handed out now (for the invariant checker).
    pub fn is_used(&self, slot: Slot) -> bool {
        slot < self.next && !self.free.contains(&slot) && !self.quarantined.contains(&slot)
    }
}

/// CRC-32C (Castagnoli, the iSCSI polynomial) from the `crc` crate.
static CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The swap device's checksum of a page: CRC-32C of its bytes.
pub fn checksum(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_given_back_and_quarantined() {
        let mut slots = SlotAllocator::new(3);
        assert_eq!((slots.allocate(), slots.allocate(), slots.allocate()), (Ok(Slot(0)), Ok(Slot(1)), Ok(Slot(2))));
        assert_eq!(slots.allocate(), Err(SwapError::Full));
        assert_eq!(slots.used(), 3);
        slots.free(Slot(1));
        assert!(!slots.is_used(Slot(1)));
        assert_eq!(slots.allocate(), Ok(Slot(1)), "a freed slot is reused");
        slots.quarantine(Slot(2));
        assert_eq!((slots.used(), slots.quarantined()), (2, 1));
        assert!(!slots.is_used(Slot(2)));
        slots.free(Slot(0));
        assert_eq!(slots.allocate(), Ok(Slot(0)));
        assert_eq!(slots.allocate(), Err(SwapError::Full), "the quarantined slot never comes back");
        assert_eq!(SlotAllocator::new(0).allocate(), Err(SwapError::Full), "no device: always full");
    }

    #[test]
    fn the_checksum_is_crc32c() {
        assert_eq!(checksum(b"123456789"), 0xE306_9283, "the standard check value");
        assert_ne!(checksum(&[0; 4096]), checksum(&[1; 4096]));
    }
}
