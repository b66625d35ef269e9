// What scripts/ua_expected.mjs and scripts/ua_corpus2.mjs share: ua-parser-js (and js-yaml) loaded from
// NODE_MODULES_DIR at the pinned version, and the expected-results file both write (one row per user
// agent: the first 16 hex digits of its SHA-256, then ua-parser-js's answers; deterministic gzip).
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { gzipSync } from "node:zlib";

export const sha = (s) => createHash("sha256").update(s, "utf8").digest("hex");

/** `{yaml, UAParser}` from nodeModules; exits 1 unless ua-parser-js is wantVersion. */
export function loadParsers(nodeModules, wantVersion) {
  const require = createRequire(path.join(path.resolve(nodeModules), "_"));
  const gotVersion = require("ua-parser-js/package.json").version;
  if (gotVersion !== wantVersion) {
    console.error(`ua-parser-js is ${gotVersion}, wanted ${wantVersion}`);
    process.exit(1);
  }
  return { yaml: require("js-yaml"), UAParser: require("ua-parser-js") };
}

const clean = (v) => (v === undefined || v === null ? "" : String(v).replace(/[\t\r\n]/g, " "));
const HEADER = [
  "ua_sha256_16", "browser_name", "browser_version", "browser_major", "engine_name", "engine_version",
  "os_name", "os_version", "device_vendor", "device_model", "device_type", "cpu_architecture",
];

/**
 * ua-parser-js's answers for `uas` as the gzipped TSV at outPath (each result also goes to `seen`, if
 * given); exits 1 if the gzip is not deterministic. Returns the rows' keys, the gzip and the TSV's size.
 */
export function writeExpected(UAParser, uas, outPath, seen = () => {}) {
  const lines = [HEADER.join("\t")];
  for (const ua of uas) {
    const r = new UAParser(ua).getResult();
    seen(r);
    lines.push([
      sha(ua).slice(0, 16),
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
  const keys = new Set(lines.slice(1).map((l) => l.slice(0, 16)));
  return { rows: lines.length - 1, keys, gz, tsvBytes: Buffer.byteLength(tsv), write: () => writeFileSync(outPath, gz) };
}
