//! Statistics over rows, pure: coverage, accuracy and F1, the run each row
//! compares with under demand paging, the calmest runs, means of major
//! faults relative to demand paging and per distinct page, the flagged
//! runs and the kernel's agreement with the simulator.

use crate::rows::Row;
use std::collections::BTreeMap;
use trace::Budget;

/// A policy making more than this many times demand paging's major faults
/// (same workload or trace and budget) is flagged.
pub(crate) const FLAG_RATIO: f64 = 1.1;

/// Faults avoided relative to the same workload or trace under demand
/// paging (under the same budget).
pub(crate) fn coverage(row: &Row, rows: &[Row]) -> f64 {
    match demand_row(row, rows) {
        Some(demand) if demand.faults > 0 => 1.0 - row.faults as f64 / demand.faults as f64,
        _ => 0.0,
    }
}

/// Whether `row` and `other` are the same workload or trace (at the same
/// size) under the same budget.
pub(crate) fn same_run(row: &Row, other: &Row) -> bool {
    other.name == row.name && other.kind == row.kind && other.kib == row.kib && other.budget == row.budget
}

/// The demand-paging row `row` compares with: the same run under demand paging.
pub(crate) fn demand_row<'a>(row: &Row, rows: &'a [Row]) -> Option<&'a Row> {
    rows.iter().find(|other| same_run(row, other) && other.policy == "demand")
}

pub(crate) fn accuracy(row: &Row) -> f64 {
    if row.ahead == 0 { 1.0 } else { row.hits as f64 / row.ahead as f64 }
}

/// F1 of coverage and accuracy (0 when nothing was covered).
pub(crate) fn f1(row: &Row, rows: &[Row]) -> f64 {
    let (coverage, accuracy) = (coverage(row, rows), accuracy(row));
    if coverage + accuracy <= 0.0 { 0.0 } else { 2.0 * coverage * accuracy / (coverage + accuracy) }
}

/// The budgets of `rows`, in the order they first appear (the order they
/// ran in).
pub(crate) fn budgets(rows: &[Row]) -> Vec<Budget> {
    let mut budgets = Vec::new();
    for budget in rows.iter().filter_map(|row| row.budget) {
        if !budgets.contains(&budget) {
            budgets.push(budget);
        }
    }
    budgets
}

/// The policies of `rows` in the order they first appear.
pub(crate) fn policies(rows: &[Row]) -> Vec<&str> {
    let mut policies: Vec<&str> = Vec::new();
    for row in rows {
        if !policies.contains(&row.policy.as_str()) {
            policies.push(row.policy.as_str());
        }
    }
    policies
}

/// The rows with the least memory pressure: each workload or trace
/// without a budget if it ran without one (the workloads), else under its
/// largest budget in pages (the traces).
pub(crate) fn unpressured(rows: &[Row]) -> Vec<Row> {
    let mut calmest: BTreeMap<(&str, &str), (Option<Budget>, u64)> = BTreeMap::new();
    for row in rows {
        let pages = if row.budget.is_none() { u64::MAX } else { row.budget_pages };
        let entry = calmest.entry((row.kind, row.name.as_str())).or_insert((row.budget, pages));
        if pages > entry.1 {
            *entry = (row.budget, pages);
        }
    }
    rows.iter().filter(|row| calmest.get(&(row.kind, row.name.as_str())).is_some_and(|&(budget, _)| budget == row.budget)).cloned().collect()
}

/// The kinds of run, each with its name in the plural, in report order.
pub(crate) const KINDS: [(&str, &str); 2] = [("trace", "traces"), ("workload", "workloads")];

/// The demand-paging rows of `kind` under `budget`.
fn demand_rows<'a>(rows: &'a [Row], kind: &'a str, budget: Budget) -> impl Iterator<Item = &'a Row> + 'a {
    rows.iter().filter(move |row| row.kind == kind && row.budget == Some(budget) && row.policy == "demand")
}

