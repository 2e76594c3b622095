import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** A fresh temp folder for one suite, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "soup-gguf-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Asserts that `promise` rejects with a message naming `file` and matching `problem`. */
export async function rejectsNaming(promise: Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  let message: string | undefined;
  try {
    await promise;
  } catch (err) {
    message = (err as Error).message;
  }
  if (message === undefined) throw new Error(`expected a rejection naming ${file}`);
  if (!message.includes(path.basename(file)) || !problem.test(message)) {
    throw new Error(`message ${JSON.stringify(message)} should name ${path.basename(file)} and match ${problem}`);
  }
}
