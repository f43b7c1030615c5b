//! Memory-access traces: Valgrind lackey text in, a compact replay file out.
//!
//! A lackey trace (`I  addr,size`, ` L addr,size`, ` S ...`, ` M ...`) is
//! reduced to a sequence of page touches, one per page change within each
//! class (instruction or data: the shared traces' filter rule,
//! [`PageFilter`]). Its distinct pages are clustered into *regions* (runs
//! of pages with gaps of at most [`GAP_PAGES`]; at most [`MAX_REGIONS`]);
//! each region becomes a partition when the trace is replayed, and each
//! access is kept as (region, page offset, kind). The replay file ([`MAGIC`]
//! `VRPL`, the regions, then one `u32` per access) is what xtask packs into
//! the ramdisk, the `replay` program touches page by page, and the host
//! simulator and the oracle policy read; its decoder checks every field
//! ([`ReplayHeader`] decodes the header alone, then access words one by one,
//! for a reader that streams the file). [`TouchedPages`] is a bitmap of the
//! pages touched; [`Budget`] a memory budget as the tools write it (`PAGES`
//! or `PERCENT%` of the distinct pages, sized by [`budget_pages`]).
//!
//! `no_std` + `alloc`: the same code runs in xtask, in tests, and in user
//! programs. Written by hand because no crate reads lackey output, and the
//! replay format is this project's own.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes per page.
pub use abi::PAGE_SIZE;
/// Pages of distance that still join two touched pages into one region
/// (1 MiB: heaps and mapped files stay one partition, the stack, the
/// program and the libraries become separate ones).
pub const GAP_PAGES: u64 = 256;
/// Most regions a replay file holds.
pub const MAX_REGIONS: usize = 255;
/// Largest region, in pages (the offset field has 22 bits).
pub const MAX_REGION_PAGES: u64 = 1 << 22;
/// The page replayed regions are placed from (4 GiB into the window where
/// programs create partitions, clear of their heaps): the `replay`
/// program, the kernel's oracle and the host simulator all use it.
pub const REPLAY_BASE_PAGE: u64 = 0x2001_0000_0000 / PAGE_SIZE;
/// Alignment of replayed regions, in pages (2 MiB).
pub const LAYOUT_ALIGN_PAGES: u64 = 512;
/// The magic at the start of a replay file.
pub const MAGIC: [u8; 4] = *b"VRPL";
/// The format version.
pub const VERSION: u32 = 1;

/// How a page was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Instruction fetch (`I`).
    Fetch = 0,
    /// Data load (`L`).
    Load = 1,
    /// Data store (`S`) or modify (`M`).
    Store = 2,
}

/// One access of a trace, by page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The virtual page (address / 4096).
    pub page: u64,
    /// How.
    pub kind: Kind,
}

/// Why a lackey trace or a replay file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// A lackey line is not one of the four access forms.
    BadLine {
        /// Line number, from 1.
        line: u64,
        /// The line (cut to 80 characters).
        text: String,
    },
    /// The trace holds no access.
    Empty,
    /// The pages spread over more regions than a replay file holds.
    TooManyRegions(usize),
    /// A region is larger than a replay file can address.
    RegionTooLarge(u64),
    /// A replay file is cut short, has the wrong magic or version, or
    /// names a region or offset it does not have.
    BadReplay(&'static str),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::BadLine { line, text } => write!(f, "line {line}: not a lackey access line: `{text}`"),
            TraceError::Empty => f.write_str("the trace holds no access"),
            TraceError::TooManyRegions(count) => write!(f, "{count} regions (at most {MAX_REGIONS})"),
            TraceError::RegionTooLarge(pages) => write!(f, "a region of {pages} pages (at most {MAX_REGION_PAGES})"),
            TraceError::BadReplay(why) => write!(f, "bad replay file: {why}"),
        }
    }
}

/// The memory budget, in pages, that leaves a replay `percent` of its
/// `distinct` pages: rounded up, and at least `minimum` (the kernel's
/// smallest budget, `abi::MIN_MEMORY_BUDGET`). The `replay` program, the
/// memory benchmark and its simulator runs all size budgets so.
pub fn budget_pages(percent: u64, distinct: u64, minimum: u64) -> u64 {
    distinct.saturating_mul(percent).div_ceil(100).max(minimum)
}

/// A memory budget as the tools write it: `PAGES`, or `PERCENT%` of the
/// pages a run touches (its distinct pages), the same syntax as the
/// kernel's `mem-budget=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// A number of pages (at least 1).
    Pages(u64),
    /// A percentage (1..=100) of the distinct pages.
    Percent(u64),
}

