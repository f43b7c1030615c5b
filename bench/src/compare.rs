//! Two runs of the benchmark side by side (`cargo xtask bench compare`):
//! the proof that a change kept behaviour is a `results.csv` whose counts
//! are the same. Rows are matched by what names a run (name, kind, KiB,
//! policy, budget), and each column that differs is listed with how many
//! rows differ and the first few of them. Columns that measure time (guest
//! instructions, the footprint in page-ticks) are told apart from counts:
//! a change to the kernel's code moves them without changing what it did.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The columns that name a run of `results.csv` (or of `layout.csv`, which
/// has the first two and the budget).
const KEY_COLUMNS: [&str; 5] = ["name", "kind", "kib", "policy", "budget"];

/// The columns that measure how long something took rather than what was
/// done: guest instructions, and the footprint (pages × timer ticks).
pub const TIME_COLUMNS: [&str; 6] =
    ["guest_instructions", "fault_path_instructions", "footprint", "swap_io_instructions", "pae_instructions", "pae_model_instructions"];

/// One column's differences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDifference {
    /// The column.
    pub column: String,
    /// Whether it measures time ([`TIME_COLUMNS`]).
    pub time: bool,
    /// Rows whose value differs: the run's key, the old value, the new one.
    pub rows: Vec<(String, String, String)>,
}

/// What differs between two CSV files of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Rows matched in both.
    pub matched: usize,
    /// Keys of rows only in the old file, and only in the new one.
    pub only_old: Vec<String>,
    /// Keys of rows only in the new file.
    pub only_new: Vec<String>,
    /// Columns in one file's header but not the other's.
    pub columns_changed: Vec<String>,
    /// The columns whose values differ, in header order.
    pub columns: Vec<ColumnDifference>,
}

impl Comparison {
    /// Whether the files hold the same rows with the same values.
    pub fn identical(&self) -> bool {
        self.only_old.is_empty() && self.only_new.is_empty() && self.columns_changed.is_empty() && self.columns.is_empty()
    }

    /// Whether every count is the same (only time columns differ).
    pub fn counts_identical(&self) -> bool {
        self.only_old.is_empty() && self.only_new.is_empty() && self.columns_changed.is_empty() && self.columns.iter().all(|column| column.time)
    }
}

fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines().filter(|line| !line.is_empty());
    let header = lines.next().map(|line| line.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let rows = lines.map(|line| line.split(',').map(str::to_owned).collect()).collect();
    (header, rows)
}

/// Compares two CSV files (`results.csv` or `layout.csv`, header first).
/// Rows are matched by their key columns, in order of appearance among
/// rows with the same key.
pub fn compare(old: &str, new: &str) -> Comparison {
    let (old_header, old_rows) = parse(old);
    let (new_header, new_rows) = parse(new);
    let keys: Vec<usize> = old_header.iter().enumerate().filter(|(_, column)| KEY_COLUMNS.contains(&column.as_str())).map(|(at, _)| at).collect();
    let key_of = |row: &[String], seen: &mut BTreeMap<String, usize>| {
        let key = keys.iter().map(|&at| row.get(at).map_or("", String::as_str)).collect::<Vec<_>>().join("/");
        let count = seen.entry(key.clone()).or_default();
        *count += 1;
        if *count > 1 { format!("{key}#{count}") } else { key }
    };
    let columns_changed = old_header.iter().filter(|column| !new_header.contains(column)).chain(new_header.iter().filter(|column| !old_header.contains(column)));
    let mut comparison = Comparison { columns_changed: columns_changed.cloned().collect(), ..Comparison::default() };
    let (mut seen_old, mut seen_new) = (BTreeMap::new(), BTreeMap::new());
    let old_keyed: BTreeMap<String, &Vec<String>> = old_rows.iter().map(|row| (key_of(row, &mut seen_old), row)).collect();
    let new_keyed: BTreeMap<String, &Vec<String>> = new_rows.iter().map(|row| (key_of(row, &mut seen_new), row)).collect();
    comparison.only_old = old_keyed.keys().filter(|key| !new_keyed.contains_key(*key)).cloned().collect();
    comparison.only_new = new_keyed.keys().filter(|key| !old_keyed.contains_key(*key)).cloned().collect();
    for (at, column) in old_header.iter().enumerate() {
        let Some(new_at) = new_header.iter().position(|other| other == column) else { continue };
        let mut rows = Vec::new();
        for (key, old_row) in &old_keyed {
            let Some(new_row) = new_keyed.get(key) else { continue };
            let (before, after) = (old_row.get(at).cloned().unwrap_or_default(), new_row.get(new_at).cloned().unwrap_or_default());
            if before != after {
                rows.push((key.clone(), before, after));
            }
        }
        if !rows.is_empty() {
            comparison.columns.push(ColumnDifference { column: column.clone(), time: TIME_COLUMNS.contains(&column.as_str()), rows });
        }
    }
    comparison.matched = old_keyed.keys().filter(|key| new_keyed.contains_key(*key)).count();
    comparison
}

