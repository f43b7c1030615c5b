//! `cargo xtask`: build, run, test and debug the kernel.

mod bench;
mod eval;
mod history;
mod onnx;
mod prerequisites;
mod sim;
mod test;
mod train;

use anyhow::{Result, bail};
use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig, Verdict};
use boot::{Firmware, Profile};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and debug the kernel")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the kernel and its BIOS (or UEFI) disk image.
    Build(BuildArgs),
    /// Build, then boot in QEMU with the serial port on this terminal.
    Run(RunArgs),
    /// Run every test: host unit tests, in-kernel tests under BIOS and UEFI,
    /// then the integration tests in `tests/`. Ends with `N passed, M failed`.
    Test(test::TestArgs),
    /// Boot under QEMU halted at the first instruction, waiting for gdb on :1234.
    Gdb(ImageArgs),
    /// Run a benchmark deterministically (`-icount shift=0`) and write a CSV.
    Bench(bench::BenchArgs),
    /// Replay lackey traces through the VASS engine and commit policies on the host.
    Sim(sim::SimArgs),
    /// Run a program and write its access history (faults, commits, system
    /// calls, declared resources, accessed-bit samples) to a file.
    Trace(history::TraceArgs),
    /// Run ONNX backend-test cases through the PAE model engine.
    OnnxConformance(onnx::ConformanceArgs),
    /// Train the PAE's GRU on traces (and histories), quantize it to int8,
    /// export the ONNX file and check it with tract-onnx and the engine;
    /// `--check` verifies the checked-in model is reproduced bit for bit.
    Train(train::TrainArgs),
    /// Leave-programs-out evaluation: a model trained without each trace,
    /// replayed in the host simulator beside readahead, leap and oracle.
    Eval(eval::EvalArgs),
}

#[derive(Args, Clone)]
struct ImageArgs {
    /// Use UEFI (OVMF) instead of BIOS.
    #[arg(long)]
    uefi: bool,
    /// Build the kernel with the release profile.
    #[arg(long)]
    release: bool,
    /// Kernel command line written to the ramdisk (e.g. `mode=test test=mm::`).
    #[arg(long, default_value = "mode=run")]
    cmdline: String,
    /// The commit policy processes start with (`demand`, `eager`,
    /// `readahead`, `leap`); added to the command line as `policy=NAME`.
    #[arg(long)]
    policy: Option<String>,
}

impl ImageArgs {
    fn firmware(&self) -> Firmware {
        if self.uefi { Firmware::Uefi } else { Firmware::Bios }
    }

    fn profile(&self) -> Profile {
        if self.release { Profile::Release } else { Profile::Debug }
    }

    /// Builds the kernel, the user programs and the image; returns the
    /// kernel and image paths.
    fn build(&self) -> Result<(PathBuf, PathBuf)> {
        let kernel = boot::build::kernel(self.profile())?;
        let programs = boot::build::user_programs(self.profile())?;
        let out_dir = boot::target_dir().join("images").join(self.profile().dir_name());
        let cmdline = match &self.policy {
            Some(policy) => {
                if !kernel::policy::NAMES.contains(&policy.as_str()) {
                    bail!("unknown policy `{policy}` (one of {})", kernel::policy::NAMES.join(", "));
                }
                format!("{} policy={policy}", self.cmdline)
            }
            None => self.cmdline.clone(),
        };
        let ramdisk = RamdiskContents::standard(&cmdline, &programs)?;
        let image = boot::image::create(&kernel, &ramdisk, self.firmware(), &out_dir)?;
        Ok((kernel, image.path))
    }
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    image: ImageArgs,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Kill QEMU after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Deterministic execution (`-icount shift=0`).
    #[arg(long)]
    icount: bool,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

fn main() -> ExitCode {
    match run_cli(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build(args) => {
            let (kernel, image) = args.image.build()?;
            println!("kernel: {}\nimage:  {}", kernel.display(), image.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            prerequisites::ensure(args.image.firmware())?;
            let (_, image) = args.image.build()?;
            let mut config = RunConfig::new(&image, args.image.firmware());
            config.timeout = Duration::from_secs(args.timeout);
            config.icount = args.icount;
            config.extra_args = args.qemu_args;
            let verdict = qemu::run_interactive(&config)?;
            eprintln!("xtask: kernel exited: {verdict:?}");
            Ok(if verdict == Verdict::Success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Test(args) => test::run(&args),
        Command::Gdb(args) => gdb(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Trace(args) => history::run(&args),
        Command::OnnxConformance(args) => onnx::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
    }
}

fn gdb(args: &ImageArgs) -> Result<ExitCode> {
    prerequisites::ensure(args.firmware())?;
    let (kernel, image) = args.build()?;
    let mut config = RunConfig::new(&image, args.firmware());
    config.gdb = true;
    config.timeout = Duration::from_secs(24 * 3600);
    eprintln!(
        "xtask: QEMU waits for gdb on :1234. In another terminal (use hardware breakpoints: the\n  bootloader overwrites software ones when it loads the kernel):\n  gdb -ex 'symbol-file -o {:#x} {}' -ex 'target remote :1234' -ex 'hbreak kernel::boot::start' -ex continue",
        boot::KERNEL_BASE,
        kernel.display()
    );
    let verdict = qemu::run_interactive(&config)?;
    if verdict == Verdict::Timeout {
        bail!("QEMU ran for a day; stopped it");
    }
    Ok(ExitCode::SUCCESS)
}
