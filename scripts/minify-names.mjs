// Gives the wasm's imports and exports one-letter names and rewrites the wasm-bindgen
// glue to match (build.sh runs it between wasm-opt and esbuild).
//
// wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` in module
// "./clicktrail_bg.js" and exports its runtime under long names; those strings sit in
// the wasm once and in the glue again and compress badly (the hashes are random):
// 0.6 KB gzip of the wasm, plus the glue's share. wasm-opt's
// --minify-imports-and-exports-and-modules renames them and prints the mapping; this
// script applies the same mapping to the glue. It fails (and so fails the build) when
// the glue does not look the way it expects, rather than ship a tracker that cannot
// instantiate.
//
// usage: node scripts/minify-names.mjs <wasm, rewritten in place> <glue.js, rewritten
//        in place> [wasm-opt feature flags...]
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const [wasmFile, glueFile, ...features] = process.argv.slice(2);
const printed = execFileSync(
  "wasm-opt",
  ["--minify-imports-and-exports-and-modules", ...features, wasmFile, "-o", wasmFile],
  { encoding: "utf8" },
);
const map = JSON.parse(printed);

// Every import now lives in one module; ask the engine which one.
const modules = new Set(
  WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile))).map((i) => i.module),
);
if (modules.size !== 1) throw new Error(`minify-names: expected one import module, got ${[...modules]}`);
const [moduleName] = modules;

let glue = readFileSync(glueFile, "utf8");
const fail = (what) => {
  throw new Error(`minify-names: ${what} not found in ${glueFile} (wasm-bindgen output changed?)`);
};
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

// 1. the glue's own imports: keys of `const import0 = { ... }`
const OWN = "./clicktrail_bg.js";
const extra = [];
for (const [module, name, short] of map.imports) {
  if (module === OWN) {
    const key = new RegExp(`(\\n\\s*)${escape(name)}:`, "g");
    if ((glue.match(key) || []).length !== 1) fail(`import ${name}`);
    glue = glue.replace(key, `$1${short}:`);
  } else {
    extra.push([module, name, short]);
  }
}

// 2. inline_js snippets: namespace imports, moved into the same object
const namespaces = {};
for (const m of glue.matchAll(/import \* as (\w+) from "([^"]+)"/g)) namespaces[m[2]] = m[1];
const added = extra
  .map(([module, name, short]) => {
    if (!namespaces[module]) fail(`snippet module ${module}`);
    return `${short}: ${namespaces[module]}.${name},`;
  })
  .join(" ");
const head = /const import0 = \{\n(\s*)__proto__: null,/;
if (!head.test(glue)) fail("the import object");
glue = glue.replace(head, (all, indent) => `${all}\n${indent}${added}`);

// 3. the object handed to WebAssembly: one module
const ret = /return \{\n\s*__proto__: null,\n(\s*"[^"]+": \w+,\n)+\s*\};/;
if (!ret.test(glue)) fail("the imports return");
glue = glue.replace(ret, `return { __proto__: null, ${JSON.stringify(moduleName)}: import0 };`);

// 4. exports: wasm.<name>
const exportShort = new Map(map.exports);
glue = glue.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (all, name) => {
  const short = exportShort.get(name);
  if (!short) fail(`export ${name}`);
  return `wasm.${short}`;
});

writeFileSync(glueFile, glue);
console.log(
  `minify-names: ${map.imports.length} imports (module ${JSON.stringify(moduleName)}), ` +
    `${map.exports.length} exports renamed`,
);
