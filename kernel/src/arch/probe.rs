//! Memory accesses that survive a page fault.
//!
//! A probe is a tiny assembly routine whose one memory instruction is listed
//! in a fixup table. If that instruction faults, the page-fault handler moves
//! the saved instruction pointer to a landing pad that reports the fault
//! instead of treating it as a kernel bug (the idea of Linux's exception
//! tables). Tests use this to touch unmapped memory; copying from and to user
//! memory will be built on it.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;

global_asm!(
    ".pushsection .text.kernel_probe, \"ax\"",
    ".balign 16",
    ".global kernel_probe_read_u64",
    "kernel_probe_read_u64:",
    ".global kernel_probe_read_u64_access",
    "kernel_probe_read_u64_access:",
    "    mov rax, qword ptr [rdi]",
    "    xor edx, edx",
    "    ret",
    ".balign 16",
    ".global kernel_probe_write_u64",
    "kernel_probe_write_u64:",
    ".global kernel_probe_write_u64_access",
    "kernel_probe_write_u64_access:",
    "    mov qword ptr [rdi], rsi",
    "    xor eax, eax",
    "    xor edx, edx",
    "    ret",
    ".balign 16",
    ".global kernel_copy_user",
    "kernel_copy_user:",
    // Whole words first, then the bytes left: a word per iteration of
    // the string move (8 times fewer than bytes).
    "    mov rcx, rdx",
    "    shr rcx, 3",
    ".global kernel_copy_user_access",
    "kernel_copy_user_access:",
    "    rep movsq",
    "    mov rcx, rdx",
    "    and rcx, 7",
    ".global kernel_copy_user_tail_access",
    "kernel_copy_user_tail_access:",
    "    rep movsb",
    "    xor eax, eax",
    "    xor edx, edx",
    "    ret",
    ".balign 16",
    ".global kernel_probe_fixup",
    "kernel_probe_fixup:",
    "    xor eax, eax",
    "    mov edx, 1",
    "    ret",
    ".popsection",
);

/// What a probe routine returns in `rax:rdx`.
#[repr(C)]
struct ProbeReturn {
    value: u64,
    faulted: u64,
}

unsafe extern "sysv64" {
    fn kernel_probe_read_u64(address: u64) -> ProbeReturn;
    fn kernel_probe_write_u64(address: u64, value: u64) -> ProbeReturn;
    fn kernel_copy_user(destination: u64, source: u64, length: u64) -> ProbeReturn;
    static kernel_probe_read_u64_access: u8;
    static kernel_probe_write_u64_access: u8;
    static kernel_copy_user_access: u8;
    static kernel_copy_user_tail_access: u8;
    static kernel_probe_fixup: u8;
}

/// A page fault caught by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    /// The faulting address (CR2).
    pub address: VirtAddr,
    /// The page-fault error code pushed by the CPU.
    pub error_code: u64,
}

static LAST_FAULT_ADDRESS: AtomicU64 = AtomicU64::new(0);
static LAST_FAULT_ERROR: AtomicU64 = AtomicU64::new(0);

/// If `rip` is a probe's memory access, records the fault and returns the
/// address execution should resume at. Called by the page-fault handler.
pub fn fixup(rip: u64, fault_address: VirtAddr, error_code: u64) -> Option<u64> {
    let probes = [
        &raw const kernel_probe_read_u64_access,
        &raw const kernel_probe_write_u64_access,
        &raw const kernel_copy_user_access,
        &raw const kernel_copy_user_tail_access,
    ];
    if !probes.iter().any(|&access| access as u64 == rip) {
        return None;
    }
    LAST_FAULT_ADDRESS.store(fault_address.as_u64(), Ordering::Relaxed);
    LAST_FAULT_ERROR.store(error_code, Ordering::Relaxed);
    Some(&raw const kernel_probe_fixup as u64)
}

fn outcome(result: ProbeReturn) -> Result<u64, ProbeFault> {
    if result.faulted == 0 {
        Ok(result.value)
    } else {
        Err(ProbeFault {
            address: VirtAddr::new_truncate(LAST_FAULT_ADDRESS.load(Ordering::Relaxed)),
            error_code: LAST_FAULT_ERROR.load(Ordering::Relaxed),
        })
    }
}

/// Reads a `u64` at `address`, returning the page fault instead of crashing.
///
/// # Safety
/// If `address` is mapped, it must be ordinary memory that may be read (not a
/// device register with read side effects) and not concurrently written.
pub unsafe fn read_u64(address: VirtAddr) -> Result<u64, ProbeFault> {
    // SAFETY: the routine reads one u64 and follows the sysv64 ABI; a fault
    // on its access instruction is redirected to the fixup by the page-fault
    // handler. The caller guarantees the read itself is harmless.
    outcome(unsafe { kernel_probe_read_u64(address.as_u64()) })
}

/// Writes a `u64` at `address`, returning the page fault instead of crashing.
///
/// # Safety
/// If `address` is mapped and writable, writing there must not break any
/// Rust aliasing rule or kernel invariant.
pub unsafe fn write_u64(address: VirtAddr, value: u64) -> Result<(), ProbeFault> {
    // SAFETY: as for `read_u64`; the caller vouches for the write.
    outcome(unsafe { kernel_probe_write_u64(address.as_u64(), value) }).map(|_| ())
}

/// Copies `length` bytes from `source` to `destination`, returning the page
/// fault instead of crashing if either side faults. The copy may have been
/// partly done when it fails.
///
/// # Safety
/// Both ranges, where mapped, must be memory this copy may read and write
/// without breaking Rust aliasing rules (in practice: one side is a kernel
/// buffer owned by the caller, the other is user memory). With SMAP on, the
/// caller must have opened a user-access window.
pub unsafe fn copy(destination: u64, source: u64, length: u64) -> Result<(), ProbeFault> {
    // SAFETY: `rep movsb` with the sysv64 ABI; faults on it are redirected to
    // the fixup; the caller vouches for the ranges.
    outcome(unsafe { kernel_copy_user(destination, source, length) }).map(|_| ())
}
