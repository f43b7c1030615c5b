//! Tests of the record codec: round trips, the wire format pinned,
//! truncation, corruption and every payload error.

use super::*;
use proptest::prelude::*;

extern crate std;
use std::string::{String, ToString};
use std::vec::Vec;

fn encoded<S: AsRef<str>>(record: &Record<S>) -> Vec<u8> {
    let mut bytes = Vec::new();
    record.encode(&mut |chunk: &[u8]| bytes.extend_from_slice(chunk));
    assert_eq!(bytes.len(), record.encoded_len(), "encoded_len counts what encode writes");
    bytes
}

/// A frame around `payload` with a correct checksum: for payloads the
/// encoder would never write.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[VERSION, kind]);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = CHECKSUM.checksum(&bytes[MAGIC.len()..]);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

fn text(text: &str) -> Vec<u8> {
    let mut bytes = (text.len() as u16).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn samples() -> [Record<&'static str>; 5] {
    let counters = MemoryCounters { pid: 3, faults_demand: 10, peak_committed: 12, layout_commits: u64::MAX, ..MemoryCounters::default() };
    [
        Record::Memstat(Memstat { name: "wl-seq", policy: CommitPolicy::Leap, counters }),
        Record::TestResult(TestResult { suite: Suite::Kernel, name: "mm::frame::alloc", outcome: Outcome::Passed }),
        Record::TestResult(TestResult {
            suite: Suite::Program("test-heap"),
            name: "grows",
            outcome: Outcome::Failed("1 == 2 failed: left 1, right 2 at src/bin/test-heap.rs:9"),
        }),
        Record::TestSummary(TestSummary { suite: Suite::Kernel, passed: 55, failed: 0 }),
        Record::TestSummary(TestSummary { suite: Suite::Program("init"), passed: 96, failed: 1 }),
    ]
}

#[test]
fn every_kind_round_trips() {
    for record in samples() {
        let bytes = encoded(&record);
        assert_eq!(decode(&bytes), Ok((record, bytes.len())), "{record:?}");
    }
    let Record::Memstat(memstat) = samples()[0] else { unreachable!() };
    assert_eq!(memstat.pid(), 3);
}

#[test]
fn the_wire_format_is_pinned() {
    // A change here changes the format: bump VERSION.
    let record: Record<&str> = Record::TestSummary(TestSummary { suite: Suite::Program("ab"), passed: 2, failed: 1 });
    let mut expected = b"KREC".to_vec();
    expected.extend_from_slice(&[1, 3, 21, 0, 0, 0]);
    expected.extend_from_slice(&[1, 2, 0, b'a', b'b']);
    expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    let checksum = CHECKSUM.checksum(&expected[4..]);
    expected.extend_from_slice(&checksum.to_le_bytes());
    assert_eq!(encoded(&record), expected);
    let memstat = encoded(&samples()[0]);
    assert_eq!(memstat.len(), HEADER + 2 + 6 + 1 + 2 + 8 * MemoryCounters::WORDS + TRAILER, "every counter, once");
    assert_eq!(memstat[HEADER + 8], CommitPolicy::Leap.code() as u8);
}

#[test]
fn every_cut_is_truncated() {
    for record in samples() {
        let bytes = encoded(&record);
        for length in 0..bytes.len() {
            match decode(&bytes[..length]) {
                Err(DecodeError::Truncated { needed, available }) => {
                    assert_eq!(available, length);
                    assert!(needed > length && needed <= bytes.len(), "{needed} for {length} of {}", bytes.len());
                }
                other => panic!("{length} of {} bytes: {other:?}", bytes.len()),
            }
        }
    }
}

#[test]
fn every_flipped_bit_is_caught() {
    for record in samples() {
        let bytes = encoded(&record);
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            let error = decode(&corrupt).expect_err("a flipped bit decodes");
            let at = bit / 8;
            match at {
                0..4 => assert!(matches!(error, DecodeError::BadMagic(_)), "{at}: {error:?}"),
                4 => assert_eq!(error, DecodeError::UnsupportedVersion(corrupt[4])),
                _ if at >= HEADER => assert!(matches!(error, DecodeError::Checksum { .. }), "{at}: {error:?}"),
                _ => {}
            }
        }
    }
}

