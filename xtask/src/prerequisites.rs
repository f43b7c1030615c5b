//! Checks for QEMU and OVMF, installing them with apt-get when possible.

use anyhow::{Result, bail};
use boot::Firmware;
use boot::qemu;
use std::process::Command;

const PACKAGES: [&str; 2] = ["qemu-system-x86", "ovmf"];

fn missing(firmware: Firmware) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !qemu::qemu_available() {
        missing.push("qemu-system-x86");
    }
    if firmware == Firmware::Uefi && qemu::ovmf().is_none() {
        missing.push("ovmf");
    }
    missing
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Makes sure QEMU (and OVMF for UEFI) are installed. As root on a system
/// with apt-get, installs what is missing and says so; otherwise prints the
/// command to run and fails.
pub fn ensure(firmware: Firmware) -> Result<()> {
    let needed = missing(firmware);
    if needed.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get update && apt-get install -y {}", PACKAGES.join(" "));
    if is_root() && std::path::Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: {} missing; installing: {command}", needed.join(" and "));
        let status = Command::new("sh").arg("-c").arg(format!("{command} >/dev/null")).status()?;
        if status.success() && missing(firmware).is_empty() {
            return Ok(());
        }
        bail!("installing {} failed; run `{command}` yourself", needed.join(" "));
    }
    bail!("{} missing; install with: sudo sh -c '{command}'", needed.join(" and "))
}
