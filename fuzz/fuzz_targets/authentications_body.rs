//! `POST /authentications`: the raw body through the route's JSON extractor and validation (person,
//! device context, coordinates, policy id), as a backend token and as an SDK token send it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smartauth::fuzzing::attempt_body(data);
});
