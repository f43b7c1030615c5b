//! Swap under failures injected from outside the guest: QEMU's `blkdebug`
//! fails reads or writes of chosen swap slots, or the host corrupts the
//! swap image while the guest waits. `bin/swap-inject` runs as the first
//! process: it runs a victim that swaps (four times its budget), checks how
//! it ended and what `system_info` says about the slots, then runs a second
//! victim that must get every byte back, and exits 0 only if all of that
//! held. These tests check its verdict and the kernel's reports.
//!
//! Slots are handed out in order (`vass::swap::SlotAllocator`: slot 0
//! first, then 1, ...; freed slots are reused later), and `sample=0` keeps
//! the accessed-bit sampler from making eviction depend on timing, so the
//! slots the rules name are written and read by the first victim, with
//! its pattern pages in them.
//!
//! The host side is `boot::qemu`: `InjectError` values are `blkdebug`
//! rules, `Qmp` pauses the guest while the image is corrupted, and
//! `run_streaming` streams the serial output, so the test acts when the
//! guest says its pages are out.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tests::*;

/// The swap disk's size: 4 MiB, as `cargo xtask test` gives its boots.
const SWAP_PAGES: u64 = kernel::dev::TEST_SWAP_PAGES;
/// The victims' pattern partition, in pages (`swap-inject`'s).
const VICTIM_PAGES: u64 = 128;
/// A boot may take this long (a run takes about 10 s under TCG).
const TIMEOUT: Duration = Duration::from_secs(120);
/// The first victim's marker, printed once its pages are out.
const SWAPPED_OUT: &str = "swap-inject: swapped out ";
/// What a victim prints before it reads its pages back.
const READING_BACK: &str = "swap-inject: reading back";

/// `swap-inject` as the first process, scenario `args`; no sampler.
fn cmdline(args: &str) -> String {
    format!("mode=run sample=0 init=bin/swap-inject init-args={args}")
}

/// The value of `key=` in `line`, a number (hex with 0x).
fn field(line: &str, key: &str) -> Option<u64> {
    let value = line.split_whitespace().find_map(|word| word.strip_prefix(key)?.strip_prefix('='))?;
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// The lines of `outcome` that contain `needle`.
fn lines_with<'a>(outcome: &'a RunOutcome, needle: &str) -> Vec<&'a str> {
    outcome.serial.lines().filter(|line| line.contains(needle)).collect()
}

/// The quarantined-slot counts `swap-inject` printed: before the first
/// victim, after it, after the second.
fn quarantined(outcome: &RunOutcome) -> Vec<u64> {
    lines_with(outcome, "swap-inject: swap slots=").iter().filter_map(|line| field(line, "quarantined")).collect()
}

/// The pattern partition of the first victim: [base, end) of its pages.
fn victim_partition(outcome: &RunOutcome) -> (u64, u64) {
    let marker = lines_with(outcome, SWAPPED_OUT);
    let base = marker.first().and_then(|line| field(line, "base")).expect("the first victim's marker names its partition");
    (base, base + VICTIM_PAGES * 4096)
}

/// Checks the kernel's report of a process killed for a page it could not
/// bring back from `slot` (`why`: the reason it names). With a `slot`, the
/// page was one of the victim's pattern pages; without one (the whole image
/// corrupted), it may also be a page of the victim's code or stack that the
/// budget sent to the disk with them.
#[track_caller]
fn assert_swap_lost_report(outcome: &RunOutcome, slot: Option<u64>, why: &str) {
    let kills = lines_with(outcome, "fault=swap-lost");
    assert_eq!(kills.len(), 1, "one process killed for a lost page:\n{}", outcome.serial);
    let kill = kills[0];
    assert!(kill.contains("name=swap-inject"), "{kill}");
    assert!(!kill.contains("pid=1 "), "the victim, not init, died: {kill}");
    let lost = match slot {
        Some(slot) => format!("swap slot {slot} lost: {why}; slot quarantined"),
        None => format!(" lost: {why}"),
    };
    assert!(kill.contains(&lost), "the report says which slot and why (`{lost}`): {kill}");
    let address = field(kill, "addr").expect("the report has the address");
    let (start, end) = victim_partition(outcome);
    let pattern = (start..end).contains(&address);
    let own = field(kill, "rip") == Some(address) || kernel::mm::layout::USER_STACK.contains(address);
    assert!(pattern || (slot.is_none() && own), "the lost page {address:#x} is a pattern page ({start:#x}..{end:#x}): {kill}");
    let ended = lines_with(outcome, "swap-inject: victim ended: ");
    assert_eq!(ended.first().copied(), Some(format!("swap-inject: victim ended: fault swap-lost at {address:#x}").as_str()));
}

