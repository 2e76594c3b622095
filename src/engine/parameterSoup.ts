// Parameter souping: one context carries every adapter at scale w_k (native llama.cpp LoRA) and decodes like a
// plain model. This module owns that context's state: the scales it runs, whether it runs the K adapters or the
// souped adapter written for these weights, the write left for after a request, and freeing it all.
import type { LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { EngineError, type PolicySpec } from "./protocol";
import { SoupedAdapters, type WeightedAdapter } from "./soupedAdapters";

type AdapterPolicy = Extract<PolicySpec, { kind: "adapter" }>;

export class ParameterSoup {
  readonly sequence: LlamaContextSequence;
  private scalesKey: string;
  /** Whether the context runs one souped adapter (or none) rather than K separate ones. */
  private souped = true;
  private readonly written: SoupedAdapters;
  /** A souped adapter to write once the current request is done. */
  private pending: (() => void) | null = null;

  constructor(
    model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly adapters: AdapterPolicy[],
    /** Adapters that touch only output.weight leave the KV cache unchanged when their scales change. */
    readonly headOnly: boolean,
    log: (message: string) => void,
  ) {
    this.sequence = context.getSequence();
    // Starts with no adapter: all weights are 0 until a request says otherwise.
    this.scalesKey = adapters.map(() => 0).join(",");
    this.written = new SoupedAdapters(model, context, log);
  }

  /** The sequence to decode on, its context set to these adapter scales (one per adapter, in basis order). */
  async sequenceFor(scales: number[]): Promise<LlamaContextSequence> {
    const adapters: WeightedAdapter[] = this.adapters.map((a, k) => ({ filePath: a.path, scale: scales[k] }));
    const key = scales.join(",");
    const souped = this.written.get(key);
    if (key !== this.scalesKey) {
      const zero = scales.every((s) => s === 0);
      await setAdapterScales(this.context, zero ? [] : souped ? [{ filePath: souped, scale: 1 }] : adapters);
      this.scalesKey = key;
      this.souped = zero || souped !== undefined;
      // Written after this request, so its first tokens do not share the main thread with the write.
      this.pending = this.souped ? null : () => this.written.build(key, adapters, () => this.scalesKey);
      // KV entries computed under other scales are stale unless only the output head changed.
      if (!this.headOnly) await this.sequence.clearHistory();
    } else if (!this.souped && souped) {
      // Same delta as the K adapters, one pair of products instead of K: cached KV stays valid.
      await setAdapterScales(this.context, [{ filePath: souped, scale: 1 }]);
      this.souped = true;
    }
    return this.sequence;
  }

  /** Starts the background work a request left (writing a souped adapter). */
  afterRequest(): void {
    const pending = this.pending;
    this.pending = null;
    pending?.();
  }

  /** Waits for background writes (tests and benchmarks measure the steady state). */
  async settled(): Promise<void> {
    this.afterRequest();
    await this.written.settled();
  }

  async dispose(): Promise<void> {
    this.pending = null;
    await this.written.dispose();
  }
}

/** Changes LoRA scales on a live context (an internal node-llama-cpp call measured at 0.1 ms; checked against 3.21.1). */
export async function setAdapterScales(ctx: LlamaContext, adapters: WeightedAdapter[]): Promise<void> {
  const internal = ctx as unknown as { _setLoras?: (a: WeightedAdapter[]) => Promise<void> };
  if (typeof internal._setLoras !== "function") {
    throw new EngineError("internal", "this node-llama-cpp build cannot change adapter scales on a live context");
  }
  await internal._setLoras(adapters);
}
