//! The face pipeline's image decoder on any bytes, and on what is kept of them once their metadata is
//! removed (what the server analyses and stores): it refuses or returns an upright RGB image within its
//! bounds, and never allocates past them. (That the kept image decodes to the same pixels holds for images
//! whose structure the decoder and the container parser read alike; on malformed ones they may differ,
//! which is harmless since the server analyses the very bytes it keeps.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartauth_face::decode::{decode, MAX_PIXELS, MAX_SIDE, MIN_SIDE};
use smartauth_face::metadata::without_metadata;

fn check(data: &[u8]) {
    if let Ok(image) = decode(data) {
        let (w, h) = image.dimensions();
        assert!((MIN_SIDE..=MAX_SIDE).contains(&w) && (MIN_SIDE..=MAX_SIDE).contains(&h), "{w}x{h}");
        assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
        assert_eq!(image.as_raw().len() as u64, u64::from(w) * u64::from(h) * 3);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(kept) = without_metadata(data) {
        check(&kept);
    }
});
