//! Boot configuration: the kernel command line read from the ramdisk.
//!
//! The command line is whitespace-separated `key=value` words, e.g.
//! `mode=test test=mm:: log=debug`. Unknown keys and bad values do not stop
//! the boot: they are collected as warnings and logged, and the default is kept.

#![forbid(unsafe_code)]

use core::fmt;

/// Path of the command-line file inside the ramdisk.
pub const CMDLINE_PATH: &str = "boot/cmdline";

/// What the kernel does once it has booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Normal operation.
    Run,
    /// Run the in-kernel tests, print one line per test, exit QEMU with the verdict.
    Test,
}

/// A fault injected on purpose after boot, to check that faults are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// Read from an unmapped kernel address (page fault in kernel mode).
    PageFault,
    /// Call `panic!`.
    Panic,
    /// Recurse until the kernel stack's guard page is hit (double fault on the IST stack).
    StackOverflow,
    /// Execute `ud2` (invalid opcode).
    InvalidOpcode,
    /// Load a non-canonical address (general protection fault).
    GeneralProtection,
    /// Allocate more heap than the heap may ever grow to.
    HeapExhaustion,
    /// Never finish booting (checks that host-side timeouts work).
    Hang,
}

impl Inject {
    /// Every injectable fault, with its command-line name.
    pub const ALL: [(&'static str, Inject); 7] = [
        ("page-fault", Inject::PageFault),
        ("panic", Inject::Panic),
        ("stack-overflow", Inject::StackOverflow),
        ("invalid-opcode", Inject::InvalidOpcode),
        ("general-protection", Inject::GeneralProtection),
        ("heap-exhaustion", Inject::HeapExhaustion),
        ("hang", Inject::Hang),
    ];

    fn parse(value: &str) -> Option<Inject> {
        Self::ALL.iter().find(|(name, _)| *name == value).map(|&(_, inject)| inject)
    }
}

/// Log verbosity, mirroring `log::LevelFilter` without depending on it here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default: what a person watching the boot wants to see.
    Info,
    /// Internal detail.
    Debug,
    /// Everything.
    Trace,
}

/// A problem found while parsing the command line. Parsing goes on after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigWarning<'a> {
    /// A word that is not `key=value`.
    NotKeyValue(&'a str),
    /// A key the kernel does not know.
    UnknownKey(&'a str),
    /// A known key with a value it cannot take.
    BadValue {
        /// The key.
        key: &'a str,
        /// The rejected value.
        value: &'a str,
    },
    /// More warnings than fit; the rest were dropped.
    TooMany,
}

impl fmt::Display for ConfigWarning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::NotKeyValue(word) => write!(f, "`{word}` is not key=value"),
            ConfigWarning::UnknownKey(key) => write!(f, "unknown key `{key}`"),
            ConfigWarning::BadValue { key, value } => write!(f, "bad value `{value}` for `{key}`"),
            ConfigWarning::TooMany => write!(f, "too many warnings, the rest are not shown"),
        }
    }
}

/// The first program started in run mode, unless `init=` names another.
pub const DEFAULT_INIT_PATH: &str = "bin/init";

/// Maximum number of warnings kept (parsing happens before the heap exists).
pub const MAX_WARNINGS: usize = 8;

