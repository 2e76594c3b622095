// The layer check: every import in src/ and webview/ must go the way the layers allow, so the pure parts stay
// testable and bundleable without the editor or the engine. Runs first in `npm test`; prints each wrong import
// with its file and exits 1.
//   shared    -> nothing outside shared (and no node: modules: it is bundled into the webviews)
//   core      -> shared (never vscode)
//   engine    -> core, shared
//   webview   -> shared, and the one markdown renderer in core
//   extension -> core, engine, shared, and the webview protocols (never a webview page)
//   cli       -> core, engine, shared
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

export type Layer = "shared" | "core" | "engine" | "webview" | "extension" | "cli";

export interface Violation {
  /** Repository-relative path of the importing file. */
  file: string;
  line: number;
  specifier: string;
  why: string;
}

/** The webview modules other layers may import: the page protocols, never page code. */
const WEBVIEW_PROTOCOLS = /^webview\/protocol\//;
const MARKDOWN = "src/core/chat/markdown.ts";

const ALLOWED: Record<Layer, readonly Layer[]> = {
  shared: ["shared"],
  core: ["core", "shared"],
  engine: ["engine", "core", "shared"],
  webview: ["webview", "shared"],
  extension: ["extension", "core", "engine", "shared"],
  cli: ["cli", "core", "engine", "shared"],
};

export function layerOf(file: string): Layer | undefined {
  const f = file.split(path.sep).join("/");
  if (f.startsWith("webview/")) return "webview";
  const m = /^src\/(shared|core|engine|extension|cli)\//.exec(f);
  return m ? (m[1] as Layer) : undefined;
}

const IMPORT = /(?:^|[^\w.$])(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Module specifiers a TypeScript source imports, with their line numbers (comments are skipped). */
export function importsOf(source: string): { specifier: string; line: number }[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const found: { specifier: string; line: number }[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const specifier = m[1] ?? m[2]!;
    found.push({ specifier, line: code.slice(0, m.index).split("\n").length + (m[0].startsWith("\n") ? 1 : 0) });
  }
  return found;
}

/** Why `specifier`, imported by `file` (repository-relative), crosses a layer the wrong way; undefined when it may. */
export function checkImport(file: string, specifier: string): string | undefined {
  const from = layerOf(file);
  if (!from) return undefined;
  if (!specifier.startsWith(".")) {
    if (specifier === "vscode" && from !== "extension") return `only src/extension may import vscode`;
    if (from === "shared") return `src/shared imports nothing outside itself (it is bundled into the webviews)`;
    return undefined;
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.split(path.sep).join("/")), specifier));
  const resolved = /\.[cm]?[jt]s$/.test(target) ? target : `${target}.ts`;
  const to = layerOf(resolved);
  if (!to) return `imports ${resolved}, which is outside the layered folders`;
  if (ALLOWED[from].includes(to)) return undefined;
  if (from === "webview" && resolved === MARKDOWN) return undefined;
  if (from === "extension" && to === "webview" && WEBVIEW_PROTOCOLS.test(resolved)) return undefined;
  return `${from} may not import ${to}${to === "webview" ? " pages" : ""} (${resolved})`;
}

function sources(root: string, dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(path.join(root, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return sources(root, rel);
    return /\.[cm]?ts$/.test(e.name) && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

/** Every wrong import under `root`'s src/ and webview/. */
export function checkLayers(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of [...sources(root, "src"), ...sources(root, "webview")]) {
    for (const { specifier, line } of importsOf(readFileSync(path.join(root, file), "utf8"))) {
      const why = checkImport(file, specifier);
      if (why) violations.push({ file, line, specifier, why });
    }
  }
  return violations;
}

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const violations = checkLayers(root);
  for (const v of violations) console.error(`${v.file}:${v.line}: import "${v.specifier}": ${v.why}`);
  if (violations.length) {
    console.error(`layer check: ${violations.length} wrong import${violations.length === 1 ? "" : "s"}`);
    process.exit(1);
  }
  console.log("layer check: every import goes the way the layers allow");
}
