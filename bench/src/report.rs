//! The reports: `results.csv` and its Markdown table with the per-policy
//! means, `timing.csv`, the sections on memory pressure, inference cost and
//! layout proposals, and the README's summary.

use crate::analysis::{
    FLAG_RATIO, KINDS, accuracy, agreement, budgets, coverage, demand_row, f1, flags, major_of, mean_per_page, mean_relative_major, policies,
    same_run, unpressured,
};
use crate::rows::{LayoutRuns, Row};
use std::fmt::Write as _;
use trace::Budget;

/// Bytes per swapped page.
const PAGE_BYTES: u64 = 4096;

/// The layout comparison as CSV and as a Markdown section: per program,
/// demand faults, pages committed ahead, hits and peak pages on the first
/// and the second run under `pae`, and the pages the second committed from
/// its proposal.
pub fn layout_report(layouts: &[LayoutRuns]) -> (String, String) {
    let mut csv = String::from(
        "name,kind,budget,run1_faults,run2_faults,run2_layout_commits,run1_committed_ahead,run2_committed_ahead,run1_hits,run2_hits,run1_peak,run2_peak\n",
    );
    let mut md = String::from(
        "\n**Layout proposals** (each workload without a budget and each trace under its largest budget, run twice under `pae` in one \
         boot: when the first run ends, the PAE records its layout, keyed by the hash of the program's ELF file; the second run \
         commits each partition's hot ranges at its first fault): demand faults on run 1 and run 2, and what run 2 committed \
         from the proposal.\n\n\
         | name | kind | faults, run 1 | faults, run 2 | from the proposal | ahead, run 1 | ahead, run 2 | peak, run 1 | peak, run 2 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for LayoutRuns { first, second } in layouts {
        let budget = first.budget.map_or_else(String::new, |budget| budget.to_string());
        let _ = writeln!(
            csv,
            "{},{},{budget},{},{},{},{},{},{},{},{},{}",
            first.name,
            first.kind,
            first.faults,
            second.faults,
            second.layout_commits,
            first.ahead,
            second.ahead,
            first.hits,
            second.hits,
            first.peak,
            second.peak
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            first.name, first.kind, first.faults, second.faults, second.layout_commits, first.ahead, second.ahead, first.peak, second.peak
        );
    }
    for kind in ["trace", "workload"] {
        let mine: Vec<&LayoutRuns> = layouts.iter().filter(|pair| pair.first.kind == kind).collect();
        if mine.is_empty() {
            continue;
        }
        let sum = |pick: &dyn Fn(&LayoutRuns) -> u64| mine.iter().map(|pair| pick(pair)).sum::<u64>();
        let fewer = mine.iter().filter(|pair| pair.second.faults < pair.first.faults).count();
        let _ = writeln!(
            md,
            "\n{kind}s: {} demand faults on run 1, {} on run 2 ({:.1} %); run 2 faulted less on {fewer} of {}; peak pages {} → {}.",
            sum(&|pair| pair.first.faults),
            sum(&|pair| pair.second.faults),
            100.0 * sum(&|pair| pair.second.faults) as f64 / sum(&|pair| pair.first.faults).max(1) as f64,
            mine.len(),
            sum(&|pair| pair.first.peak),
            sum(&|pair| pair.second.peak),
        );
    }
    (csv, md)
}

/// `difference (percent of simulated, row)`, or `–`.
fn difference_text(worst: &Option<(i64, String, u64)>) -> String {
    match worst {
        Some((0, _, _)) | None => "0".to_owned(),
        Some((difference, row, simulated)) => {
            format!("{difference:+} ({:+.1}%, {row})", *difference as f64 * 100.0 / (*simulated).max(1) as f64)
        }
    }
}

