//! Host-only training of the Predictive Allocation Engine's GRU: data from
//! lackey traces and kernel histories, seeded training with candle, int8
//! quantization and export of the ONNX graph `pae-model` documents
//! (`pae-model/README.md`, "The exported graph"), checked with `tract-onnx`
//! and with the engine's own float path.
//!
//! Everything is deterministic: weights start from a seeded PRNG
//! ([`rng::Rng`]), data order comes from seeded shuffles, and training uses
//! only candle operations whose reductions run in a fixed order on one
//! thread, so one command writes the same bytes every time.

#![forbid(unsafe_code)]

pub mod closed_loop;
pub mod data;
pub mod export;
pub mod history;
pub mod network;
pub mod pipeline;
pub mod quantize;
pub mod rng;
pub mod validate;

use std::fmt;

/// Why data could not be read, a model not trained, or an export not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A file or directory could not be read or written.
    Io(String),
    /// A lackey trace is malformed or cannot be replayed.
    Trace(String),
    /// A history CSV file is malformed: which file, which line (from 1), what.
    History {
        /// The file.
        file: String,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The data are unusable (no steps to train on, say).
    Data(String),
    /// A candle operation failed during training.
    Training(String),
    /// The exported model could not be built, loaded or run.
    Export(String),
    /// The exported model disagrees with a reference beyond its tolerance.
    Validation(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(what) => write!(f, "{what}"),
            Error::Trace(what) => write!(f, "trace: {what}"),
            Error::History { file, line, what } => write!(f, "{file}:{line}: {what}"),
            Error::Data(what) => write!(f, "data: {what}"),
            Error::Training(what) => write!(f, "training: {what}"),
            Error::Export(what) => write!(f, "export: {what}"),
            Error::Validation(what) => write!(f, "validation: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Error {
        Error::Training(error.to_string())
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests;
