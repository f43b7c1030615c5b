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

/// The `workload NAME kib=K checksum=C` lines of a `bench-memory` run, in order.
fn checksums(serial: &str) -> Vec<String> {
    serial.lines().filter_map(|line| line.find("workload ").map(|at| line[at..].trim().to_owned())).collect()
}

/// With a PAE budget far too small for the faults coming in, the task
/// defers work to later ticks: every workload still runs to the same
/// results as under demand paging, some steps are deferred, and nothing
/// waits for the model.
#[test]
fn a_small_pae_budget_defers_work_and_changes_no_result() {
    let cmdline = "mode=run sample=0 pae-budget=30000 init=bin/bench-memory init-args=256,demand,pae";
    let outcome = tests::boot_with_timeout("pae-small-budget", Firmware::Bios, cmdline, Duration::from_secs(300));
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    let lines = checksums(&outcome.serial);
    assert_eq!(lines.len(), 20, "ten workloads under two policies: {lines:?}");
    let (demand, pae) = lines.split_at(10);
    assert_eq!(demand, pae, "the same results under demand and pae");
    let stats = qemu::parse_memstats(&outcome.serial);
    let pae_rows: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-") && stat.policy == "pae").collect();
    assert_eq!(pae_rows.len(), 10);
    let deferred: u64 = pae_rows.iter().map(|stat| stat.get("pae_deferred").unwrap_or(0)).sum();
    let steps: u64 = pae_rows.iter().map(|stat| stat.get("pae_steps").unwrap_or(0)).sum();
    assert!(steps > 0 && deferred > 0, "{steps} steps, {deferred} deferred");
    assert!(pae_rows.iter().all(|stat| stat.get("pae_lost").unwrap_or(0) == 0 || stat.get("history_lost").unwrap_or(0) > 0));
}

/// A model file the engine cannot run is refused at boot with the
/// problem named, and `policy=pae` gives readahead; the programs run.
#[test]
fn a_malformed_model_is_refused_and_pae_falls_back_to_readahead() {
    let mut bytes = std::fs::read(boot::workspace_root().join(boot::image::DEFAULT_MODEL)).expect("the default model");
    bytes.truncate(bytes.len() / 2);
    let files = vec![(kernel::policy::MODEL_PATH.to_owned(), bytes)];
    let cmdline = "mode=run sample=0 policy=pae init=bin/bench-memory init-args=64,pae";
    let outcome = tests::boot_with_files("pae-bad-model", Firmware::Bios, cmdline, Duration::from_secs(300), files);
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    let refusal = outcome.serial.lines().find(|line| line.contains("pae: model pae/model.onnx refused: ")).expect("a refusal line");
    assert!(refusal.contains("the pae policy falls back to readahead"), "{refusal}");
    let stats = qemu::parse_memstats(&outcome.serial);
    let workloads: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-")).collect();
    assert_eq!(workloads.len(), 10);
    assert!(workloads.iter().all(|stat| stat.policy == "readahead"), "{:?}", workloads.iter().map(|s| &s.policy).collect::<Vec<_>>());
    assert!(stats.iter().all(|stat| stat.get("pae_steps").unwrap_or(0) == 0));
}

/// The correctness matrix for the workloads: each computes the same
/// checksum under every commit policy, with all the memory it wants and
/// under a budget of 24 pages, about half of what they touch (with a swap disk); mispredictions cost
/// faults, never results.
#[test]
fn every_policy_gives_every_workload_the_same_results() {
    const POLICIES: [&str; 5] = ["demand", "eager", "readahead", "leap", "pae"];
    let policies = POLICIES.join(",");
    let budgets = ["seq", "stride", "random", "listchase", "matmul", "matmul-blocked", "hashtab", "bintree", "sort", "phases"]
        .map(|name| format!("{name}=24"))
        .join(",");
    for (name, arguments, swap) in [
        ("matrix", format!("128,{policies}"), false),
        ("matrix-budget", format!("128,{policies},--budget,{budgets}"), true),
    ] {
        let cmdline = format!("mode=run sample=0 init=bin/bench-memory init-args={arguments}");
        let outcome = if swap {
            tests::boot_with_swap(name, Firmware::Bios, &cmdline, Duration::from_secs(600), 4096, &[])
        } else {
            tests::boot_with_timeout(name, Firmware::Bios, &cmdline, Duration::from_secs(600))
        };
        assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
        let lines = checksums(&outcome.serial);
        assert_eq!(lines.len(), 10 * POLICIES.len(), "{name}: ten workloads under each policy: {lines:?}");
        for (policy, chunk) in POLICIES.iter().zip(lines.chunks(10)).skip(1) {
            assert_eq!(chunk, &lines[..10], "{name}: {policy} computed something else than demand paging");
        }
        if swap {
            let stats = qemu::parse_memstats(&outcome.serial);
            assert!(stats.iter().any(|stat| stat.name.starts_with("wl-") && stat.get("faults_major").unwrap_or(0) > 0), "{name}: nothing swapped");
        }
    }
}
