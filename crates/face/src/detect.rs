//! Face detection with RetinaFace-MobileNet0.25 (five landmarks per face). The image is scaled so
//! that its longer side is `INPUT` pixels and placed in an `INPUT`×`INPUT` square; the model's
//! anchors are decoded as in the reference implementation (steps 8/16/32, two anchor sizes per
//! level, variances 0.1 and 0.2), then overlapping boxes are suppressed.

use std::path::Path;

use image::imageops::FilterType;
use image::RgbImage;

use crate::models::{planar, Model, BGR};
use crate::FaceError;

/// The detector's input side, in pixels.
pub const INPUT: u32 = 640;
/// Boxes below this score are not faces.
pub const MIN_SCORE: f32 = 0.9;
const NMS_IOU: f32 = 0.4;
/// Per channel, in B, G, R order: what the detector was trained to have subtracted.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
const STEPS: [u32; 3] = [8, 16, 32];
const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const VARIANCES: [f32; 2] = [0.1, 0.2];

/// A detected face, in the original image's pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    pub score: f32,
    /// The face's right eye (image left), left eye, nose tip, right and left mouth corners.
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
}

pub struct Detector {
    model: Model,
    /// `[cx, cy, w, h]` of every anchor, in input pixels, in the model's output order.
    anchors: Vec<[f32; 4]>,
}

impl Detector {
    pub fn load(path: &Path) -> Result<Detector, FaceError> {
        let side = INPUT as usize;
        let model = Model::load(path, &[1, 3, side, side])?;
        let mut anchors = Vec::new();
        for (step, sizes) in STEPS.iter().zip(MIN_SIZES) {
            let cells = INPUT.div_ceil(*step);
            for row in 0..cells {
                for col in 0..cells {
                    for size in sizes {
                        let s = *step as f32;
                        anchors.push([(col as f32 + 0.5) * s, (row as f32 + 0.5) * s, size, size]);
                    }
                }
            }
        }
        Ok(Detector { model, anchors })
    }

    /// Faces scoring at least `MIN_SCORE`, best first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        let (w, h) = image.dimensions();
        let scale = INPUT as f32 / w.max(h) as f32;
        let (nw, nh) =
            (((w as f32 * scale).round() as u32).clamp(1, INPUT), ((h as f32 * scale).round() as u32).clamp(1, INPUT));
        let resized = image::imageops::resize(image, nw, nh, FilterType::Triangle);
        // The padding is the mean colour, which the subtraction turns into zeros.
        let side = INPUT as usize;
        let mut pixels = vec![[MEAN_BGR[2], MEAN_BGR[1], MEAN_BGR[0]]; side * side];
        for (x, y, p) in resized.enumerate_pixels() {
            pixels[y as usize * side + x as usize] = [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])];
        }
        let input = planar(&pixels, BGR, |c, v| v - MEAN_BGR[c]);
        let outputs = self.model.run(input)?;
        let [loc, conf, landmarks] = outputs.as_slice() else {
            return Err(FaceError::Model(format!("the detector gave {} outputs, not 3", outputs.len())));
        };
        let n = self.anchors.len();
        if loc.len() != n * 4 || conf.len() != n * 2 || landmarks.len() != n * 10 {
            return Err(FaceError::Model("the detector's outputs do not match its anchors".into()));
        }
        let mut found = Vec::new();
        for (i, a) in self.anchors.iter().enumerate() {
            let score = conf[i * 2 + 1];
            if score < MIN_SCORE {
                continue;
            }
            let l = &loc[i * 4..i * 4 + 4];
            let (cx, cy) = (a[0] + l[0] * VARIANCES[0] * a[2], a[1] + l[1] * VARIANCES[0] * a[3]);
            let (bw, bh) = (a[2] * (l[2] * VARIANCES[1]).exp(), a[3] * (l[3] * VARIANCES[1]).exp());
            let back = |v: f32| v / scale;
            let bbox = [back(cx - bw / 2.0), back(cy - bh / 2.0), back(cx + bw / 2.0), back(cy + bh / 2.0)];
            let m = &landmarks[i * 10..i * 10 + 10];
            let mut points = [[0.0; 2]; 5];
            for (k, p) in points.iter_mut().enumerate() {
                *p = [back(a[0] + m[k * 2] * VARIANCES[0] * a[2]), back(a[1] + m[k * 2 + 1] * VARIANCES[0] * a[3])];
            }
            if bbox.iter().chain(points.iter().flatten()).all(|v| v.is_finite()) {
                found.push(Detection { bbox, score, landmarks: points });
            }
        }
        Ok(non_maximum_suppression(found))
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

fn non_maximum_suppression(mut found: Vec<Detection>) -> Vec<Detection> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in found {
        if kept.iter().all(|k| iou(&k.bbox, &d.bbox) <= NMS_IOU) {
            kept.push(d);
        }
    }
    kept
}
