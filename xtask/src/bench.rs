//! `cargo xtask bench`: deterministic benchmarks under `-icount shift=0`.
//!
//! A benchmark is a user program that prints `bench <name> <iterations>
//! <tsc cycles>` lines and `bench-tsc-hz <hz>`. Under `-icount shift=0` the
//! guest executes one instruction per virtual nanosecond and its TSC follows
//! that clock, so cycle deltas are exactly repeatable and convert to guest
//! instructions: instructions = cycles * 1e9 / tsc_hz.
//!
//! `cargo xtask bench syscalls` (and `bench ipc`, `bench sharing`) boots
//! `bin/bench-syscalls` (`bin/bench-ipc`, `bin/bench-sharing`) as the first
//! program twice and checks that the counts are identical; `bench memory`
//! is the `bench` crate's, `bench compare` its `compare`.

use anyhow::{Context, Result, bail};
use boot::image::RamdiskContents;
use ::bench::Budget;
use boot::qemu::{self, RunConfig, Verdict};
use boot::{Firmware, Profile};
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, ValueEnum)]
pub enum Suite {
    /// Null system call, yield ping-pong context switch, spawn+exit+wait.
    Syscalls,
    /// IPC: call/reply round trips to a server process (empty, 128 bytes),
    /// send + receive in one process (bare, carrying a handle).
    Ipc,
    /// Sharing: grant + map + first touch + unmap (1 and 512 pages),
    /// revoking a partition mapped by 1, 8 and 64 processes, 1 MiB through
    /// a shared ring against 128-byte messages.
    Sharing,
    /// Every workload and trace under every commit policy, each under
    /// several memory budgets with a swap disk (results.csv/md, SVG charts).
    Memory,
    /// Compares the `results.csv` and `layout.csv` of two memory runs
    /// (`--old DIR`, `--new DIR`): which columns differ, in how many rows,
    /// counts told apart from time; succeeds when every count is the same.
    Compare,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Syscalls => "syscalls",
            Suite::Ipc => "ipc",
            Suite::Sharing => "sharing",
            Suite::Memory => "memory",
            Suite::Compare => "compare",
        }
    }
}

#[derive(Args)]
pub struct BenchArgs {
    /// Which benchmark to run.
    #[arg(value_enum)]
    suite: Suite,
    /// Runs to compare (counts must be identical across runs; `syscalls`).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// Lackey traces to replay (`memory`).
    #[arg(long, default_value = "../shared/traces")]
    traces: std::path::PathBuf,
    /// Workload size in KiB (`memory`).
    #[arg(long, default_value_t = 2048)]
    kib: u64,
    /// Workload size in KiB under the memory budgets (`memory`; smaller:
    /// every major fault waits for the disk).
    #[arg(long, default_value_t = ::bench::DEFAULT_BUDGET_KIB)]
    budget_kib: u64,
    /// The workloads that run under the memory budgets, comma-separated
    /// (`memory`; `seq`, `matmul-blocked`, ...; default: every one).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    budget_workloads: Vec<String>,
    /// Replay only the first N accesses of each trace (`memory`; 0: all,
    /// about 1.5 million each, which takes hours under TCG: the default
    /// keeps the whole benchmark within half an hour).
    #[arg(long, default_value_t = ::bench::DEFAULT_ACCESSES)]
    accesses: usize,
    /// Replay only the first N traces (`memory`; 0: all).
    #[arg(long, default_value_t = 0)]
    trace_limit: usize,
    /// Memory budgets every workload and trace runs under, comma-separated
    /// (`memory`): PERCENT% of its distinct pages (a trace's, or a
    /// workload's peak under demand paging) or a number of PAGES (a
    /// trace's share, or a workload's whole process), as `mem-budget=`.
    #[arg(
        long,
        value_name = "PAGES|PERCENT%,...",
        value_delimiter = ',',
        value_parser = parse_budget,
        default_values_t = ::bench::DEFAULT_BUDGETS
    )]
    mem_budget: Vec<Budget>,
    /// The PAE model every `pae` run uses (`memory`; default: each trace
    /// under the fold model of `--folds` that was not trained on it, the
    /// rest under `pae-model/models/default.onnx`).
    #[arg(long, value_name = "FILE")]
    model: Option<std::path::PathBuf>,
    /// Fold models and their manifest (`cargo xtask eval --save-models`),
    /// for leave-programs-out (`memory`).
    #[arg(long, value_name = "DIR", default_value = ::bench::DEFAULT_FOLDS)]
    folds: std::path::PathBuf,
    /// The earlier run's output directory (`compare`).
    #[arg(long, value_name = "DIR")]
    old: Option<std::path::PathBuf>,
    /// The later run's output directory (`compare`; default: `target/bench`).
    #[arg(long, value_name = "DIR")]
    new: Option<std::path::PathBuf>,
    /// Runs the user programs in this directory (ELF files, named as in
    /// `userland/programs/src/bin`) instead of building this checkout's
    /// (`memory`): another commit's programs under this kernel.
    #[arg(long, value_name = "DIR")]
    programs: Option<std::path::PathBuf>,
    /// Words added to the kernel command line (`syscalls`), e.g.
    /// `history=0` to measure the system calls without the per-process
    /// history record.
    #[arg(long, value_name = "KEY=VALUE ...", allow_hyphen_values = true)]
    kernel_args: Option<String>,
    /// Writes the summary (`summary.md`) into README.md's results section,
    /// between its `<!-- bench-results -->` markers, with the command that
    /// made it (`memory`).
    #[arg(long)]
    readme: bool,
}

