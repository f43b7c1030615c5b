//! The ramdisk (a ustar archive) and the bootable disk images.
//!
//! The standard ramdisk ([`RamdiskContents::standard`]) holds the command
//! line (`boot/cmdline`), every user program as `bin/<name>`, the list of
//! test programs (`boot/tests`), the malformed-executable corpus under
//! `elf-corpus/` and the PAE's default model at `kernel::pae::MODEL_PATH`;
//! xtask adds replay files, or puts another model in its place, when asked.

use crate::Firmware;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

pub use kernel::config::CMDLINE_PATH;

/// What goes into a ramdisk.
#[derive(Clone, Debug, Default)]
pub struct RamdiskContents {
    files: Vec<(String, Vec<u8>)>,
}

impl RamdiskContents {
    /// A ramdisk holding just the kernel command line.
    pub fn with_cmdline(cmdline: &str) -> RamdiskContents {
        let mut contents = RamdiskContents::default();
        contents.add(CMDLINE_PATH, format!("{cmdline}\n").into_bytes());
        contents
    }

    /// Adds (or replaces) a file.
    pub fn add(&mut self, path: &str, data: Vec<u8>) -> &mut Self {
        self.files.retain(|(existing, _)| existing != path);
        self.files.push((path.to_owned(), data));
        self
    }

    /// The files, in insertion order.
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        &self.files
    }

    /// Encodes the files as a ustar archive. Deterministic: fixed order,
    /// modes and times, so equal contents give equal bytes.
    pub fn to_tar(&self) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, data) in &self.files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, path, data.as_slice())
                .with_context(|| format!("adding {path} to the ramdisk"))?;
        }
        builder.into_inner().context("finishing the ramdisk archive")
    }
}

/// Ramdisk path listing the user test programs, one per line (read by `init test`).
pub const TEST_LIST_PATH: &str = "boot/tests";

/// The program whose mutants make the malformed-executable corpus.
pub const ELF_CORPUS_BASE: &str = "hello";
/// Ramdisk path listing the corpus files, one per line.
pub const ELF_CORPUS_LIST_PATH: &str = "elf-corpus/list";

/// The PAE's default model, relative to the workspace root.
pub const DEFAULT_MODEL: &str = "pae-model/models/default.onnx";

/// Prefix of user test programs.
pub const TEST_PROGRAM_PREFIX: &str = "test-";

impl RamdiskContents {
    /// The standard ramdisk: the command line, every user program as
    /// `bin/<name>`, the list of test programs, the malformed-executable
    /// corpus, and the PAE's default model (`kernel::pae::MODEL_PATH`).
    pub fn standard(cmdline: &str, programs: &[crate::build::UserProgram]) -> Result<RamdiskContents> {
        let mut contents = RamdiskContents::with_cmdline(cmdline);
        let model = crate::workspace_root().join(DEFAULT_MODEL);
        let bytes = fs::read(&model).with_context(|| format!("reading the default model {}", model.display()))?;
        contents.add(kernel::pae::MODEL_PATH, bytes);
        let mut tests = String::new();
        for program in programs {
            let data = fs::read(&program.path).with_context(|| format!("reading {}", program.path.display()))?;
            contents.add(&format!("bin/{}", program.name), data);
            if program.name.starts_with(TEST_PROGRAM_PREFIX) {
                tests.push_str(&format!("bin/{}\n", program.name));
            }
        }
        contents.add(TEST_LIST_PATH, tests.into_bytes());
        if let Some(base) = programs.iter().find(|program| program.name == ELF_CORPUS_BASE) {
            let valid = fs::read(&base.path).with_context(|| format!("reading {}", base.path.display()))?;
            let mut list = String::new();
            for mutant in crate::elf_corpus::mutants(&valid) {
                let path = format!("elf-corpus/{}", mutant.name);
                list.push_str(&path);
                list.push('\n');
                contents.add(&path, mutant.bytes);
            }
            contents.add(ELF_CORPUS_LIST_PATH, list.into_bytes());
        }
        Ok(contents)
    }
}

/// A bootable disk image on disk.
#[derive(Clone, Debug)]
pub struct DiskImage {
    /// The image file.
    pub path: PathBuf,
    /// The firmware it is made for.
    pub firmware: Firmware,
}

