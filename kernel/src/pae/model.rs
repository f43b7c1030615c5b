//! The PAE's model slot. One model serves every process under the `pae`
//! policy: the boot ramdisk's [`MODEL_PATH`] (the repository's default
//! model, or `cargo xtask run --model FILE`), loaded and checked at boot
//! ([`load_from_ramdisk`]), or a file `init` hands over at run time with
//! `pae_model_set` (`abi::Syscall::PaeModelSet`); [`install`] checks either
//! and puts it in service. A file that is missing, malformed or not the
//! model the engine runs (wrong input width, an unsupported operator, over
//! the size limit, ...) is refused with a log line naming the problem; the
//! running model, if any, stays, and without one `policy=pae` gives
//! `readahead`. Each process under `pae` gets its own predictor over the
//! model in service when it chooses the policy ([`policy`]).
//!
//! A file is checked by `pae_model::integer::IntegerModel::load`: the size
//! limit, then decoding and validation, then the exported graph's pattern
//! (47 inputs, 48 classes) and its metadata (the threshold; features,
//! classes and hidden width agreeing with the graph).

use super::predictor::{Pae, Settings, MODEL_PATH};
use crate::ramdisk::Ramdisk;
use crate::sync::IrqMutex;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use pae_model::integer::IntegerModel;

/// The model in service.
static MODEL: IrqMutex<Option<Arc<IntegerModel>>> = IrqMutex::new(None);
/// Settings new `pae` policies get.
static SETTINGS: IrqMutex<Settings> = IrqMutex::new(Settings::DEFAULT);

/// Sets the settings of policies made from now on.
pub(super) fn set_settings(settings: Settings) {
    *SETTINGS.lock() = settings;
}

/// Loads the ramdisk's model at boot (logging what happened).
pub fn load_from_ramdisk(ramdisk: &Ramdisk<'_>) {
    match ramdisk.file(MODEL_PATH) {
        None => log::warn!("pae: no model at {MODEL_PATH} in the ramdisk; the pae policy falls back to readahead"),
        Some(bytes) => {
            if let Err(problem) = install(bytes, MODEL_PATH) {
                log::warn!("pae: {problem}; the pae policy falls back to readahead");
            }
        }
    }
}

/// Checks the model file `bytes` (from `source`) and, if the engine can run
/// it, puts it in service for processes that choose `pae` from now on
/// (running ones keep theirs). A refused file changes nothing; the error
/// names the problem.
pub fn install(bytes: &[u8], source: &str) -> Result<(), String> {
    let model = IntegerModel::load(bytes).map_err(|error| format!("model {source} refused: {error}"))?;
    let threshold = model.threshold().unwrap_or(Pae::DEFAULT_THRESHOLD);
    log::info!(
        "pae: model {source} in service: {} bytes, hidden {}, threshold {}/65536, self-check {:#018x}",
        bytes.len(),
        model.hidden_size(),
        threshold,
        model.self_check()
    );
    *MODEL.lock() = Some(Arc::new(model));
    Ok(())
}

/// A fresh `pae` policy over the model in service (fed by the task), or
/// `None` without a model.
pub fn policy() -> Option<Pae> {
    let model = MODEL.lock().clone()?;
    let settings = *SETTINGS.lock();
    Some(Pae::deferred(model, settings))
}

mod ktests {
    use super::*;
    use crate::arch::cpu;
    use crate::ktest::ktest;
    use crate::time;
    use crate::{ensure, ensure_eq};

    /// The PAE's model from the ramdisk runs on bare metal: its self-check
    /// hash (which the `pae` integration test compares with the host's)
    /// and the cost of a step (TSC cycles; instructions under `-icount`).
    #[ktest]
    fn the_default_model_runs_on_bare_metal() {
        use pae_model::features::{AccessKind, Encoder, Event, Source};
        let bytes = crate::process::ramdisk().and_then(|ramdisk| ramdisk.file(MODEL_PATH));
        ensure!(bytes.is_some(), "no {} in the ramdisk", MODEL_PATH);
        let model = pae_model::integer::IntegerModel::load(bytes.unwrap_or_default());
        ensure!(model.is_ok(), "the model does not load: {:?}", model.err());
        let Ok(model) = model else { return Ok(()) };
        log::info!("pae-self-check {:#018x}", model.self_check());
        const STEPS: u64 = 1000;
        let (mut state, mut encoder) = (model.new_state(), Encoder::new());
        let events: alloc::vec::Vec<[usize; pae_model::features::ACTIVE]> = (0..STEPS)
            .map(|step| {
                let page = 0x1000 + step * 3 % 64 + step / 4;
                encoder.active(&Event { partition: 1 + step % 3, page, access: AccessKind::Write, kind: 3, source: Source::Fault })
            })
            .collect();
        let started = cpu::rdtsc();
        for active in &events {
            ensure!(model.step(&mut state, active).is_ok());
        }
        let cycles = cpu::rdtsc().wrapping_sub(started);
        log::info!("pae-step-cost steps={STEPS} cycles={cycles} tsc_hz={} hidden={}", time::tsc_hz(), model.hidden_size());
    }

    /// The boot model is in service; files that are not a model the engine
    /// runs are refused with the problem named, and the model in service
    /// stays; a good file replaces it.
    #[ktest]
    fn a_refused_model_leaves_the_one_in_service() {
        let before = MODEL.lock().clone();
        ensure!(before.is_some(), "no model in service after boot");
        let Some(before) = before else { return Ok(()) };
        let good = crate::process::ramdisk().and_then(|ramdisk| ramdisk.file(MODEL_PATH)).unwrap_or_default();
        let truncated = &good[..good.len() / 2];
        let mut damaged = good.to_vec();
        // A byte in the middle of the graph (the weights' encoding survives
        // some flips, so the result is checked only for being no panic).
        let middle = damaged.len() / 3;
        damaged[middle] ^= 0xff;
        for (bytes, what) in [(&b""[..], "empty"), (&b"not an onnx file"[..], "text"), (truncated, "truncated")] {
            let refused = install(bytes, "test-model");
            ensure!(refused.is_err(), "{what}: accepted");
            let message = refused.err().unwrap_or_default();
            ensure!(message.starts_with("model test-model refused: "), "{what}: {message}");
            let now = MODEL.lock().clone();
            ensure!(now.is_some_and(|now| Arc::ptr_eq(&now, &before)), "{what}: the model in service changed");
        }
        let _ = install(&damaged, "damaged");
        ensure_eq!(install(good, "again"), Ok(()));
        let now = MODEL.lock().clone();
        ensure!(now.is_some_and(|now| !Arc::ptr_eq(&now, &before) && now.self_check() == before.self_check()));
        ensure!(policy().is_some(), "a model in service gives a pae policy");
    }
}
