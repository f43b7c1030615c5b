//! `cargo xtask trace`: the access history a program leaves is exactly what
//! it did, a ring too small for it loses events without stopping the program
//! and says how many, and a deterministic trace repeats byte for byte.

use boot::qemu::{Memstat, Verdict};
use boot::trace::{Options, Trace};
use kernel::history::{Kind, Record};

use abi::PAGE_SIZE as PAGE;

fn traced(program: &str, arguments: &[&str], policy: &str, capacity: usize) -> (Trace, Memstat) {
    let mut options = Options::new(program);
    options.arguments = arguments.iter().map(|argument| argument.to_string()).collect();
    options.policy = Some(policy.to_owned());
    options.capacity = capacity;
    let trace = boot::trace::run(&options).expect("a traced run");
    let memstats = trace.results.complete_memstats().expect("every record readable");
    let memstat = memstats.into_iter().find(|stat| stat.name == program).expect("the program's memstat");
    (trace, memstat)
}

fn of_kind(records: &[Record], kind: Kind) -> Vec<Record> {
    records.iter().copied().filter(|record| record.kind == kind).collect()
}

fn the(memstat: &Memstat, key: &str) -> u64 {
    memstat.counters.get(key).unwrap_or_else(|| panic!("no {key} in the memstat"))
}

