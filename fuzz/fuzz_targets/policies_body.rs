//! `PUT /policies/{policyId}`: the raw body through the route's JSON extractor and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("policyId").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "fuzz".into());
    let _ = smartauth::fuzzing::policy_body(&id, data);
});