/// The parsed boot configuration. Borrows from the command-line text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig<'a> {
    /// Run normally or run the in-kernel tests.
    pub mode: Mode,
    /// In test mode, run only tests whose full name starts with this (an exact
    /// name also selects a `manual` test).
    pub test_filter: Option<&'a str>,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Timer interrupt frequency in Hz.
    pub timer_hz: u32,
    /// A fault to inject after boot.
    pub inject: Option<Inject>,
    /// The first program, a ramdisk path (`init=bin/init` by default).
    pub init_path: &'a str,
    /// Its arguments, comma-separated (`init-args=test` runs the user tests).
    pub init_arguments: Option<&'a str>,
    /// Whether fully committed 2 MiB-aligned blocks become 2 MiB pages
    /// (`huge=on`, the default, or `huge=off`).
    pub huge_pages: bool,
    /// Whether each process's counters are logged as a `memstat` line (and
    /// written as a `Memstat` record) when it ends (`memstat=on`, the
    /// default, or `memstat=off`).
    pub memstat: bool,
    /// Whether instances of a program share its read-only image pieces
    /// (code, headers, constants) through the text store (`text=shared`,
    /// the default) or each instance loads its own copy (`text=private`).
    pub shared_text: bool,
    /// Most pages of program text the text store keeps cached once no
    /// instance maps it (`text-cache=PAGES`, 512 by default; 0: none).
    pub text_cache: u64,
    /// Ticks between accessed-bit scans of every process (`sample=64` by
    /// default; `sample=0` turns the sampler off).
    pub sample_ticks: u64,
    /// The commit policy processes start with (`policy=demand`, the
    /// default, `eager`, `readahead`, `leap` or `pae`).
    pub policy: abi::CommitPolicy,
    /// Guest instructions the PAE task may spend per timer tick
    /// (`pae-budget=5000000` by default; 0: no limit).
    pub pae_budget: u64,
    /// Ticks a partition's predicted access probability must stay low
    /// before the PAE demotes it (`pae-cold-ticks=50` by default).
    pub pae_cold_ticks: u64,
    /// Events each process's access-history ring keeps (`history=1024` by
    /// default, at most [`MAX_HISTORY`]; `history=0` records nothing).
    pub history: usize,
    /// Whether every process's history is streamed to QEMU's debug console
    /// (`history-export=on`; `cargo xtask trace` reads it).
    pub history_export: bool,
    /// The global memory budget (`mem-budget=PAGES` or `mem-budget=P%` of
    /// the frames free at boot): over it, processes' pages are evicted to
    /// swap. None by default.
    pub mem_budget: Option<MemBudget>,
    /// Whether processes may inject swap faults with `swap_debug`
    /// (`swap-debug=on`; off by default).
    pub swap_debug: bool,
    /// How pages are chosen for eviction: `eviction=cold-first` (the
    /// default: cold ranges and partitions first, then CLOCK),
    /// `eviction=clock` (CLOCK alone) or `eviction=clock-pro` (CLOCK-Pro);
    /// the kernel runs the policies of `vass::Eviction::KERNEL`.
    pub eviction: crate::vass::Eviction,
    warnings: [Option<ConfigWarning<'a>>; MAX_WARNINGS],
}

/// A memory budget as the command line gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemBudget {
    /// A number of pages (at least `abi::MIN_MEMORY_BUDGET`).
    Pages(u64),
    /// A percentage (1..=100) of the frames free at boot.
    Percent(u64),
}

impl MemBudget {
    /// `PAGES` or `PERCENT%`.
    pub fn parse(value: &str) -> Option<MemBudget> {
        match value.strip_suffix('%') {
            Some(percent) => percent.parse::<u64>().ok().filter(|p| (1..=100).contains(p)).map(MemBudget::Percent),
            None => value.parse::<u64>().ok().filter(|&pages| pages >= abi::MIN_MEMORY_BUDGET).map(MemBudget::Pages),
        }
    }

    /// The budget in pages when `free` frames are free.
    pub fn pages(self, free: u64) -> u64 {
        match self {
            MemBudget::Pages(pages) => pages,
            MemBudget::Percent(percent) => (free.saturating_mul(percent) / 100).max(abi::MIN_MEMORY_BUDGET),
        }
    }
}

/// Most events a process's history ring may keep.
pub const MAX_HISTORY: usize = 1 << 20;

/// Lowest accepted timer frequency.
pub const MIN_TIMER_HZ: u32 = 10;
/// Highest accepted timer frequency.
pub const MAX_TIMER_HZ: u32 = 10_000;

impl Default for BootConfig<'_> {
    fn default() -> Self {
        BootConfig {
            mode: Mode::Run,
            test_filter: None,
            log_level: LogLevel::Info,
            timer_hz: 100,
            inject: None,
            init_path: DEFAULT_INIT_PATH,
            init_arguments: None,
            huge_pages: true,
            memstat: true,
            shared_text: true,
            text_cache: crate::share::text::DEFAULT_CACHE_PAGES,
            sample_ticks: 64,
            policy: abi::CommitPolicy::Demand,
            pae_budget: crate::pae::PAE_BUDGET,
            pae_cold_ticks: crate::pae::Settings::DEFAULT.cold_ticks,
            history: 1024,
            history_export: false,
            mem_budget: None,
            swap_debug: false,
            eviction: crate::vass::Eviction::ColdFirst,
            warnings: [None; MAX_WARNINGS],
        }
    }
}

