use super::*;
use alloc::format;
use alloc::string::ToString;
use alloc::string::String;
use proptest::prelude::*;

fn syscall(number: u64) -> Entry {
    Entry { time: number * 10, event: Event::Syscall { number, first: number, second: 0, result: 0 } }
}

fn numbers(entries: &[Entry]) -> Vec<u64> {
    entries
        .iter()
        .map(|entry| match entry.event {
            Event::Syscall { number, .. } => number,
            _ => panic!("not a syscall event"),
        })
        .collect()
}

#[test]
fn a_reader_gets_every_event_in_order_while_the_ring_keeps_up() {
    let mut ring = Ring::new(8);
    let mut cursor = Cursor::default();
    let mut out = Vec::new();
    for number in 0..5 {
        ring.push(syscall(number));
    }
    assert_eq!(ring.read(&mut cursor, 3, &mut out), 0);
    assert_eq!(numbers(&out), [0, 1, 2]);
    for number in 5..9 {
        ring.push(syscall(number));
    }
    out.clear();
    assert_eq!(ring.pending(&cursor), 6);
    assert_eq!(ring.read(&mut cursor, 100, &mut out), 0);
    assert_eq!(numbers(&out), [3, 4, 5, 6, 7, 8]);
    assert_eq!(cursor, Cursor { next: 9, lost: 0 });
    out.clear();
    assert_eq!(ring.read(&mut cursor, 100, &mut out), 0);
    assert!(out.is_empty());
}

#[test]
fn overflow_overwrites_the_oldest_and_the_reader_counts_what_it_missed() {
    let mut ring = Ring::new(4);
    let mut cursor = Cursor::default();
    for number in 0..10 {
        ring.push(syscall(number));
    }
    assert_eq!(ring.written(), 10);
    let mut out = Vec::new();
    assert_eq!(ring.read(&mut cursor, 100, &mut out), 6);
    assert_eq!(numbers(&out), [6, 7, 8, 9]);
    assert_eq!(cursor, Cursor { next: 10, lost: 6 });
    // A second reader that started later misses nothing it could have read.
    let mut late = Cursor { next: 8, lost: 0 };
    out.clear();
    ring.read(&mut late, 100, &mut out);
    assert_eq!(numbers(&out), [8, 9]);
    assert_eq!(late.lost, 0);
}

#[test]
fn a_ring_of_capacity_zero_records_nothing() {
    let mut ring = Ring::new(0);
    ring.push(syscall(1));
    let mut cursor = Cursor::default();
    let mut out = Vec::new();
    assert_eq!(ring.read(&mut cursor, 10, &mut out), 0);
    assert!(out.is_empty());
    assert_eq!(ring.written(), 0);
}

proptest! {
    /// Against a model that keeps everything: whatever the capacity, the
    /// pushes and the read sizes, a reader sees a suffix-ordered subsequence
    /// with no gaps except the counted losses, and lost + read = written.
    #[test]
    fn reads_match_a_model(capacity in 0usize..40, steps in proptest::collection::vec((0u8..3, 1usize..20), 1..60)) {
        let mut ring = Ring::new(capacity);
        let mut cursor = Cursor::default();
        let mut pushed = 0u64;
        let mut seen = Vec::new();
        for (action, amount) in steps {
            if action < 2 {
                for _ in 0..amount {
                    ring.push(syscall(pushed));
                    pushed += 1;
                }
            } else {
                let mut out = Vec::new();
                ring.read(&mut cursor, amount, &mut out);
                prop_assert!(out.len() <= amount);
                seen.extend(numbers(&out));
            }
        }
        let mut out = Vec::new();
        ring.read(&mut cursor, usize::MAX, &mut out);
        seen.extend(numbers(&out));
        if capacity == 0 {
            prop_assert!(seen.is_empty());
            prop_assert_eq!(ring.written(), 0);
            return Ok(());
        }
        prop_assert_eq!(cursor.next, pushed);
        prop_assert_eq!(seen.len() as u64 + cursor.lost, pushed);
        prop_assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "in order");
        // The last `capacity` events are always readable at the end.
        let tail = pushed.saturating_sub(capacity as u64);
        prop_assert!((tail..pushed).all(|number| seen.contains(&number)));
    }
}

