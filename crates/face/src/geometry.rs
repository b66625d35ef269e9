//! Geometry on images: the similarity transform that maps a face's five landmarks onto the
//! embedding model's template, bilinear warping, and square crops around a box.

use image::RgbImage;

/// ArcFace's 112×112 template: left eye, right eye, nose tip, left and right mouth corners.
pub const TEMPLATE_112: [[f32; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`: rotation, uniform scale and translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares similarity taking `from` onto `to` (Umeyama's method in 2-D).
    pub fn estimate(from: &[[f32; 2]], to: &[[f32; 2]]) -> Similarity {
        let n = from.len().min(to.len()) as f32;
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + q[0], y + q[1]));
            [sx / n, sy / n]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut sxx, mut sxy, mut var) = (0.0f32, 0.0f32, 0.0f32);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy) = (f[0] - mf[0], f[1] - mf[1]);
            let (tx, ty) = (t[0] - mt[0], t[1] - mt[1]);
            sxx += fx * tx + fy * ty;
            sxy += fx * ty - fy * tx;
            var += fx * fx + fy * fy;
        }
        if var <= f32::EPSILON {
            return Similarity { a: 1.0, b: 0.0, tx: mt[0] - mf[0], ty: mt[1] - mf[1] };
        }
        let (a, b) = (sxx / var, sxy / var);
        Similarity { a, b, tx: mt[0] - (a * mf[0] - b * mf[1]), ty: mt[1] - (b * mf[0] + a * mf[1]) }
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// The rotation, in degrees.
    pub fn angle_degrees(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }
}

/// Samples `image` at a fractional position (bilinear); outside the image is black.
fn sample(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let px = |xi: i64, yi: i64| -> [f32; 3] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            return [0.0; 3];
        }
        let p = image.get_pixel(xi as u32, yi as u32).0;
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };
    let (xi, yi) = (x0 as i64, y0 as i64);
    let (p00, p10, p01, p11) = (px(xi, yi), px(xi + 1, yi), px(xi, yi + 1), px(xi + 1, yi + 1));
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] * (1.0 - fx) + p10[c] * fx;
        let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
        out[c] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// The `size`×`size` image whose pixel (u, v) is the source at `to_source(u, v)`, as RGB floats 0–255
/// in row-major HWC order.
pub fn warp(image: &RgbImage, to_source: &Similarity, width: u32, height: u32) -> Vec<[f32; 3]> {
    let mut out = Vec::with_capacity((width * height) as usize);
    for v in 0..height {
        for u in 0..width {
            let [x, y] = to_source.apply([u as f32, v as f32]);
            out.push(sample(image, x, y));
        }
    }
    out
}

/// A face aligned on the template: five landmarks in image coordinates → a 112×112 RGB crop.
pub fn align_112(image: &RgbImage, landmarks: &[[f32; 2]; 5]) -> (Vec<[f32; 3]>, Similarity) {
    let to_template = Similarity::estimate(landmarks, &TEMPLATE_112);
    (warp(image, &to_template.inverse(), 112, 112), to_template)
}

/// A square crop centred on a box, `scale` times its larger side, resized to `size`×`size`.
pub fn square_crop(image: &RgbImage, bbox: [f32; 4], scale: f32, size: u32) -> Vec<[f32; 3]> {
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) * scale;
    let step = side / size as f32;
    let to_source = Similarity { a: step, b: 0.0, tx: cx - side / 2.0, ty: cy - side / 2.0 };
    warp(image, &to_source, size, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimated_similarity_maps_the_points_it_was_given() {
        let truth = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -4.0 };
        let from: Vec<[f32; 2]> = TEMPLATE_112.iter().map(|p| [p[0] * 3.0 + 100.0, p[1] * 3.0 + 50.0]).collect();
        let to: Vec<[f32; 2]> = from.iter().map(|p| truth.apply(*p)).collect();
        let found = Similarity::estimate(&from, &to);
        for (f, t) in from.iter().zip(&to) {
            let p = found.apply(*f);
            assert!((p[0] - t[0]).abs() < 1e-2 && (p[1] - t[1]).abs() < 1e-2, "{p:?} vs {t:?}");
        }
        let back = found.inverse().apply(found.apply([10.0, 20.0]));
        assert!((back[0] - 10.0).abs() < 1e-3 && (back[1] - 20.0).abs() < 1e-3);
    }
}
