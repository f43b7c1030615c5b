//! x86_64 hardware access. All of the kernel's `unsafe` lives here and in the
//! few `mm` modules that touch page tables and raw memory; the rest is safe.

pub mod apic;
pub mod context;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod pic;
pub mod pit;
pub mod probe;
pub mod qemu;
pub mod serial;
pub mod syscall;
