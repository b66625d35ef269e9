//! The face pipeline, with no HTTP in it: decode → detect → quality → align → embed → compare →
//! liveness. The models are ONNX files run by tract (pure Rust), loaded once by [`FaceEngine::load`]:
//!
//! - `retinaface.onnx`: RetinaFace-MobileNet0.25, boxes and five landmarks;
//! - `fr_feature.onnx`: a 512-d embedding of the face aligned on ArcFace's 112×112 template;
//! - `fr_liveness.onnx`: real face or presentation attack, from a wide crop around the face;
//! - `fr_pose.onnx`: yaw, pitch and roll; `fr_eye.onnx`: open or closed eyes.

pub mod decode;
pub mod detect;
pub mod geometry;
pub mod metadata;
pub mod models;

use std::path::Path;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::detect::{Detection, Detector};
use crate::geometry::{align_112, square_crop};
use crate::models::{planar, softmax, Model, BGR};

/// Length of a face template.
pub const EMBEDDING_LEN: usize = 512;

/// Faces smaller than this (the box's shorter side, in pixels of the image) carry too little detail.
pub const MIN_FACE_PX: f32 = 60.0;
/// A second face counts when its box has at least this share of the largest face's area.
pub const SECOND_FACE_SHARE: f32 = 0.2;
/// Mean luma of the face below/above which it is too dark/too bright to compare.
pub const MIN_BRIGHTNESS: f32 = 45.0;
pub const MAX_BRIGHTNESS: f32 = 215.0;
/// Variance of the Laplacian of the aligned face below which it is too blurred.
pub const MIN_SHARPNESS: f32 = 20.0;
/// Head turned further than this (degrees) is an extreme pose.
pub const MAX_YAW: f32 = 40.0;
pub const MAX_PITCH: f32 = 30.0;
/// Both eyes' probability of being open below this means closed eyes.
pub const MIN_EYES_OPEN: f32 = 0.2;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("face model: {0}")]
    Model(String),
}

/// Why an image cannot be used, with the API's refusal reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not a JPEG or PNG, corrupt, or outside the size bounds.
    #[error("{0}")]
    BadImage(String),
    #[error("no face was found in the image")]
    FaceNotFound,
    #[error("{0} faces were found in the image; exactly one is needed")]
    MultipleFaces(usize),
    #[error("the face cannot be used: {1}")]
    PoorQuality(QualityIssue, String),
}

/// What to fix in a selfie of poor quality: a stable code for the API (`refusalDetail`), the metrics and
/// the person's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualityIssue {
    FaceTooSmall,
    FaceCutOff,
    TooDark,
    TooBright,
    Blurred,
    HeadTurned,
    EyesClosed,
    /// The measurements were not numbers (a degenerate image).
    Unmeasurable,
}

impl QualityIssue {
    pub const ALL: [QualityIssue; 8] = [
        QualityIssue::FaceTooSmall,
        QualityIssue::FaceCutOff,
        QualityIssue::TooDark,
        QualityIssue::TooBright,
        QualityIssue::Blurred,
        QualityIssue::HeadTurned,
        QualityIssue::EyesClosed,
        QualityIssue::Unmeasurable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            QualityIssue::FaceTooSmall => "face_too_small",
            QualityIssue::FaceCutOff => "face_cut_off",
            QualityIssue::TooDark => "too_dark",
            QualityIssue::TooBright => "too_bright",
            QualityIssue::Blurred => "blurred",
            QualityIssue::HeadTurned => "head_turned",
            QualityIssue::EyesClosed => "eyes_closed",
            QualityIssue::Unmeasurable => "unmeasurable",
        }
    }
}

impl Refusal {
    /// The `refusalReason` of a face attempt.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::FaceNotFound => "face_not_found",
            Refusal::MultipleFaces(_) => "multiple_faces",
            Refusal::BadImage(_) | Refusal::PoorQuality(..) => "poor_quality",
        }
    }

    /// What to fix, for a face of poor quality (`refusalDetail`).
    pub fn detail(&self) -> Option<QualityIssue> {
        match self {
            Refusal::PoorQuality(issue, _) => Some(*issue),
            _ => None,
        }
    }
}

/// What the quality checks measured on the face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub face_px: f32,
    pub brightness: f32,
    pub sharpness: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// The lower of the two eyes' probability of being open.
    pub eyes_open: f32,
}