/// The mean over the `kind` runs under `budget` where demand paging had
/// major faults of `pick(demand row)` relative to them, and how many runs
/// that was; `None` if demand paging had none anywhere.
pub(crate) fn mean_relative_major(rows: &[Row], kind: &str, budget: Budget, pick: impl Fn(&Row) -> Option<u64>) -> Option<(f64, usize)> {
    let ratios: Vec<f64> = demand_rows(rows, kind, budget)
        .filter(|demand| demand.run_major() > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.run_major() as f64))
        .collect();
    (!ratios.is_empty()).then(|| (ratios.iter().sum::<f64>() / ratios.len() as f64, ratios.len()))
}

/// The mean over the `kind` runs under `budget` of `pick(demand row)` per
/// distinct page; `None` if there are none.
pub(crate) fn mean_per_page(rows: &[Row], kind: &str, budget: Budget, pick: impl Fn(&Row) -> Option<u64>) -> Option<f64> {
    let values: Vec<f64> = demand_rows(rows, kind, budget)
        .filter(|demand| demand.distinct > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.distinct as f64))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The major faults ([`Row::run_major`]) of `policy`'s row beside `demand`
/// (same workload or trace and budget).
pub(crate) fn major_of<'a>(rows: &'a [Row], policy: &'a str) -> impl Fn(&Row) -> Option<u64> + 'a {
    move |demand: &Row| {
        rows.iter().find(|row| same_run(demand, row) && row.policy == policy).map(Row::run_major)
    }
}

/// Where `budget` lies on the budget axis for the `kind` runs, in percent
/// of their distinct pages: its percentage, or for pages, the mean share of
/// their distinct pages it gave them.
pub(crate) fn budget_axis(rows: &[Row], kind: &str, budget: Budget) -> Option<f64> {
    match budget {
        Budget::Percent(percent) => Some(percent as f64),
        Budget::Pages(_) => {
            let shares: Vec<f64> = demand_rows(rows, kind, budget)
                .filter(|demand| demand.distinct > 0)
                .map(|demand| demand.budget_pages as f64 * 100.0 / demand.distinct as f64)
                .collect();
            (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
        }
    }
}

/// A workload or trace, budget and policy with more than [`FLAG_RATIO`]
/// times demand paging's major faults.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub name: String,
    pub kind: &'static str,
    pub budget: Budget,
    pub policy: String,
    pub major: u64,
    pub demand_major: u64,
}

/// Every row under a memory budget whose major faults
/// ([`Row::run_major`]) exceed [`FLAG_RATIO`] times demand paging's for
/// the same workload or trace and budget.
pub fn flags(rows: &[Row]) -> Vec<Flag> {
    rows.iter()
        .filter(|row| row.policy != "demand")
        .filter_map(|row| {
            let (demand, budget) = (demand_row(row, rows)?, row.budget?);
            (row.run_major() as f64 > FLAG_RATIO * demand.run_major() as f64).then(|| Flag {
                name: row.name.clone(),
                kind: row.kind,
                budget,
                policy: row.policy.clone(),
                major: row.run_major(),
                demand_major: demand.run_major(),
            })
        })
        .collect()
}

/// How the kernel's counts under one budget compare with the simulator's,
/// for the policies that plan at the fault or for `pae`.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    pub budget: Budget,
    /// Whether these are the `pae` rows: in the kernel the PAE task steps
    /// the model after the fault, while the process runs on (the
    /// simulator steps it at the fault), so its counts may differ.
    pub pae: bool,
    /// Rows with a simulated count.
    pub rows: usize,
    /// Rows whose first-touch faults equal the simulator's.
    pub faults_equal: usize,
    /// Rows whose major faults on the trace's pages equal the simulator's.
    pub major_equal: usize,
    /// The largest difference in first-touch faults (kernel − simulator),
    /// with its row (`trace/policy`) and the simulator's count.
    pub faults_worst: Option<(i64, String, u64)>,
    /// The same for major faults on the trace's pages.
    pub major_worst: Option<(i64, String, u64)>,
    /// Major faults over every row: the kernel's on the trace's pages, the
    /// kernel's in all (the process's own pages too) and the simulator's.
    pub kernel_trace_major: u64,
    pub kernel_major: u64,
    pub simulated_major: u64,
}

