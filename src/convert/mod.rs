//! ANN-to-SNN conversion of trained dense layers.
pub mod ann;
pub mod onnx;
pub mod tensors;
