// Validation of a user-chosen GGUF file before the engine loads it: a wrong file should fail here with a sentence,
// not inside llama.cpp with a crash. The GGUF reader checks magic, version, metadata and that every tensor fits in
// the file (which also catches a truncated copy); this adds what a loadable model needs on top.
import * as path from "node:path";
import { metaValue, readGguf } from "../gguf/reader";
import { GgufError } from "../gguf/types";
import { modelProblem } from "../gguf/validate";

export interface LocalModelCheck {
  ok: boolean;
  message: string;
  architecture?: string;
}

export async function validateLocalModel(file: string): Promise<LocalModelCheck> {
  const name = path.basename(file);
  try {
    const gguf = await readGguf(file);
    const architecture = metaValue(gguf, "general.architecture");
    if (typeof architecture !== "string" || architecture === "") {
      return { ok: false, message: `${file}: no general.architecture in its metadata; it is not a model llama.cpp can load` };
    }
    if (gguf.tensors.length === 0) return { ok: false, message: `${file}: has no tensors; it is not a model` };
    const problem = modelProblem(gguf);
    if (problem) return { ok: false, message: `${file}: ${problem}; llama.cpp cannot load it` };
    return { ok: true, architecture, message: `${name}: GGUF v${gguf.version}, architecture ${architecture}, ${gguf.tensors.length} tensors` };
  } catch (e) {
    if (e instanceof GgufError) return { ok: false, message: `${e.message}; choose a GGUF model file` };
    throw e;
  }
}
