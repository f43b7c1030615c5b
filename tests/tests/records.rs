//! The kernel's records (COM2, `abi::record`) carry what its log lines
//! say: every `memstat` line has a record with the same name, policy and
//! counters, in the same order; user tests report each result and their
//! tally; and a kernel without a second serial port runs all the same,
//! dropping its records after one warning.

use abi::record::{Outcome, Suite};
use boot::qemu::Memstat;
use std::time::Duration;
use tests::*;

/// A `memstat` log line: name, policy, counters in order.
type Line = (String, String, Vec<(String, u64)>);

/// A `memstat name=N policy=P key=value ...` log line as the kernel writes
/// it (the host reads records, not this: only this test compares them).
fn memstat_line(line: &str) -> Option<Line> {
    let (_, rest) = line.split_once("memstat name=")?;
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_owned();
    let policy = words.next()?.strip_prefix("policy=")?.to_owned();
    let counters = words.map(|word| {
        let (key, value) = word.split_once('=').expect("key=value");
        (key.to_owned(), value.parse().expect("a number"))
    });
    Some((name, policy, counters.collect()))
}

fn assert_same(line: &Line, record: &Memstat) {
    let (name, policy, counters) = line;
    assert_eq!((name.as_str(), policy.as_str()), (record.name.as_str(), record.policy.name()));
    let fields: Vec<(String, u64)> = record.counters.fields().map(|(key, value)| (key.to_owned(), value)).collect();
    assert_eq!(counters, &fields, "{name}: every counter, in the same order");
}

#[test]
fn every_memstat_record_is_its_log_line() {
    // The benchmark's guest side, as the benchmark runs it (sampler and PAE on).
    let cmdline = "mode=run sample=8 pae-budget=0 init=bin/bench-memory init-args=64,demand,leap,pae";
    let outcome = boot_with_timeout("records-memstat", Bios, cmdline, Duration::from_secs(300));
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    let lines: Vec<_> = outcome.serial.lines().filter_map(memstat_line).collect();
    let records = memstats(&outcome);
    assert_eq!(lines.len(), records.len(), "a record per line");
    assert_eq!(records.len(), 10 * 3 + 1, "ten workloads under three policies, and bench-memory");
    for (line, record) in lines.iter().zip(&records) {
        assert_same(line, record);
    }
    assert!(records.iter().any(|stat| stat.counters.pae_steps > 0), "the PAE's counters too");
    assert!(records.iter().all(|stat| stat.counters.run_cycles > 0 && stat.counters.pid > 1 || stat.name == "bench-memory"));
}

#[test]
fn user_tests_report_each_result_and_their_tally() {
    let outcome = boot("records-user-tests", Bios, "mode=run init=bin/fail-deliberately");
    assert_eq!(outcome.verdict, Verdict::Failure);
    let results: Vec<_> = outcome.records.results().collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(|result| result.suite == Suite::Program("fail-deliberately".to_owned())), "the kernel names the suite");
    assert_eq!((results[0].name.as_str(), &results[0].outcome), ("passes", &Outcome::Passed));
    assert_eq!(results[1].name, "fails_on_purpose");
    assert!(matches!(&results[1].outcome, Outcome::Failed(message) if message.starts_with("one plus one is not three at ")), "{results:?}");
    assert_eq!(program_tally(&outcome, Some("fail-deliberately")), Some((1, 1)));
    assert_eq!(outcome.records.error, None);
}

#[test]
fn without_a_second_serial_port_the_kernel_runs_and_drops_its_records() {
    let mut prepared = Prepared::new("records-none", Bios, "mode=run", Duration::from_secs(180), Vec::new());
    prepared.config.records = None;
    let outcome = prepared.run();
    assert_eq!(outcome.verdict, Verdict::Success);
    assert_output_contains(&outcome, "init: hello exited with 0");
    let warnings = outcome.serial.matches("records: no second serial port (COM2)").count();
    assert_eq!(warnings, 1, "one warning");
    assert!(outcome.serial.contains("memstat name=hello"), "the log lines stay");
    assert!(outcome.records.records.is_empty() && outcome.records.error.is_none());
}
