//! The Predictive Allocation Engine as a commit policy: at every fault the
//! model reads the event (`pae_model::features`: the delta to the previous
//! fault of the same partition, the access, the partition's kind), and its
//! integer-only GRU (`pae_model::integer`) gives, for each of 48 pages
//! around the faulting one, the probability that it is touched soon. The
//! pages whose probability reaches the threshold, inside the faulting
//! range and not yet committed, are committed ahead.

use super::{Fault, Plan, Policy, View};
use crate::vass::{Access, PageRange};
use alloc::sync::Arc;
use pae_model::features::{self, AccessKind, Encoder, Event, Source};
use pae_model::integer::{IntegerModel, State};

/// Where the boot ramdisk holds the model (the repository's
/// `pae-model/models/default.onnx`).
pub const MODEL_PATH: &str = "pae/model.onnx";

/// The model-driven policy for one process (the model is shared; the
/// recurrent state and the encoder's memory are the process's own).
pub struct Pae {
    model: Arc<IntegerModel>,
    state: State,
    encoder: Encoder,
    /// Lowest probability acted on (× 65536).
    threshold: u16,
}

impl Pae {
    /// Threshold used when the model file names none: one half.
    pub const DEFAULT_THRESHOLD: u16 = 1 << 15;

    /// A fresh policy over `model`, at the model's own threshold.
    pub fn new(model: Arc<IntegerModel>) -> Pae {
        let threshold = model.threshold().unwrap_or(Self::DEFAULT_THRESHOLD);
        Pae::with_threshold(model, threshold)
    }

    /// A fresh policy over `model` acting on probabilities ≥ `threshold` / 65536.
    pub fn with_threshold(model: Arc<IntegerModel>, threshold: u16) -> Pae {
        let state = model.new_state();
        Pae { model, state, encoder: Encoder::new(), threshold }
    }
}

impl Policy for Pae {
    fn name(&self) -> &'static str {
        "pae"
    }

    fn on_fault(&mut self, fault: &Fault, view: &dyn View) -> Plan {
        let access = match fault.access {
            Access::Read => AccessKind::Read,
            Access::Write => AccessKind::Write,
            Access::Execute => AccessKind::Execute,
        };
        let event = Event { partition: fault.partition, page: fault.page, access, kind: fault.kind.code(), source: Source::Fault };
        let active = self.encoder.active(&event);
        let Ok(scores) = self.model.step(&mut self.state, &active) else { return Plan::none() };
        let mut plan = Plan::none();
        // `decisions` lists pages in increasing order, so adjacent ones merge.
        for page in features::decisions(&event, &scores, self.threshold) {
            if fault.range.contains(page) && !view.is_committed(page) {
                plan.add(PageRange::new(page, page + 1));
            }
        }
        plan
    }
}
