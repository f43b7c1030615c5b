//! `cargo xtask onnx-conformance [DIR...]`: runs ONNX backend-test case
//! directories (`model.onnx` + `test_data_set_*/{input,output}_<j>.pb`)
//! through the PAE engine (`pae_model::conformance`).

use anyhow::{Result, bail};
use clap::Args;
use pae_model::conformance::{self, Outcome};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ConformanceArgs {
    /// Case directories, or directories holding them (default: the shared ONNX node tests).
    #[arg(default_value = "../shared/onnx-node-tests")]
    directories: Vec<PathBuf>,
}

pub fn run(args: &ConformanceArgs) -> Result<ExitCode> {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for directory in &args.directories {
        let cases = conformance::cases(directory).map_err(|error| anyhow::anyhow!("{}: {error}", directory.display()))?;
        if cases.is_empty() {
            bail!("{}: no case directories (each holds a model.onnx)", directory.display());
        }
        for case in cases {
            let outcome = conformance::run_case(&case);
            let name = case.file_name().map_or_else(|| case.display().to_string(), |name| name.to_string_lossy().into_owned());
            println!("{name:48} {outcome}");
            match outcome {
                Outcome::Passed { .. } => passed += 1,
                Outcome::Skipped(_) => skipped += 1,
                Outcome::Failed(_) => failed += 1,
            }
        }
    }
    if skipped > 0 {
        println!("{skipped} skipped (operators the engine does not claim)");
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