/// Checks that the second victim wrote, swapped and read back every byte.
#[track_caller]
fn assert_second_victim_intact(outcome: &RunOutcome) {
    let verified = lines_with(outcome, "swap-inject: verified ");
    let last = verified.last().expect("a victim verified its pages");
    assert_eq!(field(last, "mismatches"), Some(0), "{last}");
    assert!(field(last, "swap_ins").is_some_and(|ins| ins > 0), "its pages went to swap and came back: {last}");
    assert_eq!(field(last, "swap_errors"), Some(0), "{last}");
}

#[test]
fn a_failing_swap_read_kills_only_the_process_whose_page_it_was() {
    // Slot 40 is written early in the first victim's fill (its first 32
    // pages fit the budget) and read back by its check.
    const SLOT: u64 = 40;
    let rules = [InjectError::on_slot(BlockIo::Read, SLOT)];
    let outcome = boot_with_swap("swap-read-error", Bios, &cmdline("read-error"), TIMEOUT, SWAP_PAGES, &rules);
    assert_eq!(outcome.verdict, Verdict::Success, "swap-inject's checks failed:\n{}", outcome.serial);
    assert_output_contains(&outcome, "swap-inject read-error: passed");
    assert_output_contains(&outcome, &format!("swap: reading slot {SLOT}: read failed: the device reported an I/O error"));
    assert_swap_lost_report(&outcome, Some(SLOT), "read failed: the device reported an I/O error (VIRTIO_BLK_S_IOERR)");
    assert_eq!(quarantined(&outcome), [0, 1, 1], "one slot out of service, none more after the second victim");
    assert_eq!(lines_with(&outcome, "swap-inject: verified ").len(), 1, "only the second victim got to the end");
    assert_second_victim_intact(&outcome);
}

#[test]
fn failing_swap_writes_quarantine_their_slots_and_lose_no_data() {
    // Three slots in a row (each eviction that hits one tries another
    // page and slot), and two more later on.
    const SLOTS: [u64; 5] = [1, 2, 3, 10, 40];
    let rules = SLOTS.map(|slot| InjectError::on_slot(BlockIo::Write, slot));
    let outcome = boot_with_swap("swap-write-error", Bios, &cmdline(&format!("write-error,{}", SLOTS.len())), TIMEOUT, SWAP_PAGES, &rules);
    assert_eq!(outcome.verdict, Verdict::Success, "swap-inject's checks failed:\n{}", outcome.serial);
    assert_output_contains(&outcome, "swap-inject write-error: passed");
    for slot in SLOTS {
        assert_output_contains(
            &outcome,
            &format!("swap: writing slot {slot}: the device reported an I/O error (VIRTIO_BLK_S_IOERR) (the slot is quarantined)"),
        );
    }
    assert!(lines_with(&outcome, "fault=").is_empty(), "nobody was killed");
    let verified = lines_with(&outcome, "swap-inject: verified ");
    assert_eq!(verified.len(), 2, "both victims got to the end");
    let first = verified[0];
    assert_eq!(field(first, "mismatches"), Some(0), "every byte came back despite the failed writes: {first}");
    assert_eq!(field(first, "swap_errors"), Some(SLOTS.len() as u64), "one error per failing slot: {first}");
    let memstat = tests::memstats(&outcome)
        .into_iter()
        .find(|stat| stat.name == "swap-inject" && stat.pid() == 2)
        .expect("a memstat for the first victim");
    assert_eq!(memstat.counters.swap_errors, SLOTS.len() as u64, "{memstat:?}");
    assert_eq!(quarantined(&outcome), [0, 5, 5], "each failing slot out of service, once");
    assert_second_victim_intact(&outcome);
}

