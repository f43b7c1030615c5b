//! The PAE's default model on bare metal: the integer path gives exactly
//! the host's results (the self-check hash of a fixed run), and a step
//! costs at most 20,000 guest instructions (release kernel under `-icount
//! shift=0`: the guest runs one instruction per virtual nanosecond, so
//! TSC cycles × 10⁹ / `tsc_hz` is the instruction count).

use boot::image::RamdiskContents;
use boot::qemu::{self, RunConfig, Verdict};
use boot::{Firmware, Profile};
use tests::memstats;
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
    let cmdline = "mode=test test=pae::model::the_default_model_runs_on_bare_metal";
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
    let stats = memstats(&outcome);
    let pae_rows: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-") && stat.policy == abi::CommitPolicy::Pae).collect();
    assert_eq!(pae_rows.len(), 10);
    let deferred: u64 = pae_rows.iter().map(|stat| stat.counters.pae_deferred).sum();
    let steps: u64 = pae_rows.iter().map(|stat| stat.counters.pae_steps).sum();
    assert!(steps > 0 && deferred > 0, "{steps} steps, {deferred} deferred");
    assert!(pae_rows.iter().all(|stat| stat.counters.pae_lost == 0 || stat.counters.history_lost > 0));
}

/// A model file the engine cannot run is refused at boot with the
/// problem named, and `policy=pae` gives readahead; the programs run.
#[test]
fn a_malformed_model_is_refused_and_pae_falls_back_to_readahead() {
    let mut bytes = std::fs::read(boot::workspace_root().join(boot::image::DEFAULT_MODEL)).expect("the default model");
    bytes.truncate(bytes.len() / 2);
    let files = vec![(kernel::pae::MODEL_PATH.to_owned(), bytes)];
    let cmdline = "mode=run sample=0 policy=pae init=bin/bench-memory init-args=64,pae";
    let outcome = tests::boot_with_files("pae-bad-model", Firmware::Bios, cmdline, Duration::from_secs(300), files);
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    let refusal = outcome.serial.lines().find(|line| line.contains("pae: model pae/model.onnx refused: ")).expect("a refusal line");
    assert!(refusal.contains("the pae policy falls back to readahead"), "{refusal}");
    let stats = memstats(&outcome);
    let workloads: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-")).collect();
    assert_eq!(workloads.len(), 10);
    assert!(workloads.iter().all(|stat| stat.policy == abi::CommitPolicy::Readahead), "{:?}", workloads.iter().map(|s| &s.policy).collect::<Vec<_>>());
    assert!(stats.iter().all(|stat| stat.counters.pae_steps == 0));
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
            let stats = memstats(&outcome);
            assert!(stats.iter().any(|stat| stat.name.starts_with("wl-") && stat.counters.faults_major > 0), "{name}: nothing swapped");
        }
    }
}

/// `init` swaps the model at run time (`init model FILE PROGRAM ...`): a
/// model the engine runs serves every process that chooses `pae` after it
/// (its self-check in the log is the host's for that file); a malformed
/// one is refused with the problem named, and the model in service stays
/// and serves.
#[test]
fn init_swaps_the_model_at_run_time_and_a_refused_one_changes_nothing() {
    let default = std::fs::read(boot::workspace_root().join(boot::image::DEFAULT_MODEL)).expect("the default model");
    let other = std::fs::read(boot::workspace_root().join(bench::DEFAULT_FOLDS).join("fold-1.onnx")).expect("a fold model");
    let self_check = |bytes: &[u8]| IntegerModel::load(bytes).expect("the model compiles on the host").self_check();
    assert_ne!(self_check(&default), self_check(&other), "two different models");
    let mut malformed = other.clone();
    malformed.truncate(other.len() / 2);

    for (name, file, accepted) in [("pae-swap", other.clone(), true), ("pae-swap-refused", malformed, false)] {
        let files = vec![("pae/next.onnx".to_owned(), file)];
        let cmdline = "mode=run sample=0 pae-budget=0 init=bin/init init-args=model,pae/next.onnx,bin/bench-memory,64,pae";
        let outcome = tests::boot_with_files(name, Firmware::Bios, cmdline, Duration::from_secs(300), files);
        let serial = &outcome.serial;
        let in_service: Vec<&str> = serial.lines().filter(|line| line.contains("pae: model ") && line.contains(" in service: ")).collect();
        assert_eq!(in_service.len(), 1 + usize::from(accepted), "{serial}");
        assert!(in_service[0].contains(&format!("self-check {:#018x}", self_check(&default))), "the boot model first: {}", in_service[0]);
        if accepted {
            assert_eq!(outcome.verdict, Verdict::Success, "{serial}");
            assert!(in_service[1].contains("pae: model from pid 1 in service: "), "{}", in_service[1]);
            assert!(in_service[1].contains(&format!("self-check {:#018x}", self_check(&other))), "the host's self-check: {}", in_service[1]);
            assert!(serial.contains("init: model pae/next.onnx in service"), "{serial}");
        } else {
            assert_eq!(outcome.verdict, Verdict::Failure, "init reports the refusal in its exit code: {serial}");
            let refusal = serial.lines().find(|line| line.contains("pae: model from pid 1 refused: ")).expect("the problem named");
            assert!(refusal.contains("the model in service stays"), "{refusal}");
            assert!(serial.contains("init: model pae/next.onnx refused: bad format"), "{serial}");
        }
        // Either way the workloads ran under a model.
        let stats = memstats(&outcome);
        let workloads: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-")).collect();
        assert_eq!(workloads.len(), 10, "{name}");
        assert!(workloads.iter().all(|stat| stat.policy == abi::CommitPolicy::Pae), "{name}");
        assert!(workloads.iter().map(|stat| stat.counters.pae_steps).sum::<u64>() > 0, "{name}: the model ran");
    }
}