impl Budget {
    /// Parses `PAGES` (at least 1) or `PERCENT%` (1..=100).
    pub fn parse(text: &str) -> Option<Budget> {
        let text = text.trim();
        let (digits, percent) = match text.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let number: u64 = digits.parse().ok()?;
        match (percent, number) {
            (true, 1..=100) => Some(Budget::Percent(number)),
            (false, 1..) => Some(Budget::Pages(number)),
            _ => None,
        }
    }

    /// The budget in pages for a run of `distinct` pages: a percentage
    /// through [`budget_pages`]; never below `minimum`.
    pub fn pages(self, distinct: u64, minimum: u64) -> u64 {
        match self {
            Budget::Pages(pages) => pages.max(minimum),
            Budget::Percent(percent) => budget_pages(percent, distinct, minimum),
        }
    }
}

impl fmt::Display for Budget {
    /// As parsed: `4096` or `50%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Pages(pages) => write!(f, "{pages}"),
            Budget::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

/// Parses one lackey line. Blank lines and Valgrind's `==pid==` lines give
/// `Ok(None)`.
pub fn parse_line(line: &str, number: u64) -> Result<Option<Access>, TraceError> {
    let bad = || TraceError::BadLine { line: number, text: line.chars().take(80).collect() };
    let trimmed = line.trim_end();
    if trimmed.is_empty() || trimmed.starts_with("==") {
        return Ok(None);
    }
    let (kind, rest) = if let Some(rest) = trimmed.strip_prefix("I  ") {
        (Kind::Fetch, rest)
    } else if let Some(rest) = trimmed.strip_prefix(" L ") {
        (Kind::Load, rest)
    } else if let Some(rest) = trimmed.strip_prefix(" S ").or_else(|| trimmed.strip_prefix(" M ")) {
        (Kind::Store, rest)
    } else {
        return Err(bad());
    };
    let (address, size) = rest.split_once(',').ok_or_else(bad)?;
    let address = u64::from_str_radix(address, 16).map_err(|_| bad())?;
    size.parse::<u32>().map_err(|_| bad())?;
    if address >= 1 << 47 {
        return Err(bad());
    }
    Ok(Some(Access { page: address / PAGE_SIZE, kind }))
}

/// Parses a whole lackey text, keeping one access per change of page
/// within each class (instruction or data), as the shared traces' filter
/// does, so an unfiltered trace gives the same sequence.
pub fn parse_lackey(text: &str) -> Result<Vec<Access>, TraceError> {
    let mut accesses = Vec::new();
    let mut filter = PageFilter::default();
    for (index, line) in text.lines().enumerate() {
        if let Some(access) = parse_line(line, index as u64 + 1)?
            && filter.keep(access)
        {
            accesses.push(access);
        }
    }
    if accesses.is_empty() {
        return Err(TraceError::Empty);
    }
    Ok(accesses)
}

/// Drops an access to the same page as the previous kept one of its class.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageFilter {
    fetch: Option<u64>,
    data: Option<u64>,
}

impl PageFilter {
    /// Whether `access` changes its class's page (and remembers it).
    pub fn keep(&mut self, access: Access) -> bool {
        let last = if access.kind == Kind::Fetch { &mut self.fetch } else { &mut self.data };
        let keep = *last != Some(access.page);
        *last = Some(access.page);
        keep
    }
}

/// A contiguous run of pages that becomes one partition on replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First page, as in the trace.
    pub start: u64,
    /// Pages.
    pub pages: u64,
    /// Whether instructions were fetched from it (a code region).
    pub code: bool,
}

/// A trace ready to replay: regions and accesses by (region, offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The regions, by address.
    pub regions: Vec<Region>,
    /// The accesses in order: (region index, page offset in it, kind).
    pub accesses: Vec<(u8, u32, Kind)>,
}

