//! The checked-in default model is exactly what `cargo xtask train` makes
//! from the shared traces (the same check as `cargo xtask train --check`).

use pae_train::network::Config;
use pae_train::pipeline::{self, Options};
use std::path::PathBuf;

#[test]
fn training_reproduces_the_default_model_bit_for_bit() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let traces = trace::file::trace_files(&root.join("../shared/traces")).expect("the shared traces");
    let options = Options::new(traces, Vec::new(), Config::default());
    let outcome = pipeline::run(&options, &mut |line| println!("{line}")).expect("training");
    let shipped = std::fs::read(root.join("pae-model/models/default.onnx")).expect("the default model");
    assert!(
        outcome.bytes == shipped,
        "retraining gave sha256 {}, the checked-in file has {}",
        pipeline::sha256_hex(&outcome.bytes),
        pipeline::sha256_hex(&shipped)
    );
}
