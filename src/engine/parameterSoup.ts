// Parameter souping: one context carries every adapter at scale w_k (native llama.cpp LoRA) and decodes like a
// plain model. This module owns the adapters set on that context: the scales it runs, whether it runs the K
// adapters or the souped adapter written for these weights, the write left for after a request, and freeing it.
import type { LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { EngineError, type PolicySpec } from "./protocol";
import { SoupedAdapters, type WeightedAdapter } from "./soupedAdapters";

type AdapterPolicy = Extract<PolicySpec, { kind: "adapter" }>;

export class ParameterSoup {
  /** What the context runs now: "" (no adapter), "k:<scales>" (the K adapters), "s:<scales>" (souped), "1:<file>". */
  private applied = "";
  /** The scales the sequence's KV cache was computed under (adapters on attention/FFN weights change it). */
  private kvScales: string;
  private readonly written: SoupedAdapters;
  /** A souped adapter to write once the current request is done. */
  private pending: (() => void) | null = null;

  /**
   * Head-only adapters leave the KV cache unchanged when their scales change, so they share the reference
   * policy's context and sequence (no second KV cache); other adapters get a context of their own.
   */
  constructor(
    model: LlamaModel,
    private readonly context: LlamaContext,
    readonly sequence: LlamaContextSequence,
    private readonly adapters: AdapterPolicy[],
    readonly headOnly: boolean,
    log: (message: string) => void,
  ) {
    this.kvScales = adapters.map(() => 0).join(",");
    this.written = new SoupedAdapters(model, context, log);
  }

  /** The sequence to decode on, its context set to these adapter scales (one per adapter, in basis order). */
  async sequenceFor(scales: number[]): Promise<LlamaContextSequence> {
    const key = scales.join(",");
    const souped = this.written.get(key);
    if (scales.every((s) => s === 0)) await this.apply("", []);
    // Same delta as the K adapters, one pair of products instead of K.
    else if (souped) await this.apply(`s:${key}`, [{ filePath: souped, scale: 1 }]);
    else {
      const adapters: WeightedAdapter[] = this.adapters.map((a, k) => ({ filePath: a.path, scale: scales[k] }));
      await this.apply(`k:${key}`, adapters);
      // Written after this request, so its first tokens do not share the main thread with the write.
      this.pending = () => this.written.build(key, adapters, () => this.kvScales);
    }
    // KV entries computed under other scales are stale unless only the output head changed.
    if (key !== this.kvScales) {
      if (!this.headOnly) await this.sequence.clearHistory();
      this.kvScales = key;
    }
    return this.sequence;
  }

  /** Clears the adapters before the reference policy (or a prompted expert) evaluates on a shared context. */
  async reference(): Promise<void> {
    if (this.headOnly) await this.apply("", []);
  }

  /** One adapter alone at scale 1 on the shared context (scoring a head-only adapter expert). */
  async single(filePath: string): Promise<void> {
    if (!this.headOnly) throw new EngineError("internal", "only head-only adapters are scored on the shared context");
    await this.apply(`1:${filePath}`, [{ filePath, scale: 1 }]);
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

  private async apply(key: string, adapters: WeightedAdapter[]): Promise<void> {
    if (key === this.applied) return;
    await setAdapterScales(this.context, adapters);
    this.applied = key;
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
