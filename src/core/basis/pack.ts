// Basis packs: a versioned manifest naming the base model and the K basis policies of a soup.
// Validation returns every problem with its JSON path so a hand-edited manifest is easy to fix.
import { promises as fs } from "node:fs";
import * as path from "node:path";

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

const ID = /^[a-z][a-z0-9-]{0,31}$/;

/** Checks a parsed manifest; throws one BasisPackError listing every problem. */
export function validateBasisPack(raw: unknown, source: string): BasisPack {
  const problems: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const str = (o: Record<string, unknown>, key: string, at: string) => {
    if (typeof o[key] !== "string" || (o[key] as string).length === 0) problems.push(`${at}.${key} must be a non-empty string`);
  };
  if (!isObj(raw)) throw new BasisPackError(`${source}: a basis pack must be a JSON object`);
  str(raw, "id", "$");
  str(raw, "version", "$");
  str(raw, "label", "$");
  if (raw.base !== undefined && !(isObj(raw.base) && typeof raw.base.name === "string")) {
    problems.push("$.base must be {name, sha256?}");
  }
  if (!Array.isArray(raw.policies) || raw.policies.length === 0) {
    problems.push("$.policies must be a non-empty array (an empty basis has nothing to soup)");
  } else {
    const seen = new Set<string>();
    raw.policies.forEach((p, i) => {
      const at = `$.policies[${i}]`;
      if (!isObj(p)) {
        problems.push(`${at} must be an object`);
        return;
      }
      if (typeof p.id !== "string" || !ID.test(p.id)) problems.push(`${at}.id must match ${ID} (got ${JSON.stringify(p.id)})`);
      else if (seen.has(p.id)) problems.push(`${at}.id "${p.id}" is used twice`);
      else seen.add(p.id);
      str(p, "label", at);
      str(p, "description", at);
      if (typeof p.default !== "number" || !Number.isFinite(p.default)) problems.push(`${at}.default must be a number`);
      if (p.kind === "prompted") {
        str(p, "chat", at);
        str(p, "fim", at);
      } else if (p.kind === "adapter" || p.kind === "model") {
        str(p, "path", at);
      } else {
        problems.push(`${at}.kind must be "prompted", "adapter" or "model" (got ${JSON.stringify(p.kind)})`);
      }
    });
  }
  if (problems.length) throw new BasisPackError(`${source}: invalid basis pack:\n  ${problems.join("\n  ")}`);
  return raw as unknown as BasisPack;
}

/** Reads and validates a manifest; adapter/model paths come back absolute. */
export async function loadBasisPack(file: string): Promise<BasisPack> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new BasisPackError(`${file}: cannot read basis pack (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BasisPackError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const pack = validateBasisPack(raw, file);
  const dir = path.dirname(file);
  return {
    ...pack,
    policies: pack.policies.map((p) => (p.kind === "prompted" ? p : { ...p, path: path.resolve(dir, p.path) })),
  };
}
