//! The kernel binary: the bootloader's entry point hands over to `kernel::boot`.
//!
//! On the host this binary only explains how to run the kernel, so that a
//! plain `cargo build` of the workspace succeeds.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel_main, config = &kernel::boot::BOOTLOADER_CONFIG);

#[cfg(target_os = "none")]
fn kernel_main(boot_info: &'static mut bootloader_api::BootInfo) -> ! {
    kernel::boot::start(boot_info)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the kernel runs on bare metal: use `cargo xtask run` to boot it in QEMU");
    std::process::exit(2);
}
