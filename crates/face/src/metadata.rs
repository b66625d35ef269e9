//! What is kept of a face image: its pixels, not where, when or with what it was taken. A phone's camera
//! writes its GPS position, make, model and serial, and the time into every photo; a selfie kept for an
//! analyst's review, or an enrolled face, must not carry them (`/media` serves the kept images back).

use image::metadata::Orientation;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::{Bytes, ImageEXIF};

/// The PNG chunks kept: the image and the fixed fields that change how its pixels look. Text, time, EXIF,
/// the colour profile (it carries a free-text name) and every other chunk go.
const PNG_KEPT: [&[u8; 4]; 9] = [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT"];

/// At most this many segments before a JPEG's first scan, or chunks in a PNG: a camera's photo has about
/// twenty segments; a PNG may split its pixels into many small chunks (15,000 of 64 bytes seen in a
/// review). Each costs memory when parsed (about 70 bytes), and a 10 MB file made of empty ones would cost
/// a hundred megabytes or more: 100,000 chunks cost at most 7 MB.
const MAX_PARTS: usize = 100_000;
const MAX_JPEG_SEGMENTS: usize = 200;

/// `bytes` (a JPEG or PNG) without its metadata, the pixel data untouched (nothing is re-encoded). A JPEG
/// keeps its frame, tables and scans and the JFIF and Adobe headers (their standard fields only); every other
/// segment goes (EXIF, XMP, IPTC, comments, the colour profile, unknown ones), also between the scans of a
/// progressive image, and so does whatever follows its end (the extra images a phone appends, each with its
/// own EXIF). A PNG keeps only the chunks of [`PNG_KEPT`]. The orientation alone is kept, as a minimal
/// EXIF, so that a portrait selfie still shows upright. `None` when the container cannot be read. What a
/// sender hides inside the compressed pixel data itself is not looked for: that is not metadata a camera
/// writes.
pub fn without_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        if jpeg_segments_before_scan(bytes)? > MAX_JPEG_SEGMENTS {
            return None;
        }
        let mut jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).ok()?;
        let orientation = jpeg.exif().and_then(|e| Orientation::from_exif_chunk(&e));
        jpeg.segments_mut().retain(kept_segment);
        for segment in jpeg.segments_mut().iter_mut() {
            if let Some(header) = standard_header(segment) {
                *segment = header;
            }
        }
        jpeg.set_exif(orientation.and_then(minimal_exif));
        // Where the first scan's data starts: after the start marker, and the segments up to its header.
        let scan = jpeg.segments().iter().position(JpegSegment::has_entropy);
        let data_at = scan.map(|n| 2 + jpeg.segments()[..=n].iter().map(JpegSegment::len).sum::<usize>());
        let mut out = jpeg.encoder().bytes().to_vec();
        if let Some(at) = data_at {
            let tail = scans_without_metadata(&out[at..]);
            out.truncate(at);
            out.extend_from_slice(&tail);
        }
        Some(out)
    } else {
        if png_chunks(bytes)? > MAX_PARTS {
            return None;
        }
        let mut png = Png::from_bytes(Bytes::copy_from_slice(bytes)).ok()?;
        let orientation = png.exif().and_then(|e| Orientation::from_exif_chunk(&e));
        png.chunks_mut().retain(|c| PNG_KEPT.contains(&&c.kind()));
        png.set_exif(orientation.and_then(minimal_exif));
        Some(png.encoder().bytes().to_vec())
    }
}

/// How many segments `img_parts` will make of a JPEG before its first scan, read by its rules: bytes between
/// segments and fill bytes are skipped, a marker without a length (anything but SOF, SOS to EXP, APPn, JPGn
/// and COM) is skipped alone, and the end marker stops. `None` when a length runs past the end.
fn jpeg_segments_before_scan(b: &[u8]) -> Option<usize> {
    let has_length = |m: u8| matches!(m, 0xC0..=0xCF | 0xDA..=0xDF | 0xE0..=0xEF | 0xF0..=0xFE);
    let (mut i, mut n) = (2, 0);
    while i < b.len() && n <= MAX_JPEG_SEGMENTS {
        if b[i] != 0xFF {
            i += 1;
            continue;
        }
        while b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let marker = *b.get(i + 1)?;
        i += 2;
        if marker == 0xD9 {
            break;
        }
        if !has_length(marker) {
            continue;
        }
        n += 1;
        if marker == 0xDA {
            break;
        }
        i += usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    }
    Some(n)
}

/// How many chunks a PNG has, up to its end chunk (`None` when one runs past the end).
fn png_chunks(b: &[u8]) -> Option<usize> {
    let (mut i, mut n) = (8, 0);
    while i + 8 <= b.len() && n <= MAX_PARTS {
        let len = usize::try_from(u32::from_be_bytes(b[i..i + 4].try_into().ok()?)).ok()?;
        n += 1;
        if &b[i + 4..i + 8] == b"IEND" {
            break;
        }
        i = i.checked_add(12)?.checked_add(len)?;
    }
    Some(n)
}

/// The segments that make the image: the frame, tables, restart interval and scans, and the JFIF and Adobe
/// headers. The colour profile goes too: its text fields are free (a phone's P3 photo shows a little duller).
fn kept_segment(s: &JpegSegment) -> bool {
    match s.marker() {
        markers::APP0 => s.contents().starts_with(b"JFIF\0"),
        markers::APP14 => s.contents().starts_with(b"Adobe"),
        // SOF0-15 (but 0xC4, 0xC8, 0xCC), DHT, DAC, DQT, DNL, DRI, SOS.
        0xC0..=0xCF | 0xDA..=0xDD => s.marker() != 0xC8,
        _ => false,
    }
}