/// One usable face: its template, liveness score and measurements.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub detection: Detection,
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// Probability that the capture is of a live person rather than a photo or a screen.
    pub liveness: f32,
    pub quality: Quality,
    pub timings: Timings,
}

/// Milliseconds per stage, for the benchmark.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub decode: f64,
    pub detect: f64,
    pub quality: f64,
    pub embed: f64,
    pub liveness: f64,
}

impl Timings {
    fn of(&mut self, stage: Stage) -> &mut f64 {
        match stage {
            Stage::Decode => &mut self.decode,
            Stage::Detect => &mut self.detect,
            Stage::Quality => &mut self.quality,
            Stage::Embed => &mut self.embed,
            Stage::Liveness => &mut self.liveness,
        }
    }
}

/// The pipeline's stages, in the order they run; an image refused at one stage runs none after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decode,
    Detect,
    Quality,
    Embed,
    Liveness,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Decode, Stage::Detect, Stage::Quality, Stage::Embed, Stage::Liveness];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Detect => "detect",
            Stage::Quality => "quality",
            Stage::Embed => "embed",
            Stage::Liveness => "liveness",
        }
    }
}

pub struct FaceEngine {
    detector: Detector,
    embedder: Model,
    liveness: Model,
    pose: Model,
    eye: Model,
}

/// File names in the models directory, as `scripts/fetch-data.sh` installs them.
pub mod files {
    pub const DETECTOR: &str = "retinaface.onnx";
    pub const EMBEDDING: &str = "fr_feature.onnx";
    pub const LIVENESS: &str = "fr_liveness.onnx";
    pub const POSE: &str = "fr_pose.onnx";
    pub const EYE: &str = "fr_eye.onnx";
}

impl FaceEngine {
    pub fn load(dir: &Path) -> Result<FaceEngine, FaceError> {
        Ok(FaceEngine {
            detector: Detector::load(&dir.join(files::DETECTOR))?,
            embedder: Model::load(&dir.join(files::EMBEDDING), &[1, 3, 112, 112])?,
            liveness: Model::load(&dir.join(files::LIVENESS), &[1, 3, 128, 128])?,
            pose: Model::load(&dir.join(files::POSE), &[1, 3, 224, 224])?,
            eye: Model::load(&dir.join(files::EYE), &[1, 1, 24, 24])?,
        })
    }

