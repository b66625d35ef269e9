//! The user-agent parser (uap-core regexes and the naming rules) on any string. The cached answer must
//! be the uncached one. Needs `data/intel/regexes.yaml` (scripts/fetch-data.sh).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smartauth_context::ua::UserAgentParser;

static PARSER: OnceLock<UserAgentParser> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let parser = PARSER.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/intel/regexes.yaml");
        UserAgentParser::load(std::path::Path::new(path)).expect("data/intel/regexes.yaml: run scripts/fetch-data.sh")
    });
    let Ok(ua) = std::str::from_utf8(data) else { return };
    let uncached = parser.parse_uncached(ua);
    assert_eq!(*parser.parse(ua), uncached);
});
