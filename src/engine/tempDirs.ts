// Temporary folders of the engine process (souped adapters and their partial .tmp files). Each name carries the
// owner's pid: the engine removes its own on exit, and on start those whose owner is gone (an engine killed
// before it could clean up), while folders of engines still running in other windows are left alone.
import { rmSync } from "node:fs";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const TEMP_PREFIX = "spectral-soup-souped-";
/** Folders from before names carried a pid are removed once this old. */
const UNOWNED_MAX_AGE_MS = 24 * 3600 * 1000;

const owned = new Set<string>();

/** A fresh temp folder owned by this process, removed by removeOwnedTempDirs. */
export async function makeOwnedTempDir(root = os.tmpdir()): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, `${TEMP_PREFIX}${process.pid}-`));
  owned.add(dir);
  return dir;
}

/** Removes this process's temp folders; synchronous, so that it can run in an "exit" handler. */
export function removeOwnedTempDirs(): void {
  for (const dir of owned) rmSync(dir, { recursive: true, force: true });
  owned.clear();
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the pid exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes temp folders left by engines that are no longer running; returns how many. */
export async function removeStaleTempDirs(root = os.tmpdir(), now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(root, name);
    const pid = /^(\d+)-/.exec(name.slice(TEMP_PREFIX.length))?.[1];
    let stale: boolean;
    if (pid !== undefined) stale = Number(pid) !== process.pid && !running(Number(pid));
    else stale = now - ((await fs.stat(dir).catch(() => null))?.mtimeMs ?? now) > UNOWNED_MAX_AGE_MS;
    if (!stale) continue;
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
    removed++;
  }
  return removed;
}
