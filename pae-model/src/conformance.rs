//! ONNX backend-test cases: a directory holding `model.onnx` and
//! `test_data_set_*/input_<j>.pb` / `output_<j>.pb` (`TensorProto`s). Runs
//! each data set through the engine and compares with the expected outputs
//! the way ONNX's backend runner does: floats within `atol + rtol × |expected|`
//! (rtol 1e-3, atol 1e-7), integers exactly.

use crate::onnx::TensorProto;
use crate::tensor::{Data, Tensor};
use crate::{Error, Model};
use prost::Message;
use std::fmt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, fs};

/// Relative tolerance for float outputs.
pub const RTOL: f64 = 1e-3;
/// Absolute tolerance for float outputs.
pub const ATOL: f64 = 1e-7;

/// How one case went.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every data set matched.
    Passed {
        /// Data sets run.
        data_sets: usize,
    },
    /// The model uses something the engine does not claim (not a failure
    /// of what it claims).
    Skipped(String),
    /// Loading, running or comparing failed.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed { data_sets } => write!(f, "ok ({data_sets} data sets)"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
        }
    }
}

/// Every case directory under `root` (those holding a `model.onnx`), sorted.
pub fn cases(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if root.join("model.onnx").is_file() {
        return Ok(std::vec![root.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> =
        fs::read_dir(root)?.filter_map(|entry| entry.ok().map(|entry| entry.path())).filter(|path| path.join("model.onnx").is_file()).collect();
    found.sort();
    Ok(found)
}

fn read_tensor(path: &Path) -> Result<Tensor, String> {
    let bytes = fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let proto = TensorProto::decode(bytes.as_slice()).map_err(|error| format!("{}: {error}", path.display()))?;
    Tensor::from_proto(&proto).map_err(|error| format!("{}: {error}", path.display()))
}

/// Tensors `<prefix>_0.pb`, `<prefix>_1.pb`, ... of a data set.
fn read_numbered(directory: &Path, prefix: &str) -> Result<Vec<Tensor>, String> {
    let mut tensors = Vec::new();
    loop {
        let path = directory.join(format!("{prefix}_{}.pb", tensors.len()));
        if !path.is_file() {
            return Ok(tensors);
        }
        tensors.push(read_tensor(&path)?);
    }
}

/// Compares `actual` with `expected` at ONNX's tolerances.
pub fn compare(actual: &Tensor, expected: &Tensor) -> Result<(), String> {
    if actual.shape() != expected.shape() {
        return Err(format!("shape {:?}, expected {:?}", actual.shape(), expected.shape()));
    }
    let mismatch = |index: usize, a: &dyn fmt::Debug, e: &dyn fmt::Debug| Err(format!("element {index} is {a:?}, expected {e:?}"));
    match (actual.data(), expected.data()) {
        (Data::F32(a), Data::F32(e)) => {
            for (index, (&a, &e)) in a.iter().zip(e).enumerate() {
                let (a64, e64) = (f64::from(a), f64::from(e));
                let close = (a64 - e64).abs() <= ATOL + RTOL * e64.abs() || (a.is_nan() && e.is_nan()) || a == e;
                if !close {
                    return mismatch(index, &a, &e);
                }
            }
            Ok(())
        }
        (Data::U8(a), Data::U8(e)) => a.iter().zip(e).position(|(a, e)| a != e).map_or(Ok(()), |i| mismatch(i, &a[i], &e[i])),
        (Data::I8(a), Data::I8(e)) => a.iter().zip(e).position(|(a, e)| a != e).map_or(Ok(()), |i| mismatch(i, &a[i], &e[i])),
        (Data::I32(a), Data::I32(e)) => a.iter().zip(e).position(|(a, e)| a != e).map_or(Ok(()), |i| mismatch(i, &a[i], &e[i])),
        (Data::I64(a), Data::I64(e)) => a.iter().zip(e).position(|(a, e)| a != e).map_or(Ok(()), |i| mismatch(i, &a[i], &e[i])),
        (a, e) => Err(format!("element type {:?}, expected {:?}", a.data_type(), e.data_type())),
    }
}

/// Runs one case directory.
pub fn run_case(directory: &Path) -> Outcome {
    let bytes = match fs::read(directory.join("model.onnx")) {
        Ok(bytes) => bytes,
        Err(error) => return Outcome::Failed(format!("model.onnx: {error}")),
    };
    let model = match Model::load(&bytes) {
        Ok(model) => model,
        Err(Error::Unsupported(what)) => return Outcome::Skipped(what),
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let mut data_sets: Vec<PathBuf> = match fs::read_dir(directory) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_dir() && path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("test_data_set_")))
            .collect(),
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    data_sets.sort();
    if data_sets.is_empty() {
        return Outcome::Failed("no test_data_set_* directory".into());
    }
    for data_set in &data_sets {
        let name = data_set.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let result = (|| -> Result<(), String> {
            let inputs = read_numbered(data_set, "input")?;
            let expected = read_numbered(data_set, "output")?;
            let actual = model.run(&inputs).map_err(|error| error.to_string())?;
            if actual.len() != expected.len() {
                return Err(format!("{} outputs, expected {}", actual.len(), expected.len()));
            }
            for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
                compare(actual, expected).map_err(|error| format!("output {index}: {error}"))?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            return Outcome::Failed(format!("{name}: {error}"));
        }
    }
    Outcome::Passed { data_sets: data_sets.len() }
}
