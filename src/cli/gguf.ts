// `soup gguf inspect|merge`: look into GGUF files and write merged models or souped adapters.
import { checkBasisCompatibility } from "../core/gguf/compat";
import { isAdapterFile } from "../core/gguf/lora";
import { mergeGguf, WeightedPath, writeSoupedAdapter } from "../core/gguf/merge";
import { GgufFile, metaValue, readGguf } from "../core/gguf/reader";
import { elementCount, GgmlType, GgufScalar, WRITABLE_TYPES, WritableTensorType } from "../core/gguf/types";
import { oneOf, parseCommand, required, subcommand, UsageError } from "./args";

const INSPECT_USAGE = "usage: soup gguf inspect FILE [--json]";
const MERGE_USAGE = `usage: soup gguf merge --base FILE --out FILE [--type f32|f16|q8_0] [--adapter] EXPERT=WEIGHT ...
         (--adapter: write one souped LoRA adapter instead of a merged model; experts must be adapters)`;
const USAGE = `${INSPECT_USAGE}\n${MERGE_USAGE.replace("usage: ", "       ")}`;

/** Long arrays (vocabularies) are summarized by their first items. */
const PREVIEW_ITEMS = 5;

/**
 * Metadata keys, values and tensor names come from the file: control characters (C0, DEL, C1), line separators
 * and bidirectional overrides are shown as \u escapes so that a file cannot drive the terminal.
 */
const printable = (line: string) => line.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

const jsonScalar = (v: GgufScalar) => (typeof v === "bigint" ? v.toString() : v);

function describeValue(v: GgufScalar | GgufScalar[]): string {
  if (!Array.isArray(v)) return JSON.stringify(jsonScalar(v));
  const head = v.slice(0, PREVIEW_ITEMS).map((x) => JSON.stringify(jsonScalar(x)));
  return `[${head.join(", ")}${v.length > PREVIEW_ITEMS ? `, ... (${v.length} items)` : ""}]`;
}

function summary(file: GgufFile) {
  const typeCounts: Record<string, number> = {};
  for (const t of file.tensors) typeCounts[GgmlType[t.type]!] = (typeCounts[GgmlType[t.type]!] ?? 0) + 1;
  return {
    path: file.path,
    version: file.version,
    fileSize: file.fileSize,
    kind: isAdapterFile(file) ? "adapter" : "model",
    architecture: metaValue(file, "general.architecture") ?? null,
    parameters: file.tensors.reduce((n, t) => n + elementCount(t.dims), 0),
    tensorTypes: typeCounts,
  };
}

async function inspect(args: string[], print: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommand({ usage: INSPECT_USAGE, options: { json: { type: "boolean" } }, positionals: [1, 1] }, args);
  const json = values.json === true;
  const out = json ? print : (line: string) => print(printable(line));
  const file = await readGguf(positionals[0]!);
  const s = summary(file);
  if (json) {
    const metadata = Object.fromEntries(
      [...file.metadata.values()].map((m) =>
        Array.isArray(m.value) && m.value.length > PREVIEW_ITEMS ? [m.key, { length: m.value.length, first: m.value.slice(0, PREVIEW_ITEMS).map(jsonScalar) }] : [m.key, Array.isArray(m.value) ? m.value.map(jsonScalar) : jsonScalar(m.value)],
      ),
    );
    const tensors = file.tensors.map((t) => ({ name: t.name, type: GgmlType[t.type], dims: t.dims }));
    out(JSON.stringify({ ...s, metadata, tensors }));
    return 0;
  }
  out(`${s.path}: GGUF v${s.version}, ${(s.fileSize / 1e6).toFixed(2)} MB, ${s.kind}, architecture ${s.architecture ?? "(none)"}`);
  out(`parameters: ${s.parameters.toLocaleString("en-US")} in ${file.tensors.length} tensors (${Object.entries(s.tensorTypes).map(([t, n]) => `${t} ${n}`).join(", ")})`);
  out("metadata:");
  for (const m of file.metadata.values()) out(`  ${m.key} = ${describeValue(m.value)}`);
  out("tensors:");
  const width = Math.max(...file.tensors.map((t) => t.name.length), 0);
  for (const t of file.tensors) out(`  ${t.name.padEnd(width)}  ${GgmlType[t.type]!.padEnd(5)} [${t.dims.join(", ")}]`);
  return 0;
}

function parseExpert(arg: string): WeightedPath {
  const eq = arg.lastIndexOf("=");
  const weight = Number(arg.slice(eq + 1));
  if (eq <= 0 || arg.slice(eq + 1).trim() === "" || !Number.isFinite(weight)) {
    throw new UsageError(`expected EXPERT=WEIGHT with a finite number, got "${arg}"`);
  }
  return { path: arg.slice(0, eq), weight };
}

async function merge(args: string[], out: (line: string) => void): Promise<number> {
  const { values: v, positionals } = parseCommand(
    {
      usage: MERGE_USAGE,
      options: { base: { type: "string" }, out: { type: "string" }, type: { type: "string" }, adapter: { type: "boolean" } },
      positionals: [0, Infinity],
    },
    args,
  );
  const base = required(v.base, "--base", MERGE_USAGE);
  const outPath = required(v.out, "--out", MERGE_USAGE);
  const type = oneOf(v.type, Object.keys(WRITABLE_TYPES) as WritableTensorType[], "--type", "f16");
  const adapter = v.adapter === true;
  const experts = positionals.map(parseExpert);
  if (experts.length === 0) throw new UsageError(`gguf merge needs at least one EXPERT=WEIGHT\n${MERGE_USAGE}`);
  if (adapter) {
    const check = await checkBasisCompatibility(base, experts.map((e, i) => ({ id: `expert ${i + 1}`, path: e.path })));
    if (!check.ok) throw new Error(check.message);
    await writeSoupedAdapter(experts, outPath);
  } else {
    await mergeGguf({ base, experts, out: outPath, outType: type });
  }
  const written = summary(await readGguf(outPath));
  out(`wrote ${outPath}: ${written.kind}, ${written.parameters.toLocaleString("en-US")} parameters, ${(written.fileSize / 1e6).toFixed(2)} MB`);
  return 0;
}

/** `soup gguf ...`; returns the exit code. Bad input throws (UsageError or GgufError) with a one-line reason. */
export async function ggufCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [sub, rest] = subcommand(args, ["inspect", "merge"], USAGE, "gguf");
  return sub === "inspect" ? inspect(rest, out) : merge(rest, out);
}
