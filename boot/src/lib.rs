//! Host side of booting the kernel: build the kernel ELF, pack the ramdisk,
//! make BIOS and UEFI disk images with the `bootloader` crate, and run them
//! in QEMU with a timeout. `xtask` and the integration tests share this.

pub mod build;
pub mod elf_corpus;
pub mod image;
pub mod qemu;
pub mod trace;

use std::path::PathBuf;

/// Where the kernel image is loaded; gdb needs it to place symbols.
pub const KERNEL_BASE: u64 = kernel::mm::layout::KERNEL_IMAGE_BASE;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo target directory of the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// Which firmware boots the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS in QEMU).
    Bios,
    /// UEFI (OVMF in QEMU).
    Uefi,
}

impl Firmware {
    /// Both firmwares.
    pub const ALL: [Firmware; 2] = [Firmware::Bios, Firmware::Uefi];

    /// Lower-case name, used in file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// Kernel build profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `dev`: debug assertions on.
    Debug,
    /// `release`: optimised.
    Release,
}

impl Profile {
    /// Name of the profile's output directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}
