//! What is kept of a face image: its pixels, not where, when or with what it was taken. A phone's camera
//! writes its GPS position, make, model and serial, and the time into every photo; a selfie kept for an
//! analyst's review, or an enrolled face, must not carry them (`/media` serves the kept images back).

use image::metadata::Orientation;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::{Bytes, ImageEXIF};

/// The PNG chunks kept: the image and what changes how its pixels look. Text, time, EXIF and every other
/// chunk go.
const PNG_KEPT: [&[u8; 4]; 10] =
    [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT"];

/// `bytes` (a JPEG or PNG) without its metadata, the pixel data untouched (nothing is re-encoded). A JPEG
/// loses its EXIF, XMP, IPTC and comments, every application segment but JFIF, the colour profile and
/// Adobe's colour transform, and whatever follows its end (the extra images a phone appends, each with its
/// own EXIF); a PNG every chunk but those of [`PNG_KEPT`]. The orientation alone is kept, as a minimal
/// EXIF, so that a portrait selfie still shows upright. `None` when the container cannot be read.
pub fn without_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    let bytes = Bytes::copy_from_slice(bytes);
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut jpeg = Jpeg::from_bytes(bytes).ok()?;
        let orientation = jpeg.exif().and_then(|e| Orientation::from_exif_chunk(&e));
        jpeg.segments_mut().retain(kept_segment);
        jpeg.set_exif(orientation.and_then(minimal_exif));
        // Where the first scan's data starts: after the start marker, and the segments up to its header.
        let scan = jpeg.segments().iter().position(JpegSegment::has_entropy);
        let data_at = scan.map(|n| 2 + jpeg.segments()[..=n].iter().map(JpegSegment::len).sum::<usize>());
        let mut out = jpeg.encoder().bytes().to_vec();
        if let Some(at) = data_at {
            out.truncate(at + end_of_image(&out[at..]));
        }
        Some(out)
    } else {
        let mut png = Png::from_bytes(bytes).ok()?;
        let orientation = png.exif().and_then(|e| Orientation::from_exif_chunk(&e));
        png.chunks_mut().retain(|c| PNG_KEPT.contains(&&c.kind()));
        png.set_exif(orientation.and_then(minimal_exif));
        Some(png.encoder().bytes().to_vec())
    }
}

fn kept_segment(s: &JpegSegment) -> bool {
    match s.marker() {
        markers::APP0 | markers::APP14 => true,
        markers::APP2 => s.contents().starts_with(b"ICC_PROFILE\0"),
        markers::APP1..=markers::APP15 | markers::COM => false,
        _ => true,
    }
}

/// How far `data`, a scan's data, runs through the end-of-image marker (all of it when it has none): the
/// parser hands over everything after the first scan's header as its data, so also what follows the image.
fn end_of_image(data: &[u8]) -> usize {
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] != 0xFF {
            i += 1;
            continue;
        }
        match data[i + 1] {
            // A stuffed 0xFF, a restart marker, or fill bytes: still the scan.
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            0xD9 => return i + 2,
            // A segment between the scans of a progressive image (tables, the next scan's header).
            _ => match data.get(i + 2..i + 4) {
                Some(len) => i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]])),
                None => break,
            },
        }
    }
    data.len()
}

/// An EXIF block (TIFF, big-endian) holding the orientation only; none for an upright image.
fn minimal_exif(orientation: Orientation) -> Option<Bytes> {
    let value = orientation.to_exif();
    if value == 1 {
        return None;
    }
    let mut exif = Vec::with_capacity(26);
    exif.extend_from_slice(b"MM\x00\x2A\x00\x00\x00\x08"); // header, the first directory at 8
    exif.extend_from_slice(&[0x00, 0x01]); // one entry
    exif.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, value, 0x00, 0x00]); // Orientation, SHORT, 1
    exif.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // no next directory
    Some(Bytes::from(exif))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use image::{ImageFormat, RgbImage};
    use img_parts::png::PngChunk;

    fn encoded(format: ImageFormat) -> Vec<u8> {
        let image = RgbImage::from_fn(96, 64, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A phone's EXIF: orientation 6 (turned 90°) and a GPS tag, here the marker "GPS-SECRET" in an ASCII
    /// value the way a camera writes a maker note.
    fn phone_exif() -> Bytes {
        let mut e = b"MM\x00\x2A\x00\x00\x00\x08\x00\x02".to_vec();
        e.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00]);
        e.extend_from_slice(&[0x88, 0x25, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x00, 0x00, 0x26]);
        e.extend_from_slice(&[0, 0, 0, 0]);
        e.extend_from_slice(b"GPS-SECRET\0");
        Bytes::from(e)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_phone_jpeg_keeps_its_pixels_and_orientation_and_loses_the_rest() {
        let mut jpeg = Jpeg::from_bytes(encoded(ImageFormat::Jpeg).into()).unwrap();
        jpeg.set_exif(Some(phone_exif()));
        let xmp = Bytes::from_static(b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>XMP-SECRET</x:xmpmeta>");
        jpeg.segments_mut().insert(1, JpegSegment::new_with_contents(markers::APP1, xmp));
        jpeg.segments_mut().insert(1, JpegSegment::new_with_contents(markers::COM, Bytes::from_static(b"COM-SECRET")));
        let mut photo = jpeg.encoder().bytes().to_vec();
        // A second image appended after the end, as phones do (its own EXIF with the same position).
        photo.extend_from_slice(b"\xFF\xD8\xFF\xE1\x00\x10Exif\0\0TAIL-SECRET\xFF\xD9");

        let clean = without_metadata(&photo).unwrap();
        for secret in [&b"GPS-SECRET"[..], b"XMP-SECRET", b"COM-SECRET", b"TAIL-SECRET"] {
            assert!(contains(&photo, secret) && !contains(&clean, secret), "{}", String::from_utf8_lossy(secret));
        }
        assert!(clean.ends_with(&[0xFF, 0xD9]));
        let (before, after) = (decode(&photo).unwrap(), decode(&clean).unwrap());
        assert_eq!(after.dimensions(), (64, 96), "still turned upright by its orientation");
        assert_eq!(before, after, "the same pixels");
        // Cleaning again changes nothing; an upright image gets no EXIF at all.
        assert_eq!(without_metadata(&clean).unwrap(), clean);
        let upright = encoded(ImageFormat::Jpeg);
        assert_eq!(without_metadata(&upright).unwrap(), upright);
    }

    #[test]
    fn a_png_keeps_its_pixels_and_loses_its_text_and_exif() {
        let mut png = Png::from_bytes(encoded(ImageFormat::Png).into()).unwrap();
        png.set_exif(Some(phone_exif()));
        let text = PngChunk::new(*b"tEXt", Bytes::from_static(b"Comment\0TEXT-SECRET"));
        png.chunks_mut().insert(1, text);
        let photo = png.encoder().bytes().to_vec();
        let clean = without_metadata(&photo).unwrap();
        for secret in [&b"GPS-SECRET"[..], b"TEXT-SECRET"] {
            assert!(contains(&photo, secret) && !contains(&clean, secret), "{}", String::from_utf8_lossy(secret));
        }
        assert_eq!(decode(&photo).unwrap(), decode(&clean).unwrap());
    }

    #[test]
    fn what_is_not_an_image_container_is_refused() {
        assert_eq!(without_metadata(b"GIF89a"), None);
        assert_eq!(without_metadata(&[0xFF, 0xD8, 0xFF]), None);
    }
}