/// The Markdown sections on memory pressure: major faults per policy and
/// budget relative to demand paging, for the traces (with Belady's limit)
/// and the workloads; the flagged runs; the kernel's agreement with the
/// simulator. Empty without budgets.
pub fn pressure_report(rows: &[Row]) -> String {
    if budgets(rows).is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Major faults under memory pressure**: for each policy, the mean over the runs of its major faults relative to \
         demand paging's under the same budget (in brackets: runs where demand paging had any), then per distinct page. \
         A trace's major faults are those on its pages; a workload's, its process's (its budget covers the whole process). \
         Belady is the simulator's optimal eviction under demand paging, the limit (traces only: a workload has no trace \
         to look ahead in).\n",
    );
    for (kind, plural) in KINDS {
        let mine: Vec<Row> = rows.iter().filter(|row| row.kind == kind && row.budget.is_some()).cloned().collect();
        let budgets = budgets(&mine);
        if budgets.is_empty() {
            continue;
        }
        let header = |first: &str| {
            let mut header = format!("| {first} |");
            let mut rule = String::from("|---|");
            for budget in &budgets {
                let _ = write!(header, " {budget} |");
                rule.push_str("---:|");
            }
            format!("{header}\n{rule}\n")
        };
        let relative = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| match mean_relative_major(&mine, kind, budget, pick) {
            Some((mean, runs)) => format!("{mean:.3} ({runs})"),
            None => "–".to_owned(),
        };
        let per_page = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| match mean_per_page(&mine, kind, budget, pick) {
            Some(mean) => format!("{mean:.3}"),
            None => "–".to_owned(),
        };
        let belady = |demand: &Row| demand.belady;
        let policies = policies(&mine);
        for (title, per_distinct_page) in [("relative to demand paging", false), ("per distinct page", true)] {
            let cell = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| {
                if per_distinct_page { per_page(pick, budget) } else { relative(pick, budget) }
            };
            let _ = write!(md, "\n*{plural}, major faults {title}:*\n\n");
            md.push_str(&header("policy"));
            for policy in &policies {
                let pick = major_of(&mine, policy);
                let cells: Vec<String> = budgets.iter().map(|&budget| cell(&pick, budget)).collect();
                let _ = writeln!(md, "| {policy} | {} |", cells.join(" | "));
            }
            if kind == "trace" {
                let cells: Vec<String> = budgets.iter().map(|&budget| cell(&belady, budget)).collect();
                let _ = writeln!(md, "| Belady (simulator) | {} |", cells.join(" | "));
            }
        }
    }
    let flagged = flags(rows);
    let _ = writeln!(md, "\n**Over {FLAG_RATIO}× demand paging's major faults**: {}\n", if flagged.is_empty() { "none." } else { "" });
    if !flagged.is_empty() {
        md.push_str("| name | kind | budget | policy | major | demand's | ratio |\n|---|---|---:|---|---:|---:|---:|\n");
        for flag in &flagged {
            let ratio =
                if flag.demand_major == 0 { "–".to_owned() } else { format!("{:.3}", flag.major as f64 / flag.demand_major as f64) };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {ratio} |",
                flag.name, flag.kind, flag.budget, flag.policy, flag.major, flag.demand_major
            );
        }
    }
    let agreements = agreement(rows);
    if agreements.is_empty() {
        return md;
    }
    md.push_str(
        "\n**Kernel against simulator** (the same trace, policy and budget through the same engine; the kernel's process \
         also holds its own stack and heap, locked, and maps its code from the text store, which it is not charged for, \
         so the trace's pages alone share the trace's budget; \
         \"trace\" counts major faults on the trace's pages, \"all\" the process's; `pae` apart: in the kernel the PAE task \
         steps the model after the fault while the process runs on, the simulator steps it at the fault):\n\n\
         | budget | policies | rows | first-touch faults equal | largest difference | trace major faults equal | largest difference | \
         major, kernel (trace) | major, kernel (all) | major, simulator |\n|---:|---|---:|---:|---|---:|---|---:|---:|---:|\n",
    );
    for agreement in agreements {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            agreement.budget,
            if agreement.pae { "pae" } else { "the others" },
            agreement.rows,
            agreement.faults_equal,
            difference_text(&agreement.faults_worst),
            agreement.major_equal,
            difference_text(&agreement.major_worst),
            agreement.kernel_trace_major,
            agreement.kernel_major,
            agreement.simulated_major
        );
    }
    md
}

