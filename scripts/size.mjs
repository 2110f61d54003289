// Size report of what every merchant page downloads (docs/tracker.md, "Two modules"): raw, gzip
// and brotli bytes of each file in dist/ (the loader with the click module inlined: the
// critical path, all that runs before the cookie; the full module's glue and the full module,
// when the page needs them) and everything; the same for the variant that fetches the click module
// (target/size/tracking-fetched.js + click.wasm, measured, not shipped). Then where each wasm's
// bytes go: its sections, its code by crate and module, and its largest functions (from the
// build's copies with function names in target/size/: the same optimised code, names kept).
// Fails when the critical path or everything (brotli) grows over its gate.
import { existsSync, readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

// The targets of the two-module design (printed) and the gates CI holds today's build to (a
// change that adds bytes shows here first; docs/tracker.md gives the figures).
const TARGET_CRITICAL_BR = 6 * 1024;
const TARGET_TOTAL_BR = 28 * 1024;
const GATE_CRITICAL_BR = 7050;
const GATE_TOTAL_BR = 41100;
const SIZE = `${process.env.CARGO_TARGET_DIR || "target"}/size`;
const TOP = Number(process.env.SIZE_TOP || 20);

const loader = readFileSync("dist/tracking.js", "latin1");
// the full module of a Trackdesk page: the build id that ends dist/clicktrail_bg.wasm
const ID = readFileSync("dist/clicktrail_bg.wasm").subarray(-8).toString("latin1");
const FILES = {
  loader: "dist/tracking.js",
  glue: `dist/clicktrail_full.${ID}.js`,
  full: `dist/clicktrail_bg.${ID}.wasm`,
  fetched: `${SIZE}/tracking-fetched.js`,
  click: `${SIZE}/click.wasm`,
};
const sizes = (file) => {
  const data = readFileSync(file);
  return {
    file,
    raw: data.length,
    gzip: gzipSync(data, { level: 9 }).length,
    brotli: brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};
const f = Object.fromEntries(Object.entries(FILES).map(([k, file]) => [k, sizes(file)]));
const sum = (file, ...parts) => ({
  file,
  ...Object.fromEntries(["raw", "gzip", "brotli"].map((k) => [k, parts.reduce((t, p) => t + p[k], 0)])),
});
const critical = sum("critical path: loader + click module", f.loader);
const after = sum("full module when needed: glue + wasm", f.glue, f.full);
const total = sum("everything, with the full module", critical, after);
const fetched = sum("fetched variant: critical path", f.fetched, f.click);
const fetchedTotal = sum("fetched variant: everything", fetched, after);

const pad = (value, width) => String(value).padStart(width);
console.log("a Trackdesk page (full module of mode t):");
console.log(`${"file".padEnd(40)}${pad("raw", 9)}${pad("gzip", 9)}${pad("brotli", 9)}`);
for (const r of [f.loader, f.glue, f.full, critical, after, total, f.fetched, f.click, fetched, fetchedTotal]) {
  console.log(`${r.file.replace(`${SIZE}/`, "target/size/").padEnd(40)}${pad(r.raw, 9)}${pad(r.gzip, 9)}${pad(r.brotli, 9)}`);
}

/**
 * The sections of a wasm module and the body size of each function defined in it, with its
 * name where the name section has one: `{sections: [{id, name, size}], functions: [{name, size}]}`.
 */
export function wasmFunctions(buf) {
  let i = 8;
  const leb = () => {
    let r = 0;
    let s = 0;
    let b;
    do {
      b = buf[i++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  const skipLimits = () => {
    const flags = leb();
    leb();
    if (flags & 1) leb();
  };
  const SECTION = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start",
    "element", "code", "data", "datacount", "tag"];
  const sections = [];
  const sizes = [];
  const names = new Map();
  let imported = 0;
  while (i < buf.length) {
    const id = buf[i++];
    const len = leb();
    const end = i + len;
    let name = SECTION[id] || `section ${id}`;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        for (const _ of [0, 1]) {
          const l = leb();
          i += l;
        }
        const kind = buf[i++];
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          i++;
          skipLimits();
        } else if (kind === 2) skipLimits();
        else if (kind === 3) i += 2;
        else if (kind === 4) {
          i++;
          leb();
        }
      }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) {
        const l = leb();
        sizes.push(l);
        i += l;
      }
    } else if (id === 0) {
      const nl = leb();
      name = `custom "${buf.toString("utf8", i, i + nl)}"`;
      const isNames = buf.toString("utf8", i, i + nl) === "name";
      i += nl;
      while (isNames && i < end) {
        const sub = buf[i++];
        const subEnd = leb() + i;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const index = leb();
            const l = leb();
            names.set(index, buf.toString("utf8", i, i + l));
            i += l;
          }
        }
        i = subEnd;
      }
    }
    sections.push({ id, name, size: len });
    i = end;
  }
  return { sections, functions: sizes.map((size, k) => ({ name: names.get(imported + k) || `#${imported + k}`, size })) };
}

