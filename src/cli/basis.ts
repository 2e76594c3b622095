// `soup basis check|import|diagnose`: is a pack usable with a model, add an adapter trained elsewhere, and is the
// basis any good (features of calibration responses: spectrum, redundant and weak dimensions).
import { copyFile } from "node:fs/promises";
import * as path from "node:path";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import { checkPackAgainstModel, loadBasisPack, nextVersion, writeBasisPack } from "../core/basis/pack";
import { checkBasisCompatibility } from "../core/gguf/compat";
import { diagnosePack } from "../engine/diagnose";
import { int, num, parseCommand, required, subcommand, UsageError } from "./args";

const USAGE = `usage: soup basis check PACK --model FILE [--json]
       soup basis import --pack FILE --adapter FILE --id ID --model FILE [--label L] [--description D] [--default W] [--out FILE]
       soup basis diagnose --model FILE --pack FILE [--calibration DIR|FILE] [--responses N] [--threshold C] [--json]`;

const need = (v: string | undefined, flag: string): string => required(v, flag, USAGE);

async function check(args: string[], out: (line: string) => void): Promise<number> {
  const { values: v, positionals } = parseCommand({ usage: USAGE, options: { model: { type: "string" }, json: { type: "boolean" } }, positionals: [1, 1] }, args);
  const pack = await loadBasisPack(positionals[0]);
  const problems = await checkPackAgainstModel(pack, need(v.model, "--model"));
  if (v.json) out(JSON.stringify({ pack: pack.id, version: pack.version, ok: problems.length === 0, problems }));
  else if (problems.length === 0) {
    out(`ok: pack "${pack.id}" v${pack.version} fits ${path.basename(v.model!)} (${pack.policies.map((p) => `${p.id}: ${p.kind}`).join(", ")})`);
  } else for (const p of problems) out(`problem: ${p}`);
  return problems.length ? 1 : 0;
}

async function importAdapter(args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand(
    {
      usage: USAGE,
      options: {
      pack: { type: "string" },
      adapter: { type: "string" },
      id: { type: "string" },
      model: { type: "string" },
      label: { type: "string" },
      description: { type: "string" },
      default: { type: "string" },
      out: { type: "string" },
      },
    },
    args,
  ).values;
  const packFile = need(v.pack, "--pack");
  const adapter = path.resolve(need(v.adapter, "--adapter"));
  const id = need(v.id, "--id");
  const model = need(v.model, "--model");
  const pack = await loadBasisPack(packFile);
  if (pack.policies.some((p) => p.id === id)) throw new UsageError(`pack "${pack.id}" already has a policy "${id}": choose another --id`);
  const fit = await checkBasisCompatibility(model, [{ id, path: adapter }]);
  if (!fit.ok) throw new Error(`cannot import: ${fit.message}`);
  const problems = await checkPackAgainstModel(pack, model);
  if (problems.length) throw new Error(`cannot import: ${problems.join("; ")}`);
  const target = path.resolve(v.out ?? packFile);
  // The adapter travels with the manifest, so the pack folder can be copied to another machine as it is.
  const stored = path.join(path.dirname(target), `${id}.gguf`);
  if (stored !== adapter) await copyFile(adapter, stored);
  const weight = num(v.default, "--default", 0);
  const version = nextVersion(pack.version);
  await writeBasisPack(target, {
    ...pack,
    version,
    policies: [...pack.policies, { id, label: v.label ?? id, description: v.description ?? `Adapter ${path.basename(adapter)}`, kind: "adapter", path: stored, default: weight }],
  });
  out(`imported ${path.basename(adapter)} as policy "${id}" into pack "${pack.id}" v${version} (${target})`);
  return 0;
}

function printDiagnosis(d: BasisDiagnosis, out: (line: string) => void): void {
  const k = d.ids.length;
  out(`${d.responses} calibration responses, ${k} dimensions, effective rank ${d.effectiveRank.toFixed(2)}`);
  out(`eigenvalues of cov(phi): ${d.eigenvalues.map((e) => e.toPrecision(3)).join(", ")}`);
  const w = Math.max(...d.ids.map((id) => id.length));
  out(`${"".padEnd(w)}  mean phi   sd phi     |phi|/token`);
  d.ids.forEach((id, i) => out(`${id.padEnd(w)}  ${d.mean[i].toFixed(3).padStart(8)}  ${Math.sqrt(d.covariance[i * k + i]).toFixed(3).padStart(8)}  ${d.effectPerToken[i].toExponential(2)}`));
  for (const p of d.redundantPairs) out(`redundant: ${p.a} and ${p.b} (correlation ${p.correlation.toFixed(3)}): the posterior cannot tell them apart; drop or retrain one`);
  for (const id of d.weakDimensions) out(`weak: ${id} has almost no effect on responses`);
  if (!d.redundantPairs.length && !d.weakDimensions.length) out("no redundant or weak dimensions");
}

async function diagnose(args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand(
    {
      usage: USAGE,
      options: {
      model: { type: "string" },
      pack: { type: "string" },
      calibration: { type: "string" },
      responses: { type: "string" },
      threshold: { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      },
    },
    args,
  ).values;
  const d = await diagnosePack(
    {
      modelPath: path.resolve(need(v.model, "--model")),
      packPath: path.resolve(need(v.pack, "--pack")),
      calibration: v.calibration && path.resolve(v.calibration),
      responses: v.responses === undefined ? undefined : int(v.responses, "--responses", 0, 1),
      threshold: v.threshold === undefined ? undefined : num(v.threshold, "--threshold", 0),
      threads: int(v.threads, "--threads", 1, 1),
    },
    new AbortController().signal,
  );
  if (v.json) out(JSON.stringify(d));
  else printDiagnosis(d, out);
  return 0;
}

export async function basisCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [sub, rest] = subcommand(args, ["check", "import", "diagnose"], USAGE, "basis");
  switch (sub) {
    case "check":
      return check(rest, out);
    case "import":
      return importAdapter(rest, out);
    case "diagnose":
      return diagnose(rest, out);
  }
}
