//! `cargo xtask test`: every test the project has, with one closing tally.

use crate::prerequisites;
use abi::record::Suite;
use anyhow::{Context, Result};
use boot::build::UserProgram;
use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig, Verdict};
use boot::{Firmware, Profile};
use clap::Args;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

#[derive(Args)]
pub struct TestArgs {
    /// Only run in-kernel tests whose name starts with this.
    #[arg(long)]
    filter: Option<String>,
    /// Skip the host unit tests.
    #[arg(long)]
    no_host: bool,
    /// Skip the user test programs.
    #[arg(long)]
    no_user: bool,
    /// Skip the integration tests in `tests/`.
    #[arg(long)]
    no_integration: bool,
    /// Skip clippy over the bare-metal crates.
    #[arg(long)]
    no_lints: bool,
    /// Test the release kernel instead of the debug one.
    #[arg(long)]
    release: bool,
    /// Seconds before a kernel test run is killed (the user tests take
    /// 240-280 s under TCG on a 2-core machine: 300 left no margin).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Also run every user test program with every process starting under
    /// each commit policy in turn (`policy=eager`, ..., `policy=pae`; BIOS):
    /// the full correctness matrix. Without it, the workloads alone go
    /// through every policy (the `pae` integration tests) and the user
    /// tests under the default policy.
    #[arg(long)]
    policy_matrix: bool,
}

/// The program whose suite closes a run of the user tests (`init test`).
const INIT: &str = "init";

/// How a suite is named in messages.
fn suite_name(suite: Suite<&str>) -> String {
    match suite {
        Suite::Kernel => "the kernel".to_owned(),
        Suite::Program(program) => format!("`{program}`"),
    }
}

/// The policies the matrix runs the user tests under, besides the default.
const MATRIX_POLICIES: [&str; 4] = ["eager", "readahead", "leap", "pae"];

/// Passed and failed counts of one stage.
#[derive(Default, Clone, Copy)]
struct Tally {
    passed: usize,
    failed: usize,
}

struct Stage {
    name: String,
    tally: Tally,
    /// The stage ended abnormally (crash, timeout, build error, missing or
    /// damaged results).
    broken: Option<String>,
    /// Each failed test of a boot stage, `suite::name: message`, from its
    /// records.
    failures: Vec<String>,
}

impl Stage {
    fn new(name: &str) -> Stage {
        Stage { name: name.to_owned(), tally: Tally::default(), broken: None, failures: Vec::new() }
    }
}

/// Runs a cargo test command, streaming its output, and sums its
/// `test result: ... N passed; M failed` lines.
fn cargo_test(name: &str, args: &[&str], envs: &[(&str, String)]) -> Stage {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(boot::workspace_root()).arg("test").args(args).stdout(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut stage = Stage::new(name);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            stage.broken = Some(format!("cannot run cargo: {error}"));
            return stage;
        }
    };
    let mut results = 0;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(tally) = parse_cargo_result(&line) {
                stage.tally.passed += tally.passed;
                stage.tally.failed += tally.failed;
                results += 1;
            }
        }
    }
    match child.wait() {
        Ok(status) if status.success() => {}
        Ok(status) => stage.broken = Some(format!("cargo test exited with {status}")),
        Err(error) => stage.broken = Some(format!("waiting for cargo: {error}")),
    }
    if results == 0 && stage.broken.is_none() {
        stage.broken = Some("no test results found in the output".to_owned());
    }
    stage
}

/// The crates built for bare metal, where the unsafe code lives.
const BARE_METAL_CRATES: [&str; 3] = ["kernel", "runtime", "programs"];

/// Runs clippy over [`BARE_METAL_CRATES`] with every warning an error (the
/// workspace lints deny unsafe blocks without a `// SAFETY:` comment and
/// unsafe functions without a `# Safety` section): one passed check, or one
/// failed.
fn lint_stage() -> Stage {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(boot::workspace_root()).args(["clippy", "--target", boot::build::KERNEL_TARGET]);
    for krate in BARE_METAL_CRATES {
        command.args(["--package", krate]);
    }
    command.args(["--", "--deny", "warnings"]);
    let mut stage = Stage::new("lints (clippy, bare metal)");
    match command.status() {
        Ok(status) if status.success() => stage.tally.passed = 1,
        Ok(_) => stage.tally.failed = 1,
        Err(error) => stage.broken = Some(format!("cannot run cargo clippy: {error}")),
    }
    stage
}

/// Parses `test result: ok. 12 passed; 0 failed; ...`.
fn parse_cargo_result(line: &str) -> Option<Tally> {
    let rest = line.strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut fields = counts.split("; ");
    let passed = fields.next()?.strip_suffix(" passed")?.parse().ok()?;
    let failed = fields.next()?.strip_suffix(" failed")?.parse().ok()?;
    Some(Tally { passed, failed })
}