/// The JFIF and Adobe headers cut to their standard fields: a JFIF header may carry a thumbnail, and both
/// anything after their fields. The JFIF thumbnail's size is set to none.
fn standard_header(s: &JpegSegment) -> Option<JpegSegment> {
    let (len, contents) = match s.marker() {
        markers::APP0 => (14, s.contents()),
        markers::APP14 => (12, s.contents()),
        _ => return None,
    };
    let mut kept = contents.get(..len.min(contents.len()))?.to_vec();
    if s.marker() == markers::APP0 && kept.len() == 14 {
        (kept[12], kept[13]) = (0, 0);
    }
    Some(JpegSegment::new_with_contents(s.marker(), Bytes::from(kept)))
}

/// A JPEG's bytes from its first scan's data on, as kept: the scans and the tables between them, without
/// metadata segments among them, and ending at the end-of-image marker; a marker that belongs to no image
/// ends it there (the parser hands over everything after the first scan's header, so also what follows the
/// image).
fn scans_without_metadata(data: &[u8]) -> Vec<u8> {
    const END: [u8; 2] = [0xFF, 0xD9];
    let mut out = Vec::with_capacity(data.len());
    let (mut i, mut start) = (0, 0);
    let ended = loop {
        if i + 1 >= data.len() {
            break false;
        }
        if data[i] != 0xFF {
            i += 1;
            continue;
        }
        let length = || data.get(i + 2..i + 4).map(|l| 2 + usize::from(u16::from_be_bytes([l[0], l[1]])));
        match data[i + 1] {
            // A stuffed 0xFF, a restart marker, or fill bytes: still the scan.
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            0xD9 => {
                out.extend_from_slice(&data[start..i + 2]);
                return out;
            }
            // Tables, or the next scan's header: kept.
            0xC4 | 0xCC | 0xDA..=0xDD => match length() {
                Some(n) if i + n <= data.len() => i += n,
                _ => break true,
            },
            // Metadata between the scans: dropped.
            0xE0..=0xEF | 0xFE => match length() {
                Some(n) if i + n <= data.len() => {
                    out.extend_from_slice(&data[start..i]);
                    i += n;
                    start = i;
                }
                _ => break true,
            },
            // Anything else belongs to no image: it ends here.
            _ => break true,
        }
    };
    let upto = if ended { i } else { data.len() };
    out.extend_from_slice(&data[start..upto]);
    out.extend_from_slice(&END);
    out
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

    /// A segment: marker, length, contents.
    fn segment(marker: u8, contents: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((contents.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(contents);
        s
    }

    /// What a reviewer smuggled past the first version: metadata in the JFIF and Adobe headers, in segments
    /// that are not metadata by name, after the scan, and past a marker that has no length.
    #[test]
    fn metadata_hidden_around_the_scans_goes_too() {
        let plain = encoded(ImageFormat::Jpeg);
        let end = plain.len() - 2;
        assert_eq!(&plain[end..], &[0xFF, 0xD9]);
        let mut header = b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
        header.extend_from_slice(b"APP0-SECRET");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("APP0-SECRET", [&plain[..2], &segment(0xE0, &header), &plain[2..]].concat()),
            ("APP14-SECRET", [&plain[..2], &segment(0xEE, b"Adobe\0d\0\0\0\0\x01APP14-SECRET"), &plain[2..]].concat()),
            ("JPG0-SECRET", [&plain[..2], &segment(0xF0, b"JPG0-SECRET"), &plain[2..]].concat()),
            (
                "AFTER-SCAN-SECRET",
                [&plain[..end], &segment(0xE1, b"Exif\0\0AFTER-SCAN-SECRET"), &segment(0xFE, b"x"), &plain[end..]]
                    .concat(),
            ),
            (
                "APPENDED-SECRET",
                [&plain[..end], b"\xFF\x01\xFF\xD9\xFF\xD8", &segment(0xE1, b"APPENDED-SECRET")].concat(),
            ),
            ("RESERVED-SECRET", [&plain[..end], b"\xFF\x02", &plain[end..], b"RESERVED-SECRET"].concat()),
        ];
        for (secret, photo) in cases {
            let clean = without_metadata(&photo).unwrap();
            assert!(contains(&photo, secret.as_bytes()), "{secret}: not in the case");
            assert!(!contains(&clean, secret.as_bytes()), "{secret} is kept");
            assert_eq!(decode(&clean).unwrap(), decode(&plain).unwrap(), "{secret}: other pixels");
        }
    }

    #[test]
    fn a_file_of_empty_segments_is_refused_before_it_is_parsed() {
        let mut photo = vec![0xFF, 0xD8];
        for _ in 0..MAX_JPEG_SEGMENTS + 1 {
            photo.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x02]);
        }
        photo.extend_from_slice(&encoded(ImageFormat::Jpeg)[2..]);
        assert_eq!(without_metadata(&photo), None);
        // Behind markers that have no length (0x02), read by the parser as segments all the same.
        let mut hidden = vec![0xFF, 0xD8, 0xFF, 0x02, 0xFF, 0xFF];
        for _ in 0..MAX_JPEG_SEGMENTS + 1 {
            hidden.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x02]);
        }
        hidden.extend_from_slice(&encoded(ImageFormat::Jpeg)[2..]);
        assert_eq!(without_metadata(&hidden), None);
        // A camera's photo, fill bytes and all, is read.
        let plain = encoded(ImageFormat::Jpeg);
        assert!(without_metadata(&[&[0xFF, 0xD8, 0xFF, 0xFF][..], &plain[2..]].concat()).is_some());
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
