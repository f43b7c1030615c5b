//! `cargo xtask`: build, run, test and debug the kernel (`build`, `run`,
//! `test`, `gdb`), and the project's tools: `bench`, `sim`, `trace`,
//! `onnx-conformance`, `train`, `eval`. One `clap` subcommand each, with its
//! module where it is more than a call into `boot`.

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
    /// `readahead`, `leap`, `pae`); added to the command line as `policy=NAME`.
    #[arg(long)]
    policy: Option<String>,
    /// The PAE model to pack into the ramdisk instead of
    /// `pae-model/models/default.onnx` (checked by the kernel at boot: a
    /// file it refuses is logged and `pae` falls back to readahead).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// A lackey trace to pack into the ramdisk as the replay file
    /// `replay/<name>.vrpl` (for `bin/replay`); repeatable.
    #[arg(long, value_name = "TRACE")]
    replay: Vec<PathBuf>,
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
                if !abi::CommitPolicy::from_name(policy).is_some_and(|policy| abi::CommitPolicy::KERNEL.contains(&policy)) {
                    let names: Vec<&str> = abi::CommitPolicy::KERNEL.iter().map(|policy| policy.name()).collect();
                    bail!("unknown policy `{policy}` (one of {})", names.join(", "));
                }
                format!("{} policy={policy}", self.cmdline)
            }
            None => self.cmdline.clone(),
        };
        let mut ramdisk = RamdiskContents::standard(&cmdline, &programs)?;
        if let Some(path) = &self.model {
            let bytes = std::fs::read(path).map_err(|error| anyhow::anyhow!("reading the model {}: {error}", path.display()))?;
            ramdisk.add(kernel::pae::MODEL_PATH, bytes);
        }
        for path in &self.replay {
            let name = trace::file::trace_name(path);
            let replay = trace::Replay::from_accesses(&sim::read_lackey(path)?).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
            eprintln!("xtask: replay/{name}.vrpl: {} accesses, {} distinct pages", replay.accesses.len(), replay.distinct_pages());
            ramdisk.add(&format!("replay/{name}.vrpl"), replay.encode());
        }
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
    /// Attach a zero-filled swap disk (virtio-blk, raw image
    /// `target/images/<profile>/swap.img`, recreated each run) of SIZE: a
    /// page count (`1024`) or bytes with a binary unit K, M or G (`64M` is
    /// 16384 pages of 4 KiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_swap_size)]
    swap_size: Option<u64>,
    /// A memory budget for all processes together: PAGES, or PERCENT% of
    /// the frames free at boot (`mem-budget=` on the kernel command line);
    /// over it, their pages go to swap. Without `--swap-size`, attaches a
    /// swap disk as large as the guest's memory.
    #[arg(long, value_name = "PAGES|PERCENT%", value_parser = parse_mem_budget)]
    mem_budget: Option<String>,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

impl RunArgs {
    /// The image to build: the command line with `mem-budget=` added.
    fn image_args(&self) -> ImageArgs {
        let mut image = self.image.clone();
        if let Some(budget) = &self.mem_budget {
            image.cmdline = format!("{} mem-budget={budget}", image.cmdline);
        }
        image
    }

