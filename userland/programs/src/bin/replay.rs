//! Replays a trace's page sequence in this process, under a commit policy
//! and, optionally, a memory budget.
//!
//! `replay POLICY FILE [BUDGET]`: reads the replay file (made by xtask from
//! a lackey trace) from the ramdisk, chooses POLICY (`demand`, `eager`,
//! `readahead`, `leap`, `pae`, or `oracle`, which reads the future from FILE),
//! creates one partition per region where `trace::Replay::layout` places
//! it, touches every page in order (stores write, loads and fetches read;
//! every page is also written at its first touch, as the host simulator
//! marks it: the traced program's pages held data, so evicted they go to
//! swap), and prints
//! `replay <FILE> policy=<P> accesses=<n> faults=<f> ahead=<a> hits=<h> waste=<w>
//! budget=<b> own=<o> major=<m> trace_major=<t> swap_outs=<so> swap_ins=<si> evicted=<e>
//! cycles=<c> fault_cycles=<fc> swap_io_cycles=<sc> pae_steps=<ps> pae_cycles=<pc> pae_model_cycles=<pm>
//! pid=<id>` (its process, whose `memstat` record the host pairs it with).
//! faults, ahead, hits, waste and trace_major (major faults on the trace's
//! pages) are counted over the trace's partitions alone, the same counters
//! `cargo xtask sim` reports for the trace; major, swap_outs, swap_ins,
//! evicted and the time-stamp-counter cycles in all, in the page-fault path
//! and in swap I/O (guest instructions under `-icount`) are this process's
//! counters over the replay (its own pages included), from the partitions'
//! creation to the last access.
//!
//! BUDGET is `PERCENT%` of the trace's distinct pages (`50%`: the trace
//! gets `trace::budget_pages` of them, rounded up) or a number of pages
//! (`4096`), at least `abi::MIN_MEMORY_BUDGET`, printed as `budget=`
//! (`trace::Budget`, the syntax of the kernel's `mem-budget=`). A budget covers every
//! page the process has committed, so it is set to that many plus the
//! pages the process holds when the replay starts (`own=`: code, stack,
//! heap; see below). Without a budget, `budget=0`.
//!
//! `replay all [--budget BUDGET] FILE...`: runs `replay POLICY FILE
//! [BUDGET]` as a child for every file under demand, eager, readahead,
//! leap, oracle and pae. `replay P1+P2+... [--budget BUDGET] FILE...`
//! does the same under the policies named, in that order (`pae+pae`: a
//! first and a second run under `pae`, the second with the layout proposal
//! the first left).
//!
//! The accesses are read from the file a page at a time, not held, so the
//! process's own pages stay few next to the trace's. Under a budget it
//! first makes one pass over the file without touching (which counts the
//! distinct pages and commits every page the replay itself runs on), then
//! locks its own partitions (`Advice::Lock`): its pages are never evicted
//! and CLOCK's hand passes over them, so the trace's pages alone share the
//! trace's budget, and are evicted and read back exactly as the host
//! simulator's are (`major=` then equals `trace_major=`).

#![no_std]
#![no_main]

extern crate alloc;

use abi::{CommitPolicy, ExitReason, PartitionKind, Rights};
use alloc::boxed::Box;
use alloc::vec::Vec;
use runtime::{println, sys, Args};
use trace::{Budget, Kind, ReplayHeader, TouchedPages, MAX_HEADER_BYTES, REPLAY_BASE_PAGE};

runtime::entry!(main);

/// The policies `replay all` compares.
const COMPARED: [&str; 6] = ["demand", "eager", "readahead", "leap", "oracle", "pae"];

const USAGE: &str = "usage: replay POLICY FILE [PAGES|PERCENT%] | replay all|POLICY+POLICY... [--budget PAGES|PERCENT%] FILE...";

fn main(args: Args) -> i32 {
    // `all`, or policies joined by `+` (`pae+pae`): a child per policy.
    let list = args.get(1).filter(|&word| word == "all" || word.contains('+'));
    match (list, args.get(2)) {
        (Some(list), Some("--budget")) => match args.get(3).and_then(Budget::parse) {
            Some(_) if args.get(4).is_some() => all(&args, list, args.get(3), 4),
            _ => usage(),
        },
        (Some(list), Some(_)) => all(&args, list, None, 2),
        _ => match (args.get(1), args.get(2)) {
            (Some(policy), Some(path)) => {
                let budget = match args.get(3) {
                    None => None,
                    Some(text) => match Budget::parse(text) {
                        Some(budget) => Some(budget),
                        None => return usage(),
                    },
                };
                match one(policy, path, budget) {
                    Ok(()) => 0,
                    Err(why) => {
                        println!("replay {path}: {why}");
                        1
                    }
                }
            }
            _ => usage(),
        },
    }
}