#[test]
fn header_errors_name_the_problem() {
    let bytes = encoded(&samples()[3]);
    let with = |at: usize, value: u8| {
        let mut bytes = bytes.clone();
        bytes[at] = value;
        decode(&bytes).unwrap_err()
    };
    assert_eq!(with(4, 2), DecodeError::UnsupportedVersion(2));
    assert_eq!(with(5, 9), DecodeError::UnknownKind(9));
    assert_eq!(with(9, 1), DecodeError::TooLong(0x0100_0000 + 17));
    assert_eq!(decode(b"noise").unwrap_err(), DecodeError::BadMagic(*b"nois"));
    assert_eq!(decode(b"KR").unwrap_err(), DecodeError::Truncated { needed: HEADER, available: 2 });
    assert_eq!(decode(b"").unwrap_err(), DecodeError::Truncated { needed: HEADER, available: 0 });
    let mut bad_sum = bytes.clone();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0x80;
    assert!(matches!(decode(&bad_sum), Err(DecodeError::Checksum { .. })));
}

#[test]
fn payload_errors_name_the_problem() {
    let summary = Kind::TestSummary.code();
    let result = Kind::TestResult.code();
    let memstat = Kind::Memstat.code();
    let words = |count: usize| -> Vec<u8> { (0..count).flat_map(|word| (word as u64).to_le_bytes()).collect() };
    let cases: [(Vec<u8>, DecodeError); 9] = [
        (frame(summary, &[0, 1, 2]), DecodeError::ShortPayload),
        (frame(summary, &[[0].as_slice(), &words(2), &[7]].concat()), DecodeError::TrailingBytes(1)),
        (frame(summary, &[[5].as_slice(), &words(2)].concat()), DecodeError::UnknownSuite(5)),
        (frame(result, &[[0].as_slice(), &text("t"), &[3]].concat()), DecodeError::UnknownStatus(3)),
        (frame(result, &[[1].as_slice(), &[2, 0, 0xff, 0xfe], &text("t"), &[1]].concat()), DecodeError::NotUtf8),
        (frame(result, &[[0].as_slice(), &((MAX_TEXT + 1) as u16).to_le_bytes()].concat()), DecodeError::TextTooLong(MAX_TEXT + 1)),
        (frame(memstat, &[text("x").as_slice(), &[9]].concat()), DecodeError::UnknownPolicy(9)),
        (
            frame(memstat, &[text("x").as_slice(), &[0], &3u16.to_le_bytes(), &words(3)].concat()),
            DecodeError::CounterCount { expected: MemoryCounters::WORDS, found: 3 },
        ),
        (
            frame(memstat, &[text("x").as_slice(), &[0], &(MemoryCounters::WORDS as u16).to_le_bytes(), &words(2)].concat()),
            DecodeError::ShortPayload,
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode(&bytes).unwrap_err(), expected);
        assert!(!expected.to_string().is_empty());
    }
    let fine = frame(memstat, &[text("x").as_slice(), &[5], &(MemoryCounters::WORDS as u16).to_le_bytes(), &words(MemoryCounters::WORDS)].concat());
    let (Record::Memstat(decoded), _) = decode(&fine).unwrap() else { panic!("not a memstat") };
    assert_eq!((decoded.name, decoded.policy, decoded.counters.pid, decoded.counters.replica_restores), ("x", CommitPolicy::Pae, 0, MemoryCounters::WORDS as u64 - 1));
}

#[test]
fn long_text_is_clipped_at_a_character_boundary() {
    let long: String = "é".repeat(MAX_TEXT);
    assert_eq!(clip(&long).len(), MAX_TEXT);
    let odd = ["a", &long].concat();
    assert_eq!(clip(&odd).len(), MAX_TEXT - 1, "a two-byte character is not cut in half");
    assert_eq!(clip("short"), "short");
    let record = Record::TestResult(TestResult { suite: Suite::Kernel, name: "long", outcome: Outcome::Failed(odd.as_str()) });
    let bytes = encoded(&record);
    let (Record::TestResult(decoded), _) = decode(&bytes).unwrap() else { panic!("not a result") };
    assert_eq!(decoded.outcome, Outcome::Failed(clip(&odd)));
}

