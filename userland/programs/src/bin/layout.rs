//! Shows the layout proposals the PAE recorded (`pae_layout`): for every
//! program that ended under the `pae` policy, its partitions in creation
//! order with their kind, size, touched pages, faults and hot ranges, which
//! the next launch of the same ELF file commits at the first fault in each
//! partition.
//!
//! `layout [PROGRAM [ARGS...]]`: with a program, runs it first (its layout
//! is recorded if it runs under `pae`, e.g. with `policy=pae` on the
//! kernel's command line) and then shows every layout.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, ExitReason, PartitionKind};
use abi::layout::LayoutView;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use runtime::{println, sys, Args};

runtime::entry!(main);

/// Hot ranges shown per partition (the rest are counted).
const SHOWN_RANGES: usize = 8;

fn main(args: Args) -> i32 {
    if let Some(program) = args.get(1) {
        let arguments: Vec<&str> = (2..args.len()).filter_map(|index| args.get(index)).collect();
        match sys::run(program, &arguments) {
            Ok(ExitReason::Exited(code)) => println!("layout: {program} exited with {code}"),
            Ok(ExitReason::Faulted { kind, address }) => println!("layout: {program} died: fault {kind} at {address:#x}"),
            Err(error) => {
                println!("layout: cannot run {program}: {error}");
                return 1;
            }
        }
    }
    let mut index = 0;
    loop {
        let words = match sys::pae_layout(index) {
            Ok(words) => words,
            Err(Error::NotFound) => break,
            Err(error) => {
                println!("layout: reading proposal {index}: {error}");
                return 1;
            }
        };
        let Some(view) = LayoutView::new(&words) else {
            println!("layout: proposal {index} is malformed ({} words)", words.len());
            return 1;
        };
        show(&view);
        index += 1;
    }
    println!("layout: {index} programs");
    0
}

/// Prints one program's layout.
fn show(view: &LayoutView<'_>) {
    let hot_pages = |ranges: &mut dyn Iterator<Item = (u64, u64)>| ranges.map(|(start, end)| end - start).sum::<u64>();
    let total: u64 = view.partitions().map(|partition| hot_pages(&mut partition.hot())).sum();
    println!(
        "program {} identity={:#018x} runs={} partitions={} hot_pages={total}",
        String::from_utf8_lossy(view.name()),
        view.identity(),
        view.runs(),
        view.partition_count()
    );
    for partition in view.partitions() {
        let kind = PartitionKind::from_code(partition.kind).map_or_else(|| String::from("?"), |kind| alloc::format!("{kind}"));
        let mut line = String::new();
        let _ = write!(
            line,
            "  partition {} kind={kind} pages={} touched={} faults={} hot_pages={} ranges={}",
            partition.ordinal,
            partition.pages,
            partition.touched,
            partition.faults,
            hot_pages(&mut partition.hot()),
            partition.hot().count()
        );
        for (start, end) in partition.hot().take(SHOWN_RANGES) {
            let _ = write!(line, " {start}..{end}");
        }
        if partition.hot().count() > SHOWN_RANGES {
            line.push_str(" ...");
        }
        println!("{line}");
    }
}
