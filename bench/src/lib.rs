//! The memory benchmark (`cargo xtask bench memory`): every workload and every trace under every
//! commit policy, in QEMU under `-icount shift=0` (BIOS, release kernel),
//! with the kernel's own counters, without a memory budget and under each
//! budget asked for; writes `target/bench/results.csv`,
//! `target/bench/results.md` and SVG charts.
//!
//! Workloads run in one boot without a budget (`bin/bench-memory`: each
//! workload under each policy, the kernel's `memstat` line per run), which
//! also measures each workload's *distinct pages*: the most pages it holds
//! at once under demand paging (`peak_committed`: every page it touched —
//! code, data, stack, heap and its own partitions — less those it had
//! released by then; it releases its data only at the end, so this is the
//! pages it touches). Then one boot per budget runs every workload under
//! every policy again, each spawned with that share of its distinct pages
//! as its memory budget (`bench-memory ... --budget NAME=PAGES...`), with a
//! fresh swap disk.
//!
//! Each trace runs in a boot of its own per memory budget (`bin/replay all
//! --budget B FILE`: its replay file under every policy with B of its
//! distinct pages, one `replay ...` line per run, counted over the trace's
//! partitions only, with a fresh swap disk attached). The host simulator
//! replays the same trace, policy and budget through the same engine, and
//! Belady's eviction under demand paging gives the limit on major faults;
//! the report says how far the kernel's counts are from the simulator's.
//! 2 MiB pages are off, so hits and waste are counted per 4 KiB page. The
//! boots under a budget run without the accessed-bit sampler (`sample=0`),
//! which would clear the accessed bits CLOCK eviction reads (the simulator
//! has none).
//!
//! Each workload's distinct pages come from the runs under demand paging
//! at the size it runs at under the budgets (a demand-only boot of its own
//! at [`Options::budget_kib`] when that differs from [`Options::kib`]);
//! every budget of [`Options::budgets`] (by default [`DEFAULT_BUDGETS`]:
//! 100 %, 50 % and 25 % of the distinct pages) is one boot, in which
//! `bench-memory` spawns every workload with its budget from its first page
//! on (`spawn_with_budget`). Every workload without a budget and every
//! trace under its largest budget then run twice under `pae` in one boot,
//! the second from the layout proposal the first left (`layout.csv`). The
//! host simulator runs on a thread of its own, for every trace, policy and
//! budget and for Belady's eviction (and the oracle's prefetching with it),
//! while QEMU replays the traces.
//!
//! Out of it come `target/bench/results.csv` and `results.md` (per-policy
//! means, major faults relative to demand paging and per distinct page per
//! budget for the traces, with Belady's, and for the workloads, the runs
//! over 1.1× demand paging's major faults, the kernel against the
//! simulator), `summary.md` (the README's), `layout.csv`, `timing.csv`,
//! `faults.svg` and `footprint.svg` (bars relative to demand paging),
//! `coverage.svg` (coverage against accuracy per policy, a panel per trace
//! and workload) and `budgets.svg` (major faults per distinct page against
//! the budget, a panel each for traces and workloads). Counts repeat
//! exactly; the guest instructions in swap I/O of the rows with a swap disk
//! vary (the kernel polls the disk, which completes in host time), and with
//! them those in all and in the fault path and the footprint, while the
//! instructions outside swap I/O stay within 0.1 % ([`TIMED_COLUMNS`]:
//! `results.csv` leaves them empty for those rows, `timing.csv` holds them).
//!
//! The modules, one concern each: `runs` boots QEMU and runs the simulator
//! thread ([`measure`], [`Models`]); `rows` turns serial output into
//! [`Row`]s; `analysis` is the statistics over rows (coverage, accuracy,
//! F1, means relative to demand paging, [`flags`], [`agreement`]); `report`
//! renders CSV and Markdown; `plot` draws the SVG charts. [`run`] does it
//! all and writes the files.

mod analysis;
pub mod compare;
mod plot;
mod report;
mod rows;
mod runs;
#[cfg(test)]
mod samples;