/// The kernel's counts against the simulator's, per budget (the rows the
/// simulator ran too: the traces).
pub fn agreement(rows: &[Row]) -> Vec<Agreement> {
    let simulated: Vec<Row> = rows.iter().filter(|row| row.simulated.is_some()).cloned().collect();
    let mut agreements = Vec::new();
    for budget in budgets(&simulated) {
        for pae in [false, true] {
            let mut agreement = Agreement {
                budget,
                pae,
                rows: 0,
                faults_equal: 0,
                major_equal: 0,
                faults_worst: None,
                major_worst: None,
                kernel_trace_major: 0,
                kernel_major: 0,
                simulated_major: 0,
            };
            let worse = |worst: &mut Option<(i64, String, u64)>, difference: i64, row: &Row, simulated: u64| {
                if worst.as_ref().is_none_or(|(largest, _, _)| difference.abs() > largest.abs()) {
                    *worst = Some((difference, format!("{}/{}", row.name, row.policy), simulated));
                }
            };
            for row in simulated.iter().filter(|row| row.budget == Some(budget) && (row.policy == "pae") == pae) {
                let Some(simulated) = row.simulated else { continue };
                agreement.rows += 1;
                agreement.faults_equal += usize::from(row.faults == simulated.faults);
                agreement.major_equal += usize::from(row.trace_major == simulated.major);
                agreement.kernel_trace_major += row.trace_major;
                agreement.kernel_major += row.major;
                agreement.simulated_major += simulated.major;
                worse(&mut agreement.faults_worst, row.faults as i64 - simulated.faults as i64, row, simulated.faults);
                worse(&mut agreement.major_worst, row.trace_major as i64 - simulated.major as i64, row, simulated.major);
            }
            if agreement.rows > 0 {
                agreements.push(agreement);
            }
        }
    }
    agreements
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::pressure_report;
    use crate::rows::{Simulated, workload_rows};
    use crate::samples::{budgeted, pressured, serial};

    #[test]
    fn flags_and_agreement_compare_like_with_like() {
        let mut rows = pressured();
        assert_eq!(flags(&rows).len(), 1);
        rows[1].trace_major = 1;
        let flagged = flags(&rows);
        assert_eq!((flagged[0].budget, flagged[0].demand_major), (Budget::Percent(100), 0), "any major fault over none is flagged");
        let agreement = agreement(&rows);
        assert_eq!(agreement.iter().map(|a| a.budget).collect::<Vec<_>>(), vec![Budget::Percent(100), Budget::Percent(50)]);
        assert_eq!((agreement[0].rows, agreement[0].major_equal), (2, 1));
        assert_eq!(agreement[1].major_worst, Some((1, "a/leap".to_owned(), 22)));
        assert!(pressure_report(&workload_rows(&serial(), None, 64, &BTreeMap::new())).is_empty());
    }

    #[test]
    fn the_calmest_rows_are_workloads_without_a_budget_and_traces_under_their_largest() {
        let mut rows = pressured();
        rows.extend(workload_rows(&serial(), None, 64, &BTreeMap::new()));
        rows.extend(workload_rows(&budgeted(), Some(Budget::Percent(50)), 64, &BTreeMap::new()));
        let calm = unpressured(&rows);
        let picked: Vec<(&str, Option<Budget>)> = calm.iter().map(|row| (row.name.as_str(), row.budget)).collect();
        let (full, half) = (Some(Budget::Percent(100)), Some(Budget::Percent(50)));
        assert_eq!(picked, vec![("a", full), ("a", full), ("b", half), ("b", half), ("seq", None), ("seq", None)]);
        // Budgets in pages are placed by the share of the distinct pages they give.
        rows.iter_mut().filter(|row| row.budget == half).for_each(|row| row.budget = Some(Budget::Pages(5)));
        assert_eq!(budget_axis(&rows, "trace", Budget::Pages(5)), Some(50.0));
    }

    /// A run of `name` (of `kind`, under `budget`) under `policy`.
    fn run(name: &str, kind: &'static str, budget: Option<Budget>, policy: &str) -> Row {
        Row { name: name.to_owned(), kind, policy: policy.to_owned(), budget, ..Row::default() }
    }

    /// `row` with these first-touch faults, pages committed ahead and hits.
    fn counted(row: Row, faults: u64, ahead: u64, hits: u64) -> Row {
        Row { faults, ahead, hits, ..row }
    }

    /// `row` with these major faults: on the trace's pages for a trace (its
    /// process's, `major`, a hundred more), the process's for a workload.
    fn swapped(row: Row, major: u64, distinct: u64) -> Row {
        let (major, trace_major) = if row.kind == "trace" { (major + 100, major) } else { (major, 0) };
        Row { major, trace_major, distinct, ..row }
    }

    fn close(value: f64, expected: f64) -> bool {
        (value - expected).abs() < 1e-12
    }

    #[test]
    fn coverage_accuracy_and_f1_compare_with_demand_paging_under_the_same_budget() {
        let half = Some(Budget::Percent(50));
        let rows = [
            counted(run("seq", "workload", None, "demand"), 10, 0, 0),
            counted(run("seq", "workload", None, "leap"), 4, 8, 6),
            counted(run("seq", "workload", half, "demand"), 20, 0, 0),
            counted(run("seq", "workload", half, "leap"), 5, 4, 0),
            counted(run("seq", "workload", half, "eager"), 30, 0, 0),
            counted(run("seq", "trace", None, "leap"), 1, 0, 0),
            counted(run("idle", "workload", None, "demand"), 0, 0, 0),
            counted(run("idle", "workload", None, "leap"), 0, 2, 1),
        ];
        let coverages: Vec<f64> = rows.iter().map(|row| coverage(row, &rows)).collect();
        // 1 - 4/10; 1 - 5/20 (not 1 - 5/10: the same budget); 1 - 30/20; no demand run of the trace; demand had no faults.
        let expected = [0.0, 0.6, 0.0, 0.75, -0.5, 0.0, 0.0, 0.0];
        assert!(coverages.iter().zip(expected).all(|(&got, want)| close(got, want)), "{coverages:?}");
        let accuracies: Vec<f64> = rows.iter().map(accuracy).collect();
        // 6/8; 0/4; 1/2; nothing committed ahead counts as 1.
        assert_eq!(accuracies, [1.0, 0.75, 1.0, 0.0, 1.0, 1.0, 1.0, 0.5]);
        // 2 × 0.6 × 0.75 / (0.6 + 0.75) = 2/3; 2 × 0.75 × 0 / 0.75 = 0; coverage -0.5 and accuracy 1: 2 × -0.5 / 0.5 = -2.
        assert!(close(f1(&rows[1], &rows), 2.0 / 3.0), "{}", f1(&rows[1], &rows));
        assert_eq!(f1(&rows[3], &rows), 0.0);
        assert!(close(f1(&rows[4], &rows), -2.0), "{}", f1(&rows[4], &rows));
        // Coverage 0 and accuracy 0: no division by zero.
        let blind = [counted(run("x", "trace", half, "demand"), 3, 0, 0), counted(run("x", "trace", half, "leap"), 3, 5, 0)];
        assert_eq!(f1(&blind[1], &blind), 0.0);
        assert_eq!(budgets(&rows), vec![Budget::Percent(50)]);
        assert_eq!(policies(&rows), vec!["demand", "leap", "eager"], "in the order they first appear");
    }

    #[test]
    fn major_faults_are_averaged_relative_to_demand_paging_and_per_distinct_page() {
        let (half, quarter) = (Budget::Percent(50), Budget::Percent(25));
        let trace = |name, policy, major, distinct| swapped(run(name, "trace", Some(half), policy), major, distinct);
        let rows = [
            trace("x", "demand", 20, 10),
            trace("x", "leap", 30, 10),
            trace("y", "demand", 10, 40),
            trace("y", "leap", 5, 40),
            trace("z", "demand", 0, 10),
            trace("z", "leap", 7, 10),
            swapped(run("w", "workload", Some(half), "demand"), 8, 16),
            swapped(run("w", "workload", Some(half), "leap"), 12, 16),
        ];
        let (leap, demand) = (major_of(&rows, "leap"), major_of(&rows, "demand"));
        // (30/20 + 5/10) / 2 on the traces' own pages; z is left out, demand paging had no major fault there.
        let (mean, runs) = mean_relative_major(&rows, "trace", half, &leap).unwrap();
        assert!(close(mean, 1.0) && runs == 2, "{mean} over {runs}");
        let (mean, runs) = mean_relative_major(&rows, "trace", half, &demand).unwrap();
        assert!(close(mean, 1.0) && runs == 2, "{mean} over {runs}");
        let (mean, runs) = mean_relative_major(&rows, "workload", half, &leap).unwrap();
        assert!(close(mean, 1.5) && runs == 1, "a workload's major faults are its process's: {mean} over {runs}");
        assert_eq!(mean_relative_major(&rows, "trace", quarter, &leap), None, "no runs under that budget");
        assert_eq!(mean_relative_major(&rows[4..6], "trace", half, &leap), None, "demand paging had no major faults");
        // (30/10 + 5/40 + 7/10) / 3 and (20/10 + 10/40 + 0/10) / 3.
        assert!(close(mean_per_page(&rows, "trace", half, &leap).unwrap(), 1.275));
        assert!(close(mean_per_page(&rows, "trace", half, &demand).unwrap(), 0.75));
        assert_eq!(mean_per_page(&rows, "trace", half, major_of(&rows, "pae")), None, "no pae runs");
        assert_eq!(budget_axis(&rows, "trace", half), Some(50.0));
        let paged: Vec<Row> = rows.iter().map(|row| Row { budget: Some(Budget::Pages(4)), budget_pages: 4, ..row.clone() }).collect();
        // 4 pages of 10, 40 and 10: (40 + 10 + 40) / 3 %.
        assert!(close(budget_axis(&paged, "trace", Budget::Pages(4)).unwrap(), 30.0));
    }

    #[test]
    fn a_run_is_flagged_only_strictly_over_1_1_times_demand_pagings_major_faults_under_a_budget() {
        let half = Some(Budget::Percent(50));
        let trace = |policy, major| swapped(run("x", "trace", half, policy), major, 10);
        let rows = [
            trace("demand", 20),
            trace("leap", 22),
            trace("eager", 23),
            trace("readahead", 0),
            swapped(run("y", "trace", half, "leap"), 50, 10),
            swapped(run("w", "workload", None, "demand"), 1, 10),
            swapped(run("w", "workload", None, "leap"), 5, 10),
        ];
        let flag = Flag { name: "x".to_owned(), kind: "trace", budget: Budget::Percent(50), policy: "eager".to_owned(), major: 23, demand_major: 20 };
        // 22 is 1.1 × 20, not over it; y has no demand-paging run; w ran without a budget.
        assert_eq!(flags(&rows), vec![flag]);
    }

    #[test]
    fn agreement_counts_equal_rows_totals_and_the_largest_difference_per_budget_pae_apart() {
        let half = Some(Budget::Percent(50));
        let simulated = |name, policy, (faults, sim_faults), (trace_major, sim_major), major| Row {
            faults,
            trace_major,
            major,
            simulated: Some(Simulated { faults: sim_faults, major: sim_major }),
            ..run(name, "trace", half, policy)
        };
        let rows = [
            simulated("a", "demand", (10, 10), (20, 20), 25),
            simulated("a", "leap", (6, 7), (23, 22), 30),
            simulated("b", "leap", (8, 5), (9, 12), 9),
            simulated("a", "pae", (4, 4), (15, 10), 16),
            swapped(run("w", "workload", half, "leap"), 3, 10),
        ];
        let others = Agreement {
            budget: Budget::Percent(50),
            pae: false,
            rows: 3,
            faults_equal: 1,
            major_equal: 1,
            faults_worst: Some((3, "b/leap".to_owned(), 5)),
            major_worst: Some((-3, "b/leap".to_owned(), 12)),
            kernel_trace_major: 20 + 23 + 9,
            kernel_major: 25 + 30 + 9,
            simulated_major: 20 + 22 + 12,
        };
        let pae = Agreement {
            budget: Budget::Percent(50),
            pae: true,
            rows: 1,
            faults_equal: 1,
            major_equal: 0,
            faults_worst: Some((0, "a/pae".to_owned(), 4)),
            major_worst: Some((5, "a/pae".to_owned(), 10)),
            kernel_trace_major: 15,
            kernel_major: 16,
            simulated_major: 10,
        };
        assert_eq!(agreement(&rows), vec![others, pae], "the workload has no simulation");
        assert!(agreement(&rows[4..]).is_empty());
    }
}