    /// The swap disk to attach, in pages, for a guest of `memory_mib` MiB:
    /// `--swap-size`, else with a budget the guest's memory (room for every
    /// page the processes could hold without one), else none.
    fn swap_pages(&self, memory_mib: u32) -> Option<u64> {
        self.swap_size.or_else(|| self.mem_budget.as_ref().map(|_| u64::from(memory_mib) * (1 << 20) / boot::image::SWAP_PAGE_BYTES))
    }
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
            let (_, image) = args.image_args().build()?;
            let mut config = RunConfig::new(&image, args.image.firmware());
            config.timeout = Duration::from_secs(args.timeout);
            config.icount = args.icount;
            if let Some(pages) = args.swap_pages(config.memory_mib) {
                let swap = image.with_file_name("swap.img");
                boot::image::create_swap_image(&swap, pages)?;
                eprintln!("xtask: swap disk {} ({pages} pages)", swap.display());
                config.swap_image = Some(swap);
            }
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

/// Parses `--swap-size`: a number of 4 KiB pages, or a byte size with a
/// binary unit (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`) that is a whole number of
/// pages. Returns pages; zero is refused.
fn parse_swap_size(text: &str) -> Result<u64, String> {
    const PAGE: u64 = boot::image::SWAP_PAGE_BYTES;
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("`{text}`: expected pages (1024) or a size (64M)"))?;
    let pages = match unit {
        "" => Some(number),
        _ => {
            let shift = match unit {
                "K" | "k" | "KiB" => 10,
                "M" | "m" | "MiB" => 20,
                "G" | "g" | "GiB" => 30,
                _ => return Err(format!("`{text}`: unknown unit `{unit}` (K, M or G)")),
            };
            let bytes = number.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))?;
            if bytes % PAGE != 0 {
                return Err(format!("`{text}` is not a whole number of {PAGE}-byte pages"));
            }
            Some(bytes / PAGE)
        }
    };
    match pages {
        Some(0) | None => Err(format!("`{text}`: a swap disk needs at least one page")),
        Some(pages) => pages.checked_mul(PAGE).map(|_| pages).ok_or_else(|| format!("`{text}` is too large")),
    }
}

/// Parses `--mem-budget` as the kernel will (`kernel::config::MemBudget`):
/// PAGES (at least `abi::MIN_MEMORY_BUDGET`) or PERCENT% (1..=100).
fn parse_mem_budget(text: &str) -> Result<String, String> {
    let text = text.trim();
    match kernel::config::MemBudget::parse(text) {
        Some(_) => Ok(text.to_owned()),
        None => Err(format!("`{text}` is not PAGES (at least {}) or PERCENT% (1..=100)", abi::MIN_MEMORY_BUDGET)),
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

#[cfg(test)]
mod tests {
    use super::{Cli, Command, parse_mem_budget, parse_swap_size};
    use clap::Parser;

    #[test]
    fn memory_budgets_are_pages_or_percentages_and_bring_a_swap_disk() {
        assert_eq!(parse_mem_budget("25%"), Ok("25%".to_owned()));
        assert_eq!(parse_mem_budget("4096"), Ok("4096".to_owned()));
        for bad in ["", "0", "7", "0%", "101%", "1.5%", "lots", "25 %"] {
            assert!(parse_mem_budget(bad).is_err(), "`{bad}` was accepted");
        }
        let run = |words: &[&str]| match Cli::try_parse_from([&["cargo xtask", "run"], words].concat()).map(|cli| cli.command) {
            Ok(Command::Run(args)) => args,
            _ => panic!("`run {words:?}` did not parse"),
        };
        let args = run(&["--mem-budget", "25%", "--cmdline", "mode=run sample=0"]);
        assert_eq!(args.image_args().cmdline, "mode=run sample=0 mem-budget=25%");
        assert_eq!(args.swap_pages(256), Some(65_536), "as large as the guest's memory");
        let args = run(&["--mem-budget", "4096", "--swap-size", "4M"]);
        assert_eq!((args.image_args().cmdline.as_str(), args.swap_pages(256)), ("mode=run mem-budget=4096", Some(1024)));
        let args = run(&[]);
        assert_eq!((args.image_args().cmdline.as_str(), args.swap_pages(256)), ("mode=run", None));
        assert!(Cli::try_parse_from(["cargo xtask", "run", "--mem-budget", "3"]).is_err());
    }

    #[test]
    fn swap_sizes_are_pages_or_binary_units() {
        assert_eq!(parse_swap_size("1024"), Ok(1024));
        assert_eq!(parse_swap_size("4M"), Ok(1024));
        assert_eq!(parse_swap_size("4MiB"), Ok(1024));
        assert_eq!(parse_swap_size("64m"), Ok(16384));
        assert_eq!(parse_swap_size("8K"), Ok(2));
        assert_eq!(parse_swap_size("1G"), Ok(262_144));
        assert_eq!(parse_swap_size(" 1 "), Ok(1));
    }

    #[test]
    fn bad_swap_sizes_are_refused() {
        for text in ["", "0", "0M", "2K", "4X", "M", "-1", "4 M", "1.5M", "99999999999999999999", "18014398509481984G"] {
            assert!(parse_swap_size(text).is_err(), "`{text}` was accepted");
        }
    }
}
