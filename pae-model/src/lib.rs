//! The Predictive Allocation Engine's model runtime: loads an ONNX file
//! (the subset a quantized recurrent model needs), validates it, and runs
//! it on a float reference path.
//!
//! `no_std` + `alloc` and safe: the same code builds for the kernel
//! (`x86_64-unknown-none`) and for the host, where `tract-onnx` is the
//! reference it must agree with. Nothing a model file says is trusted:
//! sizes are checked before anything is allocated, and every problem is an
//! [`Error`] naming what is wrong.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
// Only the host-side conformance runner reads files; the engine itself
// stays `no_std` even when this feature is on.
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod conformance;
pub mod features;
pub mod integer;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod shape;
pub mod tensor;

pub use model::Model;
pub use tensor::{Data, DataType, Tensor};

use alloc::string::String;
use core::fmt;

/// Why a model could not be loaded or run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a protobuf `ModelProto`.
    Decode(String),
    /// The model is malformed: missing values, bad sizes, bad attributes.
    Invalid(String),
    /// The model uses something the engine does not implement.
    Unsupported(String),
    /// A value has the wrong element type.
    Type(String),
    /// Shapes do not fit together.
    Shape(String),
    /// The inputs given to `run` do not match the graph.
    Input(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Decode(what) => write!(f, "not an ONNX model: {what}"),
            Error::Invalid(what) => write!(f, "invalid model: {what}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Type(what) => write!(f, "type mismatch: {what}"),
            Error::Shape(what) => write!(f, "shape mismatch: {what}"),
            Error::Input(what) => write!(f, "bad input: {what}"),
        }
    }
}