pub use analysis::{Agreement, Flag, agreement, flags};
pub use plot::{plot, plot_budgets, plot_coverage_accuracy};
pub use report::{CSV_COLUMNS, TIMED_COLUMNS, inference_report, layout_report, pressure_report, report, summary, timing_report};
pub use rows::{LayoutRuns, Row, Simulated};
pub use runs::{Measured, Models, measure};
pub use trace::Budget;

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// The manifest of a directory of fold models (`cargo xtask eval
/// --save-models DIR`): one line per model, `fold-N.onnx: TRACE TRACE ...`,
/// the traces it was not trained on; `#` starts a comment.
pub const FOLDS_MANIFEST: &str = "folds.txt";
/// Where the repository keeps its fold models.
pub const DEFAULT_FOLDS: &str = "pae-model/models/folds";
/// Memory budgets every workload and trace runs under by default: 100 %,
/// 50 % and 25 % of its distinct pages (100 %: all of them fit).
pub const DEFAULT_BUDGETS: [Budget; 3] = [Budget::Percent(100), Budget::Percent(50), Budget::Percent(25)];
/// The workloads' size under the memory budgets by default, in KiB (see
/// [`Options::budget_kib`]).
pub const DEFAULT_BUDGET_KIB: u64 = 256;

/// Accesses of each trace `cargo xtask bench memory` replays by default
/// (the start of each; `--accesses 0` replays all).
pub const DEFAULT_ACCESSES: usize = 50_000;

/// What `bench memory` measures and where.
pub struct Options {
    /// Lackey traces to replay.
    pub traces: PathBuf,
    /// Workload size in KiB.
    pub kib: u64,
    /// Workload size in KiB under the memory budgets: smaller, as every
    /// major fault waits for the disk (about 0.4 ms of host time under TCG)
    /// and the random-access workloads fault on most accesses at 25 %.
    pub budget_kib: u64,
    /// The workloads that run under the budgets, by name without `wl-`
    /// (empty: every one).
    pub budget_workloads: Vec<String>,
    /// Replay only the first accesses of each trace (0: all).
    pub accesses: usize,
    /// Only the first `limit` traces (0: all).
    pub trace_limit: usize,
    /// Memory budgets every workload and trace runs under, in pages or in
    /// percent of its distinct pages (see [`DEFAULT_BUDGETS`]); at least one.
    pub budgets: Vec<Budget>,
    /// The PAE model for every run (`None`: see `folds`).
    pub model: Option<PathBuf>,
    /// Fold models (see [`FOLDS_MANIFEST`]): a trace one of them was not
    /// trained on runs under that one (leave-programs-out); other traces
    /// and the workloads under the default model, which was trained on the
    /// shared traces only.
    pub folds: Option<PathBuf>,
    /// The user programs to run, as ELF files in this directory (`None`:
    /// this checkout's, built): another commit's programs under this
    /// kernel, which tells a change of the kernel from a change of the
    /// programs' layout.
    pub programs: Option<PathBuf>,
}

/// Measures and writes `results.csv`, `results.md`, `summary.md`,
/// `faults.svg`, `footprint.svg` (workloads without a budget, traces under
/// their largest budget), `coverage.svg` (coverage against accuracy per
/// policy, a panel per trace and workload, the same runs) and
/// `budgets.svg` (major faults against the budget, traces and workloads)
/// `layout.csv` (first and second runs under `pae`: the layout
/// proposals' effect, also a section of both Markdown files) and
/// `timing.csv` (the [`TIMED_COLUMNS`] of the runs under a budget) into `out`;
/// returns the CSV and the Markdown.
pub fn run(options: &Options, out: &Path) -> Result<(String, String)> {
    let Measured { rows, hz, layouts } = measure(options)?;
    if rows.is_empty() {
        bail!("the benchmark reported no rows");
    }
    let (csv, md) = report(&rows, hz);
    std::fs::create_dir_all(out)?;
    let (layout_csv, layout_md) = layout_report(&layouts);
    let md = md + &layout_md;
    std::fs::write(out.join("results.csv"), &csv)?;
    std::fs::write(out.join("layout.csv"), &layout_csv)?;
    std::fs::write(out.join("timing.csv"), timing_report(&rows, hz))?;
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(out.join("summary.md"), summary(&rows, hz) + &layout_md)?;
    let calm = analysis::unpressured(&rows);
    std::fs::write(out.join("faults.svg"), plot(&calm, "Demand faults, relative to demand paging", |row| row.faults)?)?;
    std::fs::write(out.join("footprint.svg"), plot(&calm, "Footprint (pages × ticks), relative to demand paging", |row| row.footprint)?)?;
    std::fs::write(out.join("coverage.svg"), plot_coverage_accuracy(&rows)?)?;
    std::fs::write(out.join("budgets.svg"), plot_budgets(&rows)?)?;
    Ok((csv, md))
}
