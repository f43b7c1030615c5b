//! Running a disk image in QEMU: command line, timeout, verdict.
//!
//! The kernel reports its verdict through the `isa-debug-exit` device, which
//! turns a write of `v` into QEMU exit status `(v << 1) | 1`: 33 for success,
//! 35 for failure (see `kernel::verdict`). Anything else (0 after a triple
//! fault, 1 for a QEMU error, a signal) is a crash; running out of time is a
//! timeout, and QEMU is killed.

use crate::Firmware;
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
    /// Defaults for `image`: 256 MiB, 120 s timeout, TCG.
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
            extra_args: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn command(&self) -> Result<Command> {
        let mut command = Command::new(QEMU);
        command.args(["-m", &format!("{}M", self.memory_mib)]);
        command.args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]);
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
    /// Everything the guest wrote to the serial port.
    pub serial: String,
    /// How long it took.
    pub elapsed: Duration,
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
    Ok(RunOutcome { verdict, serial, elapsed })
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

/// A kernel test run's tally, from its closing `N passed, M failed` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
}

/// Finds the last `N passed, M failed` line in `output`.
pub fn parse_tally(output: &str) -> Option<Tally> {
    output.lines().rev().find_map(|line| {
        let (passed, failed) = line.trim().split_once(", ")?;
        let passed = passed.strip_suffix(" passed")?.parse().ok()?;
        let failed = failed.strip_suffix(" failed")?.parse().ok()?;
        Some(Tally { passed, failed })
    })
}

/// The counters the kernel prints in a `memstat name=N key=value ...` line
/// when a process ends (see `abi::MemoryCounters` for the keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memstat {
    /// The program's name.
    pub name: String,
    /// Its commit policy when it ended.
    pub policy: String,
    /// Counter name to value, in the kernel's order.
    pub counters: Vec<(String, u64)>,
}

impl Memstat {
    /// The value of counter `key`.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.counters.iter().find(|(name, _)| name == key).map(|&(_, value)| value)
    }
}

/// Every `memstat` line in `output`, in order. Lines that are cut short or
/// carry a malformed value are skipped.
pub fn parse_memstats(output: &str) -> Vec<Memstat> {
    output
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("memstat name=")?;
            let mut words = rest.split_whitespace().peekable();
            let name = words.next()?.to_string();
            let policy = words.next_if(|word| word.starts_with("policy=")).map_or("", |word| &word[7..]).to_string();
            let counters = words
                .map(|word| {
                    let (key, value) = word.split_once('=')?;
                    Some((key.to_string(), value.parse().ok()?))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Memstat { name, policy, counters })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memstat_lines_are_parsed_and_bad_ones_skipped() {
        let output = "[ 1.0] cpu0 INFO  process: memstat name=hello policy=leap pid=3 faults=7\n\
                      memstat name=cut pid=4 faults=\n\
                      noise\nmemstat name=demo pid=5 hits=2 waste=1\n";
        let stats = parse_memstats(output);
        assert_eq!(stats.len(), 2);
        assert_eq!((stats[0].name.as_str(), stats[0].policy.as_str(), stats[0].get("faults")), ("hello", "leap", Some(7)));
        assert_eq!(stats[1].policy, "", "older lines have no policy");
        assert_eq!(stats[1].get("pid"), Some(5));
        assert_eq!(stats[1].get("missing"), None);
    }

    #[test]
    fn exit_codes_follow_isa_debug_exit() {
        assert_eq!(EXIT_SUCCESS, 33);
        assert_eq!(EXIT_FAILURE, 35);
    }

    #[test]
    fn tally_takes_the_last_closing_line() {
        let output = "ktest a ... ok\n3 passed, 1 failed\nnoise\n5 passed, 0 failed\n";
        assert_eq!(parse_tally(output), Some(Tally { passed: 5, failed: 0 }));
        assert_eq!(parse_tally("no tally here\n1 passed\n"), None);
        assert_eq!(parse_tally("x passed, 0 failed"), None);
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