/// `comparison` of the files called `what`, as text: one line if nothing
/// differs, else a line per differing column (rows that differ, the first
/// few of them) and the rows found in one file only.
pub fn render(what: &str, comparison: &Comparison, examples: usize) -> String {
    let mut out = String::new();
    if comparison.identical() {
        let _ = writeln!(out, "{what}: identical ({} rows)", comparison.matched);
        return out;
    }
    let verdict = if comparison.counts_identical() { "every count identical; only time columns differ" } else { "counts differ" };
    let _ = writeln!(out, "{what}: {} rows matched, {verdict}", comparison.matched);
    for column in &comparison.columns {
        let kind = if column.time { "time" } else { "count" };
        let _ = write!(out, "  {} ({kind}): {} rows differ", column.column, column.rows.len());
        for (key, before, after) in column.rows.iter().take(examples) {
            let _ = write!(out, "; {key} {before} -> {after}");
        }
        out.push('\n');
    }
    for (label, keys) in [("only in the old run", &comparison.only_old), ("only in the new run", &comparison.only_new), ("columns in one header only", &comparison.columns_changed)] {
        if !keys.is_empty() {
            let _ = writeln!(out, "  {label}: {}", keys.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "name,kind,kib,policy,faults,guest_instructions,budget\n\
                       seq,workload,64,demand,10,5000,\n\
                       seq,workload,64,leap,2,4000,\n\
                       gzip,trace,,demand,7,900,50%\n";

    #[test]
    fn the_same_file_is_identical() {
        let comparison = compare(OLD, OLD);
        assert!(comparison.identical() && comparison.counts_identical());
        assert_eq!(comparison.matched, 3);
        assert_eq!(render("results.csv", &comparison, 3), "results.csv: identical (3 rows)\n");
    }

    #[test]
    fn time_columns_are_told_apart_from_counts() {
        let new = OLD.replace("5000", "4800").replace("900,50%", "850,50%");
        let comparison = compare(OLD, &new);
        assert!(!comparison.identical());
        assert!(comparison.counts_identical(), "{comparison:?}");
        assert_eq!(comparison.columns.len(), 1);
        let column = &comparison.columns[0];
        assert_eq!((column.column.as_str(), column.time, column.rows.len()), ("guest_instructions", true, 2));
        assert_eq!(column.rows[0], ("gzip/trace//demand/50%".to_owned(), "900".to_owned(), "850".to_owned()));
        assert!(render("results.csv", &comparison, 1).contains("only time columns differ"));
    }

    #[test]
    fn a_changed_count_and_missing_rows_are_reported() {
        let new = "name,kind,kib,policy,faults,guest_instructions,budget\n\
                   seq,workload,64,demand,11,5000,\n\
                   sort,workload,64,demand,3,100,\n";
        let comparison = compare(OLD, new);
        assert!(!comparison.counts_identical());
        assert_eq!(comparison.matched, 1);
        assert_eq!(comparison.only_old, ["gzip/trace//demand/50%", "seq/workload/64/leap/"]);
        assert_eq!(comparison.only_new, ["sort/workload/64/demand/"]);
        assert_eq!(comparison.columns[0].column, "faults");
        assert!(!comparison.columns[0].time);
        let text = render("results.csv", &comparison, 2);
        assert!(text.contains("faults (count): 1 rows differ; seq/workload/64/demand/ 10 -> 11"), "{text}");
        assert!(text.contains("only in the new run: sort/workload/64/demand/"), "{text}");
    }

    #[test]
    fn rows_with_one_key_are_matched_in_order_and_header_changes_noticed() {
        let old = "name,kind,budget,run1_faults\nsort,workload,,5\nsort,workload,,6\n";
        let new = "name,kind,budget,run1_faults,extra\nsort,workload,,5,0\nsort,workload,,7,0\n";
        let comparison = compare(old, new);
        assert_eq!(comparison.columns_changed, ["extra"]);
        assert_eq!(comparison.columns[0].rows, [("sort/workload/#2".to_owned(), "6".to_owned(), "7".to_owned())]);
    }
}
