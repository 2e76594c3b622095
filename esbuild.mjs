// One esbuild command builds the bundles: the extension host entry, the engine and basis job processes, the CLI.
// node-llama-cpp is ESM-only with top-level await, so it stays external and is loaded by import() at run time.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const common = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  sourcemap: true,
  external: ["vscode", "node-llama-cpp"],
  logLevel: "warning",
};
const entries = [
  { entryPoints: ["src/extension/main.ts"], outfile: "dist/extension.js" },
  { entryPoints: ["src/engine/main.ts"], outfile: "dist/engine.js" },
  // Distillation and basis diagnostics: a process per job, apart from the engine that serves completions.
  { entryPoints: ["src/engine/basisJobProcess.ts"], outfile: "dist/basisJobs.js" },
  { entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.js" },
  // The webview pages run in the browser sandbox of a webview: one self-contained script each (the CSP allows
  // nothing else), with the web components bundled in.
  ...["chat", "preferences"].map((page) => ({
    entryPoints: [`webview/${page}.ts`],
    outfile: `dist/webview/${page}.js`,
    platform: "browser",
    format: "iife",
    target: "es2022",
    external: [],
  })),
];
if (watch) {
  for (const e of entries) await (await esbuild.context({ ...common, ...e })).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
}