fn usage() -> i32 {
    println!("{USAGE}");
    2
}

/// Runs every file from argument `first` on under every policy of `list`
/// (`all`: the compared ones) in turn, with `budget` passed on.
fn all(args: &Args, list: &str, budget: Option<&str>, first: usize) -> i32 {
    let policies: Vec<&str> = if list == "all" { COMPARED.to_vec() } else { list.split('+').collect() };
    let mut failures = 0;
    for index in first.. {
        let Some(path) = args.get(index) else { break };
        for &policy in &policies {
            let outcome = match budget {
                Some(budget) => sys::run("bin/replay", &[policy, path, budget]),
                None => sys::run("bin/replay", &[policy, path]),
            };
            match outcome {
                Ok(ExitReason::Exited(0)) => {}
                other => {
                    println!("replay {path} policy={policy}: ended with {other:?}");
                    failures += 1;
                }
            }
        }
    }
    i32::from(failures > 0)
}

/// One page, page-aligned: the buffer the accesses are read into.
#[repr(C, align(4096))]
struct Chunk([u8; 4096]);

/// A replay file being replayed: its header, where its regions are placed,
/// the pages touched so far and the buffer its accesses are read into.
struct Replayer<'a> {
    path: &'a str,
    header: ReplayHeader,
    starts: Vec<u64>,
    touched: TouchedPages,
    chunk: Box<Chunk>,
}

impl Replayer<'_> {
    /// Reads every access a chunk at a time, recording its page in
    /// `touched`; with `touch`, also touches the page (the regions must be
    /// in place). One function for both, so a pass without `touch` runs
    /// the very code (and stack, and buffers) the replay will.
    fn pass(&mut self, touch: bool) -> Result<(), &'static str> {
        let mut offset = self.header.access_offset() as u64;
        let mut left = self.header.accesses;
        while left > 0 {
            let words = left.min(self.chunk.0.len() / 4);
            let bytes = &mut self.chunk.0[..words * 4];
            let read = sys::read_file(self.path, bytes, offset).map_err(|_| "cannot read the replay file")?;
            if read != bytes.len() as u64 {
                return Err("the replay file changed size");
            }
            for &word in bytes.as_chunks::<4>().0 {
                let (region, page, kind) = self.header.access(u32::from_le_bytes(word)).map_err(|_| "not a replay file")?;
                let first = self.touched.insert(region, page);
                if !touch {
                    continue;
                }
                let address = ((self.starts[usize::from(region)] + u64::from(page)) * 4096) as *mut u8;
                if kind == Kind::Store {
                    // SAFETY: every page lies in a read-write partition created before the pass.
                    unsafe { address.write_volatile(1) };
                } else {
                    // SAFETY: as above.
                    unsafe { address.read_volatile() };
                }
                if first {
                    // SAFETY: as above.
                    unsafe { address.write_volatile(1) };
                }
            }
            offset += read;
            left -= words;
        }
        Ok(())
    }
}

/// Locks every partition this process holds (`Advice::Lock`: its pages,
/// committed now or later, are never evicted): the pages the replay runs
/// on stay in and out of CLOCK's way, so under a budget of the trace's
/// share plus those pages the trace's pages are evicted exactly as the
/// host simulator evicts them.
fn lock_own() -> Result<(), &'static str> {
    let mut ids = [0u64; 64];
    let count = sys::partition_list(&mut ids).map_err(|_| "cannot list the partitions")?;
    for &id in ids.iter().take(count) {
        let info = sys::partition_query(id).map_err(|_| "cannot query a partition")?;
        sys::partition_advise(id, 0, info.size, abi::Advice::Lock).map_err(|_| "the kernel refused to lock a partition")?;
    }
    Ok(())
}

/// Touches the next pages of the stack, deeper than the replay itself goes,
/// so they are committed (and counted in `own=`) before the budget is set:
/// a stack page first touched during the replay would take one of the
/// trace's frames.
#[inline(never)]
fn touch_stack() {
    let mut depth = [0u8; 4 * 4096];
    for offset in (0..depth.len()).step_by(4096) {
        // SAFETY: inside the array just made on this stack.
        unsafe { core::ptr::write_volatile(depth.as_mut_ptr().add(offset), 1) };
    }
    core::hint::black_box(&depth);
}

