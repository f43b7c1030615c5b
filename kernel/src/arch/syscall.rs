//! The `syscall`/`sysret` entry path.
//!
//! `syscall` arrives with the user stack still loaded. The stub swaps GS to
//! reach the per-CPU block (kernel stack top, scratch for the user stack
//! pointer), switches stacks, swaps GS straight back (so the kernel never
//! runs with a swapped GS and interrupt handlers need no `swapgs`), saves the
//! registers as a [`SyscallFrame`] and calls `crate::syscall::dispatch`.
//!
//! The handlers run with interrupts on; the stub returns with `sysretq`.

use super::gdt;
use core::arch::naked_asm;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::{Efer, EferFlags, KernelGsBase, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::VirtAddr;

/// Per-CPU data reached through `gs` in the entry stub.
#[repr(C)]
struct PerCpu {
    /// Top of the running task's kernel stack (offset 0).
    kernel_stack_top: AtomicU64,
    /// The user stack pointer during entry (offset 8).
    user_stack: AtomicU64,
}

static PER_CPU: PerCpu = PerCpu { kernel_stack_top: AtomicU64::new(0), user_stack: AtomicU64::new(0) };

/// Registers of a process at a system call, as saved by the entry stub.
#[derive(Debug)]
#[repr(C)]
pub struct SyscallFrame {
    /// System-call number on entry, result on return.
    pub rax: u64,
    /// Argument 0.
    pub rdi: u64,
    /// Argument 1.
    pub rsi: u64,
    /// Argument 2.
    pub rdx: u64,
    /// Argument 3.
    pub r10: u64,
    /// Argument 4.
    pub r8: u64,
    /// Argument 5.
    pub r9: u64,
    /// Callee-saved registers, restored unchanged.
    pub rbx: u64,
    /// Callee-saved.
    pub rbp: u64,
    /// Callee-saved.
    pub r12: u64,
    /// Callee-saved.
    pub r13: u64,
    /// Callee-saved.
    pub r14: u64,
    /// Callee-saved.
    pub r15: u64,
    /// User instruction pointer (saved by the CPU in rcx).
    pub rip: u64,
    /// User flags (saved by the CPU in r11).
    pub rflags: u64,
    /// User stack pointer.
    pub rsp: u64,
}

impl SyscallFrame {
    /// The six arguments.
    pub fn arguments(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// Sets the kernel stack the next system call will run on.
pub fn set_kernel_stack(top: VirtAddr) {
    PER_CPU.kernel_stack_top.store(top.as_u64(), Ordering::Relaxed);
}

/// Enables `syscall`/`sysret` and points them at the entry stub.
pub fn init() {
    let selectors = gdt::selectors();
    // SAFETY: SCE only enables the syscall instruction, whose entry point and
    // segments are configured right below, before any process runs.
    unsafe { Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
    Star::write(selectors.user_code, selectors.user_data, selectors.kernel_code, selectors.kernel_data)
        .expect("GDT order does not fit syscall/sysret");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    // Interrupts, traps, direction and alignment-check (which would turn SMAP
    // off) are cleared on entry.
    SFMask::write(RFlags::INTERRUPT_FLAG | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG | RFlags::ALIGNMENT_CHECK);
    KernelGsBase::write(VirtAddr::from_ptr(&PER_CPU));
}

#[unsafe(naked)]
unsafe extern "sysv64" fn syscall_entry() {
    naked_asm!(
        "swapgs",
        "mov gs:[8], rsp",
        "mov rsp, gs:[0]",
        "push qword ptr gs:[8]",
        "swapgs",
        "push r11",
        "push rcx",
        "push r15",
        "push r14",
        "push r13",
        "push r12",
        "push rbp",
        "push rbx",
        "push r9",
        "push r8",
        "push r10",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rax",
        "mov rdi, rsp",
        "call {dispatch}",
        "pop rax",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop r10",
        "pop r8",
        "pop r9",
        "pop rbx",
        "pop rbp",
        "pop r12",
        "pop r13",
        "pop r14",
        "pop r15",
        "pop rcx",
        "pop r11",
        "pop rsp",
        "sysretq",
        dispatch = sym crate::syscall::dispatch_from_entry,
    )
}
