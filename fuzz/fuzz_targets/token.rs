//! Bearer tokens as `auth::verify_tenant_token` checks them. The input is tried twice: as a token
//! itself (forgeries, malformed segments), and as `header JSON \n claims JSON` (or claims alone)
//! signed with the client's secret, to reach the checks behind the signature (exp, personId, crit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartauth::fuzzing::{signed_token, token};

const HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        let _ = token(raw);
    }
    let (header, claims) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (HEADER, data),
    };
    let _ = token(&signed_token(header, claims));
});
