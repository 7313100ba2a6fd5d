// Builds dist/: the paf-js crate (wasm/) for wasm32-unknown-unknown with
// its size-tuned release profile and std rebuilt with it (see cargoBuild),
// twice: the client module (dist/paf.js, dist/paf_bg.wasm: HTTP/1.1,
// HTTP/2 and TLS) and the server module (dist/server/: loaded by the first
// serve()), each with wasm-bindgen's ES module glue (the CLI pinned to the
// crate's wasm-bindgen version, installed if missing) and wasm-opt from the
// npm binaryen package; and dist/roots.js (the Mozilla roots, for TLS
// outside Node: the module has none compiled in). Run by `npm run build`
// and by `npm pack` (prepack). Prints each .wasm size, raw and gzipped.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
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

/**
 * The cargo arguments and environment of the size-tuned build. Unless
 * PAF_WASM_BUILD_STD=0: std is compiled with the crate (-Zbuild-std, with
 * its optimize_for_size feature) rather than taken prebuilt, and a panic
 * traps at once (-Cpanic=immediate-abort) instead of formatting its message
 * first. On wasm32-unknown-unknown that message went nowhere anyway (no
 * stderr, no panic hook): a panic was and stays a trap, a RuntimeError
 * "unreachable" in JS. That is ~35 KiB of the gzipped module. Also: no
 * source locations kept for panics (-Zlocation-detail=none: they would
 * print nowhere), and derived Debug impls that print a type's name
 * without its fields (-Zfmt-debug=shallow: ~7 KiB gzipped, mostly
 * rustls's message types, whose Debug only their vtables reach; paf's
 * error messages are Display, and the enums they name print the same).
 * All are unstable options: RUSTC_BOOTSTRAP=1 lets the stable compiler
 * take them, and build-std needs the rust-src component (added with
 * rustup if missing).
 */
function cargoBuild() {
  const args = ["build", "--release", "--target", "wasm32-unknown-unknown"];
  if (process.env.PAF_WASM_BUILD_STD === "0") return { args, env: process.env };
  const sysroot = execFileSync("rustc", ["--print", "sysroot"], { cwd: crate, encoding: "utf8" }).trim();
  if (!existsSync(join(sysroot, "lib", "rustlib", "src", "rust", "library"))) {
    run("rustup", ["component", "add", "rust-src"], { cwd: crate });
  }
  args.push("-Zbuild-std=std,panic_abort", "-Zbuild-std-features=optimize_for_size");
  const rustflags = [process.env.RUSTFLAGS, "-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=shallow"].filter(Boolean).join(" ");
  return { args, env: { ...process.env, RUSTC_BOOTSTRAP: "1", RUSTFLAGS: rustflags } };
}

// The client is tuned for size (its gzipped size has a budget: pages and
// workers download it): opt-level z, then wasm-opt -Os rather than -Oz,
// run to a fixed point (~1 KiB less gzipped), then the control flow
// flattened and rebuilt (--flatten --rereloop) and -Os again (~2 kB less
// gzipped, for a minute more of build), then what binaryen's whole-program
// flow analysis proves constant or unreachable taken out (--gufa) and -Os
// once more (~500 B less gzipped). The server is tuned for speed
// (opt-level 3, wasm-opt -O3): in Node it answers every request, and that
// is ~10% more requests per second for ~40 kB more gzipped (203 kB
// against 164 kB; js/BENCHMARKS.md).
const modules = [
  { feature: "client", dir: dist, name: "paf", optLevel: "z", passes: ["-Os", "--converge", "--flatten", "--rereloop", "-Os", "--converge", "--gufa", "-Os"] },
  { feature: "server", dir: join(dist, "server"), name: "paf_server", optLevel: "3", passes: ["-O3"] },
];
const version = pinnedBindgen();
ensureBindgen(version);
const build = cargoBuild();
const built = join(target, "wasm32-unknown-unknown", "release", "paf_js.wasm");
for (const module of modules) {
  const env = { ...build.env, CARGO_PROFILE_RELEASE_OPT_LEVEL: module.optLevel };
  run("cargo", [...build.args, "--no-default-features", "--features", module.feature], { cwd: crate, env });
  finish(module);
}
writeRoots();
for (const module of modules) report(module);

