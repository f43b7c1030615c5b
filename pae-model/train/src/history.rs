//! Kernel-recorded access histories (`cargo xtask trace PROGRAM`, CSV under
//! `kernel::history::CSV_HEADER`) as fault streams: one [`Stream`] per
//! process, from its `fault` rows.
//!
//! A fault row's detail is `ACCESS:OUTCOME`. Faults that committed a page
//! (`committed`, `already-committed`, `swapped-in`, `mapped`: a page of a
//! shared partition mapped into a view, `replicated`: copied into a
//! replicating view, `invalidated`: a write that invalidated a page's
//! replicas) are memory the process used and
//! become events; the others (`outside`, `violation`, `out-of-memory`,
//! `swap-failed`, `revoked`) end the process or touch no partition
//! and are skipped: a fault is a step exactly when the kernel's PAE task
//! makes it one (`kernel::pae::step_of`; a test renders every fault the
//! kernel can record and checks both agree). A partition's kind
//! comes from its `partition` rows (`create`, `add-range`, `resize`: the
//! value column is the kind code); a history that lost those rows (a ring
//! that overflowed) gives kind 1 (code) to a partition the process
//! executed from and 0 (unknown) to the others.

use crate::data::Stream;
use crate::{Error, Result};
use pae_model::features::{AccessKind, Event, Source};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The header line of a history CSV (`kernel::history::CSV_HEADER`).
pub const HEADER: &str = "pid,time,event,detail,partition,address,count,value";
use abi::PAGE_SIZE;
/// `abi::PartitionKind::Code`.
const CODE_KIND: u64 = 1;

/// The `.csv` files of `directory`, by name.
pub fn history_files(directory: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(directory).map_err(|error| Error::Io(format!("{}: {error}", directory.display())))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "csv"))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(Error::Io(format!("no .csv files in {}", directory.display())));
    }
    Ok(found)
}

/// Reads one history CSV file into per-process fault streams.
pub fn read_history(path: &Path) -> Result<Vec<Stream>> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Io(format!("{}: {error}", path.display())))?;
    let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("history");
    parse_history(&text, name, &path.display().to_string())
}

/// One fault taken from a row.
struct Fault {
    pid: u64,
    partition: u64,
    page: u64,
    access: AccessKind,
}

/// What a row says that matters here.
enum Row {
    /// A fault that committed memory.
    Fault(Fault),
    /// A partition of process `pid` has kind `kind`.
    Kind { pid: u64, partition: u64, kind: u64 },
    /// Anything else.
    Other,
}

/// Parses a history CSV `text` into one stream per process (by pid), named
/// `NAME/pidN`; `file` names the source in errors. Processes without a
/// usable fault give no stream.
pub fn parse_history(text: &str, name: &str, file: &str) -> Result<Vec<Stream>> {
    let error = |line: usize, what: String| Error::History { file: file.to_owned(), line, what };
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, line)| line.trim_end());
    if header != Some(HEADER) {
        return Err(error(1, format!("expected the header `{HEADER}`, found `{}`", header.unwrap_or(""))));
    }
    let mut faults: BTreeMap<u64, Vec<Fault>> = BTreeMap::new();
    let mut kinds: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for (index, line) in lines {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        match parse_row(line).map_err(|what| error(index + 1, what))? {
            Row::Fault(fault) => faults.entry(fault.pid).or_default().push(fault),
            Row::Kind { pid, partition, kind } => {
                kinds.insert((pid, partition), kind);
            }
            Row::Other => {}
        }
    }
    let mut streams = Vec::new();
    for (pid, faults) in faults {
        let code: BTreeSet<u64> =
            faults.iter().filter(|fault| fault.access == AccessKind::Execute).map(|fault| fault.partition).collect();
        let kind_of = |partition: u64| match kinds.get(&(pid, partition)) {
            Some(&kind) => kind,
            None if code.contains(&partition) => CODE_KIND,
            None => 0,
        };
        let events: Vec<Event> = faults
            .iter()
            .map(|fault| Event {
                partition: fault.partition,
                page: fault.page,
                access: fault.access,
                kind: kind_of(fault.partition),
                source: Source::Fault,
            })
            .collect();
        streams.push(Stream { name: format!("{name}/pid{pid}"), events });
    }
    Ok(streams)
}

/// One well-formed row.
fn parse_row(line: &str) -> std::result::Result<Row, String> {
    let fields: Vec<&str> = line.split(',').collect();
    // A spawn row's detail is the program name, which could hold a comma:
    // the first three and the last four fields are fixed.
    if fields.len() < 8 {
        return Err(format!("{} fields, expected 8: `{}`", fields.len(), cut(line)));
    }
    let number = |what: &str, text: &str| text.parse::<u64>().map_err(|_| format!("{what} `{text}` is not a number: `{}`", cut(line)));
    let pid = number("pid", fields[0])?;
    number("time", fields[1])?;
    if fields[2] == "partition" && fields.len() == 8 && fields[3] != "destroy" {
        let partition = number("partition", fields[4])?;
        let kind = number("kind", fields[7])?;
        return Ok(Row::Kind { pid, partition, kind });
    }
    if fields[2] != "fault" {
        return Ok(Row::Other);
    }
    if fields.len() != 8 {
        return Err(format!("{} fields in a fault row, expected 8: `{}`", fields.len(), cut(line)));
    }
    let (access, outcome) =
        fields[3].split_once(':').ok_or_else(|| format!("fault detail `{}` is not ACCESS:OUTCOME", fields[3]))?;
    let access = match access {
        "read" => AccessKind::Read,
        "write" => AccessKind::Write,
        "execute" => AccessKind::Execute,
        other => return Err(format!("unknown fault access `{other}`")),
    };
    let used = match outcome {
        "committed" | "already-committed" | "swapped-in" | "mapped" | "replicated" | "invalidated" => true,
        "outside" | "violation" | "out-of-memory" | "swap-failed" | "revoked" => false,
        other => return Err(format!("unknown fault outcome `{other}`")),
    };
    let partition = number("partition", fields[4])?;
    let address = number("address", fields[5])?;
    number("count", fields[6])?;
    number("value", fields[7])?;
    Ok(if used && partition != 0 { Row::Fault(Fault { pid, partition, page: address / PAGE_SIZE, access }) } else { Row::Other })
}