impl Replay {
    /// Clusters the pages of `accesses` into regions and re-expresses every
    /// access by region and offset.
    pub fn from_accesses(accesses: &[Access]) -> Result<Replay, TraceError> {
        if accesses.is_empty() {
            return Err(TraceError::Empty);
        }
        let mut pages: BTreeMap<u64, bool> = BTreeMap::new();
        for access in accesses {
            *pages.entry(access.page).or_default() |= access.kind == Kind::Fetch;
        }
        let mut regions: Vec<Region> = Vec::new();
        for (&page, &fetched) in &pages {
            match regions.last_mut() {
                Some(region) if page - (region.start + region.pages - 1) <= GAP_PAGES => {
                    region.pages = page - region.start + 1;
                    region.code |= fetched;
                }
                _ => regions.push(Region { start: page, pages: 1, code: fetched }),
            }
        }
        if regions.len() > MAX_REGIONS {
            return Err(TraceError::TooManyRegions(regions.len()));
        }
        if let Some(region) = regions.iter().find(|region| region.pages > MAX_REGION_PAGES) {
            return Err(TraceError::RegionTooLarge(region.pages));
        }
        let starts: Vec<u64> = regions.iter().map(|region| region.start).collect();
        let accesses = accesses
            .iter()
            .map(|access| {
                let index = starts.partition_point(|&start| start <= access.page) - 1;
                (index as u8, (access.page - starts[index]) as u32, access.kind)
            })
            .collect();
        Ok(Replay { regions, accesses })
    }

    /// Where each region goes when replayed from page `base` on: one after
    /// the other in address order, each starting on a 2 MiB boundary (so
    /// regions never share a 2 MiB page). The replay program, the
    /// kernel's oracle and the host simulator all place them so, which
    /// keeps every policy's view of addresses the same.
    pub fn layout(&self, base: u64) -> Vec<u64> {
        layout(&self.regions, base)
    }

    /// The access sequence as pages placed by [`Replay::layout`].
    pub fn placed_pages(&self, base: u64) -> Vec<u64> {
        let starts = self.layout(base);
        self.accesses.iter().map(|&(region, offset, _)| starts[usize::from(region)] + u64::from(offset)).collect()
    }

    /// Keeps only the first `count` accesses (and the regions they touch,
    /// trimmed to the pages they touch).
    pub fn truncated(&self, count: usize) -> Replay {
        let accesses: Vec<Access> = self.pages().take(count).collect();
        Replay::from_accesses(&accesses).unwrap_or_else(|_| self.clone())
    }

    /// The accesses as trace pages again.
    pub fn pages(&self) -> impl Iterator<Item = Access> + '_ {
        self.accesses.iter().map(|&(region, offset, kind)| Access {
            page: self.regions[usize::from(region)].start + u64::from(offset),
            kind,
        })
    }

    /// Distinct pages touched.
    pub fn distinct_pages(&self) -> u64 {
        let mut pages: Vec<(u8, u32)> = self.accesses.iter().map(|&(region, offset, _)| (region, offset)).collect();
        pages.sort_unstable();
        pages.dedup();
        pages.len() as u64
    }

    /// The replay file: magic, version, region count, access count, the
    /// regions (start, pages, code flag as three little-endian u64), then
    /// one little-endian u32 per access: region in bits 24..32, kind in
    /// bits 22..24, offset in bits 0..22.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(16 + self.regions.len() * 24 + self.accesses.len() * 4);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(self.regions.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.accesses.len() as u32).to_le_bytes());
        for region in &self.regions {
            bytes.extend_from_slice(&region.start.to_le_bytes());
            bytes.extend_from_slice(&region.pages.to_le_bytes());
            bytes.extend_from_slice(&u64::from(region.code).to_le_bytes());
        }
        for &(region, offset, kind) in &self.accesses {
            let word = u32::from(region) << 24 | (kind as u32) << 22 | offset;
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// Reads a replay file, checking every field.
    pub fn decode(bytes: &[u8]) -> Result<Replay, TraceError> {
        let header = ReplayHeader::decode(bytes, bytes.len())?;
        let mut accesses = Vec::with_capacity(header.accesses);
        for &word in bytes[header.access_offset()..].as_chunks::<4>().0 {
            accesses.push(header.access(u32::from_le_bytes(word))?);
        }
        Ok(Replay { regions: header.regions, accesses })
    }
}

/// Where regions go when replayed from page `base` (see [`Replay::layout`]).
fn layout(regions: &[Region], base: u64) -> Vec<u64> {
    let mut next = base;
    regions
        .iter()
        .map(|region| {
            let start = next.next_multiple_of(LAYOUT_ALIGN_PAGES);
            next = start + region.pages;
            start
        })
        .collect()
}

/// Bytes of the longest replay-file header (magic, version, counts and
/// [`MAX_REGIONS`] regions): this many bytes from the start of a file, or
/// the whole file if shorter, always hold its header.
pub const MAX_HEADER_BYTES: usize = 16 + MAX_REGIONS * 24;

