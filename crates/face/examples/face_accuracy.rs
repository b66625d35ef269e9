//! Accuracy of face matching and liveness on the test images that ship in packages
//! (`scripts/fetch-data.sh --test-fixtures`): genuine and impostor similarity distributions, the
//! false-match and false-non-match rates at the threshold, and liveness scores on genuine captures
//! and on presentation-attack stand-ins made from them. Prints one report.
//!
//! `cargo run --release -p smartauth-face --example face_accuracy [THRESHOLD] [LIVENESS_THRESHOLD]`

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use smartauth_face::geometry::{warp, Similarity};
use smartauth_face::{similarity, Analysis, FaceEngine};

/// A realistic change of one capture: another genuine sample of the same face.
type Transform = Box<dyn Fn(&RgbImage) -> RgbImage>;

struct Capture {
    /// Who it is: captures with the same person are genuine pairs; `None` when unknown.
    person: Option<String>,
    /// Which photo it comes from: faces of one group photo are different people.
    photo: String,
    label: String,
    image: RgbImage,
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn load(path: &Path) -> RgbImage {
    smartauth_face::decode::decode(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The face cut out of a photo with a margin, as a capture of its own.
fn cut(image: &RgbImage, bbox: [f32; 4], margin: f32) -> RgbImage {
    let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let x0 = (bbox[0] - w * margin).max(0.0) as u32;
    let y0 = (bbox[1] - h * margin).max(0.0) as u32;
    let x1 = ((bbox[2] + w * margin) as u32).min(image.width());
    let y1 = ((bbox[3] + h * margin) as u32).min(image.height());
    image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
}

fn rotate(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (s, c) = degrees.to_radians().sin_cos();
    // Output pixel → source pixel: rotation about the centre.
    let t = Similarity { a: c, b: s, tx: w / 2.0 - c * w / 2.0 - s * h / 2.0, ty: h / 2.0 + s * w / 2.0 - c * h / 2.0 };
    let pixels = warp(image, &t, image.width(), image.height());
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = pixels[(y * image.width() + x) as usize];
        Rgb([p[0] as u8, p[1] as u8, p[2] as u8])
    })
}

fn jpeg(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(image).unwrap();
    image::load_from_memory(&bytes).unwrap().into_rgb8()
}

fn brightness(image: &RgbImage, factor: f32) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y).0;
        Rgb(p.map(|v| (v as f32 * factor).clamp(0.0, 255.0) as u8))
    })
}

fn scale(image: &RgbImage, factor: f32) -> RgbImage {
    let (w, h) = ((image.width() as f32 * factor) as u32, (image.height() as f32 * factor) as u32);
    image::imageops::resize(image, w, h, FilterType::Triangle)
}

/// A re-capture of a screen: the photo upsampled onto an RGB sub-pixel grid (which makes moiré when
/// the camera samples it again), a little defocus, a lifted black level, then down again.
fn screen_recapture(image: &RgbImage) -> RgbImage {
    let big = scale(image, 3.0);
    let screen = RgbImage::from_fn(big.width(), big.height(), |x, y| {
        let p = big.get_pixel(x, y).0;
        let sub = (x % 3) as usize;
        let line = if y % 3 == 2 { 0.55 } else { 1.0 };
        let mut out = [0u8; 3];
        for c in 0..3 {
            let lit = if c == sub { 1.0 } else { 0.35 };
            out[c] = (20.0 + p[c] as f32 * 0.85 * lit * line).min(255.0) as u8;
        }
        Rgb(out)
    });
    let tilted = rotate(&screen, 2.0);
    let blurred = image::imageops::blur(&tilted, 1.2);
    image::imageops::resize(&blurred, image.width(), image.height(), FilterType::Triangle)
}

/// A print: less contrast and saturation, a warm paper tint, paper grain and halftone dots.
fn printed_paper(image: &RgbImage) -> RgbImage {
    let mut seed = 0x1234_5678u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 1000) as f32 / 1000.0 - 0.5
    };
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y).0.map(f32::from);
        let grey = (p[0] + p[1] + p[2]) / 3.0;
        let dot = if (x / 2 + y / 2) % 2 == 0 { 6.0 } else { -6.0 };
        let grain = noise() * 18.0;
        let tint = [1.0, 0.97, 0.88];
        Rgb([0, 1, 2].map(|c| {
            let desaturated = grey + (p[c] - grey) * 0.6;
            (40.0 + desaturated * 0.7 * tint[c] + dot + grain).clamp(0.0, 255.0) as u8
        }))
    })
}