/// Boots `kernel` with `cmdline` and the standard ramdisk under `firmware`
/// (with a fresh zero-filled swap disk of `swap_pages` pages, if given) and
/// reads from the kernel's records the closing tally of `suite` (the
/// kernel's tests, or `init`'s for `init test`) and every failed test.
#[allow(clippy::too_many_arguments)]
fn boot_stage(
    name: String,
    kernel: &Path,
    programs: &[UserProgram],
    cmdline: &str,
    firmware: Firmware,
    swap_pages: Option<u64>,
    suite: Suite<&str>,
    args: &TestArgs,
) -> Stage {
    let mut stage = Stage::new(&name);
    let out_dir = boot::target_dir().join("images").join("xtask-test").join(cmdline.replace([' ', '=', ','], "-"));
    let outcome = RamdiskContents::standard(cmdline, programs)
        .and_then(|ramdisk| boot::image::create(kernel, &ramdisk, firmware, &out_dir))
        .and_then(|image| {
            let mut config = RunConfig::new(&image.path, firmware);
            config.timeout = Duration::from_secs(args.timeout);
            if let Some(pages) = swap_pages {
                let swap = out_dir.join(format!("swap-{}.img", firmware.name()));
                boot::image::create_swap_image(&swap, pages)?;
                config.swap_image = Some(swap);
            }
            qemu::run(&config, true)
        });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            stage.broken = Some(format!("{error:#}"));
            return stage;
        }
    };
    let records = &outcome.records;
    stage.failures = records.failures();
    match records.tally(suite) {
        Some(tally) => stage.tally = Tally { passed: tally.passed, failed: tally.failed },
        None => stage.broken = Some(format!("no closing test summary of {} in the records", suite_name(suite))),
    }
    if let Some(error) = &records.error {
        stage.broken = Some(format!("{error}"));
    }
    let kernel_results = records.results().filter(|result| result.suite == Suite::Kernel).count();
    if suite == Suite::Kernel && stage.broken.is_none() && kernel_results != stage.tally.passed + stage.tally.failed {
        stage.broken = Some(format!("{kernel_results} kernel test results, but the summary counts {}", stage.tally.passed + stage.tally.failed));
    }
    let consistent = match outcome.verdict {
        Verdict::Success => stage.tally.failed == 0,
        Verdict::Failure => stage.tally.failed > 0,
        _ => false,
    };
    if !consistent && stage.broken.is_none() {
        stage.broken = Some(format!("QEMU ended with {:?}", outcome.verdict));
    }
    println!("xtask: {} finished in {:.1} s", stage.name, outcome.elapsed.as_secs_f64());
    stage
}

pub fn run(args: &TestArgs) -> Result<ExitCode> {
    let mut stages = Vec::new();
    if !args.no_host {
        stages.push(cargo_test("host unit tests", &["--workspace", "--exclude", "tests", "--exclude", "programs"], &[]));
    }
    if !args.no_lints {
        stages.push(lint_stage());
    }
    prerequisites::ensure(Firmware::Uefi)?;
    let profile = if args.release { Profile::Release } else { Profile::Debug };
    let kernel = boot::build::kernel(profile).context("building the kernel for the tests")?;
    let programs = boot::build::user_programs(profile).context("building the user programs")?;
    let kernel_cmdline = match &args.filter {
        Some(filter) => format!("mode=test test={filter}"),
        None => "mode=test".to_owned(),
    };
    for firmware in Firmware::ALL {
        let name = format!("kernel tests ({})", firmware.name());
        // The swap-disk tests (`dev::swap_disk`) expect exactly this size.
        let swap_pages = Some(kernel::dev::TEST_SWAP_PAGES);
        stages.push(boot_stage(name, &kernel, &programs, &kernel_cmdline, firmware, swap_pages, Suite::Kernel, args));
    }
    if !args.no_user {
        for firmware in Firmware::ALL {
            let name = format!("user tests ({})", firmware.name());
            // `test-swap` pages processes out to it.
            let swap_pages = Some(kernel::dev::TEST_SWAP_PAGES);
            // `swap-debug=on`: `test-swap` injects swap faults into its helpers.
            // `pae-budget=0`: the PAE task reads every fault before the access
            // is retried, however slow the (debug, emulated) kernel is, so
            // what `pae` commits does not depend on the host's speed. The
            // budget itself is tested by the `pae` integration tests.
            let cmdline = "mode=run init-args=test swap-debug=on pae-budget=0";
            stages.push(boot_stage(name, &kernel, &programs, cmdline, firmware, swap_pages, Suite::Program(INIT), args));
        }
    }
    if args.policy_matrix && !args.no_user {
        for policy in MATRIX_POLICIES {
            let name = format!("user tests (bios, policy={policy})");
            let cmdline = format!("mode=run init-args=test swap-debug=on pae-budget=0 policy={policy}");
            let swap_pages = Some(kernel::dev::TEST_SWAP_PAGES);
            stages.push(boot_stage(name, &kernel, &programs, &cmdline, Firmware::Bios, swap_pages, Suite::Program(INIT), args));
        }
    }
    if !args.no_integration {
        let envs = [("KERNEL_ELF", kernel.display().to_string())];
        stages.push(cargo_test("integration tests", &["--package", "tests"], &envs));
    }

    let mut total = Tally::default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nxtask test summary:")?;
    for stage in &stages {
        total.passed += stage.tally.passed;
        total.failed += stage.tally.failed;
        let note = stage.broken.as_deref().map(|why| format!("  BROKEN: {why}")).unwrap_or_default();
        writeln!(out, "  {:<28} {:>4} passed, {:>3} failed{note}", stage.name, stage.tally.passed, stage.tally.failed)?;
        for failure in &stage.failures {
            writeln!(out, "    FAILED {failure}")?;
        }
    }
    let broken = stages.iter().filter(|stage| stage.broken.is_some()).count();
    // A stage that broke without a counted failure still counts as one.
    let failed = total.failed + stages.iter().filter(|s| s.broken.is_some() && s.tally.failed == 0).count();
    writeln!(out, "{} passed, {failed} failed", total.passed)?;
    Ok(if failed == 0 && broken == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_result_lines() {
        let tally = parse_cargo_result("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured").unwrap();
        assert_eq!((tally.passed, tally.failed), (12, 0));
        let tally = parse_cargo_result("test result: FAILED. 3 passed; 2 failed; 0 ignored").unwrap();
        assert_eq!((tally.passed, tally.failed), (3, 2));
        assert!(parse_cargo_result("running 3 tests").is_none());
    }
}
