//! The policy validator (`Policy::parse`) on any JSON document. A policy it accepts must read back
//! the same from its own serialization, as the store does when it loads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartauth_domain::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    // The id in the URL: the body's own when it has one (so that the API's examples go past the check
    // that they agree), else a fixed one.
    let id = body.get("policyId").and_then(|v| v.as_str()).unwrap_or("fuzz").to_owned();
    if let Ok(policy) = Policy::parse(&id, body) {
        let stored = serde_json::to_value(&policy).expect("a policy serializes");
        assert_eq!(Policy::parse(&id, stored), Ok(policy), "an accepted policy does not read back the same");
    }
});