impl<'a> BootConfig<'a> {
    /// Parses a command line. Never fails: problems become [`ConfigWarning`]s.
    pub fn parse(cmdline: &'a str) -> Self {
        let mut config = BootConfig::default();
        for word in cmdline.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                config.warn(ConfigWarning::NotKeyValue(word));
                continue;
            };
            let accepted = match key {
                "mode" => parse_mode(value).map(|mode| config.mode = mode),
                "test" => (!value.is_empty()).then(|| {
                    config.mode = Mode::Test;
                    config.test_filter = Some(value);
                }),
                "log" => parse_level(value).map(|level| config.log_level = level),
                "hz" => value
                    .parse::<u32>()
                    .ok()
                    .filter(|hz| (MIN_TIMER_HZ..=MAX_TIMER_HZ).contains(hz))
                    .map(|hz| config.timer_hz = hz),
                "inject" => Inject::parse(value).map(|inject| config.inject = Some(inject)),
                "init" => (!value.is_empty()).then(|| config.init_path = value),
                "init-args" => {
                    config.init_arguments = Some(value);
                    Some(())
                }
                "huge" => parse_switch(value).map(|on| config.huge_pages = on),
                "memstat" => parse_switch(value).map(|on| config.memstat = on),
                "text" => match value {
                    "shared" => Some(true),
                    "private" => Some(false),
                    _ => None,
                }
                .map(|shared| config.shared_text = shared),
                "text-cache" => value.parse::<u64>().ok().map(|pages| config.text_cache = pages),
                "policy" => {
                    abi::CommitPolicy::from_name(value).filter(|policy| abi::CommitPolicy::KERNEL.contains(policy)).map(|policy| config.policy = policy)
                }
                "pae-budget" => value.parse::<u64>().ok().map(|instructions| config.pae_budget = instructions),
                "pae-cold-ticks" => value.parse::<u64>().ok().map(|ticks| config.pae_cold_ticks = ticks),
                "history" => value.parse::<usize>().ok().filter(|&events| events <= MAX_HISTORY).map(|events| config.history = events),
                "history-export" => parse_switch(value).map(|on| config.history_export = on),
                "mem-budget" => MemBudget::parse(value).map(|budget| config.mem_budget = Some(budget)),
                "swap-debug" => parse_switch(value).map(|on| config.swap_debug = on),
                "eviction" => crate::vass::Eviction::from_name(value)
                    .filter(|eviction| crate::vass::Eviction::KERNEL.contains(eviction))
                    .map(|eviction| config.eviction = eviction),
                "sample" => value.parse::<u64>().ok().filter(|&ticks| ticks <= 1_000_000).map(|ticks| config.sample_ticks = ticks),
                _ => {
                    config.warn(ConfigWarning::UnknownKey(key));
                    continue;
                }
            };
            if accepted.is_none() {
                config.warn(ConfigWarning::BadValue { key, value });
            }
        }
        config
    }

    /// The problems found while parsing, in order.
    pub fn warnings(&self) -> impl Iterator<Item = ConfigWarning<'a>> + '_ {
        self.warnings.iter().map_while(|warning| *warning)
    }

    fn warn(&mut self, warning: ConfigWarning<'a>) {
        let free = self.warnings.iter().position(Option::is_none);
        match free {
            Some(slot) if slot + 1 < MAX_WARNINGS => self.warnings[slot] = Some(warning),
            Some(slot) => self.warnings[slot] = Some(ConfigWarning::TooMany),
            None => {}
        }
    }
}

