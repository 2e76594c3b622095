// Small state files: atomic replacement (a crash or a full disk mid-write leaves either the old file or the new one,
// never a truncated mix), JSON reading with errors that name the file, and a file's sha256.
import { createHash, randomBytes } from "node:crypto";
import * as fsSync from "node:fs";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import * as path from "node:path";

const tempName = (file: string) => `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  // Unique per write, so two writers in flight never share a temp file.
  const tmp = tempName(file);
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The synchronous form, for state written on paths that must not yield (the feedback store's appends and snapshots). */
export function writeFileAtomicSync(file: string, data: string): void {
  const tmp = tempName(file);
  try {
    const fd = fsSync.openSync(tmp, "w");
    try {
      fsSync.writeSync(fd, data);
      fsSync.fsyncSync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
    fsSync.renameSync(tmp, file);
  } catch (err) {
    fsSync.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Reads and parses a JSON file; a failure becomes `makeError` with a message naming the file and the problem. */
export async function readJsonFile(file: string, what: string, makeError: (message: string) => Error): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw makeError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw makeError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Hex sha256 of a file's bytes, streamed (model files are gigabytes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fsSync.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
