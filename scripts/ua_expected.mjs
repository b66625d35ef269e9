// Called by scripts/ua_expected.sh; see there.
// Usage: node ua_expected.mjs NODE_MODULES_DIR UAP_CORE_TESTS_DIR OUT.tsv.gz EXPECTED_UA_PARSER_JS_VERSION
import { readFileSync } from "node:fs";
import path from "node:path";

import { loadParsers, writeExpected } from "./ua_expected_tsv.mjs";

const [nodeModules, testsDir, outPath, wantVersion] = process.argv.slice(2);
if (!wantVersion) {
  console.error("usage: node ua_expected.mjs NODE_MODULES_DIR UAP_CORE_TESTS_DIR OUT.tsv.gz VERSION");
  process.exit(2);
}
const { yaml, UAParser } = loadParsers(nodeModules, wantVersion);

// Distinct user agents in first-seen order: test_ua, then test_os, then test_device.
const seen = new Set();
const uas = [];
for (const file of ["test_ua.yaml", "test_os.yaml", "test_device.yaml"]) {
  const doc = yaml.load(readFileSync(path.join(testsDir, file), "utf8"));
  let n = 0;
  for (const tc of doc.test_cases) {
    const ua = tc.user_agent_string;
    if (typeof ua !== "string") {
      console.error(`${file}: user_agent_string is not a string: ${JSON.stringify(ua)}`);
      process.exit(1);
    }
    n++;
    if (!seen.has(ua)) {
      seen.add(ua);
      uas.push(ua);
    }
  }
  console.log(`${file}: ${n} cases`);
}

const out = writeExpected(UAParser, uas, outPath);
out.write();
console.log(`distinct user agents: ${uas.length}`);
console.log(`rows: ${out.rows} (+1 header), distinct hashes: ${out.keys.size}`);
console.log(`wrote ${outPath}: ${out.gz.length} bytes (${out.tsvBytes} bytes uncompressed)`);