fn parse_switch(value: &str) -> Option<bool> {
    match value {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

fn parse_mode(value: &str) -> Option<Mode> {
    match value {
        "run" => Some(Mode::Run),
        "test" => Some(Mode::Test),
        _ => None,
    }
}

fn parse_level(value: &str) -> Option<LogLevel> {
    Some(match value {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn empty_command_line_gives_defaults() {
        let config = BootConfig::parse("");
        assert_eq!(config, BootConfig::default());
        assert_eq!(config.mode, Mode::Run);
        assert_eq!(config.init_path, DEFAULT_INIT_PATH);
        assert_eq!(config.warnings().count(), 0);
    }

    #[test]
    fn parses_every_key() {
        let config =
            BootConfig::parse("mode=test log=trace hz=250 inject=page-fault init=bin/bench init-args=test,fast\n");
        assert_eq!(config.init_path, "bin/bench");
        assert_eq!(config.init_arguments, Some("test,fast"));
        assert_eq!(config.mode, Mode::Test);
        assert_eq!(config.log_level, LogLevel::Trace);
        assert_eq!(config.timer_hz, 250);
        assert_eq!(config.inject, Some(Inject::PageFault));
        assert_eq!(config.test_filter, None);
        assert_eq!(config.warnings().count(), 0);
        assert!(config.huge_pages && config.memstat, "on by default");
        assert_eq!(config.sample_ticks, 64);
        let config = BootConfig::parse("huge=off memstat=off sample=0");
        assert!(!config.huge_pages && !config.memstat);
        assert!(config.shared_text, "text is shared by default");
        assert!(!BootConfig::parse("text=private").shared_text);
        assert_eq!(config.text_cache, crate::share::text::DEFAULT_CACHE_PAGES);
        assert_eq!(BootConfig::parse("text-cache=0").text_cache, 0);
        assert_eq!(BootConfig::parse("text-cache=lots").warnings().next(), Some(ConfigWarning::BadValue { key: "text-cache", value: "lots" }));
        let copied = BootConfig::parse("text=copied");
        assert!(copied.shared_text);
        assert_eq!(copied.warnings().next(), Some(ConfigWarning::BadValue { key: "text", value: "copied" }));
        assert_eq!(config.sample_ticks, 0);
        assert_eq!(BootConfig::parse("policy=leap").policy, abi::CommitPolicy::Leap);
        assert_eq!(BootConfig::parse("policy=psychic").policy, abi::CommitPolicy::Demand);
        assert_eq!(BootConfig::parse("policy=oracle").policy, abi::CommitPolicy::Demand, "the oracle needs a trace's future");
        assert_eq!((BootConfig::default().history, BootConfig::default().history_export), (1024, false));
        assert_eq!(BootConfig::default().mem_budget, None);
        assert!(!BootConfig::default().swap_debug && BootConfig::parse("swap-debug=on").swap_debug);
        use crate::vass::Eviction;
        assert_eq!(BootConfig::default().eviction, Eviction::ColdFirst);
        assert_eq!(BootConfig::parse("eviction=cold-first").eviction, Eviction::ColdFirst);
        assert_eq!(BootConfig::parse("eviction=clock").eviction, Eviction::Clock);
        assert_eq!(BootConfig::parse("eviction=clock-pro").eviction, Eviction::ClockPro);
        for (line, value, why) in [("eviction=fifo", "fifo", "unknown"), ("eviction=lru", "lru", "needs every access"), ("eviction=belady", "belady", "needs the future")] {
            let config = BootConfig::parse(line);
            assert_eq!(config.eviction, Eviction::ColdFirst, "{value}: {why}, the default stays");
            assert_eq!(config.warnings().next(), Some(ConfigWarning::BadValue { key: "eviction", value }));
        }
        assert_eq!(BootConfig::parse("mem-budget=4096").mem_budget, Some(MemBudget::Pages(4096)));
        assert_eq!(BootConfig::parse("mem-budget=25%").mem_budget, Some(MemBudget::Percent(25)));
        for bad in ["mem-budget=0%", "mem-budget=101%", "mem-budget=3", "mem-budget=lots"] {
            let config = BootConfig::parse(bad);
            assert_eq!((config.mem_budget, config.warnings().count()), (None, 1), "{bad}");
        }
        assert_eq!(MemBudget::Percent(25).pages(1000), 250);
        assert_eq!(MemBudget::Percent(1).pages(10), abi::MIN_MEMORY_BUDGET, "never below the minimum");
        let config = BootConfig::parse("history=65536 history-export=on");
        assert_eq!((config.history, config.history_export), (65536, true));
        let config = BootConfig::parse("history=2000000 history-export=yes");
        assert_eq!((config.history, config.history_export), (1024, false), "too large, not a switch");
        assert_eq!(config.warnings().count(), 2);
        let config = BootConfig::parse("huge=maybe");
        assert!(config.huge_pages);
        assert_eq!(config.warnings().next(), Some(ConfigWarning::BadValue { key: "huge", value: "maybe" }));
    }

    #[test]
    fn test_filter_implies_test_mode() {
        let config = BootConfig::parse("test=mm::frame::");
        assert_eq!(config.mode, Mode::Test);
        assert_eq!(config.test_filter, Some("mm::frame::"));
    }

    #[test]
    fn every_injectable_fault_parses_by_name() {
        for (name, inject) in Inject::ALL {
            let line = alloc::format!("inject={name}");
            assert_eq!(BootConfig::parse(&line).inject, Some(inject));
        }
    }

    #[test]
    fn bad_words_become_warnings_and_keep_defaults() {
        let config = BootConfig::parse("mode=fly hz=1 hz=x log= inject=nothing junk colour=red test=");
        assert_eq!(config.mode, Mode::Run);
        assert_eq!(config.timer_hz, 100);
        assert_eq!(config.inject, None);
        let warnings: Vec<_> = config.warnings().collect();
        assert_eq!(
            warnings,
            [
                ConfigWarning::BadValue { key: "mode", value: "fly" },
                ConfigWarning::BadValue { key: "hz", value: "1" },
                ConfigWarning::BadValue { key: "hz", value: "x" },
                ConfigWarning::BadValue { key: "log", value: "" },
                ConfigWarning::BadValue { key: "inject", value: "nothing" },
                ConfigWarning::NotKeyValue("junk"),
                ConfigWarning::UnknownKey("colour"),
                ConfigWarning::TooMany,
            ]
        );
    }

    #[test]
    fn later_words_override_earlier_ones() {
        let config = BootConfig::parse("mode=test mode=run log=error log=warn");
        assert_eq!(config.mode, Mode::Run);
        assert_eq!(config.log_level, LogLevel::Warn);
    }

    #[test]
    fn warnings_render_readably() {
        let warning = ConfigWarning::BadValue { key: "hz", value: "0" };
        assert_eq!(alloc::format!("{warning}"), "bad value `0` for `hz`");
    }
}
