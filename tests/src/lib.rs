//! Helpers for the integration tests: boot a kernel with a given command
//! line under a given firmware and return what happened.
//!
//! The kernel ELF comes from `KERNEL_ELF` when `cargo xtask test` provides
//! it; otherwise the first test builds the debug kernel itself.

use boot::build::UserProgram;
use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig, RunOutcome};
use boot::{Firmware, Profile};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use boot::qemu::Verdict;
pub use boot::Firmware::{Bios, Uefi};

/// The kernel ELF under test.
pub fn kernel_elf() -> PathBuf {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL
        .get_or_init(|| match std::env::var_os("KERNEL_ELF") {
            Some(path) => PathBuf::from(path),
            None => boot::build::kernel(Profile::Debug).expect("building the kernel"),
        })
        .clone()
}

/// The user programs (built once per test run).
pub fn user_programs() -> Vec<UserProgram> {
    static PROGRAMS: OnceLock<Vec<UserProgram>> = OnceLock::new();
    PROGRAMS.get_or_init(|| boot::build::user_programs(Profile::Debug).expect("building the user programs")).clone()
}

/// Boots the kernel with `cmdline` and waits at most `timeout`.
/// `name` keeps each test's image apart so tests can run in parallel.
pub fn boot_with_timeout(name: &str, firmware: Firmware, cmdline: &str, timeout: Duration) -> RunOutcome {
    boot_with_files(name, firmware, cmdline, timeout, Vec::new())
}

/// As [`boot_with_timeout`], with `files` (ramdisk path, contents) added
/// to the standard ramdisk.
pub fn boot_with_files(name: &str, firmware: Firmware, cmdline: &str, timeout: Duration, files: Vec<(String, Vec<u8>)>) -> RunOutcome {
    let out_dir = boot::target_dir().join("images").join("integration").join(format!("{name}-{}", firmware.name()));
    let mut ramdisk = RamdiskContents::standard(cmdline, &user_programs()).expect("packing the ramdisk");
    for (path, data) in files {
        ramdisk.add(&path, data);
    }
    let image = boot::image::create(&kernel_elf(), &ramdisk, firmware, &out_dir).expect("creating the disk image");
    let mut config = RunConfig::new(&image.path, firmware);
    config.timeout = timeout;
    let outcome = qemu::run(&config, false).expect("running QEMU");
    println!("--- serial output of {name} ({}) ---\n{}", firmware.name(), outcome.serial);
    outcome
}

/// Boots with the default timeout (three minutes: UEFI under TCG is slow).
pub fn boot(name: &str, firmware: Firmware, cmdline: &str) -> RunOutcome {
    boot_with_timeout(name, firmware, cmdline, Duration::from_secs(180))
}

/// The `N passed, M failed` tally of a test-mode run.
pub fn tally(outcome: &RunOutcome) -> Option<(usize, usize)> {
    qemu::parse_tally(&outcome.serial).map(|t| (t.passed, t.failed))
}

/// Asserts that the serial output contains `needle`, showing the output if not.
#[track_caller]
pub fn assert_output_contains(outcome: &RunOutcome, needle: &str) {
    assert!(outcome.serial.contains(needle), "expected `{needle}` in the serial output:\n{}", outcome.serial);
}
