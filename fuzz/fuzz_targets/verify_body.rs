//! `POST /authentications/{attemptId}/methods/{method}/verify`: the raw body through the route's JSON
//! extractor and checks, for each method and for the shortest and a longer code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartauth_domain::Method;

fuzz_target!(|data: &[u8]| {
    for method in Method::ALL {
        for code_length in [6, 8] {
            let _ = smartauth::fuzzing::verify_body(method, code_length, data);
        }
    }
});