/// The toolchain's `llvm-objcopy` (from the `llvm-tools-preview` component).
fn objcopy() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = std::process::Command::new(rustc).args(["--print", "sysroot"]).output().ok()?;
    let sysroot = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    let host = "x86_64-unknown-linux-gnu";
    Some(sysroot.join("lib/rustlib").join(host).join("bin/llvm-objcopy")).filter(|path| path.is_file())
}

/// A copy of `kernel` without debug sections, which the BIOS loader would
/// otherwise read at boot (symbols stay; gdb uses the original file).
fn strip_debug(kernel: &Path, out_dir: &Path) -> Result<PathBuf> {
    let Some(objcopy) = objcopy() else { return Ok(kernel.to_path_buf()) };
    let stripped = out_dir.join("kernel.stripped");
    let status = std::process::Command::new(objcopy)
        .arg("--strip-debug")
        .arg(kernel)
        .arg(&stripped)
        .status()
        .context("running llvm-objcopy")?;
    if !status.success() {
        anyhow::bail!("llvm-objcopy --strip-debug failed on {}", kernel.display());
    }
    Ok(stripped)
}

/// Writes the ramdisk and a disk image for `firmware` into `out_dir`.
pub fn create(kernel: &Path, ramdisk: &RamdiskContents, firmware: Firmware, out_dir: &Path) -> Result<DiskImage> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let kernel = strip_debug(kernel, out_dir)?;
    let kernel = kernel.as_path();
    let ramdisk_path = out_dir.join("ramdisk.tar");
    fs::write(&ramdisk_path, ramdisk.to_tar()?).with_context(|| format!("writing {}", ramdisk_path.display()))?;
    let path = out_dir.join(format!("{}.img", firmware.name()));
    let mut config = bootloader::BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    match firmware {
        Firmware::Bios => bootloader::BiosBoot::new(kernel)
            .set_ramdisk(&ramdisk_path)
            .set_boot_config(&config)
            .create_disk_image(&path),
        Firmware::Uefi => bootloader::UefiBoot::new(kernel)
            .set_ramdisk(&ramdisk_path)
            .set_boot_config(&config)
            .create_disk_image(&path),
    }
    .with_context(|| format!("creating the {} image {}", firmware.name(), path.display()))?;
    Ok(DiskImage { path, firmware })
}

/// Bytes per swap-disk page.
pub const SWAP_PAGE_BYTES: u64 = kernel::dev::SWAP_PAGE_SIZE as u64;

/// Creates (or replaces) `path` as a raw swap-disk image of `pages` zero
/// pages. The file is sparse: it takes no space until the guest writes.
pub fn create_swap_image(path: &Path, pages: u64) -> Result<()> {
    let bytes = pages.checked_mul(SWAP_PAGE_BYTES).context("swap image size overflows")?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    // Truncating first drops whatever an earlier run wrote.
    let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.set_len(bytes).with_context(|| format!("sizing {} to {bytes} bytes", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_images_are_zeroed_and_sized_in_pages() {
        let dir = std::env::temp_dir().join(format!("boot-swap-image-{}", std::process::id()));
        let path = dir.join("nested").join("swap.img");
        create_swap_image(&path, 3).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 3 * 4096);
        fs::write(&path, vec![0xffu8; 5 * 4096]).unwrap();
        create_swap_image(&path, 2).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * 4096);
        assert!(bytes.iter().all(|&byte| byte == 0), "an old image's contents survived");
        fs::remove_dir_all(&dir).unwrap();
    }

    fn read_back(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    #[test]
    fn ramdisk_round_trips_and_is_deterministic() {
        let mut contents = RamdiskContents::with_cmdline("mode=test");
        contents.add("bin/hello", vec![1, 2, 3]);
        let first = contents.to_tar().unwrap();
        assert_eq!(first, contents.to_tar().unwrap());
        assert_eq!(first.len() % 512, 0);
        assert_eq!(
            read_back(&first),
            [("boot/cmdline".to_owned(), b"mode=test\n".to_vec()), ("bin/hello".to_owned(), vec![1, 2, 3])]
        );
    }

    #[test]
    fn adding_a_path_again_replaces_it() {
        let mut contents = RamdiskContents::with_cmdline("mode=run");
        contents.add(CMDLINE_PATH, b"mode=test".to_vec());
        assert_eq!(contents.files().len(), 1);
        assert_eq!(contents.files()[0].1, b"mode=test");
    }
}
