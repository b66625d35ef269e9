// Called by scripts/ua_corpus2.sh; see there.
// Usage: node ua_corpus2.mjs NODE_MODULES_DIR FIXTURES_DIR OUT.tsv.gz EXPECTED_UA_PARSER_JS_VERSION MAX_AGENTS
//
// Reads every *.yml of FIXTURES_DIR (Matomo Device Detector's fixtures: a list of cases, each with
// a `user_agent` string), in file-name order; keeps the distinct user agents in first-seen order,
// less those holding a tab, CR or LF (no HTTP header can); when there are more than MAX_AGENTS,
// keeps the MAX_AGENTS whose SHA-256 (hex) sorts first, still in first-seen order (a deterministic,
// evenly spread sample); and writes ua-parser-js's answers for them in the format of
// ua_expected.mjs (same header, columns, key, cleaning and deterministic gzip).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { loadParsers, sha, writeExpected } from "./ua_expected_tsv.mjs";

const [nodeModules, fixturesDir, outPath, wantVersion, maxArg] = process.argv.slice(2);
if (!maxArg) {
  console.error("usage: node ua_corpus2.mjs NODE_MODULES_DIR FIXTURES_DIR OUT.tsv.gz VERSION MAX_AGENTS");
  process.exit(2);
}
const maxAgents = Number.parseInt(maxArg, 10);
if (!(maxAgents > 0)) {
  console.error(`MAX_AGENTS must be a positive integer, got ${maxArg}`);
  process.exit(2);
}
const { yaml, UAParser } = loadParsers(nodeModules, wantVersion);

// Distinct user agents in first-seen order over the files sorted by name (byte order).
const files = readdirSync(fixturesDir)
  .filter((f) => f.endsWith(".yml"))
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
if (files.length === 0) {
  console.error(`no .yml files in ${fixturesDir}`);
  process.exit(1);
}
const seen = new Set();
const all = [];
let cases = 0;
let dropped = 0;
for (const file of files) {
  const doc = yaml.load(readFileSync(path.join(fixturesDir, file), "utf8"));
  if (!Array.isArray(doc)) {
    console.error(`${file}: not a list of cases`);
    process.exit(1);
  }
  for (const tc of doc) {
    const ua = tc && tc.user_agent;
    if (typeof ua !== "string") {
      console.error(`${file}: user_agent is not a string: ${JSON.stringify(ua)}`);
      process.exit(1);
    }
    cases++;
    if (seen.has(ua)) continue;
    seen.add(ua);
    if (ua === "" || /[\t\r\n]/.test(ua)) {
      dropped++;
      continue;
    }
    all.push(ua);
  }
}
console.log(`${files.length} fixture files, ${cases} cases, ${seen.size} distinct user agents, ${dropped} dropped (empty, or tab/CR/LF inside)`);

let uas = all;
if (all.length > maxAgents) {
  const hashes = all.map(sha);
  const cut = [...hashes].sort()[maxAgents - 1];
  uas = all.filter((_, i) => hashes[i] <= cut);
  console.log(`sample: the ${uas.length} of ${all.length} whose SHA-256 sorts first`);
}

const census = { browser: new Map(), os: new Map(), type: new Map() };
const count = (m, k) => m.set(k || "(none)", (m.get(k || "(none)") || 0) + 1);
const out = writeExpected(UAParser, uas, outPath, (r) => {
  count(census.browser, r.browser.name);
  count(census.os, r.os.name);
  count(census.type, r.device.type);
});
if (out.keys.size !== uas.length) {
  console.error(`hash prefixes collide: ${out.keys.size} keys for ${uas.length} user agents`);
  process.exit(1);
}
out.write();

const top = (m, n) =>
  [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n).map(([k, v]) => `${k} ${v}`).join(", ");
console.log(`ua-parser-js browsers: ${top(census.browser, 25)}`);
console.log(`ua-parser-js OSes: ${top(census.os, 20)}`);
console.log(`ua-parser-js device types: ${top(census.type, 10)}`);
console.log(`rows: ${out.rows} (+1 header), distinct hashes: ${out.keys.size}`);
console.log(`wrote ${outPath}: ${out.gz.length} bytes (${out.tsvBytes} bytes uncompressed)`);
