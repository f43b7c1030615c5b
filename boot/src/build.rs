//! Building the kernel ELF with cargo.

use crate::{Profile, target_dir, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
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
