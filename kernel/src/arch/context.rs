//! Kernel-stack context switching and the first entry into ring 3.
//!
//! A task that is not running is described by one number: the stack
//! pointer saved by [`switch`], below which its callee-saved registers and
//! return address sit. A new task gets a hand-made stack that "returns" into
//! [`task_trampoline`], which calls the task's entry function.

use core::arch::naked_asm;
use x86_64::VirtAddr;

/// Saved callee-saved registers plus return address, as laid out by `switch`.
const SWITCH_FRAME_WORDS: usize = 7;

/// Saves the current context, storing its stack pointer at `*save`, and
/// resumes the context whose stack pointer is `load`.
///
/// # Safety
/// `load` must be a stack pointer saved by `switch` (or prepared by
/// [`prepare_stack`]) on a stack that is still mapped, and `save` must be
/// valid for a write. Interrupts must be disabled.
#[unsafe(naked)]
pub unsafe extern "sysv64" fn switch(save: *mut u64, load: u64) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// First code of every new task: calls `r12(r13)`; the entry never returns.
#[unsafe(naked)]
unsafe extern "sysv64" fn task_trampoline() -> ! {
    naked_asm!("mov rdi, r13", "call r12", "ud2")
}

/// Writes an initial switch frame at the top of a fresh kernel stack so that
/// switching to it runs `entry(argument)`. Returns the stack pointer to load.
///
/// # Safety
/// `[top - 4096, top)` must be mapped, writable, and unused by anyone else.
pub unsafe fn prepare_stack(top: VirtAddr, entry: extern "sysv64" fn(u64) -> !, argument: u64) -> u64 {
    // After `ret` pops the trampoline address (frame_base + 56), rsp must be
    // 16-byte aligned for the trampoline's `call`, so frame_base is 8 mod 16.
    let frame_base = (top.as_u64() & !0xf) - 16 - SWITCH_FRAME_WORDS as u64 * 8;
    let frame = frame_base as *mut u64;
    let words: [u64; SWITCH_FRAME_WORDS] =
        [0, 0, argument, entry as usize as u64, 0, 0, task_trampoline as *const () as u64];
    for (index, word) in words.into_iter().enumerate() {
        // SAFETY: the frame lies in the top page of the stack, which the
        // caller guarantees is mapped, writable and unused.
        unsafe { frame.add(index).write(word) };
    }
    frame_base
}

/// Registers for the first entry into ring 3.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct UserEntry {
    /// Instruction pointer (the ELF entry).
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// First argument register (`rdi`).
    pub rdi: u64,
    /// Second argument register (`rsi`).
    pub rsi: u64,
    /// User code selector (RPL 3).
    pub cs: u64,
    /// User stack selector (RPL 3).
    pub ss: u64,
}

/// Drops to ring 3 with `iretq`, interrupts enabled and all other general
/// registers cleared.
///
/// # Safety
/// The active page tables must map the user program at `rip` and its stack
/// at `rsp`, and the TSS must hold this task's kernel stack.
pub unsafe fn enter_user(entry: &UserEntry) -> ! {
    // SAFETY: the caller guarantees the user context is ready; iretq with
    // ring-3 selectors cannot return to this code.
    unsafe { enter_user_raw(entry) }
}

#[unsafe(naked)]
unsafe extern "sysv64" fn enter_user_raw(entry: *const UserEntry) -> ! {
    naked_asm!(
        "push qword ptr [rdi + 40]", // ss
        "push qword ptr [rdi + 8]",  // rsp
        "push 0x202",                // rflags: IF
        "push qword ptr [rdi + 32]", // cs
        "push qword ptr [rdi]",      // rip
        "mov rsi, [rdi + 24]",
        "mov rdi, [rdi + 16]",
        "xor eax, eax",
        "xor ebx, ebx",
        "xor ecx, ecx",
        "xor edx, edx",
        "xor ebp, ebp",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        "xor r12d, r12d",
        "xor r13d, r13d",
        "xor r14d, r14d",
        "xor r15d, r15d",
        "iretq",
    )
}
