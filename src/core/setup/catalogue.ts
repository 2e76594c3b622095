// The catalogue of recommended base models: GGUF code models with FIM tokens and a chat template that fit a
// laptop. Values that could not be checked against the host are null and the entry says verified: false, so
// the downloader knows when it cannot check a file's size or hash.
import { entriesWithIds, isObj } from "../../shared/check";
import { readJsonFile } from "../files";

export interface CatalogueModel {
  id: string;
  name: string;
  /** Direct download URL, pinned to a commit where known. */
  url: string;
  sizeBytes: number | null;
  sha256: string | null;
  license: string;
  contextLength: number;
  note: string;
  /** True when url, sizeBytes and sha256 were all checked against the host's records. */
  verified: boolean;
}

export interface ModelCatalogue {
  version: string;
  models: CatalogueModel[];
}

export class CatalogueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatalogueError";
  }
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Checks a parsed catalogue; throws one CatalogueError listing every problem with its JSON path. */
export function validateCatalogue(raw: unknown, source: string): ModelCatalogue {
  if (!isObj(raw)) throw new CatalogueError(`${source}: a model catalogue must be a JSON object`);
  const problems: string[] = [];
  if (typeof raw.version !== "string" || !raw.version) problems.push("$.version must be a non-empty string");
  for (const [m, at] of entriesWithIds(raw.models, "$.models", ID, problems)) {
    for (const key of ["name", "license", "note"]) {
      if (typeof m[key] !== "string" || !m[key]) problems.push(`${at}.${key} must be a non-empty string`);
    }
    if (typeof m.url !== "string" || !/^https:\/\/\S+\.gguf$/.test(m.url)) problems.push(`${at}.url must be an https URL of a .gguf file`);
    if (!Number.isInteger(m.contextLength) || (m.contextLength as number) <= 0) problems.push(`${at}.contextLength must be a positive integer`);
    if (m.sizeBytes !== null && (!Number.isSafeInteger(m.sizeBytes) || (m.sizeBytes as number) <= 0)) {
      problems.push(`${at}.sizeBytes must be a positive integer or null`);
    }
    if (m.sha256 !== null && (typeof m.sha256 !== "string" || !SHA256.test(m.sha256))) {
      problems.push(`${at}.sha256 must be 64 lowercase hex digits or null`);
    }
    if (typeof m.verified !== "boolean") problems.push(`${at}.verified must be true or false`);
    else if (m.verified && (m.sizeBytes === null || m.sha256 === null)) {
      problems.push(`${at}.verified is true but sizeBytes or sha256 is null`);
    }
  }
  if (problems.length) throw new CatalogueError(`${source}: invalid model catalogue:\n  ${problems.join("\n  ")}`);
  return raw as unknown as ModelCatalogue;
}

export async function loadCatalogue(file: string): Promise<ModelCatalogue> {
  return validateCatalogue(await readJsonFile(file, "model catalogue", (m) => new CatalogueError(m)), file);
}