/// The markers around README.md's generated results.
const README_BEGIN: &str = "<!-- bench-results:begin -->";
const README_END: &str = "<!-- bench-results:end -->";

/// Replaces what lies between the markers of `readme` with `body`.
fn splice_readme(readme: &str, body: &str) -> Result<String> {
    let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
        bail!("README.md has no {README_BEGIN} ... {README_END} section");
    };
    if end < begin {
        bail!("README.md's results markers are out of order");
    }
    Ok(format!("{}{README_BEGIN}\n{body}{}", &readme[..begin], &readme[end..]))
}

/// Parses one budget as `cargo xtask sim` does (`PERCENT%`, 1..=100, or
/// `PAGES`), the pages at least the kernel's smallest budget.
fn parse_budget(text: &str) -> Result<Budget, String> {
    match crate::sim::parse_budget(text)? {
        Budget::Pages(pages) if pages < abi::MIN_MEMORY_BUDGET => Err(format!("`{text}`: a budget is at least {} pages", abi::MIN_MEMORY_BUDGET)),
        budget => Ok(budget),
    }
}

/// One measured operation.
#[derive(Clone, Debug, PartialEq)]
struct Measurement {
    name: String,
    iterations: u64,
    cycles: u64,
}

fn parse(serial: &str) -> Result<(Vec<Measurement>, u64)> {
    let mut measurements = Vec::new();
    let mut tsc_hz = None;
    for line in serial.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["bench-tsc-hz", hz] => tsc_hz = Some(hz.parse().context("bad TSC frequency")?),
            ["bench", name, iterations, cycles] => measurements.push(Measurement {
                name: (*name).to_owned(),
                iterations: iterations.parse().context("bad iteration count")?,
                cycles: cycles.parse().context("bad cycle count")?,
            }),
            _ => {}
        }
    }
    let tsc_hz = tsc_hz.context("the benchmark printed no `bench-tsc-hz` line")?;
    if measurements.is_empty() {
        bail!("the benchmark printed no measurements");
    }
    Ok((measurements, tsc_hz))
}