/// At most 80 characters of `line`, for messages.
fn cut(line: &str) -> String {
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "pid,time,event,detail,partition,address,count,value
1,49,spawn,trace-demo,0,0,0,0
1,50,partition,create,5,35184372088832,16,4
1,9214,commit,loader,1,4194304,1,1
1,47428,syscall,partition_create,0,262144,5,5
1,54752,fault,write:committed,5,35184372088832,0,4199608
2,55000,fault,execute:committed,1,4198400,0,4198400
1,57622,fault,read:already-committed,5,35184372092928,0,4199615
1,58000,fault,read:outside,0,0,0,4194816
2,59000,fault,read:committed,1,4202496,0,4198400
2,60000,fault,write:committed,3,8192,0,4198400
1,61000,exit,exited,0,0,0,-3
";

    /// Every fault the kernel can record, rendered as `cargo xtask trace`
    /// writes it and read back here, becomes a training step exactly when
    /// the kernel's PAE task makes it a model step (`kernel::pae::step_of`),
    /// with the same partition, page, access and kind.
    #[test]
    fn histories_give_the_steps_the_kernel_task_takes() {
        use kernel::history::{Change, Entry, Event as Recorded, Record};
        use kernel::vass::{Access, FaultOutcome, PageRange, PartitionId, PartitionKind};
        let outcomes = FaultOutcome::ALL;
        let kind = PartitionKind::Heap;
        let create = Recorded::Partition { partition: PartitionId(7), change: Change::Created, range: PageRange::new(0x100, 0x200), kind: kind.code() };
        let mut events = vec![create];
        for (index, outcome) in outcomes.into_iter().enumerate() {
            for (offset, access) in [Access::Read, Access::Write, Access::Execute].into_iter().enumerate() {
                let page = 0x100 + (index * 3 + offset) as u64;
                for partition in [PartitionId(7), PartitionId(0)] {
                    events.push(Recorded::Fault { address: page * PAGE_SIZE + 12, rip: 0x40_1000, partition, access, outcome });
                }
            }
        }
        let mut csv = format!("{HEADER}\n");
        for (time, &event) in events.iter().enumerate() {
            csv.push_str(&format!("{}\n", Record::of(3, &Entry { time: time as u64, event })));
        }
        let streams = parse_history(&csv, "rule", "rule.csv").unwrap();
        let read: Vec<Event> = streams.into_iter().flat_map(|stream| stream.events).collect();
        let kind_of = |id| (id == PartitionId(7)).then_some(kind);
        let kernel_steps: Vec<Event> = events.iter().filter_map(|event| kernel::pae::step_of(event, kind_of)).collect();
        assert_eq!(kernel_steps.len(), 18, "committed, already committed, swapped in, mapped, replicated and invalidated, for each access");
        assert_eq!(read, kernel_steps);
    }

    #[test]
    fn faults_become_per_process_streams() {
        let streams = parse_history(GOOD, "demo", "demo.csv").unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].name, "demo/pid1");
        let pages: Vec<(u64, u64)> = streams[0].events.iter().map(|event| (event.partition, event.page)).collect();
        assert_eq!(pages, [(5, 35184372088832 / 4096), (5, 35184372092928 / 4096)], "the `outside` fault is skipped");
        assert_eq!(streams[0].events[0].access, AccessKind::Write);
        assert!(
            streams[0].events.iter().all(|event| event.kind == 4 && event.source == Source::Fault),
            "partition 5's kind (stack) from its create row"
        );
        let kinds: Vec<u64> = streams[1].events.iter().map(|event| event.kind).collect();
        assert_eq!(kinds, [1, 1, 0], "partition 1 was executed from: code, all its faults");
    }

    #[test]
    fn malformed_rows_are_named_by_file_and_line() {
        let bad_number = GOOD.replace("1,57622,fault,read:already-committed,5,35184372092928", "1,57622,fault,read:already-committed,5,0x1000");
        let error = parse_history(&bad_number, "demo", "demo.csv").unwrap_err();
        assert_eq!(
            error,
            Error::History {
                file: "demo.csv".into(),
                line: 8,
                what: "address `0x1000` is not a number: `1,57622,fault,read:already-committed,5,0x1000,0,4199615`".into()
            }
        );
        assert_eq!(error.to_string(), format!("demo.csv:8: {}", "address `0x1000` is not a number: `1,57622,fault,read:already-committed,5,0x1000,0,4199615`"));

        let short = GOOD.replace("2,59000,fault,read:committed,1,4202496,0,4198400", "2,59000,fault");
        assert!(matches!(parse_history(&short, "d", "d.csv"), Err(Error::History { line: 10, what, .. }) if what.contains("3 fields")));

        let access = GOOD.replace("write:committed,3", "fly:committed,3");
        assert!(matches!(parse_history(&access, "d", "d.csv"), Err(Error::History { line: 11, what, .. }) if what.contains("`fly`")));

        let no_header = GOOD.replacen("pid,time", "pid,when", 1);
        assert!(matches!(parse_history(&no_header, "d", "d.csv"), Err(Error::History { line: 1, .. })));
    }
}
