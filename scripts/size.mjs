// Size report of what every merchant page downloads: raw, gzip and brotli bytes of
// dist/tracking.js and dist/clicktrail_bg.wasm. Fails when the gzip total is over budget.
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const BUDGET_GZIP = 40 * 1024; // CI gate (issue 2); the target is 20 KiB.
const files = ["dist/tracking.js", "dist/clicktrail_bg.wasm"];

const rows = files.map((file) => {
  const data = readFileSync(file);
  return {
    file,
    raw: data.length,
    gzip: gzipSync(data, { level: 9 }).length,
    brotli: brotliCompressSync(data, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
    }).length,
  };
});
const total = { file: "total", raw: 0, gzip: 0, brotli: 0 };
for (const row of rows) for (const k of ["raw", "gzip", "brotli"]) total[k] += row[k];
rows.push(total);

const pad = (value, width) => String(value).padStart(width);
console.log(`${"file".padEnd(26)}${pad("raw", 9)}${pad("gzip", 9)}${pad("brotli", 9)}`);
for (const r of rows) console.log(`${r.file.padEnd(26)}${pad(r.raw, 9)}${pad(r.gzip, 9)}${pad(r.brotli, 9)}`);
if (total.gzip > BUDGET_GZIP) {
  console.error(`size: gzip total ${total.gzip} B is over the ${BUDGET_GZIP} B budget`);
  process.exit(1);
}
console.log(`size: gzip total ${total.gzip} B within the ${BUDGET_GZIP} B budget`);
