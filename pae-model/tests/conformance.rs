//! ONNX's own operator conformance cases (`../shared/onnx-node-tests`):
//! every case of an operator the engine claims must pass.

use pae_model::conformance::{self, Outcome};
use std::path::PathBuf;

#[test]
fn every_shared_node_test_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/onnx-node-tests");
    let cases = conformance::cases(&root).expect("the shared ONNX node tests");
    assert!(cases.len() >= 60, "found {} cases under {}", cases.len(), root.display());
    let (mut passed, mut failed) = (0, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = conformance::run_case(case);
        println!("{name:48} {outcome}");
        match outcome {
            Outcome::Passed { .. } => passed += 1,
            // Every shared case is of an operator the engine claims.
            Outcome::Skipped(_) | Outcome::Failed(_) => failed.push(name),
        }
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "failed: {failed:?}");
}
