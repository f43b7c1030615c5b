//! Tests across modules: the export against tract and the engine, candle's
//! forward pass against the exported float graph, and reproducible training.

use crate::data::{Prepared, Stream, windows};
use crate::export::{self, Metadata};
use crate::network::{self, Config, FloatModel};
use crate::pipeline::{self, Options};
use crate::quantize::QuantizedModel;
use crate::rng::Rng;
use crate::validate::{self, EngineModel, Sequence, TractModel};
use pae_model::features::{AccessKind, CLASSES, Event, FEATURES, Source};
use std::time::Instant;
use tract_onnx::pb::tensor_proto::DataType;

/// A process with three interleaved patterns: a sequential scan, a stride
/// of −3 pages, and scattered pages.
fn synthetic_stream(name: &str, steps: usize, seed: u64) -> Stream {
    let mut rng = Rng::new(seed);
    let (mut sequential, mut strided) = (1000u64, 50_000u64);
    let events = (0..steps)
        .map(|_| match rng.below(4) {
            0 | 1 => {
                sequential += 1;
                Event { partition: 1, page: sequential, access: AccessKind::Write, kind: 3, source: Source::Fault }
            }
            2 => {
                strided -= 3;
                Event { partition: 2, page: strided, access: AccessKind::Read, kind: 2, source: Source::Fault }
            }
            _ => Event { partition: 3, page: 90_000 + rng.below(4096) as u64, access: AccessKind::Read, kind: 0, source: Source::Fault },
        })
        .collect();
    Stream { name: name.into(), events }
}

fn random_sequence(steps: usize, hidden: usize, rng: &mut Rng) -> Sequence {
    let inputs = (0..steps)
        .flat_map(|_| {
            let mut x = [0.0f32; FEATURES];
            x[rng.below(34)] = 1.0;
            x[34 + rng.below(3)] = 1.0;
            x[37 + rng.below(8)] = 1.0;
            x[45 + rng.below(2)] = 1.0;
            x
        })
        .collect();
    Sequence { inputs, h0: (0..hidden).map(|_| rng.symmetric(1.0)).collect() }
}

fn metadata() -> Metadata {
    Metadata { threshold: "0.250".into(), seed: 7, data: "tests".into() }
}

#[test]
fn the_export_is_the_contract_graph() {
    let model = FloatModel::initial(4, &[0.2; CLASSES], &mut Rng::new(1));
    let proto = export::qdq_graph(&QuantizedModel::max_abs(&model), &metadata());
    assert_eq!((proto.ir_version, proto.opset_import.len(), proto.opset_import[0].version), (8, 1, 17));
    assert!(proto.opset_import[0].domain.is_empty());
    let graph = proto.graph.as_ref().unwrap();
    let nodes: Vec<(&str, Vec<&str>, Vec<&str>)> = graph
        .node
        .iter()
        .map(|node| (node.op_type.as_str(), node.input.iter().map(String::as_str).collect(), node.output.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        nodes,
        [
            ("DequantizeLinear", vec!["W_q", "W_scale", "W_zero"], vec!["W"]),
            ("DequantizeLinear", vec!["R_q", "R_scale", "R_zero"], vec!["R"]),
            ("GRU", vec!["x", "W", "R", "B", "", "h0"], vec!["Y", "Y_h"]),
            ("DequantizeLinear", vec!["D_q", "D_scale", "D_zero"], vec!["D"]),
            ("MatMul", vec!["Y", "D"], vec!["logits"]),
            ("Add", vec!["logits", "D_bias"], vec!["biased"]),
            ("Sigmoid", vec!["biased"], vec!["probabilities"]),
        ]
    );
    for index in [0, 1, 3] {
        let axis = &graph.node[index].attribute;
        assert_eq!((axis.len(), axis[0].name.as_str(), axis[0].i), (1, "axis", 1));
    }
    let gru: Vec<(&str, i64, &[u8])> = graph.node[2].attribute.iter().map(|a| (a.name.as_str(), a.i, &a.s[..])).collect();
    assert_eq!(gru, [("hidden_size", 4, &b""[..]), ("linear_before_reset", 1, &b""[..]), ("direction", 0, &b"forward"[..])]);
    let initializers: Vec<(&str, Vec<i64>, i32)> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t.dims.clone(), t.data_type)).collect();
    let (float, int8) = (DataType::Float as i32, DataType::Int8 as i32);
    assert_eq!(
        initializers,
        [
            ("W_q", vec![1, 12, 47], int8),
            ("W_scale", vec![12], float),
            ("W_zero", vec![12], int8),
            ("R_q", vec![1, 12, 4], int8),
            ("R_scale", vec![12], float),
            ("R_zero", vec![12], int8),
            ("B", vec![1, 24], float),
            ("D_q", vec![4, 48], int8),
            ("D_scale", vec![48], float),
            ("D_zero", vec![48], int8),
            ("D_bias", vec![48], float),
        ]
    );
    let names = |values: &[tract_onnx::pb::ValueInfoProto]| values.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&graph.input), ["x", "h0"]);
    assert_eq!(names(&graph.output), ["probabilities", "Y_h"]);
    let metadata: Vec<(&str, &str)> = proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    assert_eq!(
        metadata,
        [
            ("pae.features", "47"),
            ("pae.classes", "48"),
            ("pae.window", "16"),
            ("pae.hidden", "4"),
            ("pae.threshold", "0.250"),
            ("pae.seed", "7"),
            ("pae.data", "tests"),
        ]
    );
}