#[test]
fn the_history_records_what_the_program_did() {
    let (trace, memstat) = traced("trace-demo", &[], "readahead", 1 << 16);
    assert_eq!(trace.verdict, Verdict::Failure, "trace-demo exits with 3");
    let (records, child): (Vec<Record>, Vec<Record>) = trace.records.iter().partition(|record| record.pid == 1);
    let records = &records;
    assert_eq!(records.len() as u64, the(&memstat, "history_events"), "every event was exported");
    assert_eq!(the(&memstat, "history_lost"), 0);
    assert!(records.windows(2).all(|pair| pair[0].time <= pair[1].time), "in time order");

    let first = records.first().unwrap();
    assert_eq!((first.kind, first.value), (Kind::Spawn, 0), "spawned by the kernel");
    let (name, length) = first.name().unwrap();
    assert_eq!(&name[..length], b"trace-demo");
    let last = records.last().unwrap();
    assert_eq!((last.kind, last.code, last.value), (Kind::Exit, 0, 3), "exited with 3");

    // The loader's commits: the program's pages and the stack's top.
    let loader: Vec<Record> = of_kind(records, Kind::Commit).into_iter().filter(|record| record.code == 0).collect();
    assert!(loader.len() >= 3, "code, data and stack pages: {loader:?}");
    let loaded = |address: u64| loader.iter().any(|commit| (commit.address..commit.address + commit.count * PAGE).contains(&address));

    // The demo partition: created by the first system call.
    let syscalls = of_kind(records, Kind::Syscall);
    let create = syscalls.iter().find(|call| call.code == abi::Syscall::PartitionCreate as u8).expect("partition_create");
    let id = create.value;
    assert_eq!(create.address, 64 * PAGE, "its size");
    let base = records
        .iter()
        .find(|record| record.kind == Kind::Fault && record.partition == id)
        .map(|fault| fault.address & !(PAGE - 1))
        .expect("a fault in the partition");
    let demo = base..base + 64 * PAGE;
    let partitions = of_kind(records, Kind::Partition);
    let created = partitions.iter().find(|record| record.partition == id).expect("the demo partition's creation");
    assert_eq!((created.code, created.address, created.count, created.value), (0, base, 64, abi::PartitionKind::Buffer.code()));
    assert!(partitions.iter().filter(|record| record.code == 0).count() >= 4, "the loader's partitions and the demo's");
    assert!(
        partitions.iter().any(|record| record.value == abi::PartitionKind::Stack.code() && record.count == 256),
        "the 1 MiB stack"
    );

    // Faults: as many as the kernel counted, each named with its partition
    // and the instruction that faulted.
    let faults = of_kind(records, Kind::Fault);
    assert_eq!(faults.len() as u64, the(&memstat, "faults"));
    let in_demo: Vec<&Record> = faults.iter().filter(|fault| demo.contains(&fault.address)).collect();
    for fault in &in_demo {
        assert_eq!(fault.partition, id);
        assert!(loaded(fault.value) && fault.value < 0x1000_0000, "rip {:#x} in the program's loaded image", fault.value);
        assert_eq!(fault.code / 16, 0, "committed");
    }
    let reads: Vec<u64> = in_demo.iter().filter(|fault| fault.code % 16 == 0).map(|fault| (fault.address - base) / PAGE).collect();
    assert_eq!(reads, [60], "one read, of page 60");
    assert!(in_demo.iter().filter(|fault| fault.code % 16 == 1).all(|fault| fault.address < base + 16 * PAGE), "writes to pages 0..16");

    // Commits ahead: the policy's, the request's, the advice's add up to
    // the kernel's count; each system call's result matches its event.
    let commits = of_kind(records, Kind::Commit);
    let ahead: u64 = commits.iter().filter(|commit| commit.code != 0).map(|commit| commit.value).sum();
    assert_eq!(ahead, the(&memstat, "ahead_commits"));
    assert!(commits.iter().any(|commit| commit.code == 1 && commit.partition == id), "readahead committed ahead");
    let result_of = |number: abi::Syscall, first_argument: u64, second_argument: u64| {
        syscalls
            .iter()
            .find(|call| call.code == number as u8 && call.address == first_argument && call.count == second_argument)
            .unwrap_or_else(|| panic!("no {number:?}({first_argument}, {second_argument})"))
            .value
    };
    let decommits = of_kind(records, Kind::Decommit);
    for (events, cause, offset, pages, call) in [
        (&commits, 2, 32, 8, abi::Syscall::PartitionCommit),
        (&commits, 3, 48, 8, abi::Syscall::PartitionAdvise),
        (&decommits, 3, 0, 4, abi::Syscall::PartitionAdvise),
        (&decommits, 2, 40, 4, abi::Syscall::PartitionDecommit),
    ] {
        let event = events
            .iter()
            .find(|event| event.code == cause && event.address == base + offset * PAGE)
            .unwrap_or_else(|| panic!("no cause-{cause} event at page {offset}"));
        assert_eq!((event.partition, event.count), (id, pages));
        assert_eq!(event.value, result_of(call, id, offset * PAGE), "pages done at page {offset}");
    }
    assert_eq!(decommits.iter().find(|event| event.code == 3).unwrap().value, 4, "dont-need dropped the four pages written");
    let failed = syscalls.iter().find(|call| call.code == abi::Syscall::PartitionCommit as u8 && call.address != id).unwrap();
    assert_eq!(failed.value as i64, -abi::Error::NotFound.code(), "the failing call's error");

    // What it declared.
    let requests: Vec<(u8, u64)> = of_kind(records, Kind::Request).iter().map(|request| (request.code, request.value)).collect();
    assert_eq!(requests, [(0, 64), (1, 100), (3, id)]);

    // Accessed-bit scans: as many as the kernel counted, their cost, and
    // the runs of pages each found in use (the two pages the demo keeps
    // touching among them).
    let samples = of_kind(records, Kind::Sample);
    assert!(!samples.is_empty(), "the sampler ran while the demo slept");
    assert_eq!(samples.len() as u64, the(&memstat, "sample_scans"));
    assert_eq!(samples.iter().map(|sample| sample.value).sum::<u64>(), the(&memstat, "sample_cycles"));
    for (index, record) in records.iter().enumerate().filter(|(_, record)| record.kind == Kind::Sample) {
        let runs: Vec<&Record> = records[index + 1..].iter().take_while(|next| next.kind == Kind::Accessed).collect();
        assert_eq!(runs.iter().map(|run| run.count).sum::<u64>(), record.address, "accessed pages = the runs that follow");
        assert!(record.count > 0 && record.value > 0, "entries read and cycles spent");
    }
    let touched = base + 32 * PAGE;
    assert!(
        of_kind(records, Kind::Accessed).iter().any(|run| run.partition == id && (run.address..run.address + run.count * PAGE).contains(&touched)),
        "page 32 was seen in use"
    );

    // The child it ran, killed for writing to its own code: the fault is
    // in its history with the partition and the instruction.
    assert_eq!(child.first().map(|spawn| (spawn.kind, spawn.pid, spawn.value)), Some((Kind::Spawn, 2, 1)), "spawned by pid 1");
    let refused: Vec<&Record> = child.iter().filter(|record| record.kind == Kind::Fault).collect();
    assert_eq!(refused.len(), 1, "{child:?}");
    assert_eq!(refused[0].code, 1 + 16 * 3, "a write refused for its rights");
    assert!(refused[0].partition != 0 && refused[0].value != 0);
    let end = child.last().unwrap();
    assert_eq!((end.kind, end.code, end.address), (Kind::Exit, abi::FaultKind::WriteToReadOnly as u8, refused[0].address));

    let csv = boot::trace::csv(records);
    assert_eq!(csv.lines().count(), records.len() + 1);
    assert!(csv.contains(",syscall,partition_commit,0,"), "{csv}");
}

#[test]
fn a_ring_too_small_loses_events_without_blocking_and_counts_them() {
    let (trace, memstat) = traced("wl-seq", &["1024"], "demand", 16);
    assert_eq!(trace.verdict, Verdict::Success, "the program ran to its end");
    assert!(trace.serial.contains("workload seq kib=1024"));
    let lost: u64 = of_kind(&trace.records, Kind::Lost).iter().map(|record| record.count).sum();
    assert!(lost > 0, "256 faults in a burst overflow 16 slots");
    assert_eq!(lost, the(&memstat, "history_lost"));
    let kept = trace.records.iter().filter(|record| record.kind != Kind::Lost && record.pid == 1).count() as u64;
    assert_eq!(kept + lost, the(&memstat, "history_events"), "every event exported or counted lost");
    assert_eq!(trace.records.last().map(|record| record.kind), Some(Kind::Exit));
}

#[test]
fn a_deterministic_trace_repeats_byte_for_byte() {
    let (first, _) = traced("wl-stride", &["256"], "leap", 1 << 16);
    let (second, _) = traced("wl-stride", &["256"], "leap", 1 << 16);
    assert!(first.records.len() > 50, "{} records", first.records.len());
    assert!(first.raw == second.raw, "the two histories differ");
}
