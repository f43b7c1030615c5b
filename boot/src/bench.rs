//! The memory benchmark (`cargo xtask bench memory`): every workload and every trace under every
//! commit policy, in QEMU under `-icount shift=0` (BIOS, release kernel),
//! with the kernel's own counters; writes `target/bench/results.csv` and
//! `target/bench/results.md`.
//!
//! Workloads run in one boot (`bin/bench-memory`: each workload under each
//! policy, the kernel's `memstat` line per run); each trace runs in a boot
//! of its own (`bin/replay all FILE`: its replay file under every policy,
//! one `replay ...` line per run, counted over the trace's partitions only).
//! 2 MiB pages are off, so hits and waste are counted per 4 KiB page.

use crate::image::RamdiskContents;
use crate::qemu::{self, RunConfig, Verdict};
use crate::{Firmware, Profile};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Policies the workloads run under (the oracle needs a trace's future).
const WORKLOAD_POLICIES: [&str; 4] = ["demand", "eager", "readahead", "leap"];

/// What `bench memory` measures and where.
pub struct Options {
    /// Lackey traces to replay.
    pub traces: PathBuf,
    /// Workload size in KiB.
    pub kib: u64,
    /// Replay only the first accesses of each trace (0: all).
    pub accesses: usize,
    /// Only the first `limit` traces (0: all).
    pub trace_limit: usize,
}

/// One row of the results: a workload or trace under a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
    pub policy: String,
    pub faults: u64,
    pub ahead: u64,
    pub hits: u64,
    pub waste: u64,
    pub peak: u64,
    pub footprint: u64,
    pub run_cycles: u64,
    pub fault_cycles: u64,
}

/// Reads the workload rows (`memstat` lines of `wl-*` processes).
fn workload_rows(serial: &str) -> Vec<Row> {
    crate::qemu::parse_memstats(serial)
        .into_iter()
        .filter_map(|stat| {
            let name = stat.name.strip_prefix("wl-")?.to_owned();
            let get = |key: &str| stat.get(key).unwrap_or(0);
            Some(Row {
                name,
                kind: "workload",
                policy: stat.policy.clone(),
                faults: get("faults_demand"),
                ahead: get("ahead_commits"),
                hits: get("hits"),
                waste: get("waste"),
                peak: get("peak_committed"),
                footprint: get("footprint"),
                run_cycles: get("run_cycles"),
                fault_cycles: get("fault_cycles"),
            })
        })
        .collect()
}

/// Reads the trace rows: each `replay ...` line, with the cycles of the
/// `memstat` line of the process that printed it (the next `replay` one).
fn trace_rows(serial: &str, name: &str) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    let mut waiting_for_cycles = None;
    for line in serial.lines() {
        if let Some(rest) = line.strip_prefix("replay ") {
            let fields: BTreeMap<&str, &str> = rest.split_whitespace().filter_map(|word| word.split_once('=')).collect();
            let number = |key: &str| -> Result<u64> {
                fields.get(key).with_context(|| format!("no {key} in `{line}`"))?.parse().with_context(|| format!("bad {key} in `{line}`"))
            };
            rows.push(Row {
                name: name.to_owned(),
                kind: "trace",
                policy: fields.get("policy").context("no policy")?.to_string(),
                faults: number("faults")?,
                ahead: number("ahead")?,
                hits: number("hits")?,
                waste: number("waste")?,
                peak: 0,
                footprint: 0,
                run_cycles: 0,
                fault_cycles: 0,
            });
            waiting_for_cycles = Some(rows.len() - 1);
        } else if line.contains("memstat name=replay ")
            && let Some(index) = waiting_for_cycles.take()
            && let Some(stat) = crate::qemu::parse_memstats(line).pop()
        {
            let row = &mut rows[index];
            row.peak = stat.get("peak_committed").unwrap_or(0);
            row.footprint = stat.get("footprint").unwrap_or(0);
            row.run_cycles = stat.get("run_cycles").unwrap_or(0);
            row.fault_cycles = stat.get("fault_cycles").unwrap_or(0);
        }
    }
    Ok(rows)
}

fn tsc_hz(serial: &str) -> Result<u64> {
    serial
        .lines()
        .find_map(|line| line.strip_prefix("bench-tsc-hz ").and_then(|hz| hz.trim().parse().ok()))
        .context("no `bench-tsc-hz` line")
}

/// Boots `cmdline` with `extra` files in the ramdisk under `-icount shift=0`.
fn boot(name: &str, kernel: &Path, programs: &[crate::build::UserProgram], cmdline: &str, extra: Vec<(String, Vec<u8>)>) -> Result<String> {
    let mut ramdisk = RamdiskContents::standard(cmdline, programs)?;
    for (path, data) in extra {
        ramdisk.add(&path, data);
    }
    let out_dir = crate::target_dir().join("images").join("bench-memory").join(name);
    let image = crate::image::create(kernel, &ramdisk, Firmware::Bios, &out_dir)?;
    let mut config = RunConfig::new(&image.path, Firmware::Bios);
    config.icount = true;
    config.timeout = Duration::from_secs(900);
    let outcome = qemu::run(&config, false)?;
    if outcome.verdict != Verdict::Success {
        bail!("{name} ended with {:?}:\n{}", outcome.verdict, outcome.serial);
    }
    Ok(outcome.serial)
}

