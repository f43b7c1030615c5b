//! Helpers for the integration tests: boot a kernel with a given command
//! line under a given firmware and return what happened.
//!
//! The kernel ELF comes from `KERNEL_ELF` when `cargo xtask test` provides
//! it; otherwise the first test builds the debug kernel itself.

use boot::build::UserProgram;
use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig};
use boot::{Firmware, Profile};
use abi::record::Suite;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use boot::Firmware::{Bios, Uefi};
pub use boot::qemu::{BlockIo, InjectError, RunOutcome, Verdict};

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
    Prepared::new(name, firmware, cmdline, timeout, files).run()
}

/// Boots with a fresh zero-filled swap disk of `pages` pages whose
/// requests `faults` fail (QEMU's `blkdebug`; none: a plain disk).
pub fn boot_with_swap(name: &str, firmware: Firmware, cmdline: &str, timeout: Duration, pages: u64, faults: &[InjectError]) -> RunOutcome {
    let mut prepared = Prepared::new(name, firmware, cmdline, timeout, Vec::new());
    prepared.attach_swap(pages, faults);
    prepared.run()
}

/// A disk image built for one boot and how to run it, for tests that
/// need more than the `boot*` functions give: a swap disk, fault rules, a
/// QMP socket, the serial output as it streams.
pub struct Prepared {
    /// The test's name.
    pub name: String,
    /// How QEMU will run.
    pub config: RunConfig,
    /// The test's own directory (images, swap disk, blkdebug rules).
    pub dir: PathBuf,
}

impl Prepared {
    /// Builds the image: the standard ramdisk with `cmdline` and `files`
    /// (ramdisk path, contents) added. `name` keeps each test's files
    /// apart so tests can run in parallel.
    pub fn new(name: &str, firmware: Firmware, cmdline: &str, timeout: Duration, files: Vec<(String, Vec<u8>)>) -> Prepared {
        let dir = boot::target_dir().join("images").join("integration").join(format!("{name}-{}", firmware.name()));
        let mut ramdisk = RamdiskContents::standard(cmdline, &user_programs()).expect("packing the ramdisk");
        for (path, data) in files {
            ramdisk.add(&path, data);
        }
        let image = boot::image::create(&kernel_elf(), &ramdisk, firmware, &dir).expect("creating the disk image");
        let mut config = RunConfig::new(&image.path, firmware);
        config.timeout = timeout;
        Prepared { name: name.to_owned(), config, dir }
    }

    /// Attaches a fresh zero-filled swap disk of `pages` pages, under
    /// `blkdebug` with `faults` if there are any; returns the image's path.
    pub fn attach_swap(&mut self, pages: u64, faults: &[InjectError]) -> PathBuf {
        let swap = self.dir.join("swap.img");
        boot::image::create_swap_image(&swap, pages).expect("creating the swap image");
        self.config.swap_image = Some(swap.clone());
        self.config.swap_faults = (!faults.is_empty()).then(|| {
            let rules = self.dir.join("blkdebug.conf");
            std::fs::write(&rules, qemu::blkdebug_config(faults)).expect("writing the blkdebug rules");
            rules
        });
        swap
    }

    /// Has QEMU serve its machine protocol on a fresh socket; returns its
    /// path (under the system's temporary directory: socket paths are
    /// limited to about 100 bytes).
    pub fn serve_qmp(&mut self) -> PathBuf {
        let socket = std::env::temp_dir().join(format!("kernel-tests-{}-{}.qmp", std::process::id(), self.name));
        let _ = std::fs::remove_file(&socket);
        self.config.qmp_socket = Some(socket.clone());
        socket
    }

    /// Runs QEMU and prints the serial output (shown when a test fails).
    pub fn run(&self) -> RunOutcome {
        let outcome = qemu::run(&self.config, false).expect("running QEMU");
        self.show(&outcome);
        outcome
    }

    /// Prints a run's serial output under the test's name.
    pub fn show(&self, outcome: &RunOutcome) {
        println!("--- serial output of {} ({}) ---\n{}", self.name, self.config.firmware.name(), outcome.serial);
    }
}

/// Boots with the default timeout (three minutes: UEFI under TCG is slow).
pub fn boot(name: &str, firmware: Firmware, cmdline: &str) -> RunOutcome {
    boot_with_timeout(name, firmware, cmdline, Duration::from_secs(180))
}

/// The kernel tests' tally of a test-mode run, from its records.
pub fn tally(outcome: &RunOutcome) -> Option<(usize, usize)> {
    program_tally(outcome, None)
}

/// The tally a user `program`'s tests reported (`None`: the kernel's).
pub fn program_tally(outcome: &RunOutcome, program: Option<&str>) -> Option<(usize, usize)> {
    let suite = program.map_or(Suite::Kernel, Suite::Program);
    outcome.records.tally(suite).map(|t| (t.passed, t.failed))
}

/// The memstats of a run's records (every record must be readable).
#[track_caller]
pub fn memstats(outcome: &RunOutcome) -> Vec<qemu::Memstat> {
    outcome.records.complete_memstats().unwrap_or_else(|error| panic!("{error:#}"))
}

/// Asserts that the serial output contains `needle`, showing the output if not.
#[track_caller]
pub fn assert_output_contains(outcome: &RunOutcome, needle: &str) {
    assert!(outcome.serial.contains(needle), "expected `{needle}` in the serial output:\n{}", outcome.serial);
}