#[test]
fn a_tiny_random_model_runs_alike_in_tract_and_the_engine() {
    let hidden = 4;
    let model = FloatModel::initial(hidden, &[0.2; CLASSES], &mut Rng::new(2));
    let quantized = QuantizedModel::max_abs(&model);
    let bytes = export::encode(&export::qdq_graph(&quantized, &metadata()));
    let tract = TractModel::load(&bytes, hidden).unwrap();
    let engine = EngineModel::load(&bytes, hidden).unwrap();
    let mut rng = Rng::new(3);
    let sequences: Vec<Sequence> = (0..20).map(|i| random_sequence(1 + i * 3, hidden, &mut rng)).collect();
    let comparison = validate::compare(&sequences, &|x, h| engine.run(x, h), &|x, h| tract.run(x, h)).unwrap();
    assert_eq!(comparison.probabilities.count, (0..20).map(|i| 1 + i * 3).sum::<usize>() * CLASSES);
    assert!(comparison.probabilities.max < 1e-4 && comparison.state.max < 1e-4, "{comparison:?}");
    let integer = validate::integer_path_difference(&bytes, &tract, &sequences).unwrap();
    assert!(integer.max < validate::INTEGER_TOLERANCE, "{integer:?}");

    // Y_h is the float state of the dequantized weights' GRU: the plain
    // reference forward pass gives it too.
    let reference = quantized.dequantized();
    for sequence in &sequences {
        let (states, _) = reference.run(&sequence.inputs, &sequence.h0);
        let (_, y_h) = tract.run(&sequence.inputs, &sequence.h0).unwrap();
        let last = &states[states.len() - hidden..];
        assert!(last.iter().zip(&y_h).all(|(a, b)| (a - b).abs() < 1e-5), "{last:?} vs {y_h:?}");
    }
}

#[test]
fn candle_forward_matches_the_exported_float_graph() {
    let hidden = 8;
    let data: Vec<Prepared> = (0..3).map(|i| Prepared::new(&synthetic_stream("s", 150, 10 + i), 20)).collect();
    let mut model = FloatModel::initial(hidden, &network::class_priors(&data), &mut Rng::new(4));
    // Larger biases than the initial ones, so every gate matters.
    for (index, bias) in model.b.iter_mut().enumerate() {
        *bias += 0.3 * ((index % 5) as f32 - 2.0);
    }
    let chosen = windows(&data, 40, 10);
    let logits = network::candle_logits(&model, &data, &chosen).unwrap();
    let tract = TractModel::load(&export::encode(&export::float_graph(&model)), hidden).unwrap();
    let engine = EngineModel::load(&export::encode(&export::float_graph(&model)), hidden).unwrap();
    let size = chosen.len();
    let mut largest = 0.0f32;
    for (column, window) in chosen.iter().enumerate() {
        let inputs = data[window.stream].inputs(window.start..window.start + window.steps);
        let h0 = vec![0.0; hidden];
        let (from_tract, _) = tract.run(&inputs, &h0).unwrap();
        let (from_engine, _) = engine.run(&inputs, &h0).unwrap();
        let (_, reference) = model.run(&inputs, &h0);
        for t in 0..window.steps {
            let row = &logits[(t * size + column) * CLASSES..(t * size + column + 1) * CLASSES];
            for class in 0..CLASSES {
                let candle = 1.0 / (1.0 + (-row[class]).exp());
                largest = largest
                    .max((candle - from_tract[t * CLASSES + class]).abs())
                    .max((candle - from_engine[t * CLASSES + class]).abs())
                    .max((row[class] - reference[t * CLASSES + class]).abs());
            }
        }
    }
    assert!(largest < 1e-5, "candle and the exported float graph differ by {largest}");
}

fn tiny_options() -> Options {
    let config = Config { hidden: 4, epochs: 2, window: 24, burn_in: 6, batch: 4, seed: 11, ..Config::default() };
    Options { comparison_sequences: 20, comparison_steps: 16, ..Options::new(Vec::new(), Vec::new(), config) }
}

#[test]
fn training_is_reproducible_to_the_byte() {
    let streams = || vec![synthetic_stream("a", 160, 1), synthetic_stream("b", 120, 2)];
    let options = tiny_options();
    let first = pipeline::run_streams(streams(), &options, Instant::now(), &mut |_| {}).unwrap();
    let second = pipeline::run_streams(streams(), &options, Instant::now(), &mut |_| {}).unwrap();
    assert_eq!(first.bytes, second.bytes);
    assert_eq!(first.report.epochs.len(), 2);
    assert!(first.report.epochs.iter().all(|epoch| epoch.train_loss.is_finite() && epoch.train_loss > 0.0));
    assert!(first.report.engine_vs_tract.probabilities.max < pipeline::TOLERANCE);
    assert!(first.report.engine_vs_tract.state.max < pipeline::TOLERANCE);
    assert_eq!(first.report.engine_vs_tract.state.sequences, 20);
    assert_eq!(first.report.engine_vs_tract.probabilities.count, 20 * 16 * CLASSES);
    let calibration = first.report.calibration;
    for matrix in [calibration.w, calibration.r, calibration.d] {
        assert!(matrix.chosen <= matrix.max_abs, "calibration never raises the expected error: {calibration:?}");
    }

    let other_seed = Options { config: Config { seed: 12, ..options.config.clone() }, ..options };
    let third = pipeline::run_streams(streams(), &other_seed, Instant::now(), &mut |_| {}).unwrap();
    assert_ne!(first.bytes, third.bytes, "the seed matters");
}
