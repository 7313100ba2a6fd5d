// Builds dist/: the paf-js crate (wasm/) for wasm32-unknown-unknown with
// its size-tuned release profile, wasm-bindgen's ES module glue (the CLI
// pinned to the crate's wasm-bindgen version, installed if missing), and
// wasm-opt -Oz from the npm binaryen package. Run by `npm run build` and
// by `npm pack` (prepack). Prints the .wasm size, raw and gzipped.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const crate = join(here, "wasm");
const dist = join(here, "dist");
const target = process.env.CARGO_TARGET_DIR ?? join(crate, "target");

function run(command, args, options = {}) {
  console.error(`build: ${command} ${args.join(" ")}`);
  execFileSync(command, args, { stdio: "inherit", ...options });
}

/** The wasm-bindgen version the crate pins (`wasm-bindgen = "=x.y.z"`). */
function pinnedBindgen() {
  const manifest = readFileSync(join(crate, "Cargo.toml"), "utf8");
  const pinned = manifest.match(/^wasm-bindgen = "=([0-9.]+)"/m);
  if (!pinned) throw new Error("wasm/Cargo.toml must pin wasm-bindgen with =");
  return pinned[1];
}

function ensureBindgen(version) {
  let found = "";
  try {
    found = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" });
  } catch {
    // not installed
  }
  if (!found.includes(version)) {
    // Not --locked: the CLI's lock file names a crate version the
    // registry may lack.
    run("cargo", ["install", "wasm-bindgen-cli", "--version", version]);
  }
}

const version = pinnedBindgen();
ensureBindgen(version);
run("cargo", ["build", "--release", "--target", "wasm32-unknown-unknown"], { cwd: crate });

const built = join(target, "wasm32-unknown-unknown", "release", "paf_js.wasm");
const wasm = join(dist, "paf_bg.wasm");
// wasm-bindgen and wasm-opt again only when cargo made a new module.
const stamp = join(dist, ".built-from");
const builtAt = String(statSync(built).mtimeMs);
if (existsSync(wasm) && existsSync(stamp) && readFileSync(stamp, "utf8") === builtAt) {
  report();
  process.exit(0);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
run("wasm-bindgen", ["--target", "web", "--weak-refs", "--out-name", "paf", "--out-dir", dist, built]);

const wasmOpt = join(here, "node_modules", ".bin", "wasm-opt");
if (!existsSync(wasmOpt)) throw new Error("wasm-opt is missing: run npm ci in js/ first");
// The features rustc enables by default for wasm32 (and wasm-bindgen keeps).
const features = ["bulk-memory", "sign-ext", "nontrapping-float-to-int", "reference-types", "multivalue", "mutable-globals"];
run(wasmOpt, ["-Oz", "--strip-debug", "--strip-producers", ...features.map((f) => `--enable-${f}`), wasm, "-o", wasm]);

writeFileSync(stamp, builtAt);
report();

function report() {
  const raw = statSync(wasm).size;
  const gzipped = gzipSync(readFileSync(wasm), { level: 9 }).length;
  console.error(`build: dist/paf_bg.wasm ${(raw / 1024).toFixed(0)} KiB, ${(gzipped / 1024).toFixed(0)} KiB gzipped`);
}
