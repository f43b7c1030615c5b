//! Real traces replayed in the kernel give exactly the counters the host
//! simulator predicts for them: the same policies, the same engine, the
//! same placement.

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

#[test]
fn replayed_traces_count_what_the_simulator_predicts() {
    let mut files = Vec::new();
    let mut replays = Vec::new();
    for name in TRACES {
        let path = shared_traces().join(format!("{name}.lackey.gz"));
        let accesses = trace::file::read_lackey(&path).expect("reading a shared trace");
        let replay = trace::Replay::from_accesses(&accesses).expect("a replayable trace").truncated(ACCESSES);
        files.push((format!("replay/{name}.vrpl"), replay.encode()));
        replays.push((name, replay));
    }
    let arguments: Vec<String> = TRACES.iter().map(|name| format!("replay/{name}.vrpl")).collect();
    // 2 MiB pages off: one accessed bit per 2 MiB page would blur hits,
    // which the simulator counts per 4 KiB page.
    let cmdline = format!("mode=run init=bin/replay init-args=all,{} huge=off sample=0 memstat=off", arguments.join(","));
    let outcome = boot_with_files("replay", Bios, &cmdline, Duration::from_secs(240), files);
    assert_eq!(outcome.verdict, Verdict::Success, "the replays ran");
    for (name, replay) in &replays {
        for policy in POLICIES {
            let simulated = kernel::policy::sim::policy_for(policy, replay, None).expect("a policy");
            let (accesses, counters) = kernel::policy::sim::replay(replay, simulated).expect("simulating");
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
