//! The ONNX models, loaded once and run by tract with fixed input shapes (tract optimizes the
//! whole graph for one shape).

use std::path::Path;

use tract_onnx::prelude::*;

use crate::FaceError;

pub struct Model {
    plan: std::sync::Arc<TypedRunnableModel>,
    shape: Vec<usize>,
}

impl Model {
    pub fn load(path: &Path, shape: &[usize]) -> Result<Model, FaceError> {
        let load = || -> TractResult<std::sync::Arc<TypedRunnableModel>> {
            tract_onnx::onnx()
                .model_for_path(path)?
                .with_input_fact(0, f32::fact(shape).into())?
                .into_optimized()?
                .into_runnable()
        };
        let plan = load().map_err(|e| FaceError::Model(format!("{}: {e:#}", path.display())))?;
        Ok(Model { plan, shape: shape.to_vec() })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Runs the model on one input laid out as `shape`, and returns every output flattened.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, FaceError> {
        let tensor = Tensor::from_shape(&self.shape, &input).map_err(|e| FaceError::Model(format!("{e:#}")))?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(|e| FaceError::Model(format!("{e:#}")))?;
        outputs
            .iter()
            .map(|o| {
                o.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(|e| FaceError::Model(format!("{e:#}")))
            })
            .collect()
    }
}

/// Planar (CHW) input from interleaved RGB pixels: the channels in `order` (0 = R, 1 = G, 2 = B),
/// each value mapped by `f`.
pub fn planar(pixels: &[[f32; 3]], order: [usize; 3], f: impl Fn(usize, f32) -> f32) -> Vec<f32> {
    let n = pixels.len();
    let mut out = vec![0.0; 3 * n];
    for (c, &source) in order.iter().enumerate() {
        let plane = &mut out[c * n..(c + 1) * n];
        for (o, p) in plane.iter_mut().zip(pixels) {
            *o = f(c, p[source]);
        }
    }
    out
}

/// BGR channel order (the models here were trained on OpenCV images).
pub const BGR: [usize; 3] = [2, 1, 0];

pub fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}
