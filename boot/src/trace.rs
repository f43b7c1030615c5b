//! `cargo xtask trace PROGRAM`: boots the kernel with PROGRAM as the first
//! process and every process's access history exported to QEMU's debug
//! console (`-debugcon file:...`), then decodes it (`kernel::history`
//! documents the wire format) into a CSV file, one row per event.

use crate::image::RamdiskContents;
use crate::qemu::{self, RunConfig, Verdict};
use crate::{Firmware, Profile};
use anyhow::{Context, Result, bail};
use kernel::history::{self, Kind, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to trace and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The program, a name in `bin/` (`wl-seq`) or a ramdisk path.
    pub program: String,
    /// Its arguments (no commas: the kernel command line joins them with commas).
    pub arguments: Vec<String>,
    /// The commit policy processes start with (`None`: the kernel's default).
    pub policy: Option<String>,
    /// Events each process's ring keeps.
    pub capacity: usize,
    /// Ticks between accessed-bit scans (0: none).
    pub sample: u64,
    /// Deterministic run (`-icount shift=0`): identical histories every time.
    pub icount: bool,
    /// Kernel and program build profile.
    pub profile: Profile,
    /// Give up after this long.
    pub timeout: Duration,
    /// Further kernel command-line words (`huge=off`).
    pub cmdline: String,
}

impl Options {
    /// Defaults for `program`: 65 536 events per process, a scan every 4
    /// ticks, deterministic, release build.
    pub fn new(program: &str) -> Options {
        Options {
            program: program.to_owned(),
            arguments: Vec::new(),
            policy: None,
            capacity: 1 << 16,
            sample: 4,
            icount: true,
            profile: Profile::Release,
            timeout: Duration::from_secs(600),
            cmdline: String::new(),
        }
    }

    /// The program's ramdisk path.
    pub fn path(&self) -> String {
        if self.program.contains('/') { self.program.clone() } else { format!("bin/{}", self.program) }
    }

    /// The kernel command line.
    pub fn kernel_cmdline(&self) -> Result<String> {
        if let Some(bad) = self.arguments.iter().find(|argument| argument.contains(',') || argument.contains(char::is_whitespace)) {
            bail!("argument `{bad}` holds a comma or white space, which the kernel command line cannot carry");
        }
        let mut line = format!(
            "mode=run init={} history={} history-export=on sample={}",
            self.path(),
            self.capacity,
            self.sample
        );
        if !self.arguments.is_empty() {
            let _ = write!(line, " init-args={}", self.arguments.join(","));
        }
        if let Some(policy) = &self.policy {
            if !abi::CommitPolicy::from_name(policy).is_some_and(|policy| kernel::policy::PLAIN.contains(&policy)) {
                let names: Vec<&str> = kernel::policy::PLAIN.iter().map(|policy| policy.name()).collect();
                bail!("unknown policy `{policy}` (one of {})", names.join(", "));
            }
            let _ = write!(line, " policy={policy}");
        }
        if !self.cmdline.is_empty() {
            let _ = write!(line, " {}", self.cmdline);
        }
        Ok(line)
    }
}

/// A traced run.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Every record, in the order the kernel exported them.
    pub records: Vec<Record>,
    /// The raw stream (header and records).
    pub raw: Vec<u8>,
    /// The serial log.
    pub serial: String,
    /// What the kernel wrote on its record channel (the memstats).
    pub results: qemu::Records,
    /// How the run ended (`Failure` if the program exited non-zero).
    pub verdict: Verdict,
}

