// A random-weight model of Qwen2.5-Coder-0.5B's shape (24 layers, n_embd 896, 14 heads of which 2 KV, FFN 4864,
// vocabulary 151,936), llama architecture (no attention biases), written as F16 by the project's generator and
// quantized to Q8_0 with llama.cpp's own llama-quantize. Both files are cached outside the repository.
import { execFileSync } from "node:child_process";
import { access } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { syntheticModelCache, type SyntheticModelOptions } from "../src/core/gguf/synthetic";

export const QWEN_05B_SHAPE: SyntheticModelOptions = {
  seed: 1,
  nEmbd: 896,
  nLayer: 24,
  nHead: 14,
  nHeadKv: 2,
  nFf: 4864,
  contextLength: 2048,
  vocabSize: 151936,
  weightType: "f16",
};

export const MODEL_CACHE = path.join(os.homedir(), ".cache", "spectral-soup-bench-models");

/** The Q8_0 file, generated and quantized on first use (minutes; about 0.5 GB). */
export async function qwenShapedModel(log: (s: string) => void): Promise<string> {
  const f16 = await syntheticModelCache(MODEL_CACHE, QWEN_05B_SHAPE);
  const q8 = f16.replace(/\.gguf$/, "-q8_0.gguf");
  try {
    await access(q8);
    return q8;
  } catch {
    // Quantized below.
  }
  const bin = execFileSync("bash", [path.resolve(__dirname, "../scripts/llama-tools.sh"), "--path"], { encoding: "utf8" }).trim();
  log(`quantizing ${f16} to Q8_0 with ${bin}/llama-quantize ...`);
  execFileSync(path.join(bin, "llama-quantize"), [f16, `${q8}.tmp`, "Q8_0", "1"], { stdio: "ignore" });
  execFileSync("mv", [`${q8}.tmp`, q8]);
  return q8;
}

if (require.main === module) {
  qwenShapedModel((s) => process.stderr.write(s + "\n")).then((p) => console.log(p));
}