/// Runs the whole benchmark (QEMU and OVMF must be installed); returns
/// the rows and the TSC frequency.
pub fn measure(options: &Options) -> Result<(Vec<Row>, u64)> {
    let kernel = crate::build::kernel(Profile::Release)?;
    let programs = crate::build::user_programs(Profile::Release)?;
    let settings = "mode=run log=info huge=off sample=64";
    let started = Instant::now();
    eprintln!("bench: workloads ({} KiB) under {}", options.kib, WORKLOAD_POLICIES.join(", "));
    let cmdline = format!("{settings} init=bin/bench-memory init-args={},{}", options.kib, WORKLOAD_POLICIES.join(","));
    let serial = boot("workloads", &kernel, &programs, &cmdline, Vec::new())?;
    let hz = tsc_hz(&serial)?;
    let mut rows = workload_rows(&serial);
    let mut traces = trace::file::trace_files(&options.traces).map_err(anyhow::Error::msg)?;
    if options.trace_limit > 0 {
        traces.truncate(options.trace_limit);
    }
    for (index, path) in traces.iter().enumerate() {
        let name = trace::file::trace_name(path);
        eprintln!("bench: trace {}/{} {name} ({:.0} s so far)", index + 1, traces.len(), started.elapsed().as_secs_f64());
        let accesses = trace::file::read_lackey(path).map_err(anyhow::Error::msg)?;
        let mut replay = trace::Replay::from_accesses(&accesses).map_err(|error| anyhow::anyhow!("{name}: {error}"))?;
        if options.accesses > 0 {
            replay = replay.truncated(options.accesses);
        }
        let file = format!("replay/{name}.vrpl");
        let cmdline = format!("{settings} init=bin/replay init-args=all,{file}");
        let serial = boot(&name, &kernel, &programs, &cmdline, vec![(file, replay.encode())])?;
        rows.extend(trace_rows(&serial, &name)?);
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok((rows, hz))
}

/// Faults avoided relative to the same workload under demand paging.
fn coverage(row: &Row, rows: &[Row]) -> f64 {
    let demand = rows.iter().find(|other| other.name == row.name && other.kind == row.kind && other.policy == "demand");
    match demand {
        Some(demand) if demand.faults > 0 => 1.0 - row.faults as f64 / demand.faults as f64,
        _ => 0.0,
    }
}

fn accuracy(row: &Row) -> f64 {
    if row.ahead == 0 { 1.0 } else { row.hits as f64 / row.ahead as f64 }
}

/// The CSV and the Markdown table.
pub fn report(rows: &[Row], hz: u64) -> (String, String) {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = String::from(
        "name,kind,policy,faults,committed_ahead,hits,waste,coverage,accuracy,peak_committed,footprint,guest_instructions,fault_path_instructions\n",
    );
    let mut md = String::from("| name | kind | policy | faults | ahead | hits | waste | coverage | accuracy | peak | footprint | instructions | in faults |\n");
    md.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let fields = |digits: usize| -> Vec<String> {
            let mut fields = vec![row.name.clone(), row.kind.to_owned(), row.policy.clone()];
            fields.extend([row.faults, row.ahead, row.hits, row.waste].map(|value| value.to_string()));
            fields.push(format!("{:.digits$}", coverage(row, rows)));
            fields.push(format!("{:.digits$}", accuracy(row)));
            fields.extend([row.peak, row.footprint, instructions(row.run_cycles), instructions(row.fault_cycles)].map(|value| value.to_string()));
            fields
        };
        let _ = writeln!(csv, "{}", fields(4).join(","));
        let _ = writeln!(md, "| {} |", fields(3).join(" | "));
    }
    md.push_str("\n**Per policy** (means over every workload and trace it ran):\n\n| policy | rows | mean coverage | mean accuracy |\n|---|---:|---:|---:|\n");
    let mut policies: Vec<&str> = rows.iter().map(|row| row.policy.as_str()).collect();
    policies.dedup();
    policies.sort_unstable();
    policies.dedup();
    for policy in policies {
        let mine: Vec<&Row> = rows.iter().filter(|row| row.policy == policy).collect();
        let n = mine.len().max(1) as f64;
        let coverage = mine.iter().map(|row| coverage(row, rows)).sum::<f64>() / n;
        let accuracy = mine.iter().map(|row| accuracy(row)).sum::<f64>() / n;
        let _ = writeln!(md, "| {policy} | {} | {coverage:.3} | {accuracy:.3} |", mine.len());
    }
    (csv, md)
}

