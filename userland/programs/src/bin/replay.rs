//! Replays a trace's page sequence in this process, under a commit policy.
//!
//! `replay POLICY FILE`: reads the replay file (made by xtask from a lackey
//! trace) from the ramdisk, chooses POLICY (`demand`, `eager`, `readahead`,
//! `leap`, or `oracle`, which reads the future from FILE), creates one
//! partition per region where `trace::Replay::layout` places it, touches
//! every page in order (stores write, loads and fetches read), and prints
//! `replay <FILE> policy=<P> accesses=<n> faults=<f> ahead=<a> hits=<h> waste=<w>`
//! counted over those partitions alone, the same counters `cargo xtask sim`
//! reports for the trace.
//!
//! `replay all FILE...`: runs `replay POLICY FILE` as a child for every file
//! under demand, eager, readahead, leap and oracle.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{CommitPolicy, ExitReason, PartitionKind, Rights};
use alloc::vec::Vec;
use runtime::{println, sys, Args};
use trace::{Kind, Replay, REPLAY_BASE_PAGE};

runtime::entry!(main);

/// The policies `replay all` compares.
const COMPARED: [&str; 5] = ["demand", "eager", "readahead", "leap", "oracle"];

fn main(args: Args) -> i32 {
    match (args.get(1), args.get(2)) {
        (Some("all"), Some(_)) => all(&args),
        (Some(policy), Some(path)) => match one(policy, path) {
            Ok(()) => 0,
            Err(why) => {
                println!("replay {path}: {why}");
                1
            }
        },
        _ => {
            println!("usage: replay POLICY FILE | replay all FILE...");
            2
        }
    }
}

fn all(args: &Args) -> i32 {
    let mut failures = 0;
    for index in 2.. {
        let Some(path) = args.get(index) else { break };
        for policy in COMPARED {
            match sys::run("bin/replay", &[policy, path]) {
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

fn one(policy: &str, path: &str) -> Result<(), &'static str> {
    let bytes = sys::read_whole_file(path).map_err(|_| "cannot read the replay file")?;
    let replay = Replay::decode(&bytes).map_err(|_| "not a replay file")?;
    drop(bytes);
    let pages = replay.placed_pages(REPLAY_BASE_PAGE);
    // Everything this process needs is in place before the policy starts,
    // so the policy sees the trace's faults and nothing else.
    let chosen = match policy {
        "oracle" => sys::policy_set_oracle(path),
        name => {
            let policy = CommitPolicy::ALL.iter().copied().find(|known| known.name() == name).ok_or("unknown policy")?;
            sys::policy_set(policy)
        }
    };
    chosen.map_err(|_| "the kernel refused the policy")?;
    let mut ids = Vec::with_capacity(replay.regions.len());
    for (region, start) in replay.regions.iter().zip(replay.layout(REPLAY_BASE_PAGE)) {
        let kind = if region.code { PartitionKind::Code } else { PartitionKind::Data };
        let partition = sys::partition_create_at(region.pages * 4096, kind, Rights::READ | Rights::WRITE, start * 4096)
            .map_err(|_| "cannot create a region's partition")?;
        ids.push(partition.id);
    }
    for (&page, &(_, _, kind)) in pages.iter().zip(&replay.accesses) {
        let address = (page * 4096) as *mut u8;
        if kind == Kind::Store {
            // SAFETY: every page lies in a read-write partition created above.
            unsafe { address.write_volatile(1) };
        } else {
            // SAFETY: as above.
            unsafe { address.read_volatile() };
        }
    }
    let (mut faults, mut ahead, mut hits, mut waste) = (0, 0, 0, 0);
    for id in ids {
        // The query samples the accessed bits first, so pages committed
        // ahead and still untouched after it were never used: waste.
        let info = sys::partition_query(id).map_err(|_| "cannot query a region")?;
        faults += info.demand_commits;
        ahead += info.ahead_commits;
        hits += info.hits;
        waste += info.waste + info.untouched;
        let _ = sys::partition_destroy(id);
    }
    println!("replay {path} policy={policy} accesses={} faults={faults} ahead={ahead} hits={hits} waste={waste}", pages.len());
    Ok(())
}