/// The columns of `results.csv`.
pub const CSV_COLUMNS: [&str; 32] = [
    "name",
    "kind",
    "kib",
    "policy",
    "faults",
    "committed_ahead",
    "hits",
    "waste",
    "coverage",
    "accuracy",
    "peak_committed",
    "footprint",
    "guest_instructions",
    "fault_path_instructions",
    "budget",
    "budget_pages",
    "distinct_pages",
    "major_faults",
    "trace_major_faults",
    "swap_outs",
    "swap_ins",
    "bytes_written",
    "bytes_read",
    "evictions",
    "swap_io_instructions",
    "sim_faults",
    "sim_major_faults",
    "belady_major_faults",
    "model",
    "pae_steps",
    "pae_instructions",
    "pae_model_instructions",
];

/// The columns that depend on how long the swap disk takes, for the runs
/// with one (under a budget): the disk's completions arrive in host time
/// while the kernel polls for them, so the guest instructions spent
/// waiting (in all, in the fault path, in swap I/O, in the PAE task when it
/// reads pages back) and the footprint (ticks pass meanwhile) vary from
/// run to run. Every count is exact. `results.csv` leaves these columns
/// empty for those runs, so it is byte-identical from run to run;
/// `timing.csv` holds them.
pub const TIMED_COLUMNS: [&str; 6] =
    ["footprint", "guest_instructions", "fault_path_instructions", "swap_io_instructions", "pae_instructions", "pae_model_instructions"];

/// `timing.csv`: the [`TIMED_COLUMNS`] of the runs under a budget (see
/// there), with the columns that name the run.
pub fn timing_report(rows: &[Row], hz: u64) -> String {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = String::from("name,kind,kib,policy,budget,");
    csv.push_str(&TIMED_COLUMNS.join(","));
    csv.push('\n');
    for row in rows.iter().filter(|row| row.budget.is_some()) {
        let kib = if row.kib > 0 { row.kib.to_string() } else { String::new() };
        let budget = row.budget.map_or_else(String::new, |budget| budget.to_string());
        let pae = |value: u64| if row.policy == "pae" { value.to_string() } else { String::new() };
        let _ = writeln!(
            csv,
            "{},{},{kib},{},{budget},{},{},{},{},{},{}",
            row.name,
            row.kind,
            row.policy,
            row.footprint,
            instructions(row.run_cycles),
            instructions(row.fault_cycles),
            instructions(row.swap_io_cycles),
            pae(instructions(row.pae_cycles)),
            pae(instructions(row.pae_model_cycles)),
        );
    }
    csv
}

