//! virtio-drivers on this kernel: the [`KernelHal`] and a polled virtio
//! block device whose requests live in DMA memory.
//!
//! - DMA memory comes from the frame allocator (physically contiguous,
//!   naturally aligned buddy blocks, zeroed) and is used through the
//!   bootloader's physical-memory mapping.
//! - The device's memory BARs are mapped once, uncached, into the kernel's
//!   MMIO window before the transport is built; the transport's regions are
//!   looked up in those windows.
//! - Sharing is the identity: QEMU's `pc` machine has no IOMMU, so a device
//!   reaches a buffer at its physical address. `share` only translates the
//!   buffer's virtual address through the kernel page tables (and checks
//!   the buffer is physically contiguous); `unshare` does nothing.
//! - [`BlockDevice`] keeps one request at a time (header, one page of data,
//!   status byte) in a DMA block of its own and polls for completion with a
//!   timeout (5 s; a device that times out may still use the request buffers
//!   and is never used again), so callers hand over ordinary buffers and no
//!   device error becomes a panic. virtio-drivers is built without `alloc`,
//!   so it never puts indirect descriptor lists on the heap.

use super::pci::{self, PortConfigAccess};
use super::SWAP_PAGE_SIZE;
use crate::arch::cpu;
use crate::mm::buddy::FrameState;
use crate::mm::frame::{self, OwnedFrames, FRAME_SIZE};
use crate::mm::paging::{self, MapError};
use crate::time;
use core::fmt;
use core::ptr::{addr_of_mut, NonNull};
use spin::Mutex;
use virtio_drivers::device::blk::{BlkReq, BlkResp, RespStatus, VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::pci::bus::{BarInfo, Command, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};
use virtio_drivers::{BufferDirection, Hal};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Sectors in one page.
pub const SECTORS_PER_PAGE: u64 = (SWAP_PAGE_SIZE / SECTOR_SIZE) as u64;

/// How long a request may take before the device is given up.
const REQUEST_TIMEOUT_MILLIS: u64 = 5_000;

/// The buddy order that holds `pages` frames.
fn order_for(pages: usize) -> usize {
    pages.max(1).next_power_of_two().trailing_zeros() as usize
}

/// A device's memory BAR as mapped into the MMIO window.
#[derive(Clone, Copy, Debug)]
struct MmioWindow {
    physical: u64,
    size: u64,
    virtual_start: u64,
}

impl MmioWindow {
    /// The virtual address of `[physical, physical + size)` if the window covers it.
    fn translate(&self, physical: u64, size: u64) -> Option<u64> {
        let offset = physical.checked_sub(self.physical)?;
        (offset.checked_add(size)? <= self.size).then_some(self.virtual_start + offset)
    }
}

/// Every BAR mapped so far (six per device; one device today).
static MMIO_WINDOWS: Mutex<[Option<MmioWindow>; 12]> = Mutex::new([None; 12]);

/// Maps `size` bytes of BAR memory at `physical` once and remembers where.
fn map_bar(physical: u64, size: u64) -> Result<(), MapError> {
    let mut windows = MMIO_WINDOWS.lock();
    if windows.iter().flatten().any(|window| window.translate(physical, size).is_some()) {
        return Ok(());
    }
    let slot = windows.iter_mut().find(|window| window.is_none()).ok_or(MapError::BadRange)?;
    // SAFETY: `physical` is a memory BAR the firmware assigned to a PCI
    // device: device registers, not RAM, which is what uncached access is for.
    let virtual_start = unsafe { paging::map_mmio(PhysAddr::new(physical), size)? };
    *slot = Some(MmioWindow { physical, size, virtual_start: virtual_start.as_u64() });
    Ok(())
}

/// The physical address of `address` in the kernel page tables.
fn kernel_translate(address: u64) -> Option<u64> {
    let space = paging::kernel_space();
    let (physical, _) = space.as_ref()?.translate(VirtAddr::try_new(address).ok()?)?;
    Some(physical.as_u64())
}

/// The physical address of a buffer the device is to read or write, if
/// it is physically contiguous. DMA blocks lie in the physical-memory map,
/// whose frames the frame allocator covers: their address follows without
/// a lock but the frame allocator's (the last in the lock order). Any other
/// buffer is translated page by page through the kernel page tables (which
/// takes their lock). `None` for unmapped or scattered buffers.
fn physical_buffer(start: u64, len: u64) -> Option<u64> {
    let end = start.checked_add(len.max(1))?;
    let map_offset = frame::phys_to_virt(PhysAddr::zero()).as_u64();
    if let Some(first) = start.checked_sub(map_offset) {
        let last = first + (end - 1 - start);
        let covered = |physical: u64| {
            PhysAddr::try_new(physical).is_ok_and(|address| frame::state(PhysFrame::containing_address(address)).is_some())
        };
        if covered(first) && covered(last) {
            return Some(first);
        }
    }
    let physical = kernel_translate(start)?;
    let mut page = (start & !(FRAME_SIZE - 1)) + FRAME_SIZE;
    while page < end {
        if kernel_translate(page)? != physical + (page - start) {
            return None;
        }
        page += FRAME_SIZE;
    }
    Some(physical)
}

/// virtio-drivers' hardware abstraction for this kernel (see the module docs).
pub struct KernelHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned, physically contiguous
// blocks the frame allocator handed to nobody else, valid through the
// physical-memory mapping until `dma_dealloc` frees them;
// `mmio_phys_to_virt` returns addresses inside BARs mapped uncached for the
// kernel's life; `share` returns the physical address at which the device
// (without an IOMMU) reaches the very bytes of the buffer.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (virtio_drivers::PhysAddr, NonNull<u8>) {
        match OwnedFrames::alloc_zeroed(order_for(pages), FrameState::Kernel) {
            Some(frames) => {
                let physical = frames.leak().start_address();
                let virtual_address = frame::phys_to_virt(physical).as_mut_ptr::<u8>();
                match NonNull::new(virtual_address) {
                    Some(pointer) => (physical.as_u64(), pointer),
                    None => (0, NonNull::dangling()),
                }
            }
            // Address 0 is virtio-drivers' "allocation failed" (it becomes `Error::DmaError`).
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: virtio_drivers::PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        let frame = PhysFrame::containing_address(PhysAddr::new(paddr));
        match frame::free(frame, order_for(pages)) {
            Ok(()) => 0,
            Err(error) => {
                log::error!("virtio: freeing DMA block {paddr:#x} ({pages} pages) failed: {error:?}");
                -1
            }
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: virtio_drivers::PhysAddr, size: usize) -> NonNull<u8> {
        let found = MMIO_WINDOWS.lock().iter().flatten().find_map(|window| window.translate(paddr, size as u64));
        match found.and_then(|address| NonNull::new(address as *mut u8)) {
            Some(pointer) => pointer,
            // `open` maps every memory BAR before building the transport,
            // which only asks for regions inside them.
            None => panic!("virtio: MMIO region {paddr:#x}+{size:#x} is outside the device's mapped BARs"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> virtio_drivers::PhysAddr {
        let start = buffer.as_ptr().cast::<u8>() as u64;
        match physical_buffer(start, buffer.len() as u64) {
            Some(physical) => physical,
            // `BlockDevice` only hands over its own DMA block, which is
            // contiguous by construction; anything else is a kernel bug.
            None => panic!("virtio: buffer {start:#x}+{:#x} is not physically contiguous", buffer.len()),
        }
    }

    unsafe fn unshare(_paddr: virtio_drivers::PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// Why a virtio block device could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Reading the BARs failed.
    Bars(virtio_drivers::transport::pci::bus::PciError),
    /// A BAR could not be mapped.
    Map(MapError),
    /// The virtio PCI transport could not be built (capabilities, BARs).
    Transport(VirtioPciError),
    /// The driver could not initialise the device (features, queue, DMA memory).
    Driver(virtio_drivers::Error),
    /// No frames for the request buffers.
    OutOfMemory,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Bars(error) => write!(f, "reading BARs: {error}"),
            OpenError::Map(error) => write!(f, "mapping a BAR: {error:?}"),
            OpenError::Transport(error) => write!(f, "virtio PCI transport: {error}"),
            OpenError::Driver(error) => write!(f, "virtio-blk driver: {error}"),
            OpenError::OutOfMemory => f.write_str("no memory for the request buffers"),
        }
    }
}

/// Why a request did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// virtio-drivers refused or could not collect the request.
    Driver(virtio_drivers::Error),
    /// The device did not answer in time. It may still use the request
    /// buffers, so it is never used again.
    Timeout,
    /// An earlier request timed out (see [`IoError::Timeout`]).
    Wedged,
    /// The device is read-only and this was a write.
    ReadOnly,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Driver(error) => write!(f, "driver error: {error}"),
            IoError::Timeout => write!(f, "no completion within {REQUEST_TIMEOUT_MILLIS} ms"),
            IoError::Wedged => f.write_str("device unusable after an earlier timeout"),
            IoError::ReadOnly => f.write_str("device is read-only"),
        }
    }
}

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The device completed the request with an error status
    /// (`VIRTIO_BLK_S_IOERR`, `_UNSUPP`, or an unknown value).
    Status(RespStatus),
    /// The request did not complete.
    Io(IoError),
}