/// Layout proposals: each workload runs twice under `pae` in one boot; the
/// first run of a program finds no proposal, the second commits the hot
/// ranges the first left at the first fault in each partition, so it takes
/// fewer demand faults and computes the same results. `layout` then shows
/// a proposal per workload, keyed by the hash of its ELF file.
#[test]
fn a_second_run_under_pae_starts_from_the_layout_the_first_left() {
    let cmdline = "mode=run sample=0 huge=off pae-budget=0 init=bin/layout init-args=bin/bench-memory,256,pae,pae";
    let outcome = tests::boot_with_timeout("pae-layout", Firmware::Bios, cmdline, Duration::from_secs(300));
    let serial = &outcome.serial;
    assert_eq!(outcome.verdict, Verdict::Success, "{serial}");
    let lines = checksums(serial);
    assert_eq!(lines.len(), 20, "ten workloads, two runs: {lines:?}");
    assert_eq!(lines[..10], lines[10..], "the second run computes the same results");

    let stats = memstats(&outcome);
    let runs: Vec<_> = stats.iter().filter(|stat| stat.name.starts_with("wl-")).collect();
    assert_eq!(runs.len(), 20);
    let (first, second) = runs.split_at(10);
    let get = |stat: &qemu::Memstat, key: &str| stat.counters.get(key).unwrap_or_else(|| panic!("no {key}"));
    let mut fewer = 0;
    for (one, two) in first.iter().zip(second) {
        assert_eq!(one.name, two.name);
        assert_eq!(get(one, "layout_commits"), 0, "{}: no proposal on the first run", one.name);
        let (faults_one, faults_two) = (get(one, "faults_demand"), get(two, "faults_demand"));
        println!("{}: {faults_one} -> {faults_two} demand faults, {} pages from the proposal", one.name, get(two, "layout_commits"));
        fewer += usize::from(faults_two < faults_one);
    }
    let total = |runs: &[&qemu::Memstat], key: &str| runs.iter().map(|stat| get(stat, key)).sum::<u64>();
    assert!(total(second, "layout_commits") > 0, "the second runs committed from their proposals");
    assert!(total(second, "faults_demand") < total(first, "faults_demand"), "fewer demand faults in all");
    assert!(fewer >= 8, "most workloads fault less on their second run ({fewer} of 10)");

    // `layout` lists one proposal per workload, two runs each, with the
    // host's hash of the ELF file the ramdisk holds.
    for program in tests::user_programs().iter().filter(|program| program.name.starts_with("wl-")) {
        let elf = std::fs::read(&program.path).expect("the workload's ELF file");
        let identity = kernel::pae::proposal::identity(&elf);
        let line = format!("program {} identity={identity:#018x} runs=2 ", program.name);
        assert!(serial.contains(&line), "`{line}` in the layout listing:\n{serial}");
    }
    assert!(serial.contains("layout: 10 programs"), "the ten workloads (bench-memory ends under demand): {serial}");
}
