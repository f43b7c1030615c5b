//! Running a disk image in QEMU: command line, timeout, verdict.
//!
//! The kernel reports its verdict through the `isa-debug-exit` device, which
//! turns a write of `v` into QEMU exit status `(v << 1) | 1`: 33 for success,
//! 35 for failure (see `kernel::verdict`). Anything else (0 after a triple
//! fault, 1 for a QEMU error, a signal) is a crash; running out of time is a
//! timeout, and QEMU is killed.
//!
//! What happened inside comes back on two channels: COM1 (`-serial
//! stdio`) carries the log, read by people and kept as it is in
//! [`RunOutcome::serial`]; COM2 goes to a file of its own
//! ([`RunConfig::records`]) where the kernel writes typed records
//! (`abi::record`: each process's memory counters, each test's outcome,
//! each suite's tally), which [`Records`] decodes. Results are read from
//! the records, never scraped from the log.

use crate::Firmware;
use abi::record::{Outcome, Reader, StreamError, Suite};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// QEMU status when the kernel reports success.
pub const EXIT_SUCCESS: i32 = kernel::verdict::qemu_status(kernel::verdict::SUCCESS);
/// QEMU status when the kernel reports failure.
pub const EXIT_FAILURE: i32 = kernel::verdict::qemu_status(kernel::verdict::FAILURE);

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Places Debian and Ubuntu install the OVMF code image.
pub const OVMF_CANDIDATES: [&str; 3] =
    ["/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"];

/// The OVMF firmware file, if installed.
pub fn ovmf() -> Option<PathBuf> {
    OVMF_CANDIDATES.iter().map(PathBuf::from).find(|path| path.is_file())
}

/// Whether QEMU is on the PATH.
pub fn qemu_available() -> bool {
    Command::new(QEMU).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// How to run QEMU.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The disk image.
    pub image: PathBuf,
    /// The firmware the image is for.
    pub firmware: Firmware,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Make the guest deterministic (`-icount shift=0`): instruction counts
    /// and TSC deltas repeat exactly from run to run.
    pub icount: bool,
    /// Use KVM (only where it works; never needed).
    pub kvm: bool,
    /// Wait for a debugger on port 1234 before the first instruction.
    pub gdb: bool,
    /// A raw image attached as a virtio block device (the kernel's swap
    /// disk); see [`crate::image::create_swap_image`].
    pub swap_image: Option<PathBuf>,
    /// A `blkdebug` configuration file (see [`blkdebug_config`]): QEMU's
    /// error-injecting block driver goes between the swap disk and its
    /// image, failing the requests the file's rules name.
    pub swap_faults: Option<PathBuf>,
    /// A Unix socket on which QEMU serves its machine protocol (see [`Qmp`]).
    pub qmp_socket: Option<PathBuf>,
    /// The file the kernel's records (COM2) go to, truncated at each run;
    /// `None`: no second serial port (the kernel drops its records).
    pub records: Option<PathBuf>,
    /// Extra arguments appended verbatim.
    pub extra_args: Vec<String>,
}

/// A path as a QEMU option value: commas are doubled, as QEMU's option
/// syntax requires.
fn option_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Which block requests a `blkdebug` rule fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockIo {
    /// Reads (`read_aio`).
    Read,
    /// Writes (`write_aio`).
    Write,
}

/// One `[inject-error]` rule of a `blkdebug` configuration: every request
/// of kind `io` that covers `sector` (every one, if `None`) fails with
/// `errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectError {
    /// The requests it fails.
    pub io: BlockIo,
    /// The error number the request fails with (5: `EIO`, which the
    /// virtio disk reports to the guest as `VIRTIO_BLK_S_IOERR`).
    pub errno: i32,
    /// The 512-byte sector a failing request covers (`None`: any).
    pub sector: Option<u64>,
}

impl InjectError {
    /// `EIO` on every `io` request to swap slot `slot` (4 KiB, 8 sectors).
    pub fn on_slot(io: BlockIo, slot: u64) -> InjectError {
        InjectError { io, errno: 5, sector: Some(slot * (kernel::dev::SWAP_PAGE_SIZE as u64 / 512)) }
    }
}