/// One request's buffers, in DMA memory the device reaches: a page of data,
/// then the request header and the status byte the device writes last.
#[repr(C, align(4096))]
struct RequestBuffers {
    data: [u8; SWAP_PAGE_SIZE],
    header: BlkReq,
    status: BlkResp,
}

/// Which way a page moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transfer {
    Read,
    Write,
}

/// A virtio block device driven one page-sized request at a time, polled.
pub struct BlockDevice {
    blk: VirtIOBlk<KernelHal, PciTransport>,
    /// The request buffers (`size_of::<RequestBuffers>()` bytes).
    buffers: Option<OwnedFrames>,
    /// A request timed out: the device may still write the buffers.
    wedged: bool,
}

const BUFFER_ORDER: usize = 1;
const _: () = assert!(size_of::<RequestBuffers>() as u64 <= FRAME_SIZE << BUFFER_ORDER);

impl BlockDevice {
    /// Opens the virtio block device at `address`: maps its memory BARs,
    /// enables memory decoding and bus mastering (with legacy interrupts
    /// off: requests are polled), builds the PCI transport and initialises
    /// the device.
    pub fn open(address: pci::Address) -> Result<BlockDevice, OpenError> {
        let device_function = DeviceFunction { bus: address.bus, device: address.device, function: address.function };
        let mut root = PciRoot::new(PortConfigAccess);
        for bar in root.bars(device_function).map_err(OpenError::Bars)?.iter().flatten() {
            if let BarInfo::Memory { address, size, .. } = *bar
                && address != 0
                && size != 0
            {
                map_bar(address, size).map_err(OpenError::Map)?;
            }
        }
        let (_, command) = root.get_status_command(device_function);
        root.set_command(device_function, command | Command::MEMORY_SPACE | Command::BUS_MASTER | Command::INTERRUPT_DISABLE);
        let transport =
            PciTransport::new::<KernelHal, _>(&mut root, device_function).map_err(OpenError::Transport)?;
        let mut blk = VirtIOBlk::<KernelHal, _>::new(transport).map_err(OpenError::Driver)?;
        blk.disable_interrupts();
        let buffers = OwnedFrames::alloc_zeroed(BUFFER_ORDER, FrameState::Kernel).ok_or(OpenError::OutOfMemory)?;
        let device = BlockDevice { blk, buffers: Some(buffers), wedged: false };
        let request = device.request_buffers();
        // SAFETY: the block was just allocated and zeroed, is large and
        // aligned enough for `RequestBuffers` (checked at compile time), and
        // only this device refers to it; no request is in flight.
        unsafe {
            addr_of_mut!((*request).header).write(BlkReq::default());
            addr_of_mut!((*request).status).write(BlkResp::default());
        }
        Ok(device)
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity_sectors(&self) -> u64 {
        self.blk.capacity()
    }

    /// Whether the device refuses writes.
    pub fn readonly(&self) -> bool {
        self.blk.readonly()
    }

    fn request_buffers(&self) -> *mut RequestBuffers {
        match &self.buffers {
            Some(frames) => frame::phys_to_virt(frames.first().start_address()).as_mut_ptr(),
            None => core::ptr::null_mut(),
        }
    }

    /// Reads the page that starts at `sector` into `page`. The device
    /// checks the range: past its end it answers with an error status.
    pub fn read_page(&mut self, sector: u64, page: &mut [u8; SWAP_PAGE_SIZE]) -> Result<(), BlockError> {
        self.transfer(sector, Transfer::Read)?;
        let request = self.request_buffers();
        // SAFETY: the request completed (the device no longer writes the
        // buffers) and only this device refers to them.
        page.copy_from_slice(unsafe { &(*request).data });
        Ok(())
    }

    /// Writes `page` to the page that starts at `sector`.
    pub fn write_page(&mut self, sector: u64, page: &[u8; SWAP_PAGE_SIZE]) -> Result<(), BlockError> {
        if self.readonly() {
            return Err(BlockError::Io(IoError::ReadOnly));
        }
        if self.wedged {
            return Err(BlockError::Io(IoError::Wedged));
        }
        let request = self.request_buffers();
        // SAFETY: no request is in flight (not wedged, and every request
        // ends before `transfer` returns), so nobody else touches the data.
        unsafe { (*request).data.copy_from_slice(page) };
        self.transfer(sector, Transfer::Write)
    }

    /// Submits one request on the request buffers and polls until the
    /// device completes it or the timeout passes.
    fn transfer(&mut self, sector: u64, transfer: Transfer) -> Result<(), BlockError> {
        if self.wedged {
            return Err(BlockError::Io(IoError::Wedged));
        }
        let request = self.request_buffers();
        if request.is_null() {
            return Err(BlockError::Io(IoError::Wedged));
        }
        let block = usize::try_from(sector).map_err(|_| BlockError::Io(IoError::Driver(virtio_drivers::Error::InvalidParam)))?;
        // The buffers are not touched again until the request completes
        // below, or, on a timeout, ever (the device is wedged and the block
        // leaked on drop).
        // SAFETY: the buffers live in this device's DMA block, valid until it
        // is dropped; no request is in flight, so these are the only references.
        let submitted = unsafe {
            let buffers = &mut *request;
            buffers.status = BlkResp::default();
            match transfer {
                Transfer::Read => {
                    self.blk.read_blocks_nb(block, &mut buffers.header, &mut buffers.data, &mut buffers.status)
                }
                Transfer::Write => {
                    self.blk.write_blocks_nb(block, &mut buffers.header, &buffers.data, &mut buffers.status)
                }
            }
        };
        let token = submitted.map_err(|error| BlockError::Io(IoError::Driver(error)))?;
        let timeout = match time::tsc_hz() {
            0 => u64::MAX,
            hz => hz / 1000 * REQUEST_TIMEOUT_MILLIS,
        };
        let start = cpu::rdtsc();
        while self.blk.peek_used() != Some(token) {
            if cpu::rdtsc().wrapping_sub(start) > timeout {
                self.wedged = true;
                return Err(BlockError::Io(IoError::Timeout));
            }
            core::hint::spin_loop();
        }
        // SAFETY: the same buffers as submitted, and the device has
        // returned them (`peek_used` gave this request's token).
        let completed = unsafe {
            let buffers = &mut *request;
            match transfer {
                Transfer::Read => {
                    self.blk.complete_read_blocks(token, &buffers.header, &mut buffers.data, &mut buffers.status)
                }
                Transfer::Write => {
                    self.blk.complete_write_blocks(token, &buffers.header, &buffers.data, &mut buffers.status)
                }
            }
        };
        // SAFETY: the request is complete; nothing else refers to the status.
        let status = unsafe { (*request).status.status() };
        match completed {
            Ok(()) => Ok(()),
            Err(_) if status != RespStatus::OK => Err(BlockError::Status(status)),
            Err(error) => Err(BlockError::Io(IoError::Driver(error))),
        }
    }
}

impl Drop for BlockDevice {
    fn drop(&mut self) {
        if self.wedged
            && let Some(frames) = self.buffers.take()
        {
            // The device may still write a timed-out request's buffers.
            frames.leak();
        }
    }
}
