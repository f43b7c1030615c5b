//! Real traces replayed in the kernel give exactly the counters the host
//! simulator predicts for them: the same policies, the same engine, the
//! same placement; under a memory budget too (the replay locks its own
//! pages, so the trace's pages alone share the trace's budget).
//!
//! The boots run with `huge=off` (one accessed bit per 2 MiB page would
//! blur hits) and `sample=0`.

use std::path::PathBuf;
use std::time::Duration;
use tests::*;

/// The shared traces, beside the repository.
fn shared_traces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces")
}

/// Accesses of each trace replayed (the start of the program: enough for
/// every policy to act, short enough for a debug kernel under TCG).
const ACCESSES: usize = 40_000;
const TRACES: [&str; 2] = ["gzip", "stencil"];
const POLICIES: [&str; 4] = ["demand", "readahead", "leap", "oracle"];

/// Ramdisk files: (path, contents).
type Files = Vec<(String, Vec<u8>)>;

/// The first [`ACCESSES`] of each shared trace named: the ramdisk files
/// (`replay/NAME.vrpl`) and the replays.
fn replays<'a>(names: &[&'a str]) -> (Files, Vec<(&'a str, trace::Replay)>) {
    let mut files = Vec::new();
    let mut replays = Vec::new();
    for &name in names {
        let path = shared_traces().join(format!("{name}.lackey.gz"));
        let accesses = trace::file::read_lackey(&path).expect("reading a shared trace");
        let replay = trace::Replay::from_accesses(&accesses).expect("a replayable trace").truncated(ACCESSES);
        files.push((format!("replay/{name}.vrpl"), replay.encode()));
        replays.push((name, replay));
    }
    (files, replays)
}

#[test]
fn replayed_traces_count_what_the_simulator_predicts() {
    let (files, replays) = replays(&TRACES);
    let arguments: Vec<String> = TRACES.iter().map(|name| format!("replay/{name}.vrpl")).collect();
    // 2 MiB pages off: one accessed bit per 2 MiB page would blur hits,
    // which the simulator counts per 4 KiB page.
    let cmdline = format!("mode=run init=bin/replay init-args=all,{} huge=off sample=0 memstat=off", arguments.join(","));
    let outcome = boot_with_files("replay", Bios, &cmdline, Duration::from_secs(240), files);
    assert_eq!(outcome.verdict, Verdict::Success, "the replays ran");
    for (name, replay) in &replays {
        for policy in POLICIES {
            let simulated = kernel::pager::simulator::policy_for(abi::CommitPolicy::from_name(policy).expect("a policy's name"), replay, None).expect("a policy");
            let (accesses, counters) = kernel::pager::simulator::replay(replay, simulated).expect("simulating");
            let expected = format!(
                "replay replay/{name}.vrpl policy={policy} accesses={accesses} faults={} ahead={} hits={} waste={}",
                counters.faults_demand, counters.ahead_commits, counters.hits, counters.waste
            );
            assert_output_contains(&outcome, &expected);
            if policy != "demand" {
                assert!(counters.ahead_commits > 0, "{name} under {policy} committed ahead: {expected}");
            }
        }
    }
}

/// Under a quarter of each trace's distinct pages, with a swap disk, the
/// kernel's first-touch and major faults are the simulator's, and the
/// replay's own pages (locked) never leave.
#[test]
fn replayed_traces_under_a_budget_count_what_the_simulator_predicts() {
    const BUDGET: trace::Budget = trace::Budget::Percent(25);
    // Traces with few distinct pages: every page of the budget's misses
    // waits for the swap disk.
    const TRACES: [&str; 2] = ["gzip", "matmul_naive"];
    let (files, replays) = replays(&TRACES);
    let arguments: Vec<String> = TRACES.iter().map(|name| format!("replay/{name}.vrpl")).collect();
    let cmdline = format!("mode=run init=bin/replay init-args={},--budget,{BUDGET},{} huge=off sample=0 memstat=off", POLICIES.join("+"), arguments.join(","));
    let mut prepared = Prepared::new("replay-budget", Bios, &cmdline, Duration::from_secs(420), files);
    let slots: u64 = replays.iter().map(|(_, replay)| replay.regions.iter().map(|region| region.pages).sum::<u64>()).max().unwrap_or(0);
    prepared.attach_swap(slots + 2048, &[]);
    let outcome = prepared.run();
    assert_eq!(outcome.verdict, Verdict::Success, "the replays ran");
    for (name, replay) in &replays {
        let pages = BUDGET.pages(replay.distinct_pages(), abi::MIN_MEMORY_BUDGET);
        for policy in POLICIES {
            let simulated = kernel::pager::simulator::policy_for(abi::CommitPolicy::from_name(policy).expect("a policy's name"), replay, None).expect("a policy");
            let pressure = kernel::pager::simulator::Pressure { budget: Some(pages), eviction: kernel::vass::Eviction::ColdFirst };
            let (accesses, counters) = kernel::pager::simulator::replay_under(replay, simulated, pressure).expect("simulating");
            let prefix = format!("replay replay/{name}.vrpl policy={policy} accesses={accesses} faults={} ahead={} ", counters.faults_demand, counters.ahead_commits);
            let line = outcome.serial.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("no line starting `{prefix}`"));
            let field = |key: &str| -> u64 {
                let word = line.split(' ').find_map(|word| word.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}= in `{line}`"));
                word.parse().expect("a number")
            };
            assert_eq!(field("budget"), pages, "{line}");
            assert_eq!(field("trace_major"), counters.faults_major, "the trace's major faults are the simulator's: {line}");
            assert_eq!(field("major"), field("trace_major"), "the replay's own pages never left: {line}");
            assert!(counters.faults_major > 0, "{name} under {policy}: the budget was tight");
        }
    }
}