/// The text of a `blkdebug` configuration file holding `rules`.
///
/// blkdebug activates the rules of an event (`read_aio` before each read,
/// `write_aio` before each write) and applies the active rules to the
/// requests that follow; each rule is limited to its own kind of request
/// (`iotype`), or a read rule left active would fail writes too.
pub fn blkdebug_config(rules: &[InjectError]) -> String {
    let mut text = String::new();
    for rule in rules {
        let (event, iotype) = match rule.io {
            BlockIo::Read => ("read_aio", "read"),
            BlockIo::Write => ("write_aio", "write"),
        };
        let _ = writeln!(text, "[inject-error]\nevent = \"{event}\"\niotype = \"{iotype}\"\nerrno = \"{}\"", rule.errno);
        if let Some(sector) = rule.sector {
            let _ = writeln!(text, "sector = \"{sector}\"");
        }
        text.push('\n');
    }
    text
}

impl RunConfig {
    /// Defaults for `image`: 256 MiB, 120 s timeout, TCG, records next to
    /// the image (`bios.img` → `bios.records`).
    pub fn new(image: &Path, firmware: Firmware) -> RunConfig {
        RunConfig {
            image: image.to_path_buf(),
            firmware,
            timeout: Duration::from_secs(120),
            memory_mib: 256,
            icount: false,
            kvm: false,
            gdb: false,
            swap_image: None,
            swap_faults: None,
            qmp_socket: None,
            records: Some(image.with_extension("records")),
            extra_args: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn command(&self) -> Result<Command> {
        let mut command = Command::new(QEMU);
        command.args(["-m", &format!("{}M", self.memory_mib)]);
        command.args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]);
        if let Some(records) = &self.records {
            // The second `-serial` is COM2.
            command.arg("-chardev").arg(format!("file,id=records,path={}", option_value(records)));
            command.args(["-serial", "chardev:records"]);
        }
        command.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        if self.kvm {
            command.args(["-enable-kvm", "-cpu", "host"]);
        } else {
            command.args(["-accel", "tcg", "-cpu", "max"]);
        }
        if self.icount {
            command.args(["-icount", "shift=0"]);
        }
        if self.firmware == Firmware::Uefi {
            let ovmf = ovmf().context("OVMF firmware not found: install it with `apt-get install ovmf`")?;
            command.arg("-drive").arg(format!("if=pflash,format=raw,readonly=on,file={}", ovmf.display()));
        }
        command.arg("-drive").arg(format!("format=raw,file={}", option_value(&self.image)));
        if let Some(swap) = &self.swap_image {
            // The firmwares list it after the boot disk, and a zero-filled
            // disk holds nothing to boot anyway.
            let drive = match &self.swap_faults {
                // raw over blkdebug over the file: the raw driver raises the
                // `read_aio`/`write_aio` events the rules wait for.
                Some(config) => format!(
                    "if=none,id=swap,driver=raw,file.driver=blkdebug,file.config={},file.image.driver=file,file.image.filename={}",
                    option_value(config),
                    option_value(swap)
                ),
                None => format!("if=none,id=swap,format=raw,file={}", option_value(swap)),
            };
            command.arg("-drive").arg(drive);
            command.args(["-device", "virtio-blk-pci,drive=swap"]);
        } else if self.swap_faults.is_some() {
            bail!("blkdebug rules need a swap image to apply to");
        }
        if let Some(socket) = &self.qmp_socket {
            command.arg("-qmp").arg(format!("unix:{},server=on,wait=off", option_value(socket)));
        }
        if self.gdb {
            command.args(["-s", "-S"]);
        }
        command.args(&self.extra_args);
        Ok(command)
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The kernel reported success.
    Success,
    /// The kernel reported failure.
    Failure,
    /// QEMU ended some other way (exit status, or `None` for a signal).
    Crash(Option<i32>),
    /// The timeout expired and QEMU was killed.
    Timeout,
}

impl Verdict {
    fn from_status(status: ExitStatus) -> Verdict {
        match status.code() {
            Some(EXIT_SUCCESS) => Verdict::Success,
            Some(EXIT_FAILURE) => Verdict::Failure,
            code => Verdict::Crash(code),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// How it ended.
    pub verdict: Verdict,
    /// Everything the guest wrote to the first serial port (the log).
    pub serial: String,
    /// What the kernel wrote on its record channel (empty without one).
    pub records: Records,
    /// How long it took.
    pub elapsed: Duration,
}

/// A record as the host keeps it.
pub type Record = abi::record::Record<String>;
/// A process's memory counters when it ended.
pub type Memstat = abi::record::Memstat<String>;
/// One test's outcome.
pub type TestResult = abi::record::TestResult<String>;

/// The records of one run, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Every record, in the order written, up to the first that could not
    /// be read.
    pub records: Vec<Record>,
    /// The first record that could not be read (a run cut short may end
    /// in a truncated one); nothing after it is read.
    pub error: Option<StreamError>,
}

impl Records {
    /// Decodes a whole record stream.
    pub fn decode(bytes: &[u8]) -> Records {
        let mut records = Records::default();
        for record in Reader::new(bytes) {
            match record {
                Ok(record) => records.records.push(record.map(String::from)),
                Err(error) => records.error = Some(error),
            }
        }
        records
    }

