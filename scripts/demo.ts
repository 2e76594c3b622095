// The demo model the repository ships (models/demo): tinycoder, a 3M-parameter llama code model trained on
// TypeScript, JavaScript and Python, and its basis of four style LoRA adapters. `npm start` and the e2e flows use it.
import * as path from "node:path";

export const DEMO_DIR = path.resolve(__dirname, "..", "models", "demo");
export const DEMO_MODEL = path.join(DEMO_DIR, "tinycoder.gguf");
export const DEMO_PACK = path.join(DEMO_DIR, "pack.json");

/**
 * Settings for the demo model. It was trained on 256-token windows of a byte-level vocabulary (a token is about a
 * character): a few lines of prefix, one of suffix and 48 new tokens keep the FIM window near 256 tokens. A chat
 * answer, written after about 256 tokens of attached code, is held to 96 (past its window the model wanders).
 */
export const DEMO_SETTINGS: Readonly<Record<string, unknown>> = {
  "spectralSoup.modelPath": DEMO_MODEL,
  "spectralSoup.basisPack": DEMO_PACK,
  "spectralSoup.contextSize": 1024,
  "spectralSoup.completions.prefixLines": 4,
  "spectralSoup.completions.suffixLines": 1,
  "spectralSoup.completions.maxTokens": 48,
  "spectralSoup.chat.maxTokens": 96,
};
