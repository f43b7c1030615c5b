//! Boots the kernel headless under BIOS and UEFI and checks what it reports:
//! normal boots, the test harness's verdicts (including deliberately failing
//! tests), and faults injected on purpose.

use std::time::Duration;
use tests::*;

#[test]
fn bios_boot_reports_memory_cpu_and_timer_then_runs_init() {
    let outcome = boot("run", Bios, "mode=run");
    assert_eq!(outcome.verdict, Verdict::Success);
    assert_output_contains(&outcome, "memory map: ");
    assert_output_contains(&outcome, "cpu: ");
    assert_output_contains(&outcome, "timer: local APIC");
    assert_output_contains(&outcome, "started bin/init (pid 1)");
    assert_output_contains(&outcome, "argv: bin/hello from init");
    assert_output_contains(&outcome, "init: hello exited with 0");
    assert_output_contains(&outcome, "init ended: Some(Exited(0))");
    // The partition demo prints its table twice and ends with a memstat line
    // whose counters match what it did (see userland/programs/src/bin/partition-demo.rs).
    assert_output_contains(&outcome, "partition table of pid");
    assert_output_contains(&outcome, "(after work):");
    assert_output_contains(&outcome, "init: partition-demo exited with 0");
    let stats = memstats(&outcome);
    let demo = stats.iter().find(|stat| stat.name == "partition-demo").expect("a memstat for partition-demo");
    let get = |key: &str| demo.counters.get(key).unwrap_or_else(|| panic!("memstat has no {key}"));
    assert_eq!(demo.policy, abi::CommitPolicy::Demand, "the default commit policy");
    assert!(get("faults_demand") > 768 + 16, "the scan, the sparse touches and the added range: {demo:?}");
    assert!(get("promotions") >= 1, "the scanned 2 MiB-aligned block became a 2 MiB page: {demo:?}");
    assert_eq!(get("ahead_commits"), 256 + 64, "{demo:?}");
    assert!(get("hits") >= 256, "the first MiB was committed ahead and then scanned: {demo:?}");
    assert_eq!(get("hits") + get("waste"), get("ahead_commits"), "{demo:?}");
    assert_eq!((get("committed"), get("untouched")), (0, 0), "all released at exit: {demo:?}");
    assert!(get("partitions") >= 5, "image, bss, stack, heap and buffer: {demo:?}");
    assert!(get("peak_committed") >= 1024 + 16 + 64, "{demo:?}");
    assert!(get("footprint") > 0 && get("fault_cycles") > 0 && get("loaded") > 0, "{demo:?}");
    assert_eq!(get("declared_working_set"), 4096, "{demo:?}");
    let hello = stats.iter().find(|stat| stat.name == "hello").expect("a memstat for hello");
    assert_eq!(hello.counters.ahead_commits, 0);
}

#[test]
fn uefi_boot_reports_memory_cpu_and_timer_then_runs_init() {
    let outcome = boot("run", Uefi, "mode=run");
    assert_eq!(outcome.verdict, Verdict::Success);
    assert_output_contains(&outcome, "memory map: ");
    assert_output_contains(&outcome, "init: hello exited with 0");
    // OVMF writes its console to COM2 too before the kernel takes it over.
    let names: Vec<String> = memstats(&outcome).into_iter().map(|stat| stat.name).collect();
    assert!(names.iter().any(|name| name == "hello"), "the records read past the firmware's output: {names:?}");
}

#[test]
fn a_failing_kernel_test_fails_the_run() {
    let outcome = boot("failing-test", Bios, "test=ktest::deliberately_fails");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "ktest ktest::deliberately_fails ... FAILED: ");
    assert_eq!(tally(&outcome), Some((0, 1)));
    let failures = outcome.records.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("ktest::deliberately_fails: 1 + 1 == 3 failed: left 2, right 3 at kernel/src/ktest.rs:"), "{failures:?}");
}

#[test]
fn a_panicking_kernel_test_is_reported_and_fails_the_run() {
    let outcome = boot("panicking-test", Bios, "test=ktest::deliberately_panics");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "ktest ktest::deliberately_panics ... FAILED: panicked: this test panics on purpose");
    assert_eq!(tally(&outcome), Some((0, 1)), "the panic path writes the records too");
    assert_eq!(outcome.records.failures(), ["ktest::deliberately_panics: panicked: this test panics on purpose"]);
}

#[test]
fn a_filter_matching_nothing_fails_instead_of_passing_vacuously() {
    let outcome = boot("no-match", Bios, "test=no::such::test");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "ktest no test matches `no::such::test`");
    assert_eq!(tally(&outcome), Some((0, 1)));
    assert_eq!(outcome.records.failures(), ["no::such::test: no test matches this filter"]);
}