    /// Every face the detector finds, best first (group photos, tests).
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        self.detector.detect(image)
    }

    /// Decodes an image and analyses its one face.
    pub fn analyze_bytes(&self, bytes: &[u8]) -> Result<Result<Analysis, Refusal>, FaceError> {
        self.analyze_bytes_timed(bytes, &mut |_, _| {})
    }

    /// As [`FaceEngine::analyze_bytes`], telling `timed` how long each stage took as it ends, also
    /// for an image that is refused half-way (the server's metrics).
    pub fn analyze_bytes_timed(
        &self,
        bytes: &[u8],
        timed: &mut dyn FnMut(Stage, Duration),
    ) -> Result<Result<Analysis, Refusal>, FaceError> {
        let started = Instant::now();
        let decoded = decode::decode(bytes);
        let decode = started.elapsed();
        timed(Stage::Decode, decode);
        let image = match decoded {
            Ok(image) => image,
            Err(refusal) => return Ok(Err(refusal)),
        };
        Ok(self.pipeline(&image, true, timed)?.map(|mut a| {
            a.timings.decode = ms(decode);
            a
        }))
    }

    /// Finds exactly one usable face and computes its template and liveness.
    pub fn analyze(&self, image: &RgbImage) -> Result<Result<Analysis, Refusal>, FaceError> {
        self.analyze_with(image, true)
    }

    /// As [`FaceEngine::analyze`]; with `enforce_quality` false a face of poor quality is still
    /// analysed (the accuracy report measures matching on every face it can find).
    pub fn analyze_with(
        &self,
        image: &RgbImage,
        enforce_quality: bool,
    ) -> Result<Result<Analysis, Refusal>, FaceError> {
        self.pipeline(image, enforce_quality, &mut |_, _| {})
    }

    fn pipeline(
        &self,
        image: &RgbImage,
        enforce_quality: bool,
        timed: &mut dyn FnMut(Stage, Duration),
    ) -> Result<Result<Analysis, Refusal>, FaceError> {
        let mut timings = Timings::default();
        let mut done = |stage: Stage, started: Instant| {
            let took = started.elapsed();
            timed(stage, took);
            *timings.of(stage) = ms(took);
        };
        let started = Instant::now();
        let faces = self.detector.detect(image)?;
        done(Stage::Detect, started);
        let Some(face) = faces.first().cloned() else { return Ok(Err(Refusal::FaceNotFound)) };
        let comparable = faces.iter().filter(|f| f.area() >= face.area() * SECOND_FACE_SHARE).count();
        if comparable > 1 {
            return Ok(Err(Refusal::MultipleFaces(comparable)));
        }

        let started = Instant::now();
        let (aligned, _) = align_112(image, &face.landmarks);
        let quality = self.quality(image, &face, &aligned)?;
        done(Stage::Quality, started);
        if let Some((issue, problem)) = quality_problem(image, &face, &quality).filter(|_| enforce_quality) {
            return Ok(Err(Refusal::PoorQuality(issue, problem)));
        }

        let started = Instant::now();
        let embedding = self.embed(&aligned)?;
        done(Stage::Embed, started);
        let started = Instant::now();
        let liveness = self.liveness_score(image, &face)?;
        done(Stage::Liveness, started);
        Ok(Ok(Analysis { detection: face, embedding, liveness, quality, timings }))
    }

    fn embed(&self, aligned: &[[f32; 3]]) -> Result<Vec<f32>, FaceError> {
        let input = planar(aligned, BGR, |_, v| (v - 127.5) / 128.0);
        let out = self.embedder.run(input)?.into_iter().next().unwrap_or_default();
        if out.len() != EMBEDDING_LEN {
            return Err(FaceError::Model(format!("the embedding has {} values, not {EMBEDDING_LEN}", out.len())));
        }
        Ok(normalize(out))
    }

    /// The liveness model sees the face with its surroundings (a square 2.7 times the face,
    /// shrunk to fit inside the image), where screens' edges, moiré and paper show.
    fn liveness_score(&self, image: &RgbImage, face: &Detection) -> Result<f32, FaceError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let side = face.width().max(face.height()).max(1.0);
        let scale = 2.7f32.min((h - 1.0) / side).min((w - 1.0) / side);
        let span = side * scale;
        let (mut cx, mut cy) = ((face.bbox[0] + face.bbox[2]) / 2.0, (face.bbox[1] + face.bbox[3]) / 2.0);
        cx = cx.clamp(span / 2.0, (w - span / 2.0).max(span / 2.0));
        cy = cy.clamp(span / 2.0, (h - span / 2.0).max(span / 2.0));
        let bbox = [cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0];
        let crop = square_crop(image, bbox, scale, 128);
        let logits = self.liveness.run(planar(&crop, BGR, |_, v| v))?.into_iter().next().unwrap_or_default();
        Ok(softmax(&logits).first().copied().unwrap_or(0.0))
    }

    /// The quality measurements of a detected face (the report uses them to show why a face is refused).
    pub fn measure(&self, image: &RgbImage, face: &Detection, aligned: &[[f32; 3]]) -> Result<Quality, FaceError> {
        self.quality(image, face, aligned)
    }

    fn quality(&self, image: &RgbImage, face: &Detection, aligned: &[[f32; 3]]) -> Result<Quality, FaceError> {
        let luma: Vec<f32> = aligned.iter().map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).collect();
        // Brightness and sharpness on the central face (eyes to mouth), not the background corners.
        let centre = |x: usize, y: usize| (24..88).contains(&x) && (32..104).contains(&y);
        let inner: Vec<f32> =
            luma.iter().enumerate().filter(|(i, _)| centre(i % 112, i / 112)).map(|(_, v)| *v).collect();
        let brightness = inner.iter().sum::<f32>() / inner.len().max(1) as f32;
        let sharpness = laplacian_variance(&luma, 112, 112);

        // Head pose: ImageNet normalisation per channel position, on a crop 1.5 times the face.
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let crop = square_crop(image, face.bbox, 1.5, 224);
        let angles = self.pose.run(planar(&crop, BGR, |c, v| (v / 255.0 - MEAN[c]) / STD[c]))?;
        let angle =
            |bins: &[f32]| softmax(bins).iter().enumerate().map(|(i, p)| p * i as f32 * 3.0).sum::<f32>() - 99.0;
        let (yaw, pitch, roll) = match angles.as_slice() {
            [y, p, r, ..] => (angle(y), angle(p), angle(r)),
            _ => return Err(FaceError::Model("the pose model gave fewer than 3 outputs".into())),
        };

        // Eyes: a grey 24×24 square around each eye of the aligned (upright) face, 0.77 times the
        // distance between the eyes.
        let upright = RgbImage::from_fn(112, 112, |x, y| {
            let p = aligned[(y * 112 + x) as usize];
            image::Rgb([p[0] as u8, p[1] as u8, p[2] as u8])
        });
        let [right_eye, left_eye, ..] = geometry::TEMPLATE_112;
        let half = (left_eye[0] - right_eye[0]) * 0.77 / 2.0;
        let mut eyes_open = 1.0f32;
        for eye in [right_eye, left_eye] {
            let crop = square_crop(&upright, [eye[0] - half, eye[1] - half, eye[0] + half, eye[1] + half], 1.0, 24);
            let grey: Vec<f32> = crop.iter().map(|p| (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) / 255.0).collect();
            let out = self.eye.run(grey)?.into_iter().next().unwrap_or_default();
            let p = if out.iter().all(|v| (0.0..=1.0).contains(v)) && (out.iter().sum::<f32>() - 1.0).abs() < 1e-3 {
                out
            } else {
                softmax(&out)
            };
            eyes_open = eyes_open.min(p.get(1).copied().unwrap_or(1.0));
        }
        Ok(Quality { face_px: face.width().min(face.height()), brightness, sharpness, yaw, pitch, roll, eyes_open })
    }
}

