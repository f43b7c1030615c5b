//! `cargo xtask bench`: deterministic benchmarks under `-icount shift=0`.
//!
//! A benchmark is a user program that prints `bench <name> <iterations>
//! <tsc cycles>` lines and `bench-tsc-hz <hz>`. Under `-icount shift=0` the
//! guest executes one instruction per virtual nanosecond and its TSC follows
//! that clock, so cycle deltas are exactly repeatable and convert to guest
//! instructions: instructions = cycles * 1e9 / tsc_hz.

use anyhow::{Context, Result, bail};
use boot::image::RamdiskContents;
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
    /// Every workload and trace under every commit policy, the traces at
    /// several memory budgets with a swap disk (results.csv/md).
    Memory,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Syscalls => "syscalls",
            Suite::Memory => "memory",
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
    /// Replay only the first N accesses of each trace (`memory`; 0: all).
    #[arg(long, default_value_t = 0)]
    accesses: usize,
    /// Replay only the first N traces (`memory`; 0: all).
    #[arg(long, default_value_t = 0)]
    trace_limit: usize,
    /// Memory budgets the traces run under, in percent of each trace's
    /// distinct pages, comma-separated (`memory`).
    #[arg(long, value_delimiter = ',', value_parser = parse_budget, default_values_t = boot::bench::DEFAULT_BUDGETS)]
    budgets: Vec<u64>,
}

/// Parses one budget: a percentage in 1..=100 (`50` or `50%`).
fn parse_budget(text: &str) -> Result<u64, String> {
    trace::parse_percent(text).ok_or_else(|| format!("`{text}` is not a percentage in 1..=100"))
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

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    if let Suite::Memory = args.suite {
        crate::prerequisites::ensure(Firmware::Bios)?;
        let options = boot::bench::Options {
            traces: args.traces.clone(),
            kib: args.kib,
            accesses: args.accesses,
            trace_limit: args.trace_limit,
            budgets: args.budgets.clone(),
        };
        let out = boot::target_dir().join("bench");
        let (_, md) = boot::bench::run(&options, &out)?;
        print!("{md}");
        println!("wrote results.csv, results.md, faults.svg, footprint.svg and budgets.svg in {}", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    crate::prerequisites::ensure(Firmware::Bios)?;
    let kernel = boot::build::kernel(Profile::Release)?;
    let programs = boot::build::user_programs(Profile::Release)?;
    let program = format!("bin/bench-{}", args.suite.name());
    let cmdline = format!("mode=run log=warn init={program}");
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
    writeln!(table, "{:<24} {:>10} {:>16} {:>18}", "benchmark", "iterations", "cycles/op", "instructions/op")?;
    for measurement in measurements {
        let per_op = measurement.cycles as f64 / measurement.iterations.max(1) as f64;
        let instructions = per_op * 1e9 / *tsc_hz as f64;
        writeln!(table, "{:<24} {:>10} {:>16.1} {:>18.1}", measurement.name, measurement.iterations, per_op, instructions)?;
        writeln!(csv, "{},{},{},{:.3},{:.3}", measurement.name, measurement.iterations, measurement.cycles, per_op, instructions)?;
    }
    print!("{table}");
    println!("TSC {tsc_hz} Hz under -icount shift=0; {} runs, counts identical: {}", runs.len(), if deterministic { "yes" } else { "NO" });
    let out = boot::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    let path = out.join(format!("{}.csv", args.suite.name()));
    std::fs::write(&path, csv)?;
    println!("wrote {}", path.display());
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
    fn budgets_parse_as_percentages() {
        assert_eq!(parse_budget("50"), Ok(50));
        assert_eq!(parse_budget("25%"), Ok(25));
        assert!(parse_budget("0").is_err() && parse_budget("150").is_err() && parse_budget("half").is_err());
        let cli = <BenchCli as clap::Parser>::try_parse_from(["bench", "memory"]).unwrap();
        assert_eq!(cli.args.budgets, vec![100, 50, 25]);
        let cli = <BenchCli as clap::Parser>::try_parse_from(["bench", "memory", "--budgets", "75,10%"]).unwrap();
        assert_eq!(cli.args.budgets, vec![75, 10]);
        assert!(<BenchCli as clap::Parser>::try_parse_from(["bench", "memory", "--budgets", "75,0"]).is_err());
    }

    #[derive(clap::Parser)]
    struct BenchCli {
        #[command(flatten)]
        args: BenchArgs,
    }
}
