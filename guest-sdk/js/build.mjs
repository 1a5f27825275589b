#!/usr/bin/env node
// Builds a JavaScript guest folder into a wflow step component.
//
//     node build.mjs GUEST_DIR -o OUT.wasm [--wit PATH] [--componentize-js DIR] [--error-file PATH] [--keep-build-dir]
//
// The recipe (README.md, "Build recipe"):
//  1. read GUEST_DIR/package.json; its `main` (default app.js) is the guest's module;
//  2. lay out a fresh build directory:
//       wflow/     the SDK's runtime files (index.js, events.js, context.js, workflow.js,
//                  sdk-defaults.js: the generated copy of wit/sdk-defaults.json)
//       app/       a copy of GUEST_DIR (without node_modules, dot-files and .wasm files)
//       app/**/wflow   one shim per app directory: export * from "<relative>/wflow/index.js";
//       building.js  marks the build (globalThis[Symbol.for("wflow.building")]) before the
//                  guest's modules run, so that the SDK reports a declaration it refuses
//       entry.js   binds the WIT import and exports `describe` and `handle`
//  3. with the build directory as the working directory, run componentize-js on
//     entry.js against the WIT world `steps`, disabling the `http` and
//     `fetch-event` features (the host provides no wasi:http);
//  4. write the component to OUT.wasm and delete the build directory.
//
// When the SDK refused a declaration while the component was initialized (a
// step without `accepts`, say), it printed a `wflow-build-error {json}` line;
// the build fails with that error at the guest's file and line instead of
// componentize-js's report, and `--error-file PATH` gets the JSON
// (`{kind, message, file, line}`) for the host.
//
// componentize-js resolves every import path relative to the importing file
// (a bare "wflow" from app/x/y.js is read from app/x/wflow), normalises `..`,
// and tries a ".js" suffix; modules are cached by resolved path, so every shim
// leads to the one SDK instance.

import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { BUILDING, BUILD_ERROR_MARK } from "./workflow.js";

/** The componentize-js version this recipe is written for. */
export const COMPONENTIZE_JS_VERSION = "0.23.0";
/** The SDK's runtime files, copied into every build. */
export const SDK_FILES = ["index.js", "events.js", "context.js", "workflow.js", "sdk-defaults.js"];
/** The WIT world a guest component targets. */
export const WORLD = "steps";
/** The componentize-js features turned off: the host provides no wasi:http. */
export const DISABLED_FEATURES = ["http", "fetch-event"];

const SDK_DIR = dirname(fileURLToPath(import.meta.url));
const SKIPPED = (name) => name === "node_modules" || name.startsWith(".") || name.endsWith(".wasm");

class BuildError extends Error {}

function usage() {
  return "usage: node build.mjs GUEST_DIR -o OUT.wasm [--wit PATH] [--componentize-js DIR] [--error-file PATH] [--keep-build-dir]";
}

function parseArgs(argv) {
  const opts = { keep: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new BuildError(`${arg} needs a value\n${usage()}`);
      return argv[++i];
    };
    if (arg === "-o" || arg === "--out") opts.out = value();
    else if (arg === "--wit") opts.wit = value();
    else if (arg === "--componentize-js") opts.componentizeJs = value();
    else if (arg === "--error-file") opts.errorFile = value();
    else if (arg === "--keep-build-dir") opts.keep = true;
    else if (arg === "-h" || arg === "--help") {
      console.log(usage());
      process.exit(0);
    } else if (arg.startsWith("-")) throw new BuildError(`unknown option ${arg}\n${usage()}`);
    else if (opts.guest === undefined) opts.guest = arg;
    else throw new BuildError(`unexpected argument ${arg}\n${usage()}`);
  }
  if (!opts.guest || !opts.out) throw new BuildError(usage());
  return opts;
}

/** The guest's main module, relative to its folder, with forward slashes. */
export function guestMain(guestDir) {
  let main = "app.js";
  const manifest = join(guestDir, "package.json");
  if (existsSync(manifest)) {
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(manifest, "utf8"));
    } catch (err) {
      throw new BuildError(`${manifest} is not valid JSON: ${err.message}`);
    }
    if (pkg.main !== undefined) {
      if (typeof pkg.main !== "string" || !pkg.main) throw new BuildError(`${manifest}: "main" must be a path`);
      main = pkg.main;
    }
  }
  const rel = normalize(main);
  if (isAbsolute(rel) || rel === ".." || rel.startsWith(`..${sep}`)) {
    throw new BuildError(`the guest's main module ${main} must be inside ${guestDir}`);
  }
  const parts = rel.split(sep);
  if (parts.some(SKIPPED)) throw new BuildError(`the guest's main module ${main} is in a folder the build skips`);
  const file = join(guestDir, rel);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new BuildError(`the guest's main module ${file} does not exist (set "main" in package.json; the default is app.js)`);
  }
  return parts.join("/");
}

function posixRelative(from, to) {
  const rel = relative(from, to).split(sep).join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** Writes a `wflow` shim into every directory of `appDir`. */
function writeShims(appDir, sdkIndex) {
  const visit = (dir) => {
    const shim = join(dir, "wflow");
    if (existsSync(shim)) {
      throw new BuildError(
        `the guest has a file or folder named "wflow" (${relative(appDir, shim)}): that name is reserved for the SDK import`,
      );
    }
    writeFileSync(shim, `export * from ${JSON.stringify(posixRelative(dir, sdkIndex))};\n`);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) visit(join(dir, entry.name));
    }
  };
  visit(appDir);
}

