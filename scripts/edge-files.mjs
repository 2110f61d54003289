// The files the edge serves, in two steps of scripts/build.sh:
//
//   node scripts/edge-files.mjs wasm DIST FILE GLUE
//     Stamps FILE (a full module) with its build id (the first 8 hex digits of the SHA-256 of
//     the wasm as wasm-opt made it followed by GLUE, its bundled glue and start-up) in a
//     custom section "ct", writes the same bytes to DIST/clicktrail_bg.<id>.wasm (the
//     content-hashed name, cached immutable), writes GLUE with its placeholder id
//     (__CT_BUILD__) replaced to DIST/clicktrail_full.<id>.js and prints the id (the loader
//     gets it at bundle time). Both files are named by one id that changes when either does:
//     a changed glue never hides behind a cached file of the same name. Older hashed files
//     are kept (a tracking.js still cached somewhere names one) up to the KEEP newest of each
//     kind.
//   node scripts/edge-files.mjs click DIR WASM
//     Writes WASM (the click module) to DIR/clicktrail_click.<hash>.wasm (<hash>: 8 hex digits
//     of its SHA-256) and prints that name: the file the measured fetched variant of the loader
//     asks for (tracking.js carries the module itself).
//   node scripts/edge-files.mjs compress FILE...
//     Writes FILE.br (brotli quality 11) and FILE.gz (gzip level 9) beside each FILE; the
//     collector serves them by Accept-Encoding.
import { readFileSync, writeFileSync, readdirSync, statSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

// hashed files of each kind kept in DIST (the newest, by mtime): four builds of the four
// full modules (one per page mode)
const KEEP = 16;
// the full module, the click module (measured variant only), the full module's glue (named by
// the full module's id)
const HASHED = [/^clicktrail_bg\.[0-9a-f]{8}\.wasm$/, /^clicktrail_click\.[0-9a-f]{8}\.wasm$/, /^clicktrail_full\.[0-9a-f]{8}\.js$/];

// the build id in the glue until it is known (build.sh bundles the glue with it)
const PLACEHOLDER = "__CT_BUILD__";

const [mode, ...args] = process.argv.slice(2);
if (mode === "wasm") stampWasm(args[0], args[1], args[2]);
else if (mode === "click") hashClick(args[0], args[1]);
else if (mode === "compress") args.forEach(compress);
else {
  console.error("usage: edge-files.mjs wasm DIST FILE GLUE | click DIST WASM | compress FILE...");
  process.exit(2);
}

function stampWasm(dist, file, glueFile) {
  const wasm = readFileSync(file);
  const glue = readFileSync(glueFile, "utf8");
  if (!glue.includes(PLACEHOLDER)) throw new Error(`${glueFile} has no ${PLACEHOLDER}`);
  const id = createHash("sha256").update(wasm).update(glue).digest("hex").slice(0, 8);
  // custom section: id 0, size, name length, name "ct", payload: the id in ASCII
  const name = Buffer.from("ct");
  const payload = Buffer.from(id, "ascii");
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  if (body.length > 127) throw new Error("custom section too long for a 1-byte LEB128 size");
  const stamped = Buffer.concat([wasm, Buffer.from([0, body.length]), body]);
  writeFileSync(file, stamped);
  const hashed = `clicktrail_bg.${id}.wasm`;
  writeFileSync(join(dist, hashed), stamped);
  compress(join(dist, hashed));
  const named = join(dist, `clicktrail_full.${id}.js`);
  writeFileSync(named, glue.replaceAll(PLACEHOLDER, id));
  compress(named);
  prune(dist, HASHED[0], hashed);
  prune(dist, HASHED[2], `clicktrail_full.${id}.js`);
  process.stdout.write(id);
}

function hashClick(dist, file) {
  const wasm = readFileSync(file);
  const name = `clicktrail_click.${createHash("sha256").update(wasm).digest("hex").slice(0, 8)}.wasm`;
  writeFileSync(join(dist, name), wasm);
  compress(join(dist, name));
  prune(dist, HASHED[1], name);
  process.stdout.write(name);
}

/** Removes the files matching `kind` in `dist` but `current` and the KEEP - 1 newest others. */
function prune(dist, kind, current) {
  const old = readdirSync(dist)
    .filter((f) => kind.test(f) && f !== current)
    .map((f) => ({ f, t: statSync(join(dist, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .slice(KEEP - 1);
  for (const { f } of old) for (const ext of ["", ".br", ".gz"]) rmSync(join(dist, f + ext), { force: true });
}

function compress(file) {
  const data = readFileSync(file);
  writeFileSync(`${file}.br`, brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  }));
  writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
}
