//! Building the kernel ELF with cargo.

use crate::{Profile, target_dir, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bare-metal target the kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Builds the kernel and returns the path of its ELF file.
///
/// Runs a separate `cargo build`, never from a build script: a build script
/// building into the same target directory deadlocks on cargo's lock.
pub fn kernel(profile: Profile) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--package", "kernel", "--bin", "kernel", "--target", KERNEL_TARGET]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command.status().context("running cargo to build the kernel")?;
    if !status.success() {
        bail!("building the kernel failed ({status})");
    }
    let elf = target_dir().join(KERNEL_TARGET).join(profile.dir_name()).join("kernel");
    if !elf.is_file() {
        bail!("cargo succeeded but {} does not exist", elf.display());
    }
    Ok(elf)
}

/// A user program built for the ramdisk.
#[derive(Clone, Debug)]
pub struct UserProgram {
    /// Program name (the file name in `userland/programs/src/bin`).
    pub name: String,
    /// The ELF file.
    pub path: PathBuf,
}

/// The names of every user program: one per file in `userland/programs/src/bin`.
pub fn user_program_names() -> Result<Vec<String>> {
    let directory = workspace_root().join("userland/programs/src/bin");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&directory).with_context(|| format!("listing {}", directory.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "rs")
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds every user program and returns them in name order.
pub fn user_programs(profile: Profile) -> Result<Vec<UserProgram>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--package", "programs", "--bins", "--target", KERNEL_TARGET]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command.status().context("running cargo to build the user programs")?;
    if !status.success() {
        bail!("building the user programs failed ({status})");
    }
    user_programs_in(&target_dir().join(KERNEL_TARGET).join(profile.dir_name()))
}

/// The user programs (one per file of `userland/programs/src/bin`) as
/// built ELF files in `dir`: this checkout's build output, or another
/// commit's programs, to run them under this kernel.
pub fn user_programs_in(dir: &Path) -> Result<Vec<UserProgram>> {
    user_program_names()?
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            if path.is_file() {
                Ok(UserProgram { name, path })
            } else {
                bail!("user program {} was not built", path.display())
            }
        })
        .collect()
}