/// The photo held up inside a visible frame (a phone's bezel or a picture frame) against a wall.
fn framed(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width(), image.height());
    let inner = scale(image, 0.6);
    let (ox, oy) = ((w - inner.width()) / 2, (h - inner.height()) / 2);
    let border = (w / 30).max(4);
    RgbImage::from_fn(w, h, |x, y| {
        let inside = x >= ox && y >= oy && x < ox + inner.width() && y < oy + inner.height();
        let in_frame =
            x + border >= ox && y + border >= oy && x < ox + inner.width() + border && y < oy + inner.height() + border;
        if inside {
            *inner.get_pixel(x - ox, y - oy)
        } else if in_frame {
            Rgb([18, 18, 20])
        } else {
            Rgb([190, 186, 175])
        }
    })
}

fn main() {
    let args: Vec<f32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let threshold = args.first().copied().unwrap_or(0.45);
    let live_threshold = args.get(1).copied().unwrap_or(0.5);
    let engine = FaceEngine::load(&root().join("data/models")).expect("models: run scripts/fetch-data.sh");
    let faces = root().join("data/test-fixtures/faces");

    // Single-person photos, labelled; then every face cut out of the group photos.
    let mut captures = Vec::new();
    for (file, person) in [
        ("fr_obama.jpg", "obama"),
        ("fr_obama2.jpg", "obama"),
        ("fr_obama3.jpg", "obama"),
        ("fr_biden.jpg", "biden"),
        ("if_Tom_Hanks_54745.png", "hanks"),
    ] {
        captures.push(Capture {
            person: Some(person.into()),
            photo: file.into(),
            label: file.into(),
            image: load(&faces.join(file)),
        });
    }
    let mut group_faces = 0;
    for file in [
        "if_t1.jpg",
        "fa_sample1.jpg",
        "fa_sample2.jpg",
        "fa_sample3.jpg",
        "fa_sample4.jpg",
        "fa_sample5.jpg",
        "fa_sample6.jpg",
    ] {
        let image = load(&faces.join(file));
        let detections = engine_detect(&engine, &image);
        for (i, d) in detections.iter().enumerate() {
            captures.push(Capture {
                person: None,
                photo: file.into(),
                label: format!("{file}#{i}"),
                image: cut(&image, d.bbox, 0.8),
            });
            group_faces += 1;
        }
    }

    if std::env::var_os("FACE_DEBUG").is_some() {
        for c in &captures {
            if let Some(d) = engine.detect(&c.image).expect("models run").first() {
                let (aligned, _) = smartauth_face::geometry::align_112(&c.image, &d.landmarks);
                println!("{}: {:?}", c.label, engine.measure(&c.image, d, &aligned).expect("models run"));
            }
        }
    }
    // Matching is measured on every face found, including those the quality gate would refuse
    // (eyes lowered, head turned): the gate is counted apart.
    let mut analysed: Vec<(&Capture, Analysis)> = Vec::new();
    let mut gated = Vec::new();
    for c in &captures {
        if let Err(refusal) = engine.analyze(&c.image).expect("models run") {
            gated.push(format!("{}: {refusal}", c.label));
        }
        match engine.analyze_with(&c.image, false).expect("models run") {
            Ok(a) => analysed.push((c, a)),
            Err(refusal) => println!("not analysable {}: {refusal}", c.label),
        }
    }
    println!("# Face matching and liveness on packaged test images\n");
    println!(
        "{} captures: 5 single-person photos and {group_faces} faces cut from 7 group photos; {} analysed; \
              the quality gate would refuse {} of them (eyes lowered or closed, head turned):\n",
        captures.len(),
        analysed.len(),
        gated.len()
    );
    for g in &gated {
        println!("- {g}");
    }
    println!();

    // Genuine pairs: the same person in different photos, and one capture against transformed copies.
    let mut genuine: Vec<(String, f32)> = Vec::new();
    let mut impostor: Vec<f32> = Vec::new();
    for (i, (a, fa)) in analysed.iter().enumerate() {
        for (b, fb) in &analysed[i + 1..] {
            let s = similarity(&fa.embedding, &fb.embedding);
            match (&a.person, &b.person) {
                (Some(p), Some(q)) if p == q => genuine.push((format!("{} vs {}", a.label, b.label), s)),
                (Some(_), Some(_)) => impostor.push(s),
                // Different faces of one group photo are different people; a group-photo face and a
                // labelled single-person photo come from different sources and people.
                (None, None) if a.photo == b.photo => impostor.push(s),
                (None, Some(_)) | (Some(_), None) => impostor.push(s),
                // Faces of two different group photos may be the same person: not counted.
                _ => {}
            }
        }
    }
    let transforms: Vec<(&str, Transform)> = vec![
        ("scale 0.5", Box::new(|i| scale(i, 0.5))),
        ("scale 0.75", Box::new(|i| scale(i, 0.75))),
        ("JPEG q30", Box::new(|i| jpeg(i, 30))),
        ("JPEG q60", Box::new(|i| jpeg(i, 60))),
        ("brightness 0.7", Box::new(|i| brightness(i, 0.7))),
        ("brightness 1.3", Box::new(|i| brightness(i, 1.3))),
        ("rotate +8°", Box::new(|i| rotate(i, 8.0))),
        ("rotate -8°", Box::new(|i| rotate(i, -8.0))),
        ("tight crop", Box::new(|i| i.clone())),
    ];
    for (c, a) in analysed.iter().filter(|(c, _)| c.person.is_some() || c.photo.starts_with("fa_")) {
        for (name, t) in &transforms {
            let image = if *name == "tight crop" { cut(&c.image, a.detection.bbox, 0.35) } else { t(&c.image) };
            if let Ok(b) = engine.analyze(&image).expect("models run") {
                genuine.push((format!("{} vs {name}", c.label), similarity(&a.embedding, &b.embedding)));
            }
        }
    }

    let stats = |v: &[f32]| {
        let mut s = v.to_vec();
        s.sort_by(f32::total_cmp);
        let mean = s.iter().sum::<f32>() / s.len().max(1) as f32;
        (s.first().copied().unwrap_or(0.0), mean, s.last().copied().unwrap_or(0.0))
    };
    let g: Vec<f32> = genuine.iter().map(|(_, s)| *s).collect();
    let (gmin, gmean, gmax) = stats(&g);
    let (imin, imean, imax) = stats(&impostor);
    println!("| pairs | count | min | mean | max |\n|---|---|---|---|---|");
    println!(
        "| genuine (same person, other photo or transformed copy) | {} | {gmin:.3} | {gmean:.3} | {gmax:.3} |",
        g.len()
    );
    println!("| impostor (different people) | {} | {imin:.3} | {imean:.3} | {imax:.3} |\n", impostor.len());
    let false_matches = impostor.iter().filter(|s| **s >= threshold).count();
    let false_non_matches = g.iter().filter(|s| **s < threshold).count();
    println!("at threshold {threshold:.2}: false matches {false_matches}/{} (FMR {:.4}), false non-matches {false_non_matches}/{} (FNMR {:.4})",
        impostor.len(), false_matches as f64 / impostor.len().max(1) as f64, g.len(), false_non_matches as f64 / g.len().max(1) as f64);
    println!(
        "with {} impostor pairs and no false match, the FMR is below {:.4} at 95% confidence (rule of three): \
              this set cannot show 1 in 10,000\n",
        impostor.len(),
        3.0 / impostor.len().max(1) as f64
    );
    for (label, s) in genuine.iter().filter(|(_, s)| *s < threshold) {
        println!("  genuine below the threshold: {label}: {s:.3}");
    }
    let margin_impostor = impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    println!("  highest impostor score {margin_impostor:.3}, lowest genuine score {gmin:.3}\n");

    // Liveness: genuine captures, then stand-ins for presentation attacks made from the same captures.
    let genuine_live: Vec<f32> = analysed.iter().map(|(_, a)| a.liveness).collect();
    let mut attacks: Vec<(&str, f32)> = Vec::new();
    for (c, _) in &analysed {
        for (name, attack) in [
            ("screen re-capture", screen_recapture(&c.image)),
            ("printed paper", printed_paper(&c.image)),
            ("photo in a frame", framed(&c.image)),
        ] {
            if let Ok(a) = engine.analyze(&attack).expect("models run") {
                attacks.push((name, a.liveness));
            }
        }
    }
    let bpcer = genuine_live.iter().filter(|s| **s < live_threshold).count();
    println!("| liveness (P(real)) | count | min | mean | max | classified live at {live_threshold:.2} |\n|---|---|---|---|---|---|");
    let (lmin, lmean, lmax) = stats(&genuine_live);
    println!(
        "| genuine captures | {} | {lmin:.3} | {lmean:.3} | {lmax:.3} | {} |",
        genuine_live.len(),
        genuine_live.len() - bpcer
    );
    for kind in ["screen re-capture", "printed paper", "photo in a frame"] {
        let v: Vec<f32> = attacks.iter().filter(|(k, _)| *k == kind).map(|(_, s)| *s).collect();
        let (a, b, c) = stats(&v);
        let accepted = v.iter().filter(|s| **s >= live_threshold).count();
        println!(
            "| stand-in: {kind} | {} | {a:.3} | {b:.3} | {c:.3} | {accepted} (APCER {:.2}) |",
            v.len(),
            accepted as f64 / v.len().max(1) as f64
        );
    }
    println!(
        "\nBPCER at {live_threshold:.2}: {bpcer}/{} = {:.3}",
        genuine_live.len(),
        bpcer as f64 / genuine_live.len().max(1) as f64
    );
}

fn engine_detect(engine: &FaceEngine, image: &RgbImage) -> Vec<smartauth_face::detect::Detection> {
    engine.detect(image).expect("models run")
}