fn every_event() -> Vec<Entry> {
    let range = PageRange::new(0x400, 0x408);
    let events = [
        Event::spawn(3, "wl-matmul-blocked-long-name"),
        Event::Fault { address: 0x40_1234, rip: 0x40_0100, partition: PartitionId(7), access: Access::Write, outcome: FaultOutcome::Committed },
        Event::Fault { address: 0, rip: 0x40_0200, partition: PartitionId(0), access: Access::Read, outcome: FaultOutcome::NotInPartition },
        Event::Fault { address: 0x40_0000, rip: 0x40_0000, partition: PartitionId(2), access: Access::Execute, outcome: FaultOutcome::OutOfFrames },
        Event::Commit { partition: PartitionId(7), range, committed: 5, cause: Cause::Policy },
        Event::Commit { partition: PartitionId(1), range, committed: 8, cause: Cause::Loader },
        Event::Decommit { partition: PartitionId(7), range, released: 3, cause: Cause::Advice },
        Event::Syscall { number: 14, first: 7, second: 0, result: 8 },
        Event::Syscall { number: 9999, first: 0, second: 0, result: (-1i64) as u64 },
        Event::Request { what: Request::WorkingSet, value: 100 },
        Event::Request { what: Request::Partition, value: 9 },
        Event::Sample { entries: 40, accessed: 12, cycles: 5000 },
        Event::Accessed { partition: PartitionId(7), range },
        Event::Exit { fault: 0, address: 0, code: -3 },
        Event::Exit { fault: abi::FaultKind::NullDereference as u8, address: 8, code: 0 },
        Event::Partition { partition: PartitionId(7), change: Change::Extended, range, kind: 3 },
    ];
    events.iter().enumerate().map(|(index, &event)| Entry { time: index as u64 * 100, event }).collect()
}

#[test]
fn records_survive_the_wire_and_render_as_csv() {
    let mut stream = HEADER.to_vec();
    for entry in every_event() {
        stream.extend_from_slice(&Record::of(42, &entry).encode());
    }
    stream.extend_from_slice(&Record::lost(42, 17).encode());
    let records = decode_stream(&stream).unwrap();
    assert_eq!(records.len(), every_event().len() + 1);
    for (record, entry) in records.iter().zip(every_event()) {
        assert_eq!(*record, Record::of(42, &entry));
        assert_eq!(record.pid, 42);
        assert_eq!(record.time, entry.time);
    }
    let rows: Vec<String> = records.iter().map(ToString::to_string).collect();
    let expected = [
        "42,0,spawn,wl-matmul-blocke,0,0,0,3",
        "42,100,fault,write:committed,7,4198964,0,4194560",
        "42,200,fault,read:outside,0,0,0,4194816",
        "42,300,fault,execute:out-of-memory,2,4194304,0,4194304",
        "42,400,commit,policy,7,4194304,8,5",
        "42,500,commit,loader,1,4194304,8,8",
        "42,600,decommit,advice,7,4194304,8,3",
        "42,700,syscall,partition_commit,0,7,0,8",
        "42,800,syscall,unknown,0,0,0,-1",
        "42,900,request,working-set,0,0,0,100",
        "42,1000,request,partition,0,0,0,9",
        "42,1100,sample,,0,12,40,5000",
        "42,1200,accessed,,7,4194304,8,0",
        "42,1300,exit,exited,0,0,0,-3",
        "42,1400,exit,null-dereference,0,8,0,0",
        "42,1500,partition,add-range,7,4194304,8,3",
        "42,0,lost,,0,0,17,0",
    ];
    assert_eq!(rows, expected);
    for row in &rows {
        assert_eq!(row.split(',').count(), CSV_HEADER.split(',').count(), "{row}");
    }
}