    /// Reads and decodes the record file `path`.
    pub fn read(path: &Path) -> Result<Records> {
        let bytes = std::fs::read(path).with_context(|| format!("reading the records {}", path.display()))?;
        Ok(Records::decode(&bytes))
    }

    /// The records, or the error if one could not be read (for readers
    /// that need every record, such as the benchmark).
    pub fn complete(&self) -> Result<&[Record]> {
        match &self.error {
            Some(error) => bail!("the kernel's records are damaged: {error}"),
            None => Ok(&self.records),
        }
    }

    /// Every `Memstat`, in order.
    pub fn memstats(&self) -> impl Iterator<Item = &Memstat> {
        self.records.iter().filter_map(|record| match record {
            Record::Memstat(memstat) => Some(memstat),
            _ => None,
        })
    }

    /// Every memstat, in order, if every record could be read.
    pub fn complete_memstats(&self) -> Result<Vec<Memstat>> {
        self.complete()?;
        Ok(self.memstats().cloned().collect())
    }

    /// Every test result, in order.
    pub fn results(&self) -> impl Iterator<Item = &TestResult> {
        self.records.iter().filter_map(|record| match record {
            Record::TestResult(result) => Some(result),
            _ => None,
        })
    }

    /// The tally of `suite`'s last summary, if it wrote one.
    pub fn tally(&self, suite: Suite<&str>) -> Option<Tally> {
        self.records.iter().rev().find_map(|record| match record {
            Record::TestSummary(summary) if suite_is(&summary.suite, suite) => {
                Some(Tally { passed: summary.passed as usize, failed: summary.failed as usize })
            }
            _ => None,
        })
    }

