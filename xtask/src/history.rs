//! `cargo xtask trace PROGRAM [ARGS...] [--out FILE]`: runs PROGRAM as the
//! first process with access histories exported and writes them to a host
//! file (`boot::trace`; the format is documented in `kernel::history`).
//!
//! The run is a release build under `-icount shift=0` (unless `--fast`), so
//! a trace repeats byte for byte; the output is CSV
//! (`pid,time,event,detail,partition,address,count,value`, one row per
//! event) or, for `--out X.vhist`, the raw records.

use anyhow::{Context, Result};
use boot::Profile;
use boot::qemu::Verdict;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct TraceArgs {
    /// The program: a name in the ramdisk's `bin/` (`wl-seq`, `trace-demo`) or a ramdisk path.
    program: String,
    /// Its arguments (after the program; no commas; put `--` before any
    /// that starts with `-`). Options may come before or after them.
    arguments: Vec<String>,
    /// Where to write the history: CSV (one row per event; default
    /// `target/trace/PROGRAM.csv`), or the raw record stream if FILE ends in `.vhist`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The commit policy processes start with (`demand`, `eager`, `readahead`, `leap`).
    #[arg(long)]
    policy: Option<String>,
    /// Events each process's history ring keeps between exports.
    #[arg(long, default_value_t = 1 << 16)]
    capacity: usize,
    /// Timer ticks between accessed-bit scans of every process (0: none).
    #[arg(long, default_value_t = 4)]
    sample: u64,
    /// Run at full speed instead of deterministically (`-icount shift=0`).
    #[arg(long)]
    fast: bool,
    /// Use the debug kernel and programs.
    #[arg(long)]
    debug: bool,
    /// Further kernel command-line words (e.g. `huge=off`).
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Print the serial log too.
    #[arg(long)]
    verbose: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    crate::prerequisites::ensure(boot::Firmware::Bios)?;
    let mut options = boot::trace::Options::new(&args.program);
    options.arguments = args.arguments.clone();
    options.policy = args.policy.clone();
    options.capacity = args.capacity;
    options.sample = args.sample;
    options.icount = !args.fast;
    options.profile = if args.debug { Profile::Debug } else { Profile::Release };
    options.timeout = Duration::from_secs(args.timeout);
    options.cmdline = args.cmdline.clone();
    options.kernel_cmdline()?;
    eprintln!("trace: running {} {}", options.path(), args.arguments.join(" "));
    let trace = boot::trace::run(&options)?;
    if args.verbose {
        eprint!("{}", trace.serial);
    }
    let out = args.out.clone().unwrap_or_else(|| boot::trace::default_output(&args.program));
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let raw = out.extension().is_some_and(|extension| extension == "vhist");
    let bytes = if raw { trace.raw.clone() } else { boot::trace::csv(&trace.records).into_bytes() };
    std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
    eprint!("{}", boot::trace::summary(&trace.records));
    eprintln!("trace: {} events -> {}", trace.records.len(), out.display());
    if trace.verdict != Verdict::Success {
        eprintln!("trace: the program did not exit with 0 (the kernel reported {:?})", trace.verdict);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        trace: TraceArgs,
    }

    #[test]
    fn options_after_the_program_are_options_and_the_rest_its_arguments() {
        let command = Command::try_parse_from(["trace", "wl-seq", "256", "--policy", "leap", "--out", "x.csv", "extra"]).unwrap();
        assert_eq!(command.trace.program, "wl-seq");
        assert_eq!(command.trace.arguments, ["256", "extra"]);
        assert_eq!(command.trace.policy.as_deref(), Some("leap"));
        assert_eq!(command.trace.out, Some(PathBuf::from("x.csv")));
        let command = Command::try_parse_from(["trace", "hello", "--", "-v"]).unwrap();
        assert_eq!(command.trace.arguments, ["-v"]);
    }
}
