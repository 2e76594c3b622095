// Starts real llama-servers for tests and benchmarks through scripts/llama-server.sh (built by
// scripts/llama-tools.sh); absent a build, `llamaServerMissing` says why, so callers skip with that message.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

/** Why no llama-server can be started here, or null when one can. */
export function llamaServerMissing(): string | null {
  const own = process.env.SOUP_LLAMA_SERVER;
  if (own) return existsSync(own) ? null : `SOUP_LLAMA_SERVER=${own} does not exist`;
  const r = spawnSync("bash", [path.join(ROOT, "scripts/llama-tools.sh"), "--path"], { encoding: "utf8" });
  return r.status === 0 ? null : `llama-server is not built (${r.stderr.trim() || "scripts/llama-tools.sh --path failed"})`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  /** The server's stderr and stdout so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `scripts/llama-server.sh ARGS` on a free port and waits until /health answers 200. */
export async function startLlamaServer(args: string[], timeoutMs = 60000): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn("bash", [path.join(ROOT, "scripts/llama-server.sh"), "--port", String(port), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  let exited = false;
  child.once("exit", () => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (exited) throw new Error(`llama-server exited while starting:\n${log.slice(-2000)}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) return { url, child, log: () => log, stop };
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`llama-server did not become healthy within ${timeoutMs} ms:\n${log.slice(-2000)}`);
}