    /// Each failed test as `suite::name: message` (the kernel's suite
    /// unnamed), in order.
    pub fn failures(&self) -> Vec<String> {
        self.results()
            .filter_map(|result| match &result.outcome {
                Outcome::Failed(message) => Some(match &result.suite {
                    Suite::Kernel => format!("{}: {message}", result.name),
                    Suite::Program(program) => format!("{program}::{}: {message}", result.name),
                }),
                Outcome::Passed => None,
            })
            .collect()
    }
}

/// Whether `suite` is `wanted`.
fn suite_is(suite: &Suite<String>, wanted: Suite<&str>) -> bool {
    match (suite, wanted) {
        (Suite::Kernel, Suite::Kernel) => true,
        (Suite::Program(name), Suite::Program(wanted)) => name == wanted,
        _ => false,
    }
}

/// Kills QEMU if it is still running when dropped (on errors and panics too).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs the image, capturing serial output; if `echo` is set, also copies
/// each line to this process's stdout as it arrives.
pub fn run(config: &RunConfig, echo: bool) -> Result<RunOutcome> {
    run_inner(config, echo, None)
}

/// As [`run`], and sends each serial line to `lines` as it arrives (a test
/// can act on the guest's output while it runs; the receiver may hang up).
pub fn run_streaming(config: &RunConfig, echo: bool, lines: Sender<String>) -> Result<RunOutcome> {
    run_inner(config, echo, Some(lines))
}

fn run_inner(config: &RunConfig, echo: bool, lines: Option<Sender<String>>) -> Result<RunOutcome> {
    if let Some(records) = &config.records {
        // No stale records if QEMU fails before it opens the file.
        let _ = std::fs::remove_file(records);
    }
    let mut command = config.command()?;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {QEMU} (is it installed?)"))?;
    let mut child = ChildGuard(child);
    let serial = Arc::new(Mutex::new(String::new()));
    let stdout = child.0.stdout.take().context("QEMU stdout")?;
    let stderr = child.0.stderr.take().context("QEMU stderr")?;
    let reader = {
        let serial = Arc::clone(&serial);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches('\r');
                if echo {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{text}");
                }
                {
                    let mut serial = serial.lock().unwrap_or_else(|e| e.into_inner());
                    serial.push_str(text);
                    serial.push('\n');
                }
                if let Some(lines) = &lines {
                    let _ = lines.send(text.to_owned());
                }
            }
        })
    };
    let error_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let verdict = loop {
        if let Some(status) = child.0.try_wait().context("waiting for QEMU")? {
            break Verdict::from_status(status);
        }
        if started.elapsed() > config.timeout {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break Verdict::Timeout;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let _ = reader.join();
    let errors = error_reader.join().unwrap_or_default();
    let mut serial = Arc::try_unwrap(serial)
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_else(|shared| shared.lock().map(|s| s.clone()).unwrap_or_default());
    if matches!(verdict, Verdict::Crash(Some(1))) && !errors.trim().is_empty() {
        bail!("QEMU failed to start: {}", errors.trim());
    }
    if !errors.trim().is_empty() {
        serial.push_str(&format!("[qemu stderr] {}\n", errors.trim()));
    }
    let records = match &config.records {
        Some(path) => Records::read(path)?,
        None => Records::default(),
    };
    Ok(RunOutcome { verdict, serial, records, elapsed })
}

/// A client of QEMU's machine protocol (QMP) on the socket of
/// [`RunConfig::qmp_socket`]: enough to pause and resume the guest.
pub struct Qmp {
    stream: BufReader<UnixStream>,
}

impl Qmp {
    /// Connects (retrying until `timeout`: QEMU creates the socket as it
    /// starts), reads the greeting and leaves capability negotiation.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Qmp> {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if started.elapsed() > timeout => {
                    return Err(error).with_context(|| format!("connecting to QMP at {}", socket.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(timeout)).context("setting the QMP read timeout")?;
        let mut qmp = Qmp { stream: BufReader::new(stream) };
        let greeting = qmp.read_message()?;
        if !greeting.contains("\"QMP\"") {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    /// One message (QMP sends one JSON object a line).
    fn read_message(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).context("reading from QMP")? == 0 {
            bail!("QMP closed the connection");
        }
        Ok(line.trim().to_owned())
    }

    /// Runs `command` (without arguments) and waits for its answer;
    /// asynchronous events on the way are skipped.
    pub fn execute(&mut self, command: &str) -> Result<()> {
        let request = format!("{{\"execute\": \"{command}\"}}\n");
        self.stream.get_mut().write_all(request.as_bytes()).context("writing to QMP")?;
        loop {
            let message = self.read_message()?;
            if message.starts_with("{\"return\"") {
                return Ok(());
            }
            if message.starts_with("{\"error\"") {
                bail!("QMP `{command}` failed: {message}");
            }
        }
    }

    /// Pauses the guest: when this returns, its processors have stopped.
    pub fn stop(&mut self) -> Result<()> {
        self.execute("stop")
    }

    /// Resumes the guest.
    pub fn cont(&mut self) -> Result<()> {
        self.execute("cont")
    }
}

/// Runs QEMU attached to this terminal (serial on stdin/stdout) and returns its verdict.
pub fn run_interactive(config: &RunConfig) -> Result<Verdict> {
    let mut command = config.command()?;
    let child = command.spawn().with_context(|| format!("starting {QEMU} (is it installed?)"))?;
    let mut child = ChildGuard(child);
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().context("waiting for QEMU")? {
            return Ok(Verdict::from_status(status));
        }
        if started.elapsed() > config.timeout {
            return Ok(Verdict::Timeout);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A suite's tally, from its closing `TestSummary` record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(records: &[abi::record::Record<&str>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in records {
            record.encode(&mut |chunk: &[u8]| bytes.extend_from_slice(chunk));
        }
        bytes
    }

    #[test]
    fn records_give_memstats_results_and_each_suites_tally() {
        use abi::record::{Memstat, Record, TestResult, TestSummary};
        let counters = abi::MemoryCounters { pid: 3, faults: 7, ..abi::MemoryCounters::default() };
        let bytes = stream(&[
            Record::Memstat(Memstat { name: "hello", policy: abi::CommitPolicy::Leap, counters }),
            Record::TestResult(TestResult { suite: Suite::Kernel, name: "mm::a", outcome: Outcome::Passed }),
            Record::TestResult(TestResult { suite: Suite::Program("test-heap"), name: "grows", outcome: Outcome::Failed("no") }),
            Record::TestResult(TestResult { suite: Suite::Kernel, name: "mm::b", outcome: Outcome::Failed("left 1, right 2") }),
            Record::TestSummary(TestSummary { suite: Suite::Program("test-heap"), passed: 0, failed: 1 }),
            Record::TestSummary(TestSummary { suite: Suite::Kernel, passed: 3, failed: 1 }),
            Record::TestSummary(TestSummary { suite: Suite::Kernel, passed: 1, failed: 1 }),
        ]);
        let records = Records::decode(&bytes);
        assert_eq!(records.error, None);
        assert_eq!(records.records.len(), 7);
        let stats = records.complete_memstats().unwrap();
        assert_eq!((stats[0].name.as_str(), stats[0].policy, stats[0].pid(), stats[0].counters.faults), ("hello", abi::CommitPolicy::Leap, 3, 7));
        assert_eq!(records.results().count(), 3);
        assert_eq!(records.tally(Suite::Kernel), Some(Tally { passed: 1, failed: 1 }), "the last summary");
        assert_eq!(records.tally(Suite::Program("test-heap")), Some(Tally { passed: 0, failed: 1 }));
        assert_eq!(records.tally(Suite::Program("init")), None);
        assert_eq!(records.failures(), ["test-heap::grows: no", "mm::b: left 1, right 2"]);
    }

    #[test]
    fn a_damaged_stream_keeps_what_came_before_and_says_where() {
        use abi::record::{Record, TestSummary};
        let summary = Record::TestSummary(TestSummary { suite: Suite::Kernel, passed: 2, failed: 0 });
        let bytes = stream(&[summary, summary]);
        let records = Records::decode(&bytes[..bytes.len() - 3]);
        assert_eq!(records.records.len(), 1);
        assert_eq!(records.tally(Suite::Kernel), Some(Tally { passed: 2, failed: 0 }));
        let error = records.complete().unwrap_err().to_string();
        assert!(error.contains(&format!("record at byte {}: truncated", bytes.len() / 2)), "{error}");
        assert!(records.complete_memstats().is_err());
        assert_eq!(Records::decode(&[]), Records::default());
        let path = std::env::temp_dir().join(format!("boot-records-test-{}.records", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(Records::read(&path).unwrap().records.len(), 2);
        std::fs::remove_file(&path).unwrap();
        assert!(Records::read(&path).is_err(), "a missing file is an error");
    }

    #[test]
    fn exit_codes_follow_isa_debug_exit() {
        assert_eq!(EXIT_SUCCESS, 33);
        assert_eq!(EXIT_FAILURE, 35);
    }

    #[test]
    fn command_line_has_debug_exit_and_timeout_free_defaults() {
        let config = RunConfig::new(Path::new("/tmp/x.img"), Firmware::Bios);
        let command = config.command().unwrap();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]));
        assert!(args.contains(&"-no-reboot".to_owned()));
        assert!(args.iter().any(|a| a == "format=raw,file=/tmp/x.img"));
        assert!(!args.contains(&"-icount".to_owned()));
        assert!(!args.iter().any(|a| a.contains("virtio-blk")), "no swap disk unless asked for");
        let serials: Vec<_> = args.windows(2).filter(|w| w[0] == "-serial").map(|w| w[1].as_str()).collect();
        assert_eq!(serials, ["stdio", "chardev:records"], "COM1 the log, COM2 the records");
        assert!(args.windows(2).any(|w| w == ["-chardev", "file,id=records,path=/tmp/x.records"]));
        let mut config = RunConfig::new(Path::new("/tmp/a,b/x.img"), Firmware::Bios);
        let command = config.command().unwrap();
        assert!(command.get_args().any(|a| a == "file,id=records,path=/tmp/a,,b/x.records"), "commas doubled");
        config.records = None;
        let command = config.command().unwrap();
        assert_eq!(command.get_args().filter(|a| *a == "-serial").count(), 1, "no second port");
    }

    #[test]
    fn swap_image_becomes_a_virtio_block_device() {
        let mut config = RunConfig::new(Path::new("/tmp/x.img"), Firmware::Bios);
        config.swap_image = Some(PathBuf::from("/tmp/swap.img"));
        let command = config.command().unwrap();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-drive", "if=none,id=swap,format=raw,file=/tmp/swap.img"]));
        assert!(args.windows(2).any(|w| w == ["-device", "virtio-blk-pci,drive=swap"]));
        assert!(!args.iter().any(|a| a.contains("blkdebug")), "no fault injection unless asked for");
        assert!(!args.contains(&"-qmp".to_owned()));
    }

    #[test]
    fn swap_faults_put_blkdebug_under_the_swap_disk() {
        let mut config = RunConfig::new(Path::new("/tmp/x.img"), Firmware::Bios);
        config.swap_image = Some(PathBuf::from("/tmp/swap,1.img"));
        config.swap_faults = Some(PathBuf::from("/tmp/faults.conf"));
        config.qmp_socket = Some(PathBuf::from("/tmp/qmp.sock"));
        let command = config.command().unwrap();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let drive = "if=none,id=swap,driver=raw,file.driver=blkdebug,file.config=/tmp/faults.conf,\
                     file.image.driver=file,file.image.filename=/tmp/swap,,1.img";
        assert!(args.windows(2).any(|w| w == ["-drive", drive]), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-device", "virtio-blk-pci,drive=swap"]));
        assert!(args.windows(2).any(|w| w == ["-qmp", "unix:/tmp/qmp.sock,server=on,wait=off"]));
        config.swap_image = None;
        assert!(config.command().is_err(), "rules without a disk are a mistake");
    }

    #[test]
    fn blkdebug_rules_name_event_kind_errno_and_sector() {
        let rules = [InjectError::on_slot(BlockIo::Read, 3), InjectError { io: BlockIo::Write, errno: 28, sector: None }];
        assert_eq!(rules[0].sector, Some(24), "slot 3 starts at sector 24");
        assert_eq!(
            blkdebug_config(&rules),
            "[inject-error]\nevent = \"read_aio\"\niotype = \"read\"\nerrno = \"5\"\nsector = \"24\"\n\n\
             [inject-error]\nevent = \"write_aio\"\niotype = \"write\"\nerrno = \"28\"\n\n"
        );
    }

    #[test]
    fn qmp_negotiates_then_waits_for_the_answer_past_events() {
        let socket = std::env::temp_dir().join(format!("boot-qmp-test-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut requests = Vec::new();
            writer.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n").unwrap();
            for answer in [
                "{\"return\": {}}\r\n",
                "{\"timestamp\": {}, \"event\": \"STOP\"}\r\n{\"return\": {}}\r\n",
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\r\n",
            ] {
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                requests.push(request.trim().to_owned());
                writer.write_all(answer.as_bytes()).unwrap();
            }
            requests
        });
        let mut qmp = Qmp::connect(&socket, Duration::from_secs(10)).unwrap();
        qmp.stop().unwrap();
        assert!(qmp.cont().is_err(), "an error answer is an error");
        let requests = server.join().unwrap();
        assert_eq!(requests, ["{\"execute\": \"qmp_capabilities\"}", "{\"execute\": \"stop\"}", "{\"execute\": \"cont\"}"]);
        let _ = std::fs::remove_file(&socket);
    }
}