/// `cargo xtask bench compare`: see [`Suite::Compare`].
fn compare(args: &BenchArgs) -> Result<ExitCode> {
    let old = args.old.clone().context("`compare` needs --old DIR (an earlier run's target/bench)")?;
    let new = args.new.clone().unwrap_or_else(|| boot::target_dir().join("bench"));
    let mut same = true;
    for file in ["results.csv", "layout.csv"] {
        let read = |dir: &std::path::Path| std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {}", dir.join(file).display()));
        let comparison = ::bench::compare::compare(&read(&old)?, &read(&new)?);
        print!("{}", ::bench::compare::render(file, &comparison, 3));
        same &= comparison.counts_identical();
    }
    Ok(if same { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    if let Suite::Compare = args.suite {
        return compare(args);
    }
    if let Suite::Memory = args.suite {
        crate::prerequisites::ensure(Firmware::Bios)?;
        let options = ::bench::Options {
            traces: args.traces.clone(),
            kib: args.kib,
            budget_kib: args.budget_kib,
            budget_workloads: args.budget_workloads.clone(),
            accesses: args.accesses,
            trace_limit: args.trace_limit,
            budgets: args.mem_budget.clone(),
            model: args.model.clone(),
            folds: Some(boot::workspace_root().join(&args.folds)),
            programs: args.programs.clone(),
        };
        let out = boot::target_dir().join("bench");
        let (_, md) = ::bench::run(&options, &out)?;
        print!("{md}");
        if args.readme {
            let command: Vec<String> = std::env::args().skip(1).collect();
            let summary = std::fs::read_to_string(out.join("summary.md"))?;
            let body = format!(
                "Generated by `cargo xtask {}` (do not edit by hand; the full table is `target/bench/results.md`).\n\n{summary}\n",
                command.join(" ")
            );
            let path = boot::workspace_root().join("README.md");
            let readme = std::fs::read_to_string(&path)?;
            std::fs::write(&path, splice_readme(&readme, &body)?)?;
            println!("updated the results in {}", path.display());
        }
        println!(
            "wrote results.csv, layout.csv, timing.csv, results.md, summary.md, faults.svg, footprint.svg, coverage.svg and budgets.svg in {}",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::prerequisites::ensure(Firmware::Bios)?;
    let kernel = boot::build::kernel(Profile::Release)?;
    let programs = boot::build::user_programs(Profile::Release)?;
    let program = format!("bin/bench-{}", args.suite.name());
    // `memstat=off`: the bench measures the system calls, not the summary
    // record each process writes to the host when it ends.
    let mut cmdline = format!("mode=run log=warn memstat=off init={program}");
    if let Some(extra) = &args.kernel_args {
        cmdline.push(' ');
        cmdline.push_str(extra);
    }
    let out_dir = boot::target_dir().join("images").join("bench");
    let image = boot::image::create(&kernel, &RamdiskContents::standard(&cmdline, &programs)?, Firmware::Bios, &out_dir)?;
    let mut runs = Vec::new();
    for run in 0..args.runs.max(1) {
        let mut config = RunConfig::new(&image.path, Firmware::Bios);
        config.icount = true;
        config.timeout = Duration::from_secs(600);
        let outcome = qemu::run(&config, false)?;
        if outcome.verdict != Verdict::Success {
            bail!("benchmark run {run} ended with {:?}:\n{}", outcome.verdict, outcome.serial);
        }
        runs.push(parse(&outcome.serial)?);
    }
    let (measurements, tsc_hz) = &runs[0];
    let deterministic = runs.iter().all(|(other, hz)| other == measurements && hz == tsc_hz);
    let mut table = String::new();
    let mut csv = String::from("benchmark,iterations,tsc_cycles_total,tsc_cycles_per_op,guest_instructions_per_op\n");
    let mut markdown = String::from("| benchmark | iterations | guest instructions per op |\n| --- | ---: | ---: |\n");
    writeln!(table, "{:<24} {:>10} {:>16} {:>18}", "benchmark", "iterations", "cycles/op", "instructions/op")?;
    for measurement in measurements {
        let per_op = measurement.cycles as f64 / measurement.iterations.max(1) as f64;
        let instructions = per_op * 1e9 / *tsc_hz as f64;
        writeln!(table, "{:<24} {:>10} {:>16.1} {:>18.1}", measurement.name, measurement.iterations, per_op, instructions)?;
        writeln!(csv, "{},{},{},{:.3},{:.3}", measurement.name, measurement.iterations, measurement.cycles, per_op, instructions)?;
        writeln!(markdown, "| `{}` | {} | {:.1} |", measurement.name, measurement.iterations, instructions)?;
    }
    writeln!(markdown, "\nUnder `-icount shift=0` (one guest instruction per virtual nanosecond); {} runs, counts identical: {}.", runs.len(), if deterministic { "yes" } else { "no" })?;
    print!("{table}");
    println!("TSC {tsc_hz} Hz under -icount shift=0; {} runs, counts identical: {}", runs.len(), if deterministic { "yes" } else { "NO" });
    println!("kernel command line: {cmdline}");
    let out = boot::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    let path = out.join(format!("{}.csv", args.suite.name()));
    std::fs::write(&path, csv)?;
    std::fs::write(out.join(format!("{}.md", args.suite.name())), markdown)?;
    println!("wrote {} and {}.md beside it", path.display(), args.suite.name());
    Ok(if deterministic { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_measurements_and_frequency() {
        let serial = "noise\nbench-tsc-hz 1000000000\nbench null-syscall 100 25000\nbench yield 10 5000\n";
        let (measurements, hz) = parse(serial).unwrap();
        assert_eq!(hz, 1_000_000_000);
        assert_eq!(measurements.len(), 2);
        assert_eq!(measurements[0], Measurement { name: "null-syscall".into(), iterations: 100, cycles: 25000 });
        assert!(parse("bench x 1 2\n").is_err(), "missing frequency");
        assert!(parse("bench-tsc-hz 5\n").is_err(), "no measurements");
    }

    #[test]
    fn the_readme_section_between_the_markers_is_replaced() {
        let readme = format!("intro\n{README_BEGIN}\nold\n{README_END}\nrest\n");
        assert_eq!(splice_readme(&readme, "new\n").unwrap(), format!("intro\n{README_BEGIN}\nnew\n{README_END}\nrest\n"));
        assert!(splice_readme("no markers", "x").is_err());
        assert!(splice_readme(&format!("{README_END}{README_BEGIN}"), "x").is_err());
    }

    #[test]
    fn budgets_are_percentages_or_pages() {
        assert_eq!(parse_budget("25%"), Ok(Budget::Percent(25)));
        assert_eq!(parse_budget("4096"), Ok(Budget::Pages(4096)));
        assert_eq!(parse_budget("8"), Ok(Budget::Pages(abi::MIN_MEMORY_BUDGET)));
        for bad in ["0", "7", "0%", "150%", "half", "50 %", ""] {
            assert!(parse_budget(bad).is_err(), "`{bad}` was accepted");
        }
        let parse = |words: &[&str]| <BenchCli as clap::Parser>::try_parse_from([&["bench", "memory"], words].concat());
        assert_eq!(parse(&[]).unwrap().args.mem_budget, vec![Budget::Percent(100), Budget::Percent(50), Budget::Percent(25)]);
        assert_eq!(parse(&["--mem-budget", "75%,4096"]).unwrap().args.mem_budget, vec![Budget::Percent(75), Budget::Pages(4096)]);
        assert_eq!(parse(&["--mem-budget", "10%"]).unwrap().args.mem_budget, vec![Budget::Percent(10)]);
        assert!(parse(&["--mem-budget", "75%,0%"]).is_err());
        assert!(parse(&["--budgets", "50"]).is_err(), "one flag for budgets");
        let args = parse(&["--budget-workloads", "seq,sort", "--budget-kib", "64"]).unwrap().args;
        assert_eq!((args.budget_workloads, args.budget_kib), (vec!["seq".to_owned(), "sort".to_owned()], 64));
        assert!(parse(&[]).unwrap().args.budget_workloads.is_empty(), "every workload by default");
    }

    #[derive(clap::Parser)]
    struct BenchCli {
        #[command(flatten)]
        args: BenchArgs,
    }
}