#[test]
fn names_with_commas_or_control_bytes_keep_the_csv_well_formed() {
    let record = Record::of(1, &Entry { time: 0, event: Event::spawn(0, "a,b\"c\n") });
    assert_eq!(record.to_string(), "1,0,spawn,a?b?c?,0,0,0,0");
}

#[test]
fn malformed_streams_are_rejected_with_the_place_and_the_reason() {
    assert_eq!(decode_stream(b"not a stream at all").unwrap_err(), (0, DecodeError::Header));
    let good = Record::of(1, &every_event()[1]).encode();
    let mut stream = HEADER.to_vec();
    stream.extend_from_slice(&good);
    stream.extend_from_slice(&good[..10]);
    assert_eq!(decode_stream(&stream).unwrap_err(), (1, DecodeError::Truncated { extra: 10 }));

    let mut bad_kind = good;
    bad_kind[0] = 77;
    let mut bad_code = good;
    bad_code[1] = 16 * 11;
    let mut bad_reserved = good;
    bad_reserved[3] = 1;
    let mut bad_exit = Record::of(1, &every_event()[13]).encode();
    bad_exit[1] = 200;
    for (bytes, error) in [
        (bad_kind, DecodeError::Kind(77)),
        (bad_code, DecodeError::Code { kind: "fault", code: 176 }),
        (bad_reserved, DecodeError::Reserved),
        (bad_exit, DecodeError::Code { kind: "exit", code: 200 }),
    ] {
        let mut stream = HEADER.to_vec();
        stream.extend_from_slice(&good);
        stream.extend_from_slice(&bytes);
        assert_eq!(decode_stream(&stream).unwrap_err(), (1, error));
        assert!(!format!("{error}").is_empty());
    }
}

#[test]
fn the_header_announces_the_record_size() {
    assert_eq!(&HEADER[..8], b"VHIST\0\0\x01");
    assert_eq!(u32::from_le_bytes(HEADER[8..12].try_into().unwrap()) as usize, RECORD_SIZE);
    let records = decode_stream(&HEADER).unwrap();
    assert!(records.is_empty());
}

/// Checks what `abi::coded_enum!` promises for a history enum: `ALL` in
/// strictly increasing code order, every code and name round-trips, and
/// the code just past the last decodes to nothing.
macro_rules! check_coded {
    ($name:ident) => {{
        let all = $name::ALL;
        assert!(all.windows(2).all(|pair| pair[0].code() < pair[1].code()), "{all:?}");
        for variant in all {
            assert_eq!($name::from_code(variant as u8), Some(variant));
            assert_eq!($name::from_name(variant.name()), Some(variant));
        }
        assert_eq!($name::from_code(all[all.len() - 1].code() + 1), None);
        all.len()
    }};
}

#[test]
fn history_codes_and_names_match_the_wire_format() {
    assert_eq!(check_coded!(Cause), 5);
    assert_eq!(check_coded!(Request), 4);
    assert_eq!(check_coded!(Change), 4);
    assert_eq!(check_coded!(Kind), 11);
    assert_eq!((Cause::Loader as u8, Cause::Advice as u8, Cause::Layout.name()), (0, 3, "layout"));
    assert_eq!((Request::WorkingSet.name(), Request::Partition as u8), ("working-set", 3));
    assert_eq!((Change::Created.name(), Change::Extended.name(), Change::Destroyed as u8), ("create", "add-range", 3));
    assert_eq!((Kind::Spawn as u8, Kind::Lost as u8, Kind::Partition as u8), (1, 10, 11));
    assert_eq!(Kind::from_code(0), None);
    assert_eq!(Kind::from_name("exit"), Some(Kind::Exit));
}