/// Flips one byte in every 4 KiB block of `path` that is not all zero
/// (a single-byte change, which CRC-32C always detects); returns how many.
fn corrupt_swap_image(path: &Path) -> u64 {
    let mut file = OpenOptions::new().read(true).write(true).open(path).expect("opening the swap image");
    let mut image = Vec::new();
    file.read_to_end(&mut image).expect("reading the swap image");
    let mut corrupted = 0;
    for (index, block) in image.chunks(4096).enumerate() {
        if block.iter().all(|&byte| byte == 0) {
            continue;
        }
        let offset = index as u64 * 4096 + 2048;
        file.seek(SeekFrom::Start(offset)).expect("seeking in the swap image");
        file.write_all(&[!block[2048]]).expect("corrupting the swap image");
        corrupted += 1;
    }
    file.sync_all().expect("syncing the swap image");
    corrupted
}

/// A guest paused through QMP; dropped without [`Paused::resume`] (a
/// failed assertion), QEMU is told to quit rather than left paused.
struct Paused(Option<boot::qemu::Qmp>);

impl Paused {
    fn stop(socket: &Path) -> Paused {
        let mut qmp = boot::qemu::Qmp::connect(socket, Duration::from_secs(10)).expect("connecting to QMP");
        qmp.stop().expect("stopping the guest");
        Paused(Some(qmp))
    }

    fn resume(mut self) {
        if let Some(mut qmp) = self.0.take() {
            qmp.cont().expect("resuming the guest");
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(qmp) = &mut self.0 {
            let _ = qmp.execute("quit");
        }
    }
}

#[test]
fn a_swap_image_corrupted_while_the_guest_waits_kills_the_process_not_the_kernel() {
    // The first victim sleeps this many ticks (100 Hz) between swapping out
    // and reading back; the host needs well under a second of it.
    const WAIT_TICKS: u64 = 500;
    let mut prepared = Prepared::new("swap-corrupt", Bios, &cmdline(&format!("corrupt,{WAIT_TICKS}")), TIMEOUT, Vec::new());
    let swap = prepared.attach_swap(SWAP_PAGES, &[]);
    let socket = prepared.serve_qmp();
    let (lines, received) = mpsc::channel();
    let config = prepared.config.clone();
    let runner = std::thread::spawn(move || boot::qemu::run_streaming(&config, false, lines));
    let deadline = Instant::now() + TIMEOUT;

    // 1. Wait for the first victim's marker: its pages are on the disk.
    let mut marker = None;
    while marker.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(remaining) else { break };
        assert!(!line.contains(READING_BACK), "a victim read back before it printed the marker: {line}");
        marker = line.contains(SWAPPED_OUT).then_some(line);
    }
    let Some(marker) = marker else {
        let outcome = runner.join().expect("the QEMU thread").expect("running QEMU");
        prepared.show(&outcome);
        panic!("the victim never said its pages were out ({:?})", outcome.verdict);
    };
    let swapped = field(&marker, "swap_used").expect("the marker says how many slots are in use");
    assert!(swapped >= VICTIM_PAGES - 32, "most of the victim's pages are on the disk: {marker}");

    // 2. Stop the guest, let the output it wrote before drain, and check
    // it has not started reading back: the corruption comes first.
    let paused = Paused::stop(&socket);
    while let Ok(line) = received.recv_timeout(Duration::from_millis(500)) {
        assert!(!line.contains(READING_BACK), "the victim was reading back before the host stopped it: too late");
    }
    let corrupted = corrupt_swap_image(&swap);
    assert!(corrupted >= swapped, "{corrupted} blocks corrupted, but {swapped} slots are in use");
    paused.resume();