/// A grouped bar chart as SVG: for every row name a group of bars, one per
/// policy, showing `value(row) / value(the demand row)` (demand is 1).
pub fn plot(rows: &[Row], title: &str, value: impl Fn(&Row) -> u64) -> Result<String> {
    use plotters::prelude::*;
    let mut names: Vec<(&'static str, &str)> = Vec::new();
    for row in rows {
        if !names.contains(&(row.kind, row.name.as_str())) {
            names.push((row.kind, row.name.as_str()));
        }
    }
    let mut policies: Vec<&str> = Vec::new();
    for row in rows {
        if !policies.contains(&row.policy.as_str()) {
            policies.push(row.policy.as_str());
        }
    }
    let ratio = |kind: &str, name: &str, policy: &str| -> Option<f64> {
        let find = |policy: &str| rows.iter().find(|row| row.kind == kind && row.name == name && row.policy == policy);
        let (row, demand) = (find(policy)?, find("demand")?);
        let base = value(demand);
        (base > 0).then(|| value(row) as f64 / base as f64)
    };
    let highest = names
        .iter()
        .flat_map(|&(kind, name)| policies.iter().filter_map(move |policy| ratio(kind, name, policy)))
        .fold(1.0f64, f64::max)
        .min(20.0);
    let mut svg = String::new();
    {
        let width = 120 + 40 * (names.len() * policies.len()) as u32;
        let root = SVGBackend::with_string(&mut svg, (width.max(640), 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let groups = names.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(90)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..groups, 0f64..highest * 1.1)
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let labels: Vec<String> = names.iter().map(|(_, name)| (*name).to_owned()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len().max(1))
            .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
            .y_desc("relative to demand")
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let slot = 0.8 / policies.len().max(1) as f64;
        for (index, policy) in policies.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let bars: Vec<Rectangle<(f64, f64)>> = names
                .iter()
                .enumerate()
                .filter_map(|(group, &(kind, name))| {
                    let ratio = ratio(kind, name, policy)?.min(highest * 1.1);
                    let left = group as f64 + 0.1 + slot * index as f64;
                    Some(Rectangle::new([(left, 0.0), (left + slot * 0.9, ratio)], color.filled()))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|error| anyhow::anyhow!("{error:?}"))?
                .label(*policy)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        root.present().map_err(|error| anyhow::anyhow!("{error:?}"))?;
    }
    Ok(svg)
}

/// Measures and writes `results.csv`, `results.md`, `faults.svg` and
/// `footprint.svg` into `out`; returns the CSV and the Markdown.
pub fn run(options: &Options, out: &Path) -> Result<(String, String)> {
    let (rows, hz) = measure(options)?;
    if rows.is_empty() {
        bail!("the benchmark reported no rows");
    }
    let (csv, md) = report(&rows, hz);
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("results.csv"), &csv)?;
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(out.join("faults.svg"), plot(&rows, "Demand faults, relative to demand paging", |row| row.faults)?)?;
    std::fs::write(out.join("footprint.svg"), plot(&rows, "Footprint (pages × ticks), relative to demand paging", |row| row.footprint)?)?;
    Ok((csv, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = "bench-tsc-hz 1000000000\n\
        [ 1.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=demand pid=3 faults_demand=10 ahead_commits=0 hits=0 waste=0 peak_committed=12 footprint=5 run_cycles=2000 fault_cycles=100\n\
        [ 1.1] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=leap pid=4 faults_demand=2 ahead_commits=8 hits=8 waste=0 peak_committed=12 footprint=5 run_cycles=1500 fault_cycles=40\n\
        [ 1.2] cpu0 INFO  process::lifecycle: memstat name=bench-memory policy=demand pid=2 faults_demand=1\n";

    #[test]
    fn workload_rows_come_from_memstat_lines_of_workloads_only() {
        let rows = workload_rows(SERIAL);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].name.as_str(), rows[1].policy.as_str(), rows[1].faults, rows[1].hits), ("seq", "leap", 2, 8));
        assert_eq!(tsc_hz(SERIAL).unwrap(), 1_000_000_000);
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().nth(2).unwrap().starts_with("seq,workload,leap,2,8,8,0,0.8000,1.0000,12,5,1500,40"), "{csv}");
        assert!(md.contains("| leap | 1 | 0.800 | 1.000 |"), "{md}");
    }

    #[test]
    fn plots_are_svg_with_a_bar_per_policy() {
        let rows = workload_rows(SERIAL);
        let svg = plot(&rows, "faults", |row| row.faults).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("demand"), "{svg}");
        assert_eq!(svg, plot(&rows, "faults", |row| row.faults).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn trace_rows_pair_each_replay_with_its_process() {
        let serial = "replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1\n\
            [ 2.0] cpu0 INFO  process::lifecycle: memstat name=replay policy=leap pid=5 peak_committed=7 footprint=9 run_cycles=70 fault_cycles=7\n\
            [ 2.1] cpu0 INFO  process::lifecycle: memstat name=replay policy=demand pid=1 run_cycles=99\n";
        let rows = trace_rows(serial, "a").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].faults, rows[0].ahead, rows[0].waste, rows[0].run_cycles, rows[0].peak), (3, 4, 1, 70, 7));
        assert!(trace_rows("replay replay/a.vrpl policy=leap faults=x\n", "a").is_err());
    }
}