/** `clicktrail::tracker::dispatch::run::h1234` -> `clicktrail::tracker::dispatch`; `core[…]::fmt` -> `core::fmt`. */
function modulePath(name) {
  const clean = name.replace(/\[[0-9a-f]+\]/g, "").replace(/::h[0-9a-f]{16}$/, "");
  if (clean.startsWith("<")) return clean.match(/^<([A-Za-z_][\w:]*)/)?.[1].split("::").slice(0, 2).join("::") || "(impls)";
  const parts = clean.split("::").filter((p) => !p.startsWith("{{"));
  return parts.slice(0, parts[0] === "clicktrail" ? Math.max(2, parts.length - 1) : 2).slice(0, 3).join("::") || clean;
}

/** Legacy Rust symbols (`_ZN4core3ptr...E`, left mangled by wasm-opt when no wasm-bindgen
 * ran) as `core::ptr::...`; other names as they are. */
function demangle(name) {
  const m = /^_ZN(.*)E$/.exec(name);
  if (!m) return name;
  const parts = [];
  let rest = m[1];
  while (rest) {
    const n = /^(\d+)/.exec(rest);
    if (!n) break;
    parts.push(rest.slice(n[1].length, n[1].length + Number(n[1])));
    rest = rest.slice(n[1].length + Number(n[1]));
  }
  return parts.join("::").replace(/\$LT\$/g, "<").replace(/\$GT\$/g, ">").replace(/\$u20\$/g, " ").replace(/\.\./g, "::");
}

/** Sections, code by module and the largest functions of one wasm module. */
function report(label, file, named) {
  const shipped = wasmFunctions(readFileSync(file));
  const code = shipped.sections.find((s) => s.id === 10)?.size ?? 0;
  console.log(`\n== ${label}: ${file}`);
  console.log(`wasm sections (raw bytes): ${shipped.sections.map((s) => `${s.name} ${s.size}`).join(", ")}`);
  console.log(`${shipped.functions.length} functions, code ${code} B`);
  if (!existsSync(named)) {
    console.log(`(${named} missing: run the build for the per-function report)`);
    return;
  }
  const functions = wasmFunctions(readFileSync(named)).functions.map((f) => ({ ...f, name: demangle(f.name) }));
  const byModule = new Map();
  for (const f of functions) {
    const m = modulePath(f.name);
    const e = byModule.get(m) || { size: 0, count: 0 };
    e.size += f.size;
    e.count++;
    byModule.set(m, e);
  }
  console.log(`code by module (raw bytes of function bodies, ${named}):`);
  for (const [m, e] of [...byModule].sort((a, b) => b[1].size - a[1].size).slice(0, TOP)) {
    console.log(`${pad(e.size, 8)} ${pad(e.count, 4)} fn  ${m}`);
  }
  console.log(`largest functions (raw bytes; SIZE_TOP=n for more):`);
  for (const f of [...functions].sort((a, b) => b.size - a.size).slice(0, TOP)) {
    console.log(`${pad(f.size, 8)}  ${f.name.replace(/\[[0-9a-f]+\]/g, "").replace(/::h[0-9a-f]{16}$/, "").slice(0, 100)}`);
  }
}

// the full module of each page mode (scripts/build.sh): T Trackdesk (Tito), A + Affitor,
// P + PartnerStack, X both; the loader names their ids in that order
const ids = [...new Set([...loader.matchAll(/"([0-9a-f]{8})"/g)].map((m) => m[1]))];
console.log(`\nfull module per page mode (brotli; everything = critical path + glue + module):`);
for (const id of ids) {
  const full = sizes(`dist/clicktrail_bg.${id}.wasm`);
  const glue = sizes(`dist/clicktrail_full.${id}.js`);
  console.log(`${id}${id === ID ? " (Trackdesk)" : ""}: module ${full.brotli} B, glue ${glue.brotli} B, ` +
    `everything ${critical.brotli + full.brotli + glue.brotli} B`);
}

report("click module", FILES.click, `${SIZE}/click_named.wasm`);
report("full module (Trackdesk pages)", FILES.full, `${SIZE}/clicktrail_named.t.wasm`);

console.log(`\nbrotli: critical path ${critical.brotli} B (target ${TARGET_CRITICAL_BR}, gate ${GATE_CRITICAL_BR}); ` +
  `full module when needed ${after.brotli} B; everything ${total.brotli} B (target ${TARGET_TOTAL_BR}, gate ${GATE_TOTAL_BR}); ` +
  `fetched variant: critical path ${fetched.brotli} B, everything ${fetchedTotal.brotli} B`);
let over = false;
for (const [what, bytes, gate] of [["critical path", critical.brotli, GATE_CRITICAL_BR], ["everything", total.brotli, GATE_TOTAL_BR]]) {
  if (bytes > gate) {
    console.error(`size: ${what} ${bytes} B brotli is over its ${gate} B gate`);
    over = true;
  }
}
if (over) process.exit(1);
