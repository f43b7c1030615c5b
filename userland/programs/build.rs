//! Links every program as a fixed-address executable (ET_EXEC at 0x400000):
//! the kernel's loader does not relocate. Debug sections are dropped (symbols
//! stay): programs travel in the ramdisk, and the BIOS loader reads it slowly.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-arg-bins=--image-base=0x400000");
    println!("cargo:rustc-link-arg-bins=--strip-debug");
}
