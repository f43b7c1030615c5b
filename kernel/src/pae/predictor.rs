//! The per-process predictor, a commit policy: at every fault the
//! model reads the event (`pae_model::features`: the delta to the previous
//! fault of the same partition, the access, the partition's kind), and its
//! integer-only GRU (`pae_model::integer`) gives, for each of 48 pages
//! around the faulting one, the probability that it is touched soon. The
//! pages whose probability reaches the threshold, inside the faulting
//! range and not yet committed (or swapped out: committing them reads them
//! back), are committed ahead.
//!
//! **Demotions.** Each partition the model has seen has a *heat*: at a step
//! of that partition, the highest probability the model gave a page of it;
//! at a step of another partition of the process, it decays by 1/16 (one
//! [`pae_model::features::WINDOW`] of steps elsewhere takes it to a third).
//! A partition whose heat stays below [`Settings::cold_threshold`] for
//! [`Settings::cold_ticks`] timer ticks, and none of whose committed pages
//! has its accessed bit set then, is *demoted*: its pages are held
//! cold ([`crate::vass::Cold::Predicted`]), so under a memory budget they
//! are the first to be swapped out. It is demoted once; only heat back
//! above the commit threshold (hysteresis) makes it eligible again.
//!
//! **Where it runs.** In the host simulator and the evaluation the model
//! steps inside `on_fault` ([`Pae::new`]). In the kernel the policy is
//! [`Pae::deferred`]: `on_fault` does nothing, and the PAE kernel task
//! reads the process's history ring, turns its faults into steps with
//! [`step_of`] and calls [`Pae::observe`], within its per-tick instruction
//! budget.

#![forbid(unsafe_code)]

use crate::policy::{CommitPolicy, Fault, Plan, Policy, View};
use crate::history::Event as HistoryEvent;
use crate::vass::{Access, FaultOutcome, PageRange, PartitionId, PartitionKind, Tick};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use alloc::sync::Arc;
use pae_model::features::{self, AccessKind, Encoder, Event, Source};
use pae_model::integer::{IntegerModel, State};

/// Where the boot ramdisk holds the model (the repository's
/// `pae-model/models/default.onnx`, or `cargo xtask run --model FILE`).
pub const MODEL_PATH: &str = "pae/model.onnx";

/// Guest instructions the kernel's PAE task may spend per timer tick by
/// default: half of a 100 Hz tick at one instruction per nanosecond.
pub const PAE_BUDGET: u64 = 5_000_000;

/// How the policy acts on what the model says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Lowest probability committed on (× 65536); `None`: the model's own
    /// (`pae.threshold`), or one half if it names none.
    pub threshold: Option<u16>,
    /// A partition whose heat stays below this (× 65536) is a candidate for
    /// demotion.
    pub cold_threshold: u16,
    /// Timer ticks a partition must stay below `cold_threshold` before it
    /// is demoted.
    pub cold_ticks: u64,
}

impl Settings {
    /// Defaults: the model's threshold; demotion below 1/16 for 50 ticks
    /// (half a second at 100 Hz).
    pub const DEFAULT: Settings = Settings { threshold: None, cold_threshold: 1 << 12, cold_ticks: 50 };
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::DEFAULT
    }
}

/// What the model thinks of one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Heat {
    /// Predicted access probability (× 65536).
    level: u16,
    /// Since when it has been below the cold threshold.
    cold_since: Option<Tick>,
    /// Held cold already (until it heats up past the commit threshold).
    demoted: bool,
}

/// What the policy did (the kernel adds it to the process's counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaeCounters {
    /// Model steps run.
    pub steps: u64,
    /// Partitions demoted.
    pub demotions: u64,
}

/// The model-driven policy for one process (the model is shared; the
/// recurrent state, the encoder's memory and the heats are the process's own).
pub struct Pae {
    model: Arc<IntegerModel>,
    state: State,
    encoder: Encoder,
    /// Lowest probability acted on (× 65536).
    threshold: u16,
    settings: Settings,
    /// Whether `on_fault` steps the model (else the PAE task does).
    inline: bool,
    heats: BTreeMap<PartitionId, Heat>,
    counters: PaeCounters,
}

impl Pae {
    /// Threshold used when the model file names none: one half.
    pub const DEFAULT_THRESHOLD: u16 = 1 << 15;

    /// A policy over `model` that steps it at every fault, at the model's own threshold.
    pub fn new(model: Arc<IntegerModel>) -> Pae {
        Pae::with_settings(model, Settings::DEFAULT, true)
    }

    /// A policy over `model` acting on probabilities ≥ `threshold` / 65536,
    /// stepping it at every fault.
    pub fn with_threshold(model: Arc<IntegerModel>, threshold: u16) -> Pae {
        Pae::with_settings(model, Settings { threshold: Some(threshold), ..Settings::DEFAULT }, true)
    }

    /// A policy over `model` whose steps come from [`Pae::observe`] (the
    /// kernel's PAE task), not from `on_fault`.
    pub fn deferred(model: Arc<IntegerModel>, settings: Settings) -> Pae {
        Pae::with_settings(model, settings, false)
    }

    fn with_settings(model: Arc<IntegerModel>, settings: Settings, inline: bool) -> Pae {
        let threshold = settings.threshold.or(model.threshold()).unwrap_or(Self::DEFAULT_THRESHOLD);
        let state = model.new_state();
        Pae { model, state, encoder: Encoder::new(), threshold, settings, inline, heats: BTreeMap::new(), counters: PaeCounters::default() }
    }

