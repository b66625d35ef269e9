//! The face pipeline's image decoder on any bytes: it refuses or returns an upright RGB image within
//! its bounds, and never allocates past them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartauth_face::decode::{decode, MAX_PIXELS, MAX_SIDE, MIN_SIDE};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode(data) {
        let (w, h) = image.dimensions();
        assert!((MIN_SIDE..=MAX_SIDE).contains(&w) && (MIN_SIDE..=MAX_SIDE).contains(&h), "{w}x{h}");
        assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
        assert_eq!(image.as_raw().len() as u64, u64::from(w) * u64::from(h) * 3);
    }
});