/// The CSV (`results.csv`: every count; the [`TIMED_COLUMNS`] of runs
/// under a budget left empty) and the Markdown table (everything).
pub fn report(rows: &[Row], hz: u64) -> (String, String) {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = CSV_COLUMNS.join(",");
    csv.push('\n');
    let mut md = String::from(
        "| name | kind | KiB | policy | faults | ahead | hits | waste | coverage | accuracy | peak | footprint | instructions | in faults | \
         budget | budget pages | distinct | major | trace major | swapped out | swapped in | bytes written | bytes read | in swap I/O | \
         sim faults | sim major | Belady major |\n",
    );
    md.push_str("|---|---|---:|---|");
    md.push_str(&"---:|".repeat(23));
    md.push('\n');
    let optional = |value: Option<u64>| value.map_or_else(String::new, |value| value.to_string());
    for row in rows {
        // The pressure columns are empty for rows without a budget.
        let pressure = row.budget.is_some();
        let swap = |value: u64| optional(pressure.then_some(value));
        let fields = |digits: usize| -> Vec<String> {
            let kib = if row.kib > 0 { row.kib.to_string() } else { String::new() };
            let mut fields = vec![row.name.clone(), row.kind.to_owned(), kib, row.policy.clone()];
            fields.extend([row.faults, row.ahead, row.hits, row.waste].map(|value| value.to_string()));
            fields.push(format!("{:.digits$}", coverage(row, rows)));
            fields.push(format!("{:.digits$}", accuracy(row)));
            fields.extend([row.peak, row.footprint, instructions(row.run_cycles), instructions(row.fault_cycles)].map(|value| value.to_string()));
            fields.extend([row.budget.map_or_else(String::new, |budget| budget.to_string()), swap(row.budget_pages)]);
            fields.extend([optional((row.distinct > 0).then_some(row.distinct)), swap(row.major)]);
            fields.push(optional((pressure && row.kind == "trace").then_some(row.trace_major)));
            fields.extend([swap(row.swap_outs), swap(row.swap_ins), swap(row.swap_outs * PAGE_BYTES), swap(row.swap_ins * PAGE_BYTES)]);
            fields
        };
        let simulated = [optional(row.simulated.map(|sim| sim.faults)), optional(row.simulated.map(|sim| sim.major)), optional(row.belady)];
        let mut csv_fields = fields(4);
        csv_fields.extend([swap(row.evicted), swap(instructions(row.swap_io_cycles))]);
        csv_fields.extend(simulated.clone());
        let pae = row.policy == "pae";
        csv_fields.extend([row.model.clone(), optional(pae.then_some(row.pae_steps)), optional(pae.then_some(instructions(row.pae_cycles)))]);
        csv_fields.push(optional(pae.then_some(instructions(row.pae_model_cycles))));
        if pressure {
            // Timed by the swap disk: in `timing.csv` (see `timing_report`).
            for column in TIMED_COLUMNS {
                if let Some(at) = CSV_COLUMNS.iter().position(|name| *name == column) {
                    csv_fields[at].clear();
                }
            }
        }
        let _ = writeln!(csv, "{}", csv_fields.join(","));
        let mut md_fields = fields(3);
        md_fields.push(swap(instructions(row.swap_io_cycles)));
        md_fields.extend(simulated);
        let _ = writeln!(md, "| {} |", md_fields.join(" | "));
    }
    let calm = unpressured(rows);
    let _ = write!(
        md,
        "\n`in faults` and `in swap I/O` are guest instructions (TSC cycles under `-icount shift=0`) in the page-fault path and \
         in swap reads and writes (checksum, request, polling the disk; mostly inside the fault path). `distinct` is a trace's \
         distinct pages, or a workload's peak committed pages under demand paging without a budget; a budget is a share of \
         them (or pages).\n\n\
         **Per policy** (means over every workload without a budget and every trace under its largest budget):\n\n\
         | policy | rows | mean coverage | mean accuracy |\n|---|---:|---:|---:|\n"
    );
    let mut names = policies(&calm);
    names.sort_unstable();
    for policy in names {
        let mine: Vec<&Row> = calm.iter().filter(|row| row.policy == policy).collect();
        let n = mine.len().max(1) as f64;
        let coverage = mine.iter().map(|row| coverage(row, &calm)).sum::<f64>() / n;
        let accuracy = mine.iter().map(|row| accuracy(row)).sum::<f64>() / n;
        let _ = writeln!(md, "| {policy} | {} | {coverage:.3} | {accuracy:.3} |", mine.len());
    }
    md.push_str(&inference_report(rows, hz));
    md.push_str(&pressure_report(rows));
    (csv, md)
}