fn one(policy: &str, path: &str, budget: Option<Budget>) -> Result<(), &'static str> {
    let length = sys::file_size(path).map_err(|_| "cannot read the replay file")?;
    let header = {
        let mut head = alloc::vec![0u8; (length as usize).min(MAX_HEADER_BYTES)];
        sys::read_file(path, &mut head, 0).map_err(|_| "cannot read the replay file")?;
        ReplayHeader::decode(&head, length as usize).map_err(|_| "not a replay file")?
    };
    // `None`: the oracle, which the kernel feeds from the file.
    let known = match policy {
        "oracle" => None,
        name => Some(CommitPolicy::ALL.iter().copied().find(|known| known.name() == name).ok_or("unknown policy")?),
    };
    let starts = header.layout(REPLAY_BASE_PAGE);
    let touched = TouchedPages::new(&header.regions);
    let mut replayer = Replayer { path, header, starts, touched, chunk: Box::new(Chunk([0; 4096])) };
    let mut ids = Vec::with_capacity(replayer.header.regions.len());
    let budget = match budget {
        Some(_) if sys::system_info().swap_slots == 0 => return Err("a budget needs a swap disk (cargo xtask run --swap-size)"),
        Some(budget) => {
            // Counts the distinct pages, running the code (and using the
            // stack and buffers) the replay will.
            replayer.pass(false)?;
            let pages = budget.pages(replayer.touched.len(), abi::MIN_MEMORY_BUDGET);
            replayer.touched.clear();
            Some(pages)
        }
        None => None,
    };
    // Everything this process needs is in place before the policy starts,
    // so the policy sees the trace's faults and nothing else.
    touch_stack();
    if budget.is_some() {
        lock_own()?;
    }
    let chosen = match known {
        None => sys::policy_set_oracle(path),
        Some(known) => sys::policy_set(known),
    };
    chosen.map_err(|_| "the kernel refused the policy")?;
    let before = sys::memory_counters();
    let mut own = before.committed;
    if let Some(budget) = budget {
        sys::memory_budget(budget + own).map_err(|_| "the kernel refused the budget")?;
    }
    for (region, &start) in replayer.header.regions.iter().zip(&replayer.starts) {
        let kind = if region.code { PartitionKind::Code } else { PartitionKind::Data };
        let partition = sys::partition_create_at(region.pages * 4096, kind, Rights::READ | Rights::WRITE, start * 4096)
            .map_err(|_| "cannot create a region's partition")?;
        ids.push(partition.id);
    }
    if let Some(budget) = budget {
        // The calls since the count may have committed a page or two of
        // the process's own (their code, their stack), locked as they came:
        // count them too, or they would take the trace's frames.
        let mut regions = 0;
        for &id in &ids {
            regions += sys::partition_query(id).map_err(|_| "cannot query a region")?.committed_pages;
        }
        let held = sys::memory_counters().committed - regions;
        if held > own {
            own = held;
            sys::memory_budget(budget + own).map_err(|_| "the kernel refused the budget")?;
        }
    }
    replayer.pass(true)?;
    let after = sys::memory_counters();
    let (mut faults, mut ahead, mut hits, mut waste, mut trace_faults) = (0, 0, 0, 0, 0);
    for id in ids {
        // The query samples the accessed bits first, so pages committed
        // ahead and still untouched after it were never used: waste.
        let info = sys::partition_query(id).map_err(|_| "cannot query a region")?;
        faults += info.demand_commits;
        // Every fault on a region commits a page (a demand commit) or
        // reads one back from swap (a major fault).
        trace_faults += info.faults;
        ahead += info.ahead_commits;
        hits += info.hits;
        waste += info.waste + info.untouched;
        let _ = sys::partition_destroy(id);
    }
    if budget.is_some() {
        let _ = sys::memory_budget(0);
    }
    println!(
        "replay {path} policy={policy} accesses={} faults={faults} ahead={ahead} hits={hits} waste={waste} budget={} own={} major={} trace_major={} swap_outs={} swap_ins={} evicted={} cycles={} fault_cycles={} swap_io_cycles={} pae_steps={} pae_cycles={} pae_model_cycles={} pid={}",
        replayer.header.accesses,
        budget.unwrap_or(0),
        own,
        after.faults_major - before.faults_major,
        trace_faults.saturating_sub(faults),
        after.swap_outs - before.swap_outs,
        after.swap_ins - before.swap_ins,
        after.evictions - before.evictions,
        after.run_cycles - before.run_cycles,
        after.fault_cycles - before.fault_cycles,
        after.swap_io_cycles - before.swap_io_cycles,
        after.pae_steps - before.pae_steps,
        after.pae_cycles - before.pae_cycles,
        after.pae_model_cycles - before.pae_model_cycles,
        after.pid,
    );
    Ok(())
}
