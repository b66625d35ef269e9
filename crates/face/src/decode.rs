//! Image decoding with bounds: only JPEG and PNG, a bounded pixel count and allocation, and EXIF
//! orientation applied so that a phone's portrait selfie is upright.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::Refusal;

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 6000;
/// Largest accepted pixel count (24 megapixels, a large phone photo).
pub const MAX_PIXELS: u64 = 24_000_000;
/// Largest decoded buffer: 24 megapixels of 8-bit RGB.
pub const MAX_DECODED_BYTES: u64 = MAX_PIXELS * 3;
/// Smallest accepted width or height: below this no face can be measured.
pub const MIN_SIDE: u32 = 64;

pub fn decode(bytes: &[u8]) -> Result<RgbImage, Refusal> {
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        _ => return Err(Refusal::BadImage("the image is neither JPEG nor PNG".into())),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Refusal::BadImage(format!("the image has {w}x{h} pixels; at most {MAX_PIXELS} are accepted")));
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(Refusal::BadImage(format!(
            "the image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed"
        )));
    }
    // The decoders check dimensions, not the buffer (16-bit or alpha channels multiply it): bound it here,
    // before anything is allocated.
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(Refusal::BadImage(format!(
            "the image would take {} MB decoded; at most {} MB are accepted (use 8-bit RGB)",
            decoder.total_bytes() >> 20,
            MAX_DECODED_BYTES >> 20
        )));
    }
    let orientation = decoder.orientation().map_err(bad)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(bad)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

fn bad(e: image::ImageError) -> Refusal {
    match e {
        image::ImageError::Limits(_) => Refusal::BadImage(format!("the image is too large: {e}")),
        other => Refusal::BadImage(format!("the image cannot be decoded: {other}")),
    }
}
