// Called by scripts/ua_expected.sh; see there.
// Usage: node ua_expected.mjs NODE_MODULES_DIR UAP_CORE_TESTS_DIR OUT.tsv.gz EXPECTED_UA_PARSER_JS_VERSION
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { gzipSync } from "node:zlib";

const [nodeModules, testsDir, outPath, wantVersion] = process.argv.slice(2);
if (!wantVersion) {
  console.error("usage: node ua_expected.mjs NODE_MODULES_DIR UAP_CORE_TESTS_DIR OUT.tsv.gz VERSION");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), "_"));
const yaml = require("js-yaml");
const UAParser = require("ua-parser-js");
const gotVersion = require("ua-parser-js/package.json").version;
if (gotVersion !== wantVersion) {
  console.error(`ua-parser-js is ${gotVersion}, wanted ${wantVersion}`);
  process.exit(1);
}

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

const clean = (v) => (v === undefined || v === null ? "" : String(v).replace(/[\t\r\n]/g, " "));
const header = [
  "ua_sha256_16", "browser_name", "browser_version", "browser_major", "engine_name", "engine_version",
  "os_name", "os_version", "device_vendor", "device_model", "device_type", "cpu_architecture",
];
const lines = [header.join("\t")];
for (const ua of uas) {
  const r = new UAParser(ua).getResult();
  const hash = createHash("sha256").update(ua, "utf8").digest("hex").slice(0, 16);
  lines.push([
    hash,
    r.browser.name, r.browser.version, r.browser.major,
    r.engine.name, r.engine.version,
    r.os.name, r.os.version,
    r.device.vendor, r.device.model, r.device.type,
    r.cpu.architecture,
  ].map(clean).join("\t"));
}
const tsv = lines.join("\n") + "\n";
// zlib's gzip header carries mtime 0 and no file name, so the output depends only on the input
// (and the zlib build of this node).
const gz = gzipSync(Buffer.from(tsv, "utf8"), { level: 9 });
if (!gz.equals(gzipSync(Buffer.from(tsv, "utf8"), { level: 9 })) || gz.readUInt32LE(4) !== 0) {
  console.error("gzip output is not deterministic");
  process.exit(1);
}
writeFileSync(outPath, gz);

const hashes = new Set(lines.slice(1).map((l) => l.slice(0, 16)));
console.log(`distinct user agents: ${uas.length}`);
console.log(`rows: ${lines.length - 1} (+1 header), distinct hashes: ${hashes.size}`);
console.log(`wrote ${outPath}: ${gz.length} bytes (${Buffer.byteLength(tsv)} bytes uncompressed)`);