    /// What it has done so far.
    pub fn counters(&self) -> PaeCounters {
        self.counters
    }

    /// One model step on `event` (of a partition whose pages include
    /// `range`) at time `now`: the pages of `range` to commit ahead, and the
    /// partitions to hold cold (their `ranges` from `view`).
    pub fn observe(&mut self, event: &Event, range: PageRange, now: Tick, view: &dyn View) -> Plan {
        match self.infer(event) {
            Some(scores) => self.plan_for(event, &scores, range, now, view),
            None => Plan::none(),
        }
    }

    /// The inference alone: encodes `event` and steps the model (its
    /// recurrent state moves on); each page offset's probability × 65536,
    /// or `None` if the model refused the step.
    pub fn infer(&mut self, event: &Event) -> Option<[u16; features::CLASSES]> {
        let active = self.encoder.active(event);
        let scores = self.model.step(&mut self.state, &active).ok()?;
        self.counters.steps += 1;
        Some(scores)
    }

    /// What to do after the step [`Pae::infer`] took on `event` gave
    /// `scores`: the pages of `range` to commit ahead, and the partitions to
    /// hold cold.
    pub fn plan_for(&mut self, event: &Event, scores: &[u16; features::CLASSES], range: PageRange, now: Tick, view: &dyn View) -> Plan {
        let mut plan = Plan::none();
        // Most probable first: once prefetched pages are evicted unused, the
        // engine takes only the first `prefetch_depth` pages of a plan.
        let mut wanted: Vec<(u16, u64)> = features::scored_decisions(event, scores, self.threshold)
            .filter(|&(_, page)| range.contains(page) && !view.is_committed(page))
            .collect();
        wanted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, page) in wanted {
            plan.add(PageRange::new(page, page + 1));
        }
        self.update_heats(PartitionId(event.partition), scores.iter().copied().max().unwrap_or(0), now, view, &mut plan);
        plan
    }

    /// The accessed-bit sampler saw pages of `partition` in use: it is at
    /// least as warm as the commit threshold (the model hears of faults
    /// only, and a partition in use whose pages are all in makes none).
    pub fn saw_accessed(&mut self, partition: PartitionId) {
        let threshold = self.threshold;
        let heat = self.heats.entry(partition).or_default();
        heat.level = heat.level.max(threshold);
        heat.cold_since = None;
        heat.demoted = false;
    }

    /// Heats the stepped partition, cools the others, and adds the
    /// partitions that stayed cold long enough to `plan.cold`.
    fn update_heats(&mut self, stepped: PartitionId, level: u16, now: Tick, view: &dyn View, plan: &mut Plan) {
        let Settings { cold_threshold, cold_ticks, .. } = self.settings;
        let threshold = self.threshold;
        let heat = self.heats.entry(stepped).or_default();
        heat.level = level;
        if level >= threshold {
            heat.demoted = false;
        }
        for (&partition, heat) in self.heats.iter_mut() {
            if partition != stepped {
                heat.level -= heat.level / 16;
            }
            if heat.level >= cold_threshold {
                heat.cold_since = None;
                continue;
            }
            let since = *heat.cold_since.get_or_insert(now);
            if !heat.demoted && now.saturating_sub(since) >= cold_ticks {
                if view.recently_used(partition) {
                    // The model hears of faults only: a partition whose pages
                    // are all in and in use makes none, yet is not cold.
                    heat.cold_since = Some(now);
                    continue;
                }
                heat.demoted = true;
                self.counters.demotions += 1;
                for range in view.ranges_of(partition) {
                    plan.hold_cold(range);
                }
            }
        }
    }
}

/// The model's step for a history event of a process, the partition's kind
/// given by `kind_of`: faults that gave the process a page (committed,
/// already committed, swapped back in) are steps; nothing else is. The
/// same rule turns recorded histories into training data
/// (`pae-train::history`, whose tests check it against this function).
pub fn step_of(event: &HistoryEvent, kind_of: impl Fn(PartitionId) -> Option<PartitionKind>) -> Option<Event> {
    let HistoryEvent::Fault { address, partition, access, outcome, .. } = *event else { return None };
    if !matches!(outcome, FaultOutcome::Committed | FaultOutcome::AlreadyCommitted | FaultOutcome::SwappedIn | FaultOutcome::Mapped | FaultOutcome::Replicated | FaultOutcome::Invalidated) || partition == PartitionId(0) {
        return None;
    }
    let kind = kind_of(partition)?;
    Some(Event { partition: partition.0, page: address / crate::vass::PAGE_SIZE, access: access_kind(access), kind: kind.code(), source: Source::Fault })
}

fn access_kind(access: Access) -> AccessKind {
    match access {
        Access::Read => AccessKind::Read,
        Access::Write => AccessKind::Write,
        Access::Execute => AccessKind::Execute,
    }
}

impl Policy for Pae {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Pae
    }

    fn on_fault(&mut self, fault: &Fault, view: &dyn View) -> Plan {
        if !self.inline {
            return Plan::none();
        }
        let event = Event { partition: fault.partition.0, page: fault.page, access: access_kind(fault.access), kind: fault.kind.code(), source: Source::Fault };
        self.observe(&event, fault.range, fault.time, view)
    }

    fn on_destroy(&mut self, partition: PartitionId) {
        self.heats.remove(&partition);
    }
}