#[test]
fn a_test_filter_selects_a_subset() {
    let outcome = boot("filter", Bios, "test=time::");
    assert_eq!(outcome.verdict, Verdict::Success);
    let (passed, failed) = tally(&outcome).expect("a closing summary");
    assert!(passed >= 1 && failed == 0, "{passed} passed, {failed} failed");
    let names: Vec<&str> = outcome.records.results().map(|result| result.name.as_str()).collect();
    assert_eq!(names.len(), passed, "a result per test");
    for name in names {
        assert!(name.starts_with("time::"), "unexpected test ran: {name}");
    }
}

#[test]
fn injected_kernel_page_fault_is_reported_with_rip_and_cr2() {
    let outcome = boot("page-fault", Bios, "inject=page-fault");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "FATAL EXCEPTION: #PF page fault (vector 14) in kernel mode");
    assert_output_contains(&outcome, "cr2=0xfffff07ffffff000");
    let line = outcome.serial.lines().find(|line| line.contains("#PF")).unwrap();
    let rip = line.split("rip=0x").nth(1).and_then(|rest| rest.split(' ').next()).expect("rip");
    let rip = u64::from_str_radix(rip, 16).expect("rip is hex");
    assert!(rip >= boot::KERNEL_BASE, "rip {rip:#x} is not in the kernel image");
}

#[test]
fn injected_stack_overflow_ends_in_a_reported_double_fault() {
    let outcome = boot("stack-overflow", Bios, "inject=stack-overflow");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "FATAL EXCEPTION: #DF double fault (vector 8) in kernel mode");
}

#[test]
fn injected_invalid_opcode_and_general_protection_are_reported() {
    let outcome = boot("invalid-opcode", Bios, "inject=invalid-opcode");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "FATAL EXCEPTION: #UD invalid opcode (vector 6) in kernel mode");
    let outcome = boot("general-protection", Bios, "inject=general-protection");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "FATAL EXCEPTION: #GP general protection fault (vector 13) in kernel mode");
}

#[test]
fn injected_panic_is_reported_with_location() {
    let outcome = boot("panic", Bios, "inject=panic");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "KERNEL PANIC at kernel/src/boot.rs:");
    assert_output_contains(&outcome, "injected panic");
}

#[test]
fn heap_exhaustion_is_reported_not_a_hang() {
    let outcome = boot("heap-exhaustion", Bios, "inject=heap-exhaustion");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "kernel heap cannot satisfy 1073741825 bytes");
    assert_output_contains(&outcome, "memory allocation of 1073741825 bytes failed");
}

#[test]
fn a_hung_kernel_is_killed_at_the_timeout() {
    // Long enough to boot even on a loaded machine; the run always lasts this long.
    let outcome = boot_with_timeout("hang", Bios, "inject=hang", Duration::from_secs(40));
    assert_eq!(outcome.verdict, Verdict::Timeout);
    assert_output_contains(&outcome, "injecting fault: Hang");
}

#[test]
fn bad_command_line_words_are_warned_about_and_ignored() {
    let outcome = boot("bad-cmdline", Bios, "mode=run hz=0 colour=blue junk");
    assert_eq!(outcome.verdict, Verdict::Success);
    assert_output_contains(&outcome, "command line: bad value `0` for `hz`");
    assert_output_contains(&outcome, "command line: unknown key `colour`");
    assert_output_contains(&outcome, "command line: `junk` is not key=value");
}

#[test]
fn a_failing_user_test_fails_the_run() {
    let outcome = boot("failing-user-test", Bios, "mode=run init=bin/fail-deliberately");
    assert_eq!(outcome.verdict, Verdict::Failure);
    assert_output_contains(&outcome, "utest fail-deliberately::passes ... ok");
    assert_output_contains(&outcome, "utest fail-deliberately::fails_on_purpose ... FAILED: one plus one is not three");
    assert_output_contains(&outcome, "fail-deliberately: 1 passed, 1 failed");
    assert_eq!(program_tally(&outcome, Some("fail-deliberately")), Some((1, 1)));
    let failures = outcome.records.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("fail-deliberately::fails_on_purpose: one plus one is not three at "), "{failures:?}");
}

#[test]
fn a_user_fault_is_reported_and_kills_only_that_process() {
    let outcome = boot("user-fault", Bios, "mode=run init=bin/read-address init-args=0");
    assert_eq!(outcome.verdict, Verdict::Failure, "init itself died, so the run fails");
    assert_output_contains(&outcome, "pid=1 name=read-address fault=null-dereference addr=0x0 rip=0x");
    assert_output_contains(&outcome, "init ended: Some(Faulted { kind: NullDereference, address: 0 })");
}
