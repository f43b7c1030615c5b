//! The PAE's default model on bare metal: the integer path gives exactly
//! the host's results (the self-check hash of a fixed run), and a step
//! costs at most 20,000 guest instructions (release kernel under `-icount
//! shift=0`: the guest runs one instruction per virtual nanosecond, so
//! TSC cycles × 10⁹ / `tsc_hz` is the instruction count).

use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig, Verdict};
use boot::{Firmware, Profile};
use pae_model::integer::IntegerModel;
use std::time::Duration;

/// The budget per step.
const MAX_INSTRUCTIONS_PER_STEP: u64 = 20_000;

#[test]
fn the_integer_model_agrees_with_the_host_bit_for_bit_and_fits_its_budget() {
    let bytes = std::fs::read(boot::workspace_root().join(boot::image::DEFAULT_MODEL)).expect("the default model");
    let model = IntegerModel::load(&bytes).expect("the default model compiles on the host");
    let expected = format!("pae-self-check {:#018x}", model.self_check());

    let kernel = boot::build::kernel(Profile::Release).expect("building the release kernel");
    let programs = boot::build::user_programs(Profile::Release).expect("building the programs");
    let cmdline = "mode=test test=process::lifecycle::the_default_model_runs_on_bare_metal";
    let ramdisk = RamdiskContents::standard(cmdline, &programs).expect("packing the ramdisk");
    let out_dir = boot::target_dir().join("images").join("integration").join("pae-release");
    let image = boot::image::create(&kernel, &ramdisk, Firmware::Bios, &out_dir).expect("creating the image");
    let mut config = RunConfig::new(&image.path, Firmware::Bios);
    config.icount = true;
    config.timeout = Duration::from_secs(240);
    let outcome = qemu::run(&config, false).expect("running QEMU");
    println!("{}", outcome.serial);
    assert_eq!(outcome.verdict, Verdict::Success);
    assert!(outcome.serial.contains("1 passed, 0 failed"), "the kernel test ran");
    assert!(outcome.serial.contains(&expected), "expected `{expected}`: the bare-metal result differs from the host's");

    let line = outcome.serial.lines().find_map(|line| line.split_once("pae-step-cost ").map(|(_, rest)| rest)).expect("a cost line");
    let field = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key).and_then(|value| value.strip_prefix('=')))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in `{line}`"))
    };
    let instructions = u128::from(field("cycles")) * 1_000_000_000 / u128::from(field("tsc_hz")) / u128::from(field("steps"));
    println!("{instructions} instructions per step (hidden {})", field("hidden"));
    assert!(instructions as u64 <= MAX_INSTRUCTIONS_PER_STEP, "{instructions} instructions per step");
    assert!(instructions > 100, "a step does real work: {instructions}");
}