#[test]
fn a_reader_goes_record_by_record_and_stops_at_the_first_bad_one() {
    let mut stream = Vec::new();
    for record in samples() {
        stream.extend(encoded(&record));
    }
    let read: Vec<_> = Reader::new(&stream).collect::<Result<_, _>>().unwrap();
    assert_eq!(read, samples());
    assert_eq!(Reader::new(&[]).count(), 0);
    let first = encoded(&samples()[0]).len();
    let second = encoded(&samples()[1]).len();
    let mut damaged = stream.clone();
    damaged[first + second + HEADER] ^= 1;
    let read: Vec<_> = Reader::new(&damaged).collect();
    assert_eq!(read.len(), 3, "two records, then the error, then nothing");
    assert_eq!(read[2].unwrap_err().offset, first + second);
    let cut = &stream[..stream.len() - 1];
    let last = Reader::new(cut).last().unwrap().unwrap_err();
    assert!(matches!(last.error, DecodeError::Truncated { .. }));
    assert!(last.to_string().starts_with(&std::format!("record at byte {}: truncated", stream.len() - encoded(&samples()[4]).len())));
}

#[test]
fn what_firmware_wrote_before_the_first_record_is_skipped() {
    let mut stream = b"\x1b[2J\x1b[01;01HKRE BdsDxe: loading".to_vec();
    let preamble = stream.len();
    for record in samples() {
        stream.extend(encoded(&record));
    }
    assert_eq!(first_record(&stream), preamble, "a cut magic is no record");
    let reader = Reader::new(&stream);
    assert_eq!(reader.preamble(), preamble);
    let read: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(read, samples());
    let mut damaged = stream.clone();
    damaged[preamble + HEADER] ^= 1;
    assert_eq!(Reader::new(&damaged).next().unwrap().unwrap_err().offset, preamble, "offsets count the preamble");
    assert_eq!(Reader::new(b"firmware chatter only").count(), 0);
    assert_eq!(first_record(b"firmware chatter only"), 21);
}

#[test]
fn map_keeps_everything_but_the_text_type() {
    for record in samples() {
        let owned: Record<String> = record.map(String::from);
        assert_eq!(owned.kind(), record.kind());
        assert_eq!(encoded(&owned), encoded(&record));
    }
}

fn suite() -> impl Strategy<Value = Suite<String>> {
    prop_oneof![Just(Suite::Kernel), ".{0,40}".prop_map(Suite::Program)]
}

fn record() -> impl Strategy<Value = Record<String>> {
    let policy = proptest::sample::select(CommitPolicy::ALL.to_vec());
    let counters = proptest::collection::vec(any::<u64>(), MemoryCounters::WORDS)
        .prop_map(|words| MemoryCounters::from_words(words.try_into().unwrap()));
    prop_oneof![
        (".{0,64}", policy, counters).prop_map(|(name, policy, counters)| Record::Memstat(Memstat { name, policy, counters })),
        (suite(), ".{0,64}", proptest::option::of(".{0,300}")).prop_map(|(suite, name, failure)| Record::TestResult(TestResult {
            suite,
            name,
            outcome: failure.map_or(Outcome::Passed, Outcome::Failed),
        })),
        (suite(), any::<u64>(), any::<u64>()).prop_map(|(suite, passed, failed)| Record::TestSummary(TestSummary { suite, passed, failed })),
    ]
}

proptest! {
    #[test]
    fn any_record_round_trips(record in record()) {
        let bytes = encoded(&record);
        let (decoded, length) = decode(&bytes).unwrap();
        prop_assert_eq!(length, bytes.len());
        prop_assert_eq!(decoded.map(String::from), record);
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64), record in record(), at in any::<usize>()) {
        let _ = decode(&bytes);
        let mut valid = encoded(&record);
        let at = at % valid.len();
        valid[at] = valid[at].wrapping_add(1);
        prop_assert!(decode(&valid).is_err(), "a changed byte at {} decodes", at);
    }
}
