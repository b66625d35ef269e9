//! `POST /identities` and `PATCH /identities/{personId}`: the raw body through the routes' JSON
//! extractor and validation (person id with CPF check, name, email, phone, inline image).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smartauth::fuzzing::identity_body(data);
    let _ = smartauth::fuzzing::identity_changes_body(data);
});