/// The start of a replay file: its regions and how many accesses follow.
/// A reader that cannot hold every access (a user program replaying a
/// long trace under a memory budget) decodes the header once and then
/// each access word as it reads it ([`ReplayHeader::access`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayHeader {
    /// The regions, by address.
    pub regions: Vec<Region>,
    /// Accesses after the header.
    pub accesses: usize,
}

impl ReplayHeader {
    /// Reads the header from `bytes`, the start of a replay file that is
    /// `length` bytes long in all, checking every field and that the
    /// length matches the counts.
    pub fn decode(bytes: &[u8], length: usize) -> Result<ReplayHeader, TraceError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != MAGIC {
            return Err(TraceError::BadReplay("wrong magic"));
        }
        if reader.u32()? != VERSION {
            return Err(TraceError::BadReplay("unknown version"));
        }
        let region_count = reader.u32()? as usize;
        let access_count = reader.u32()? as usize;
        if region_count == 0 || region_count > MAX_REGIONS {
            return Err(TraceError::BadReplay("region count out of range"));
        }
        if length.checked_sub(16) != Some(region_count * 24 + access_count * 4) {
            return Err(TraceError::BadReplay("length does not match the counts"));
        }
        let mut regions = Vec::with_capacity(region_count);
        for _ in 0..region_count {
            let (start, pages, code) = (reader.u64()?, reader.u64()?, reader.u64()?);
            if pages == 0 || pages > MAX_REGION_PAGES || code > 1 || start.checked_add(pages).is_none_or(|end| end > 1 << 35) {
                return Err(TraceError::BadReplay("bad region"));
            }
            if regions.last().is_some_and(|previous: &Region| previous.start + previous.pages > start) {
                return Err(TraceError::BadReplay("regions out of order or overlapping"));
            }
            regions.push(Region { start, pages, code: code == 1 });
        }
        Ok(ReplayHeader { regions, accesses: access_count })
    }

    /// Where the access words start in the file.
    pub fn access_offset(&self) -> usize {
        16 + self.regions.len() * 24
    }

    /// Decodes one access word (region in bits 24..32, kind in bits
    /// 22..24, offset in bits 0..22), checking it names a page of a region.
    pub fn access(&self, word: u32) -> Result<(u8, u32, Kind), TraceError> {
        let (region, kind, offset) = ((word >> 24) as u8, (word >> 22) & 3, word & ((1 << 22) - 1));
        let kind = match kind {
            0 => Kind::Fetch,
            1 => Kind::Load,
            2 => Kind::Store,
            _ => return Err(TraceError::BadReplay("bad access kind")),
        };
        let Some(target) = self.regions.get(usize::from(region)) else {
            return Err(TraceError::BadReplay("access names a missing region"));
        };
        if u64::from(offset) >= target.pages {
            return Err(TraceError::BadReplay("access outside its region"));
        }
        Ok((region, offset, kind))
    }

    /// Where each region goes when replayed from page `base` (as
    /// [`Replay::layout`] places them).
    pub fn layout(&self, base: u64) -> Vec<u64> {
        layout(&self.regions, base)
    }
}

/// The pages of a set of regions touched so far, one bit per page: what a
/// replay needs to know a first touch without holding the accesses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TouchedPages {
    /// Each region's first bit.
    firsts: Vec<u64>,
    bits: Vec<u64>,
    count: u64,
}

impl TouchedPages {
    /// No page of `regions` touched.
    pub fn new(regions: &[Region]) -> TouchedPages {
        let mut firsts = Vec::with_capacity(regions.len());
        let mut total = 0;
        for region in regions {
            firsts.push(total);
            total += region.pages;
        }
        TouchedPages { firsts, bits: alloc::vec![0; total.div_ceil(64) as usize], count: 0 }
    }

    /// Records a touch of page `offset` of region `region` (which must be
    /// a decoded access of these regions); returns whether it is the first.
    pub fn insert(&mut self, region: u8, offset: u32) -> bool {
        let bit = self.firsts[usize::from(region)] + u64::from(offset);
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        let first = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        self.count += u64::from(first);
        first
    }

    /// Distinct pages touched.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no page was touched.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets every touch.
    pub fn clear(&mut self) {
        self.bits.iter_mut().for_each(|word| *word = 0);
        self.count = 0;
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], TraceError> {
        let end = self.at.checked_add(count).filter(|&end| end <= self.bytes.len()).ok_or(TraceError::BadReplay("cut short"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, TraceError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64, TraceError> {
        Ok(u64::from(self.u32()?) | u64::from(self.u32()?) << 32)
    }
}

#[cfg(feature = "std")]
pub mod file;
#[cfg(test)]
mod tests;