/** The entry module: binds the host's context interface, exports the world's functions. */
export function entrySource(main) {
  return [
    `import "./building.js";`,
    `import * as host from "wflow:workflow/context@0.1.0";`,
    `import * as app from ${JSON.stringify(`./app/${main}`)};`,
    `import { BUILDING, componentExports } from "./wflow/index.js";`,
    ``,
    `const component = componentExports(app, host);`,
    `delete globalThis[BUILDING];`,
    ``,
    `export function describe() {`,
    `  return component.describe();`,
    `}`,
    ``,
    `export function handle(step, ev) {`,
    `  return component.handle(step, ev);`,
    `}`,
    ``,
  ].join("\n");
}

/** The module the entry imports first: it marks the build for the SDK. */
export const BUILDING_SOURCE = `globalThis[Symbol.for(${JSON.stringify(BUILDING.description)})] = true;\n`;

/**
 * The declaration error the SDK reported in componentize-js's output, if
 * any: `{kind, message, file?, line?}`, `file` relative to the guest folder.
 * The last report wins: it is the one that stopped the build (a guest may
 * catch an earlier one).
 */
export function reportedBuildError(output) {
  let found;
  for (const line of String(output).split("\n")) {
    const at = line.indexOf(BUILD_ERROR_MARK);
    if (at < 0) continue;
    try {
      const record = JSON.parse(line.slice(at + BUILD_ERROR_MARK.length));
      if (record && typeof record.kind === "string" && typeof record.message === "string") found = record;
    } catch {
      // Not a whole report.
    }
  }
  return found;
}

/** Lays out the build directory for `guestDir`; returns it and the entry's path. */
export function layout(guestDir, { sdkDir = SDK_DIR } = {}) {
  const main = guestMain(guestDir);
  const buildDir = realpathSync(mkdtempSync(join(tmpdir(), "wflow-js-build-")));
  try {
    const wflowDir = join(buildDir, "wflow");
    for (const file of SDK_FILES) {
      cpSync(join(sdkDir, file), join(wflowDir, file));
    }
    const appDir = join(buildDir, "app");
    cpSync(guestDir, appDir, {
      recursive: true,
      dereference: true,
      filter: (src) => src === guestDir || !SKIPPED(src.slice(src.lastIndexOf(sep) + 1)),
    });
    writeShims(appDir, join(wflowDir, "index.js"));
    writeFileSync(join(buildDir, "building.js"), BUILDING_SOURCE);
    const entry = join(buildDir, "entry.js");
    writeFileSync(entry, entrySource(main));
    return { buildDir, entry };
  } catch (err) {
    rmSync(buildDir, { recursive: true, force: true });
    throw err;
  }
}

function componentizeModule(explicit) {
  const dir =
    explicit ??
    join(
      process.env.WFLOW_TOOLS_DIR || join(homedir(), ".local", "share", "wflow", "tools"),
      "node",
      "node_modules",
      "@bytecodealliance",
      "componentize-js",
    );
  const file = join(dir, "src", "componentize.js");
  if (!existsSync(file)) {
    throw new BuildError(
      `componentize-js is not installed at ${dir}; install it with\n  npm install --prefix ${join(dir, "..", "..", "..")} @bytecodealliance/componentize-js@${COMPONENTIZE_JS_VERSION}\n(scripts/setup.sh does this)`,
    );
  }
  return file;
}

function defaultWit() {
  const wit = resolve(SDK_DIR, "..", "..", "wit");
  if (!existsSync(wit)) throw new BuildError("pass --wit PATH (the wflow WIT folder or workflow.wit)");
  return wit;
}

/** Builds `guest` into the component `out`; returns its size in bytes. */
export async function build({ guest, out, wit = defaultWit(), componentizeJs, errorFile, keep = false }) {
  if (!existsSync(guest) || !statSync(guest).isDirectory()) throw new BuildError(`${guest} is not a folder`);
  const guestDir = realpathSync(resolve(guest));
  const outPath = resolve(out);
  const witPath = resolve(wit);
  const mod = await import(pathToFileURL(componentizeModule(componentizeJs)).href);
  if (mod.version !== COMPONENTIZE_JS_VERSION) {
    console.error(`warning: componentize-js ${mod.version} found; this recipe is tested with ${COMPONENTIZE_JS_VERSION}`);
  }
  const { buildDir, entry } = layout(guestDir);
  const cwd = process.cwd();
  try {
    // componentize-js maps the working directory to / for the JS engine
    // when the source lies inside it: the build directory, nothing more.
    process.chdir(buildDir);
    let component;
    try {
      ({ component } = await mod.componentize({
        sourcePath: entry,
        witPath,
        worldName: WORLD,
        disableFeatures: DISABLED_FEATURES,
      }));
    } catch (err) {
      const output = err && err.message ? err.message : String(err);
      const reported = reportedBuildError(output);
      if (!reported) throw new BuildError(`componentize-js failed for ${guestDir}:\n${output}`);
      if (errorFile) writeFileSync(errorFile, JSON.stringify(reported));
      const at = reported.file ? `${join(guestDir, reported.file)}${reported.line ? `:${reported.line}` : ""}: ` : "";
      throw new BuildError(`${reported.kind}: ${at}${reported.message}`);
    }
    const tmp = `${outPath}.${process.pid}.tmp`;
    writeFileSync(tmp, component);
    renameSync(tmp, outPath);
    return component.length;
  } finally {
    process.chdir(cwd);
    if (keep) console.error(`build directory kept: ${buildDir}`);
    else rmSync(buildDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const started = Date.now();
    const size = await build(opts);
    console.error(`built ${opts.out} (${size} bytes) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    console.error(`error: ${err instanceof BuildError ? err.message : (err && err.stack) || err}`);
    process.exit(1);
  }
}
