// Basis packs: a versioned manifest naming the base model and the K basis policies of a soup.
// Validation returns every problem with its JSON path so a hand-edited manifest is easy to fix.
import * as path from "node:path";
import { entriesWithIds, isObj } from "../../shared/check";
import { POLICY_ID } from "../../shared/soup";
import { readJsonFile, sha256File, writeFileAtomic } from "../files";
import { checkBasisCompatibility } from "../gguf/compat";

export type BasisPolicy =
  | {
      id: string;
      label: string;
      description: string;
      kind: "prompted";
      /** System instruction added to chat prompts. */
      chat: string;
      /** Header or exemplar placed before the code in FIM and raw prompts. */
      fim: string;
      /**
       * Code exemplars for FIM on base models, by language: keys are comma-separated VS Code language ids, values a
       * short snippet in the style placed before the prefix as if earlier in the file. A FIM prompt in a language
       * with no exemplar leaves this expert equal to the base model there; one without a language uses `fim`.
       */
      exemplars?: Record<string, string>;
      /** Default slider value (the prior mean of this dimension's weight). */
      default: number;
    }
  | {
      id: string;
      label: string;
      description: string;
      kind: "adapter" | "model";
      /** GGUF file, relative to the manifest's folder or absolute. */
      path: string;
      /** sha256 of the file: a server's copy is matched by it when its file name is the hash. */
      sha256?: string;
      default: number;
    };

export interface BasisPack {
  id: string;
  version: string;
  label: string;
  /** The base model the policies were made for; absent for prompted-only packs that suit any model. */
  base?: { name: string; sha256?: string };
  policies: BasisPolicy[];
}

export class BasisPackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BasisPackError";
  }
}

/** Checks a parsed manifest; throws one BasisPackError listing every problem. */
export function validateBasisPack(raw: unknown, source: string): BasisPack {
  const problems: string[] = [];
  const str = (o: Record<string, unknown>, key: string, at: string) => {
    if (typeof o[key] !== "string" || (o[key] as string).length === 0) problems.push(`${at}.${key} must be a non-empty string`);
  };
  if (!isObj(raw)) throw new BasisPackError(`${source}: a basis pack must be a JSON object`);
  str(raw, "id", "$");
  str(raw, "version", "$");
  str(raw, "label", "$");
  if (raw.base !== undefined && !(isObj(raw.base) && typeof raw.base.name === "string")) {
    problems.push("$.base must be {name, sha256?}");
  } else if (isObj(raw.base) && raw.base.sha256 !== undefined && !(typeof raw.base.sha256 === "string" && /^[0-9a-fA-F]{64}$/.test(raw.base.sha256))) {
    problems.push("$.base.sha256 must be 64 hex digits");
  }
  const policies = entriesWithIds(raw.policies, "$.policies", POLICY_ID, problems, " (an empty basis has nothing to soup)");
  for (const [p, at] of policies) {
    str(p, "label", at);
    str(p, "description", at);
    if (typeof p.default !== "number" || !Number.isFinite(p.default)) problems.push(`${at}.default must be a number`);
    if (p.kind === "prompted") {
      str(p, "chat", at);
      str(p, "fim", at);
      if (p.exemplars !== undefined) {
        if (!isObj(p.exemplars)) problems.push(`${at}.exemplars must be an object of language ids to code snippets`);
        else
          for (const [langs, text] of Object.entries(p.exemplars)) {
            if (!/^[a-z][a-z0-9-]*(,[a-z][a-z0-9-]*)*$/.test(langs)) problems.push(`${at}.exemplars: key "${langs}" must be comma-separated language ids`);
            if (typeof text !== "string" || !text.trim()) problems.push(`${at}.exemplars["${langs}"] must be a non-empty code snippet`);
          }
      }
    } else if (p.kind === "adapter" || p.kind === "model") {
      str(p, "path", at);
      if (p.sha256 !== undefined && !(typeof p.sha256 === "string" && /^[0-9a-fA-F]{64}$/.test(p.sha256))) problems.push(`${at}.sha256 must be 64 hex digits`);
    } else {
      problems.push(`${at}.kind must be "prompted", "adapter" or "model" (got ${JSON.stringify(p.kind)})`);
    }
  }
  if (problems.length) throw new BasisPackError(`${source}: invalid basis pack:\n  ${problems.join("\n  ")}`);
  return raw as unknown as BasisPack;
}

/** Reads and validates a manifest; adapter/model paths come back absolute. */
export async function loadBasisPack(file: string): Promise<BasisPack> {
  const raw = await readJsonFile(file, "basis pack", (m) => new BasisPackError(m));
  const pack = validateBasisPack(raw, file);
  const dir = path.dirname(file);
  return {
    ...pack,
    policies: pack.policies.map((p) => (p.kind === "prompted" ? p : { ...p, path: path.resolve(dir, p.path) })),
  };
}

/**
 * The FIM exemplar of a prompted expert for a file of `language`: the snippet whose key names it, "" when the expert
 * has exemplars but none for this language (it then adds nothing), undefined when it has none at all (use `fim`).
 */
export function fimExemplar(exemplars: Readonly<Record<string, string>> | undefined, language: string | undefined): string | undefined {
  if (!exemplars || language === undefined) return undefined;
  for (const [langs, text] of Object.entries(exemplars)) if (langs.split(",").includes(language)) return text;
  return "";
}

/**
 * Every reason the pack cannot be used with this model file: a base sha256 that differs, and the first policy file
 * that does not fit the model (the message names the policy, the tensor and the shapes). Empty when compatible.
 */
export async function checkPackAgainstModel(pack: BasisPack, modelPath: string): Promise<string[]> {
  const problems: string[] = [];
  if (pack.base?.sha256) {
    const actual = await sha256File(modelPath);
    if (actual !== pack.base.sha256.toLowerCase()) {
      problems.push(`base model: ${path.basename(modelPath)} has sha256 ${actual}, but pack "${pack.id}" was made for ${pack.base.name} (${pack.base.sha256})`);
    }
  }
  const files = pack.policies.flatMap((p) => (p.kind === "prompted" ? [] : [{ id: p.id, path: p.path }]));
  const result = await checkBasisCompatibility(modelPath, files);
  if (!result.ok) problems.push(result.message);
  return problems;
}

/** The version after `version`: its last number plus one ("1" -> "2", "2.4" -> "2.5"), else `version.1`. */
export function nextVersion(version: string): string {
  const m = /^(.*?)(\d+)$/.exec(version);
  return m ? `${m[1]}${Number(m[2]) + 1}` : `${version}.1`;
}

/** Writes a manifest atomically, validated first; adapter and model paths are stored relative to its folder. */
export async function writeBasisPack(file: string, pack: BasisPack): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const stored = {
    ...pack,
    policies: pack.policies.map((p) => (p.kind === "prompted" ? p : { ...p, path: path.relative(dir, path.resolve(p.path)).split(path.sep).join("/") })),
  };
  validateBasisPack(stored, file);
  await writeFileAtomic(file, JSON.stringify(stored, null, 2) + "\n");
}
