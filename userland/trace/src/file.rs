//! Reading lackey trace files (plain text or gzip) from disk, one line at a
//! time (the host tools; needs the `std` feature).

extern crate std;

use super::{Access, PageFilter, TraceError, parse_line};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Reads the lackey trace at `path` (gzip if it ends in `.gz`) into its
/// page accesses, filtered as [`super::parse_lackey`] does. Errors name the
/// file and, for a malformed line, its number.
pub fn read_lackey(path: &Path) -> Result<Vec<Access>, String> {
    let file = File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let reader: std::boxed::Box<dyn Read> =
        if path.extension().is_some_and(|extension| extension == "gz") { std::boxed::Box::new(GzDecoder::new(file)) } else { std::boxed::Box::new(file) };
    let mut accesses = Vec::new();
    let mut filter = PageFilter::default();
    for (index, line) in BufReader::with_capacity(1 << 20, reader).lines().enumerate() {
        let line = line.map_err(|error| format!("{}: reading line {}: {error}", path.display(), index + 1))?;
        if let Some(access) = parse_line(&line, index as u64 + 1).map_err(|error| format!("{}: {error}", path.display()))?
            && filter.keep(access)
        {
            accesses.push(access);
        }
    }
    if accesses.is_empty() {
        return Err(format!("{}: {}", path.display(), TraceError::Empty));
    }
    Ok(accesses)
}

/// The trace's name: its file name without `.lackey[.gz]`.
pub fn trace_name(path: &Path) -> String {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("trace");
    String::from(name.trim_end_matches(".gz").trim_end_matches(".lackey"))
}

/// The `.lackey` and `.lackey.gz` files of `directory`, by name.
pub fn trace_files(directory: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let entries = std::fs::read_dir(directory).map_err(|error| format!("{}: {error}", directory.display()))?;
    let mut found: Vec<std::path::PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_str().is_some_and(|name| name.ends_with(".lackey") || name.ends_with(".lackey.gz")))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!("no .lackey or .lackey.gz files in {}", directory.display()));
    }
    Ok(found)
}

/// `work` applied to every path, one path per thread at a time (as many
/// threads as cores: trace files are large and decompressing them is most
/// of the time); the results come back in the order of `paths`.
pub fn for_each_file<T: Send>(paths: &[std::path::PathBuf], work: impl Fn(&Path) -> T + Sync) -> Vec<T> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(paths.iter().map(|_| None).collect());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(paths.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(index) else { break };
                    let result = work(path);
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(result);
                    }
                }
            });
        }
    });
    // `scope` re-raises a worker's panic, so every slot is filled here.
    results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()).into_iter().flatten().collect()
}