/// The short results (README's): per policy and kind the mean coverage,
/// accuracy, F1 and peak pages relative to demand paging without pressure;
/// how often `pae` beats readahead and leap; the inference cost; and the
/// pressure report.
pub fn summary(rows: &[Row], hz: u64) -> String {
    let calm = unpressured(rows);
    let mut md = String::from(
        "**Without memory pressure** (workloads without a budget; traces under their largest budget): means per policy of \
         coverage (first-touch faults avoided relative to demand paging), accuracy (pages committed ahead that were used), \
         their F1, and peak committed pages relative to demand paging.\n\n\
         | kind | policy | rows | coverage | accuracy | F1 | peak |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut names = policies(&calm);
    names.sort_unstable();
    for kind in ["trace", "workload"] {
        for &policy in &names {
            let mine: Vec<&Row> = calm.iter().filter(|row| row.kind == kind && row.policy == policy).collect();
            if mine.is_empty() {
                continue;
            }
            let n = mine.len() as f64;
            let mean = |value: &dyn Fn(&Row) -> f64| mine.iter().map(|row| value(row)).sum::<f64>() / n;
            let peak = |row: &Row| demand_row(row, &calm).map_or(1.0, |demand| row.peak as f64 / demand.peak.max(1) as f64);
            let _ = writeln!(
                md,
                "| {kind} | {policy} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                mine.len(),
                mean(&|row| coverage(row, &calm)),
                mean(&|row| accuracy(row)),
                mean(&|row| f1(row, &calm)),
                mean(&peak)
            );
        }
    }
    for kind in ["trace", "workload"] {
        let pae: Vec<&Row> = calm.iter().filter(|row| row.kind == kind && row.policy == "pae").collect();
        let other = |row: &Row, policy: &str| calm.iter().find(|other| same_run(row, other) && other.policy == policy).map(|other| f1(other, &calm));
        let above = pae.iter().filter(|row| ["readahead", "leap"].iter().all(|policy| other(row, policy).is_some_and(|theirs| f1(row, &calm) > theirs))).count();
        if !pae.is_empty() {
            let _ = writeln!(md, "\n`pae`'s F1 is above both readahead's and leap's on {above} of {} {kind}s.", pae.len());
        }
    }
    let pressured: Vec<&Row> = rows.iter().filter(|row| row.policy == "pae" && row.budget.is_some_and(|budget| budget != Budget::Percent(100))).collect();
    if !pressured.is_empty() {
        md.push_str("\n**`pae` under memory pressure**, per budget: runs where its major faults are below both readahead's and leap's, \
                     at most demand paging's, and within 1.5× of the limit (the simulator's oracle prefetching with Belady's eviction; traces only).\n\n\
                     | kind | budget | runs | below readahead and leap | at most demand | within 1.5× of the limit |\n|---|---|---:|---:|---:|---:|\n");
        for kind in ["trace", "workload"] {
            for budget in budgets(rows) {
                let mine: Vec<&&Row> = pressured.iter().filter(|row| row.kind == kind && row.budget == Some(budget)).collect();
                if mine.is_empty() {
                    continue;
                }
                let major = |row: &Row, policy: &str| rows.iter().find(|other| same_run(row, other) && other.policy == policy).map(Row::run_major);
                let below = mine.iter().filter(|row| ["readahead", "leap"].iter().all(|policy| major(row, policy).is_some_and(|theirs| row.run_major() < theirs))).count();
                let bounded = mine.iter().filter(|row| major(row, "demand").is_some_and(|demand| row.run_major() <= demand)).count();
                let limit = if kind == "trace" {
                    let near = mine.iter().filter(|row| row.oracle_belady.is_some_and(|limit| row.run_major() as f64 <= 1.5 * limit as f64)).count();
                    near.to_string()
                } else {
                    "–".to_owned()
                };
                let _ = writeln!(md, "| {kind} | {budget} | {} | {below} | {bounded} | {limit} |", mine.len());
            }
        }
    }
    md.push_str(&inference_report(rows, hz));
    md.push_str(&pressure_report(rows));
    md
}

/// The Markdown section on what the PAE's model cost: guest instructions
/// of its kernel task (reading the history, the model's steps, committing
/// what they predicted) per step and as a share of each run's.
pub fn inference_report(rows: &[Row], hz: u64) -> String {
    let instructions = |cycles: u64| cycles as f64 * 1e9 / hz.max(1) as f64;
    let mine: Vec<&Row> = rows.iter().filter(|row| row.policy == "pae" && row.pae_steps > 0).collect();
    if mine.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Inference cost** (`pae` runs; guest instructions per model step and as a share of the run's guest instructions: \
         *model*, the inference alone — encoding the fault and the integer GRU's step; *task*, all of the PAE task's work, \
         which adds reading the history, choosing the pages over the threshold and committing (zeroing or reading back) the pages the steps ask for):\n\n\
         | runs | kind | steps | model per step (mean) | (max) | model share (mean) | (max) | task per step (mean) | task share (mean) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for kind in ["workload", "trace"] {
        let group: Vec<&&Row> = mine.iter().filter(|row| row.kind == kind).collect();
        if group.is_empty() {
            continue;
        }
        let steps: u64 = group.iter().map(|row| row.pae_steps).sum();
        let per_step = |cycles: fn(&Row) -> u64| instructions(group.iter().map(|row| cycles(row)).sum()) / steps.max(1) as f64;
        let max_per_step = group.iter().map(|row| instructions(row.pae_model_cycles) / row.pae_steps.max(1) as f64).fold(0.0, f64::max);
        let share = |row: &Row, cycles: u64| cycles as f64 / row.run_cycles.max(1) as f64;
        let mean_share = |cycles: fn(&Row) -> u64| group.iter().map(|row| share(row, cycles(row))).sum::<f64>() / group.len() as f64;
        let max_share = group.iter().map(|row| share(row, row.pae_model_cycles)).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "| {} | {kind} | {steps} | {:.0} | {max_per_step:.0} | {:.1} % | {:.1} % | {:.0} | {:.1} % |",
            group.len(),
            per_step(|row| row.pae_model_cycles),
            100.0 * mean_share(|row| row.pae_model_cycles),
            100.0 * max_share,
            per_step(|row| row.pae_cycles),
            100.0 * mean_share(|row| row.pae_cycles),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::workload_rows;
    use crate::samples::{pressured, serial};
    use std::collections::BTreeMap;

    #[test]
    fn budgeted_rows_report_swap_columns_means_flags_and_agreement() {
        let rows = pressured();
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().next().unwrap().ends_with(",budget,budget_pages,distinct_pages,major_faults,trace_major_faults,swap_outs,swap_ins,bytes_written,bytes_read,evictions,swap_io_instructions,sim_faults,sim_major_faults,belady_major_faults,model,pae_steps,pae_instructions,pae_model_instructions"));
        assert!(csv.lines().nth(4).unwrap().ends_with(",50%,5,10,25,23,24,23,98304,94208,0,,10,22,10,,,,"), "{csv}");
        // leap: (23/20 + 10/10) / 2; Belady: (10/20 + 4/10) / 2.
        assert!(md.contains("| leap | – | 1.075 (2) |"), "{md}");
        assert!(md.contains("| Belady (simulator) | – | 0.450 (2) |"), "{md}");
        assert!(md.contains("| leap | 0.000 | 1.650 |"), "per distinct page: {md}");
        assert!(md.contains("| a | trace | 50% | leap | 23 | 20 | 1.150 |"), "flagged: {md}");
        assert!(md.contains("| 50% | the others | 4 | 4 | 0 | 3 | +1 (+4.5%, a/leap) | 63 | 71 | 62 |"), "{md}");
        assert!(!md.contains("*workloads"), "no workload section without workloads: {md}");
        assert_eq!(csv.lines().count(), 7);
        let (csv, _) = report(&workload_rows(&serial(), None, 64, &BTreeMap::new()), 1_000_000_000);
        assert!(csv.lines().nth(1).unwrap().ends_with(",2000,100,,,,,,,,,,,,,,,,,,"), "workloads without a budget leave the pressure columns empty: {csv}");
    }

    /// The workload `seq` (64 KiB, 12 distinct pages) without a budget
    /// under demand paging and leap.
    fn tiny() -> Vec<Row> {
        let seq = |policy: &str| Row { name: "seq".to_owned(), kind: "workload", kib: 64, policy: policy.to_owned(), distinct: 12, ..Row::default() };
        vec![
            Row { faults: 10, peak: 12, footprint: 5, run_cycles: 2000, fault_cycles: 100, ..seq("demand") },
            Row { faults: 4, ahead: 8, hits: 6, waste: 2, peak: 14, footprint: 6, run_cycles: 3000, fault_cycles: 50, ..seq("leap") },
        ]
    }

    #[test]
    fn a_tiny_set_of_rows_renders_to_exact_csv_and_markdown() {
        // At 2 GHz an instruction is two cycles; coverage 1 - 4/10, accuracy 6/8.
        let (csv, md) = report(&tiny(), 2_000_000_000);
        let expected = format!(
            "{}\n\
             seq,workload,64,demand,10,0,0,0,0.0000,1.0000,12,5,1000,50,,,12,,,,,,,,,,,,,,,\n\
             seq,workload,64,leap,4,8,6,2,0.6000,0.7500,14,6,1500,25,,,12,,,,,,,,,,,,,,,\n",
            CSV_COLUMNS.join(",")
        );
        assert_eq!(csv, expected);
        assert!(csv.lines().all(|line| line.split(',').count() == CSV_COLUMNS.len()), "a field per column");
        let table: Vec<&str> = md.lines().take(4).collect();
        assert_eq!(table[0].matches(" | ").count() + 1, 27, "27 columns: {}", table[0]);
        assert_eq!(table[1], format!("|---|---|---:|---|{}", "---:|".repeat(23)));
        assert_eq!(table[2], "| seq | workload | 64 | demand | 10 | 0 | 0 | 0 | 0.000 | 1.000 | 12 | 5 | 1000 | 50 |  |  | 12 |  |  |  |  |  |  |  |  |  |  |");
        assert_eq!(table[3], "| seq | workload | 64 | leap | 4 | 8 | 6 | 2 | 0.600 | 0.750 | 14 | 6 | 1500 | 25 |  |  | 12 |  |  |  |  |  |  |  |  |  |  |");
        assert!(
            md.ends_with("| policy | rows | mean coverage | mean accuracy |\n|---|---:|---:|---:|\n| demand | 1 | 0.000 | 1.000 |\n| leap | 1 | 0.600 | 0.750 |\n"),
            "the per-policy means close it: no pae steps, no budgets: {md}"
        );
        assert_eq!(timing_report(&tiny(), 2_000_000_000).lines().count(), 1, "no run under a budget: the header alone");
    }

    #[test]
    fn differences_from_the_simulator_are_signed_with_their_share_and_row() {
        assert_eq!(difference_text(&Some((3, "b/leap".to_owned(), 5))), "+3 (+60.0%, b/leap)");
        assert_eq!(difference_text(&Some((-3, "b/leap".to_owned(), 12))), "-3 (-25.0%, b/leap)");
        assert_eq!(difference_text(&Some((2, "c/leap".to_owned(), 0))), "+2 (+200.0%, c/leap)", "over at least 1");
        assert_eq!(difference_text(&Some((0, "a/pae".to_owned(), 4))), "0");
        assert_eq!(difference_text(&None), "0");
    }

    /// Traces `t` and `u` under 100 % (10 pages) and 50 % (5 pages) under
    /// demand paging, readahead, leap and pae.
    fn summarised() -> Vec<Row> {
        let trace = |name: &str, budget: u64, policy: &str| Row {
            name: name.to_owned(),
            kind: "trace",
            policy: policy.to_owned(),
            budget: Some(Budget::Percent(budget)),
            budget_pages: budget / 10,
            distinct: 10,
            ..Row::default()
        };
        let calm = |name, policy, (faults, ahead, hits), peak| Row { faults, ahead, hits, peak, ..trace(name, 100, policy) };
        let pressed = |name, policy, trace_major, oracle_belady| Row { trace_major, oracle_belady, ..trace(name, 50, policy) };
        vec![
            calm("t", "demand", (10, 0, 0), 10),
            calm("t", "readahead", (6, 8, 4), 10),
            calm("t", "leap", (5, 5, 5), 10),
            calm("t", "pae", (2, 10, 8), 12),
            calm("u", "demand", (10, 0, 0), 10),
            calm("u", "readahead", (2, 8, 8), 10),
            calm("u", "leap", (10, 0, 0), 10),
            calm("u", "pae", (4, 6, 6), 10),
            pressed("t", "demand", 20, None),
            pressed("t", "readahead", 18, None),
            pressed("t", "leap", 25, None),
            pressed("t", "pae", 10, Some(8)),
            pressed("u", "demand", 12, None),
            pressed("u", "readahead", 11, None),
            pressed("u", "leap", 30, None),
            pressed("u", "pae", 12, Some(7)),
        ]
    }

    #[test]
    fn the_summary_gives_means_f1_and_how_often_pae_beats_readahead_and_leap() {
        let md = summary(&summarised(), 1_000_000_000);
        // Coverage (0.8 + 0.6) / 2, accuracy (0.8 + 1) / 2, F1 (0.8 + 0.75) / 2, peak (12/10 + 10/10) / 2.
        assert!(md.contains("| trace | pae | 2 | 0.700 | 0.900 | 0.775 | 1.100 |"), "{md}");
        // F1: t's readahead 4/9, leap 2/3; u's readahead 16/18, leap 0.
        assert!(md.contains("| trace | readahead | 2 | 0.600 | 0.750 | 0.667 | 1.000 |"), "{md}");
        // pae's F1: 0.8 on t (above 4/9 and 2/3), 0.75 on u (below 16/18).
        assert!(md.contains("\n`pae`'s F1 is above both readahead's and leap's on 1 of 2 traces.\n"), "{md}");
        // t: 10 below 18 and 25, at most 20, within 1.5 × 8; u: 12 not below 11, at most 12, over 1.5 × 7.
        assert!(md.contains("| trace | 50% | 2 | 1 | 2 | 1 |"), "{md}");
        assert!(!md.contains("| trace | 100% |"), "100 % is no pressure: {md}");
        assert!(!md.contains("| workload |"), "no workload rows, no workload lines: {md}");
    }

    #[test]
    fn the_inference_cost_is_per_step_and_a_share_of_each_run() {
        let pae = |name: &str, pae_steps, pae_model_cycles, pae_cycles, run_cycles| Row {
            name: name.to_owned(),
            kind: "workload",
            policy: "pae".to_owned(),
            pae_steps,
            pae_model_cycles,
            pae_cycles,
            run_cycles,
            ..Row::default()
        };
        let rows = [pae("w", 10, 4000, 10_000, 200_000), pae("v", 30, 18_000, 24_000, 120_000), pae("idle", 0, 0, 0, 1000)];
        let md = inference_report(&rows, 2_000_000_000);
        // Two cycles an instruction. 40 steps; the model 11000/40 = 275 instructions per step, at most 9000/30 = 300;
        // its share (2 % + 15 %) / 2, at most 15 %; the task 17000/40 = 425 per step, (5 % + 20 %) / 2 of the run.
        assert!(md.ends_with("|---|---|---:|---:|---:|---:|---:|---:|---:|\n| 2 | workload | 40 | 275 | 300 | 8.5 % | 15.0 % | 425 | 12.5 % |\n"), "{md}");
        assert_eq!(inference_report(&rows[2..], 2_000_000_000), "", "no steps, no section");
    }
}
