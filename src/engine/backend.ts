// What the extension, the CLI and the benchmarks call to soup: the in-process engine's client (a forked engine
// process) or a remote engine on a llama-server pool; both take the same typed requests and give the same results.
import type { RequestOptions } from "./client";
import type { EngineMethods, GenerateParams, GenerateResult, LoadParams, StatusResult } from "./protocol";

export interface EngineBackend {
  load(params: LoadParams, options?: RequestOptions): Promise<StatusResult>;
  generate(params: GenerateParams, options?: RequestOptions): Promise<GenerateResult>;
  score(params: EngineMethods["score"]["params"], options?: RequestOptions): Promise<EngineMethods["score"]["result"]>;
  next(params: EngineMethods["next"]["params"], options?: RequestOptions): Promise<EngineMethods["next"]["result"]>;
  status(): Promise<StatusResult>;
  dispose(): void;
}