/// Builds the kernel and programs, boots with `options`, and decodes the
/// history the kernel exported.
pub fn run(options: &Options) -> Result<Trace> {
    let cmdline = options.kernel_cmdline()?;
    let kernel = crate::build::kernel(options.profile)?;
    let programs = crate::build::user_programs(options.profile)?;
    let path = options.path();
    if !programs.iter().any(|program| format!("bin/{}", program.name) == path) {
        let names: Vec<&str> = programs.iter().map(|program| program.name.as_str()).collect();
        bail!("no program `{}`; the programs are: {}", options.program, names.join(" "));
    }
    let ramdisk = RamdiskContents::standard(&cmdline, &programs)?;
    // One directory per set of options, so different traces can run at once.
    let name = path.rsplit('/').next().unwrap_or("program").to_owned();
    let mut hasher = std::hash::DefaultHasher::new();
    (&cmdline, options.profile, options.icount).hash(&mut hasher);
    let out_dir = crate::target_dir().join("trace").join(format!("{name}-{:016x}", hasher.finish()));
    let image = crate::image::create(&kernel, &ramdisk, Firmware::Bios, &out_dir)?;
    let stream = out_dir.join("history.vhist");
    // QEMU appends to an existing file; start from nothing.
    let _ = std::fs::remove_file(&stream);
    let mut config = RunConfig::new(&image.path, Firmware::Bios);
    config.icount = options.icount;
    config.timeout = options.timeout;
    config.extra_args = vec!["-debugcon".into(), format!("file:{}", stream.display())];
    let outcome = qemu::run(&config, false)?;
    if matches!(outcome.verdict, Verdict::Crash(_) | Verdict::Timeout) {
        bail!("the kernel ended with {:?}:\n{}", outcome.verdict, outcome.serial);
    }
    let raw = std::fs::read(&stream).with_context(|| format!("reading {}", stream.display()))?;
    let records = decode(&raw, &stream)?;
    Ok(Trace { records, raw, serial: outcome.serial, results: outcome.records, verdict: outcome.verdict })
}

/// Decodes a raw history stream read from `path`.
pub fn decode(raw: &[u8], path: &Path) -> Result<Vec<Record>> {
    history::decode_stream(raw).map_err(|(index, error)| anyhow::anyhow!("{}: record {index}: {error}", path.display()))
}

/// The CSV form: a header line, then one row per record.
pub fn csv(records: &[Record]) -> String {
    let mut text = String::with_capacity(64 * (records.len() + 1));
    text.push_str(history::CSV_HEADER);
    text.push('\n');
    for record in records {
        let _ = writeln!(text, "{record}");
    }
    text
}

/// A short summary: per process, its name and how many events of each kind.
pub fn summary(records: &[Record]) -> String {
    let mut processes: BTreeMap<u32, (String, BTreeMap<&'static str, u64>)> = BTreeMap::new();
    for record in records {
        let entry = processes.entry(record.pid).or_default();
        if let Some((name, length)) = record.name() {
            entry.0 = String::from_utf8_lossy(&name[..length]).into_owned();
        }
        let weight = if record.kind == Kind::Lost { record.count } else { 1 };
        *entry.1.entry(record.kind.name()).or_default() += weight;
    }
    let mut text = String::new();
    for (pid, (name, kinds)) in processes {
        let counts: Vec<String> = kinds.iter().map(|(kind, count)| format!("{kind}={count}")).collect();
        let _ = writeln!(text, "pid {pid} {name}: {}", counts.join(" "));
    }
    text
}

/// Where `cargo xtask trace` writes the CSV unless told otherwise.
pub fn default_output(program: &str) -> PathBuf {
    let name = program.rsplit('/').next().unwrap_or(program);
    crate::target_dir().join("trace").join(format!("{name}.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_carries_program_arguments_and_settings() {
        let mut options = Options::new("wl-seq");
        options.arguments = vec!["256".into(), "x".into()];
        options.policy = Some("leap".into());
        options.cmdline = "huge=off".into();
        assert_eq!(
            options.kernel_cmdline().unwrap(),
            "mode=run init=bin/wl-seq history=65536 history-export=on sample=4 init-args=256,x policy=leap huge=off"
        );
        options.arguments = vec!["a,b".into()];
        assert!(options.kernel_cmdline().is_err());
        options.arguments.clear();
        options.policy = Some("psychic".into());
        assert!(options.kernel_cmdline().unwrap_err().to_string().contains("unknown policy"));
    }

    #[test]
    fn csv_and_summary_name_every_process_and_kind() {
        let spawn = kernel::history::Entry { time: 0, event: kernel::history::Event::spawn(0, "demo") };
        let exit = kernel::history::Entry { time: 9, event: kernel::history::Event::Exit { fault: 0, address: 0, code: 3 } };
        let records = vec![Record::of(1, &spawn), Record::lost(1, 5), Record::of(1, &exit)];
        let csv = csv(&records);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.starts_with(history::CSV_HEADER));
        assert_eq!(summary(&records), "pid 1 demo: exit=1 lost=5 spawn=1\n");
        let mut raw = history::HEADER.to_vec();
        raw.extend_from_slice(&[1; 7]);
        assert!(decode(&raw, Path::new("x.vhist")).unwrap_err().to_string().contains("x.vhist: record 0"));
    }
}
