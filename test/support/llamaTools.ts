// llama.cpp's own programs for checks against it: the tools scripts/llama-tools.sh builds (llama-quantize, ...)
// and the dequantization filter scripts/ggml-dequant-ref.sh compiles. Both live in a cache outside the
// repository; tests skip with the script's message when they are absent.
import { execFile, spawnSync } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";

const SCRIPTS = path.resolve(__dirname, "../../scripts");

function runScript(script: string, args: string[], timeoutMs: number): { path?: string; why: string } {
  const r = spawnSync("bash", [path.join(SCRIPTS, script), ...args], { encoding: "utf8", timeout: timeoutMs });
  const out = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  if (r.status === 0 && out) return { path: out, why: "" };
  return { why: (r.stderr ?? "").trim().split("\n").pop() || `${script} failed (${r.error?.message ?? r.status})` };
}

/** The folder of llama-quantize and friends, or why it is absent (never builds: that takes 20-40 minutes). */
export function llamaToolsBin(): { path?: string; why: string } {
  return runScript("llama-tools.sh", ["--path"], 10_000);
}

/** The dequantization filter, built on first use (about 10 seconds: a clone of the bundle and one C file). */
export function dequantRefBinary(): { path?: string; why: string } {
  return runScript("ggml-dequant-ref.sh", [], 120_000);
}

/** llama.cpp's dequantization of `count` values of ggml type `type` stored in `bytes`. */
export async function dequantRef(binary: string, type: number, count: number, bytes: Uint8Array): Promise<Float32Array> {
  const out = await new Promise<Buffer>((resolve, reject) => {
    const child = execFile(binary, [String(type), String(count)], { encoding: "buffer", maxBuffer: count * 4 + 1024 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin!.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  if (out.length !== count * 4) throw new Error(`ggml-dequant-ref wrote ${out.length} bytes for ${count} values`);
  return new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
}

/** ggml's own quantization (quantize_*, no importance matrix) of `rows` rows of `nPerRow` floats. */
export async function ggmlQuantize(binary: string, type: number, rows: number, nPerRow: number, data: Float32Array): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const child = execFile(binary, ["q", String(type), String(rows), String(nPerRow)], { encoding: "buffer", maxBuffer: data.length * 4 + 1024 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin!.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

export const execFileAsync = promisify(execFile);
