extern crate std;

use super::*;
use alloc::format;
use alloc::vec;
use proptest::prelude::*;

const SAMPLE: &str = "I  0401ab70,3\n S 1fff000ce8,8\nI  0401b770,1\n M 04033e06,1\n S 04032a80,8\n L 04032a88,8\n";

#[test]
fn lackey_lines_become_page_accesses() {
    let accesses = parse_lackey(SAMPLE).unwrap();
    let expected = [
        Access { page: 0x401a, kind: Kind::Fetch },
        Access { page: 0x1fff000, kind: Kind::Store },
        Access { page: 0x401b, kind: Kind::Fetch },
        Access { page: 0x4033, kind: Kind::Store },
        Access { page: 0x4032, kind: Kind::Store },
    ];
    assert_eq!(accesses, expected, "the last load stays on the page of the store before it");
    assert_eq!(parse_line("==123== noise", 1), Ok(None));
    assert_eq!(parse_line("", 1), Ok(None));
}

#[test]
fn malformed_lackey_text_is_refused_with_its_line() {
    for bad in ["X  0401ab70,3", " L zz,8", " L 0401ab70", " L 0401ab70,x", "I 0401ab70,3", " L ffffffffffffffff,8"] {
        let text = format!("I  0401ab70,3\n{bad}\n");
        match parse_lackey(&text) {
            Err(TraceError::BadLine { line: 2, .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(parse_lackey("==1== only noise\n"), Err(TraceError::Empty));
}

#[test]
fn pages_cluster_into_regions_split_at_large_gaps() {
    let pages = [0x400u64, 0x401, 0x480, 0x400 + GAP_PAGES + 0x80 + 1, 0x1fff000];
    let accesses: Vec<Access> = pages.iter().map(|&page| Access { page, kind: Kind::Load }).collect();
    let replay = Replay::from_accesses(&accesses).unwrap();
    assert_eq!(
        replay.regions,
        [
            Region { start: 0x400, pages: 0x81, code: false },
            Region { start: 0x400 + GAP_PAGES + 0x81, pages: 1, code: false },
            Region { start: 0x1fff000, pages: 1, code: false },
        ]
    );
    assert_eq!(replay.accesses[2], (0, 0x80, Kind::Load));
    assert_eq!(replay.pages().map(|access| access.page).collect::<Vec<_>>(), pages);
    assert_eq!(replay.distinct_pages(), 5);
    assert_eq!(Replay::from_accesses(&[]), Err(TraceError::Empty));
}

#[test]
fn too_many_regions_are_refused() {
    let accesses: Vec<Access> = (0..300u64).map(|i| Access { page: i * 10_000, kind: Kind::Load }).collect();
    assert_eq!(Replay::from_accesses(&accesses), Err(TraceError::TooManyRegions(300)));
}

#[test]
fn replay_files_round_trip_and_reject_damage() {
    let replay = Replay::from_accesses(&parse_lackey(SAMPLE).unwrap()).unwrap();
    let bytes = replay.encode();
    assert_eq!(Replay::decode(&bytes), Ok(replay.clone()));
    assert_eq!(Replay::decode(&bytes[..bytes.len() - 1]), Err(TraceError::BadReplay("length does not match the counts")));
    assert_eq!(Replay::decode(&bytes[..3]), Err(TraceError::BadReplay("cut short")));
    let mut wrong_magic = bytes.clone();
    wrong_magic[0] = b'X';
    assert_eq!(Replay::decode(&wrong_magic), Err(TraceError::BadReplay("wrong magic")));
    let mut bad_access = bytes.clone();
    let last = bad_access.len() - 4;
    bad_access[last..].copy_from_slice(&(0xff00_0000u32).to_le_bytes());
    assert_eq!(Replay::decode(&bad_access), Err(TraceError::BadReplay("access names a missing region")));
    let mut bad_kind = bytes.clone();
    bad_kind[last..].copy_from_slice(&(3u32 << 22).to_le_bytes());
    assert_eq!(Replay::decode(&bad_kind), Err(TraceError::BadReplay("bad access kind")));
    let mut outside = bytes;
    outside[last..].copy_from_slice(&(1000u32).to_le_bytes());
    assert_eq!(Replay::decode(&outside), Err(TraceError::BadReplay("access outside its region")));
}

proptest! {
    #[test]
    fn any_byte_string_decodes_or_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Replay::decode(&bytes);
    }

    #[test]
    fn any_trace_round_trips(pages in proptest::collection::vec(0u64..(1 << 30), 1..300), kinds in proptest::collection::vec(0u8..3, 300)) {
        let accesses: Vec<Access> = pages
            .iter()
            .zip(&kinds)
            .map(|(&page, &kind)| Access { page, kind: [Kind::Fetch, Kind::Load, Kind::Store][usize::from(kind)] })
            .collect();
        match Replay::from_accesses(&accesses) {
            Ok(replay) => {
                prop_assert_eq!(replay.pages().collect::<Vec<_>>(), accesses);
                prop_assert_eq!(Replay::decode(&replay.encode()), Ok(replay));
            }
            Err(error) => prop_assert!(matches!(error, TraceError::TooManyRegions(_)), "{error}"),
        }
    }
}

#[test]
fn the_filter_keeps_one_access_per_page_change_per_class() {
    let mut filter = PageFilter::default();
    let load = |page| Access { page, kind: Kind::Load };
    let fetch = |page| Access { page, kind: Kind::Fetch };
    assert_eq!(
        vec![load(1), load(1), fetch(1), load(2), fetch(1), load(1)].into_iter().map(|a| filter.keep(a)).collect::<Vec<_>>(),
        [true, false, true, true, false, true]
    );
}

#[test]
fn regions_are_laid_out_in_order_on_2mib_boundaries() {
    let accesses: Vec<Access> = [0x400u64, 0x401, 0x9000, 0x9001, 0x9002].iter().map(|&page| Access { page, kind: Kind::Load }).collect();
    let replay = Replay::from_accesses(&accesses).unwrap();
    assert_eq!(replay.layout(0x1000), [0x1000, 0x1200]);
    assert_eq!(replay.layout(0x1001), [0x1200, 0x1400]);
    assert_eq!(replay.placed_pages(0x1000), [0x1000, 0x1001, 0x1200, 0x1201, 0x1202]);
    let cut = replay.truncated(3);
    assert_eq!(cut.accesses.len(), 3);
    assert_eq!(cut.regions.len(), 2);
    assert_eq!(cut.regions[1].pages, 1);
}

#[test]
fn headers_decode_from_a_prefix_and_accesses_word_by_word() {
    let replay = Replay::from_accesses(&parse_lackey(SAMPLE).unwrap()).unwrap();
    let bytes = replay.encode();
    let prefix = &bytes[..bytes.len().min(MAX_HEADER_BYTES).min(16 + 24 * replay.regions.len())];
    let header = ReplayHeader::decode(prefix, bytes.len()).unwrap();
    assert_eq!((header.regions.as_slice(), header.accesses), (replay.regions.as_slice(), replay.accesses.len()));
    assert_eq!(header.layout(REPLAY_BASE_PAGE), replay.layout(REPLAY_BASE_PAGE));
    let streamed: Vec<(u8, u32, Kind)> =
        bytes[header.access_offset()..].as_chunks::<4>().0.iter().map(|&word| header.access(u32::from_le_bytes(word)).unwrap()).collect();
    assert_eq!(streamed, replay.accesses);
    assert_eq!(ReplayHeader::decode(prefix, bytes.len() + 4), Err(TraceError::BadReplay("length does not match the counts")));
    assert_eq!(ReplayHeader::decode(&prefix[..prefix.len() - 1], bytes.len()), Err(TraceError::BadReplay("cut short")));
    assert_eq!(header.access(3 << 22), Err(TraceError::BadReplay("bad access kind")));
    assert_eq!(header.access(0xff00_0000), Err(TraceError::BadReplay("access names a missing region")));
}

#[test]
fn touched_pages_count_first_touches_per_region() {
    let regions = [Region { start: 100, pages: 70, code: false }, Region { start: 1000, pages: 3, code: true }];
    let mut touched = TouchedPages::new(&regions);
    assert!(touched.is_empty());
    assert!(touched.insert(0, 69) && touched.insert(1, 0) && touched.insert(0, 0));
    assert!(!touched.insert(0, 69) && !touched.insert(1, 0));
    assert!(touched.insert(1, 2));
    assert_eq!(touched.len(), 4);
    touched.clear();
    assert!(touched.is_empty() && touched.insert(0, 69));
    let replay = Replay::from_accesses(&parse_lackey(SAMPLE).unwrap()).unwrap();
    let mut touched = TouchedPages::new(&replay.regions);
    for &(region, offset, _) in &replay.accesses {
        touched.insert(region, offset);
    }
    assert_eq!(touched.len(), replay.distinct_pages());
}

#[test]
fn budgets_are_percentages_of_distinct_pages_rounded_up() {
    assert_eq!(budget_pages(50, 141, 8), 71);
    assert_eq!(budget_pages(25, 100, 8), 25);
    assert_eq!(budget_pages(100, 7006, 8), 7006);
    assert_eq!(budget_pages(25, 10, 8), 8, "never below the minimum");
}

#[test]
fn budgets_are_pages_or_percentages() {
    assert_eq!(Budget::parse("50%"), Some(Budget::Percent(50)));
    assert_eq!(Budget::parse("100%"), Some(Budget::Percent(100)));
    assert_eq!(Budget::parse(" 1% "), Some(Budget::Percent(1)));
    assert_eq!(Budget::parse("50"), Some(Budget::Pages(50)));
    assert_eq!(Budget::parse("4096"), Some(Budget::Pages(4096)));
    for bad in ["0", "0%", "101%", "", "%", "-5", "+5", "5.5", "5.5%", "fifty", "50 %", "%50", "replay/a.vrpl", "99999999999999999999"] {
        assert_eq!(Budget::parse(bad), None, "`{bad}`");
    }
    for text in ["50%", "4096", "1%"] {
        assert_eq!(format!("{}", Budget::parse(text).unwrap()), text, "prints as parsed");
    }
    assert_eq!(Budget::Percent(50).pages(141, 8), 71);
    assert_eq!(Budget::Percent(25).pages(10, 8), 8, "never below the minimum");
    assert_eq!(Budget::Pages(100).pages(10, 8), 100, "pages, whatever the distinct pages");
    assert_eq!(Budget::Pages(3).pages(10, 8), 8);
}