/// The first quality problem that makes the face unusable, with its words for the caller.
fn quality_problem(image: &RgbImage, face: &Detection, q: &Quality) -> Option<(QualityIssue, String)> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let margin = 0.1 * face.width().max(face.height());
    let cut =
        face.bbox[0] < -margin || face.bbox[1] < -margin || face.bbox[2] > w + margin || face.bbox[3] > h + margin;
    let landmarks_outside = face.landmarks.iter().any(|p| p[0] < 0.0 || p[1] < 0.0 || p[0] >= w || p[1] >= h);
    let measured = [q.face_px, q.brightness, q.sharpness, q.yaw, q.pitch, q.eyes_open];
    if measured.iter().any(|v| !v.is_finite()) {
        return Some((QualityIssue::Unmeasurable, "the face could not be measured".into()));
    }
    Some(if q.face_px < MIN_FACE_PX {
        (
            QualityIssue::FaceTooSmall,
            format!("the face is too small ({:.0} px; at least {MIN_FACE_PX:.0} are needed)", q.face_px),
        )
    } else if cut || landmarks_outside {
        (QualityIssue::FaceCutOff, "the face is cut off by the edge of the image (too close or off-centre)".into())
    } else if q.brightness < MIN_BRIGHTNESS {
        (QualityIssue::TooDark, "the face is too dark".into())
    } else if q.brightness > MAX_BRIGHTNESS {
        (QualityIssue::TooBright, "the face is too bright".into())
    } else if q.sharpness < MIN_SHARPNESS {
        (QualityIssue::Blurred, "the face is blurred".into())
    } else if q.yaw.abs() > MAX_YAW || q.pitch.abs() > MAX_PITCH {
        (QualityIssue::HeadTurned, format!("the head is turned too far (yaw {:.0}°, pitch {:.0}°)", q.yaw, q.pitch))
    } else if q.eyes_open < MIN_EYES_OPEN {
        (QualityIssue::EyesClosed, "the eyes are closed".into())
    } else {
        return None;
    })
}

/// Cosine similarity of two templates (both L2-normalised): 1 for the same face, around 0 for strangers.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn laplacian_variance(luma: &[f32], w: usize, h: usize) -> f32 {
    let mut values = Vec::with_capacity(w * h);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = |dx: isize, dy: isize| luma[(y as isize + dy) as usize * w + (x as isize + dx) as usize];
            values.push(at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1) - 4.0 * at(0, 0));
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32
}

fn ms(took: Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

/// Templates as bytes (little-endian f32), for storage.
pub fn template_to_bytes(t: &[f32]) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn template_from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    (b.len() == EMBEDDING_LEN * 4)
        .then(|| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}