    // 3. The rest of the run, every line of it after the corruption.
    let mut after = Vec::new();
    while let Ok(line) = received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        after.push(line);
    }
    let outcome = runner.join().expect("the QEMU thread").expect("running QEMU");
    prepared.show(&outcome);
    let _ = std::fs::remove_file(&socket);
    // The first thing after the corruption is the victim reading back, or,
    // when a page of its own code or stack was among those swapped out, the
    // kernel finding that page corrupt before the victim could print.
    let first_after = |line: &String| line.contains(READING_BACK) || (line.contains("swap: reading slot ") && line.contains(": checksum mismatch"));
    assert!(after.first().is_some_and(first_after), "the first line after the corruption: {:?}", after.first());
    assert_eq!(outcome.verdict, Verdict::Success, "swap-inject's checks failed:\n{}", outcome.serial);
    assert_output_contains(&outcome, "swap-inject corrupt: passed");
    assert_swap_lost_report(&outcome, None, "checksum mismatch: read back 0x");
    let kill = after.iter().position(|line| line.contains("fault=swap-lost")).expect("the kill came after the corruption");
    assert!(after[..kill].iter().any(|line| line.contains("swap: reading slot ") && line.contains(": checksum mismatch")));
    assert_eq!(quarantined(&outcome), [0, 1, 1], "one slot out of service, none more after the second victim");
    assert_second_victim_intact(&outcome);
}

/// Two processes with no budget of their own share a global one smaller
/// than both together: over it, the one with the most pages gives pages up
/// (`Vass::evict_global`), so the smaller one keeps all of its pages, and
/// both get every byte back.
#[test]
fn under_the_global_budget_the_larger_process_gives_pages_up_and_no_byte_is_lost() {
    let cmdline = "mode=run sample=0 mem-budget=400 init=bin/swap-share init-args=320,160";
    let outcome = boot_with_swap("global-budget", Bios, cmdline, TIMEOUT, SWAP_PAGES, &[]);
    assert_eq!(outcome.verdict, Verdict::Success, "swap-share exits 0 when both children do");
    assert_output_contains(&outcome, "memory budget: 400 pages for all processes");
    assert_output_contains(&outcome, "swap-share: 2 processes, 0 failed");
    let patterns = lines_with(&outcome, "swap-pattern pages=");
    assert_eq!(patterns.len(), 2, "{patterns:?}");
    assert!(patterns.iter().all(|line| field(line, "mismatches") == Some(0)), "{patterns:?}");
    let stats = tests::memstats(&outcome);
    let pattern_stats: Vec<_> = stats.iter().filter(|stat| stat.name == "swap-pattern").collect();
    assert_eq!(pattern_stats.len(), 2);
    let larger = pattern_stats.iter().copied().max_by_key(|stat| stat.counters.peak_committed).unwrap();
    let smaller = pattern_stats.iter().copied().min_by_key(|stat| stat.counters.peak_committed).unwrap();
    let get = |stat: &boot::qemu::Memstat, key: &str| stat.counters.get(key).unwrap_or_else(|| panic!("memstat has no {key}"));
    assert!(get(larger, "evictions") > 0 && get(larger, "swap_outs") > 0, "the larger one paid: {larger:?}");
    assert_eq!(get(smaller, "evictions"), 0, "the smaller one kept its pages: {smaller:?}");
    assert!(get(larger, "peak_committed") < 400, "{larger:?}");
    assert_eq!((get(larger, "budget"), get(smaller, "budget")), (0, 0), "no budget of their own");
}

/// A shared partition's page whose swap copy cannot be read back comes
/// back from a reader's replica (`vass::engine::replica`): nobody dies, no
/// byte differs (`bin/swap-replica`, with `blkdebug` failing every read of
/// the page's slot).
#[test]
fn a_replica_restores_a_shared_page_whose_swap_copy_is_lost() {
    const SLOT: u64 = 5;
    let rules = [InjectError::on_slot(BlockIo::Read, SLOT)];
    let outcome = boot_with_swap("swap-replica", Bios, "mode=run sample=0 init=bin/swap-replica", TIMEOUT, SWAP_PAGES, &rules);
    assert_eq!(outcome.verdict, Verdict::Success, "swap-replica's checks failed:\n{}", outcome.serial);
    assert_output_contains(&outcome, &format!("swap: reading slot {SLOT}: read failed: the device reported an I/O error"));
    let verified = lines_with(&outcome, "swap-replica: verified ");
    assert_eq!(verified.len(), 1, "{}", outcome.serial);
    let line = verified[0];
    assert_eq!((field(line, "mismatches"), field(line, "replica_restores"), field(line, "swap_errors"), field(line, "slot")), (Some(0), Some(1), Some(1), Some(SLOT)), "{line}");
    assert!(lines_with(&outcome, "fault=").is_empty(), "nobody was killed:\n{}", outcome.serial);
}