/**
 * wasm-bindgen and wasm-opt on what cargo built, into `module.dir`; again
 * only when cargo's module or the passes differ from the last ones (cargo
 * relinks at each switch of features, to the same bytes when nothing
 * changed).
 */
function finish({ dir, name, passes }) {
  const wasm = join(dir, `${name}_bg.wasm`);
  const stamp = join(dir, ".built-from");
  const builtFrom = createHash("sha256").update(readFileSync(built)).update(passes.join(" ")).digest("hex");
  if (existsSync(wasm) && existsSync(stamp) && readFileSync(stamp, "utf8") === builtFrom) return;
  for (const stale of [wasm, join(dir, `${name}.js`), join(dir, `${name}.d.ts`), join(dir, `${name}_bg.wasm.d.ts`), join(dir, "snippets")]) {
    rmSync(stale, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  run("wasm-bindgen", ["--target", "web", "--weak-refs", "--out-name", name, "--out-dir", dir, built]);
  const wasmOpt = join(here, "node_modules", ".bin", "wasm-opt");
  if (!existsSync(wasmOpt)) throw new Error("wasm-opt is missing: run npm ci in js/ first");
  // The features rustc enables by default for wasm32 (and wasm-bindgen keeps).
  const features = ["bulk-memory", "sign-ext", "nontrapping-float-to-int", "reference-types", "multivalue", "mutable-globals"];
  run(wasmOpt, [...passes, "--strip-debug", "--strip-producers", ...features.map((f) => `--enable-${f}`), wasm, "-o", wasm]);
  writeFileSync(stamp, builtFrom);
}

/**
 * dist/roots.js: the Mozilla roots as an array of PEM strings, for
 * `setRoots` where the platform gives none (browsers, workers, Deno). Taken
 * from the webpki-roots crate that native paf compiles in (the version in
 * paf's Cargo.lock), which carries each root's certificate in PEM next to
 * its trust anchor.
 */
function writeRoots() {
  const metadata = JSON.parse(
    execFileSync("cargo", ["metadata", "--format-version", "1", "--manifest-path", join(here, "..", "Cargo.toml")], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    }),
  );
  const crate = metadata.packages.find((p) => p.name === "webpki-roots");
  if (!crate) throw new Error("webpki-roots is not in paf's dependencies");
  const source = readFileSync(join(dirname(crate.manifest_path), "src", "lib.rs"), "utf8");
  const pem = /^\s*\* (-----BEGIN CERTIFICATE-----\n(?:\s*\* [A-Za-z0-9+/=]+\n)+\s*\* -----END CERTIFICATE-----)$/gm;
  const pems = [...source.matchAll(pem)].map((m) => m[1].replace(/^\s*\* /gm, ""));
  const anchors = source.match(/TrustAnchor \{/g)?.length ?? 0;
  if (pems.length === 0 || pems.length !== anchors) {
    throw new Error(`webpki-roots ${crate.version}: ${pems.length} PEM certificates for ${anchors} trust anchors`);
  }
  const lines = pems.map((pem) => `  ${JSON.stringify(pem)},`);
  writeFileSync(
    join(dist, "roots.js"),
    `// The Mozilla roots (${pems.length}, from the webpki-roots crate ${crate.version}, made from\n` +
      `// CCADB's report of the certificates Mozilla includes), for setRoots() where\n` +
      `// the platform gives none. Generated by build.mjs.\n` +
      `export default [\n${lines.join("\n")}\n];\n`,
  );
  const size = statSync(join(dist, "roots.js")).size;
  console.error(`build: dist/roots.js ${pems.length} roots, ${(size / 1024).toFixed(0)} KiB`);
}

function report({ dir, name }) {
  const wasm = join(dir, `${name}_bg.wasm`);
  const raw = statSync(wasm).size;
  const gzipped = gzipSync(readFileSync(wasm), { level: 9 }).length;
  const kb = (bytes) => `${(bytes / 1000).toFixed(0)} kB`;
  console.error(`build: ${wasm.slice(here.length + 1)} ${kb(raw)}, ${kb(gzipped)} gzipped`);
}
