// `npm run package`: builds and packs a .vsix for this platform that carries only this platform's
// node-llama-cpp binary package (others, and the CUDA/Vulkan variants, add hundreds of MB).
// Add GPU variants explicitly: `npm run package -- --with cuda,vulkan`.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const target = `${process.platform === "win32" ? "win32" : process.platform}-${process.arch}`;
const withIdx = process.argv.indexOf("--with");
const extra = withIdx > 0 ? process.argv[withIdx + 1].split(",").filter(Boolean) : [];
const keep = new Set([target, ...extra.map((v) => `${target}-${v}`)]);
const binDir = "node_modules/@node-llama-cpp";
const others = existsSync(binDir) ? readdirSync(binDir).filter((p) => !keep.has(p)) : [];
if (existsSync(binDir) && !readdirSync(binDir).includes(target)) {
  console.error(`no node-llama-cpp binary package for ${target} in ${binDir}: run npm ci on this platform first`);
  process.exit(1);
}
const base = existsSync(".vscodeignore") ? readFileSync(".vscodeignore", "utf8") : "";
const ignore = [
  base,
  ...others.map((p) => `${binDir}/${p}/**`),
  // llama.cpp's source bundle is only needed to build from source, which the packaged extension never does.
  "node_modules/node-llama-cpp/llama/gitRelease.bundle",
  "node_modules/node-llama-cpp/llama/llama.cpp/**",
].join("\n");
const ignoreFile = join(mkdtempSync(join(tmpdir(), "soup-pack-")), ".vscodeignore");
writeFileSync(ignoreFile, ignore);
execFileSync("npm", ["run", "build"], { stdio: "inherit" });
const vsce = join("node_modules", ".bin", "vsce");
execFileSync(vsce, ["package", "--target", target, "--ignoreFile", ignoreFile, "--out", `spectral-soup-${target}.vsix`, "--skip-license"], {
  stdio: "inherit",
});
console.log(`packed spectral-soup-${target}.vsix with node-llama-cpp binaries: ${[...keep].filter((k) => existsSync(join(binDir, k))).join(", ")}`);
