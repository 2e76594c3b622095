// Which way to soup when the user leaves the mode on "auto". Adapter policies soup in the parameters at plain-model
// speed (one decode per token), so they win whenever every policy that has weight is an adapter. Prompted experts
// need K+1 decodes per token (explicit) or scoring N candidates under K+1 prompts (rerank, measured 5x a plain
// completion for K = 8 on a CPU): completions, which must arrive within a keystroke's budget, rerank while that
// fits; chat, which streams one answer the user waits for anyway, steers every token (explicit). A prompted expert
// with a head adapter distilled from it soups in the parameters for completions and keeps its prompt for chat.
import type { SoupMode } from "../../shared/soup";
import type { Surface } from "../adapt/feedback";

export interface SoupPlan {
  mode: SoupMode;
  weights: Record<string, number>;
}

export function planSoup(
  setting: SoupMode | "auto",
  surface: Surface,
  policies: readonly { id: string; kind: "prompted" | "adapter"; head?: boolean }[],
  weights: Readonly<Record<string, number>>,
  rerankFitsBudget = true,
): SoupPlan {
  if (setting !== "auto") return { mode: setting, weights: { ...weights } };
  const inParameters = (p: (typeof policies)[number]) => p.kind === "adapter" || (surface !== "chat" && p.head === true);
  const active = policies.filter((p) => (weights[p.id] ?? 0) !== 0);
  if (active.every(inParameters)) return { mode: "parameter", weights: { ...weights } };
  if (surface === "chat") return { mode: "explicit", weights: { ...weights } };
  if (rerankFitsBudget) return { mode: "rerank", weights: { ...weights } };
  // Scoring under the prompted experts does not fit the keystroke budget on this machine: soup what lives in the
  // parameters (adapters) and keep learning, since feedback is scored after the user acts.
  const adapters = new Set(policies.filter(inParameters).map((p) => p.id));
  return { mode: "parameter", weights: Object.fromEntries(Object.entries(weights).filter(([id]) => adapters.has(id))) };
}

/**
 * Whether reranking fits the completion time budget, from the latencies it has shown. After a miss it is tried
 * again every `probeEvery` completions, so a faster machine state (or a GPU) brings it back.
 */
export class RerankBudget {
  private ema: number | null = null;
  private sinceProbe = 0;

  constructor(private readonly probeEvery = 20) {}

  fits(budgetMs: number): boolean {
    if (this.ema === null || this.ema < 0.8 * budgetMs) return true;
    if (++this.sinceProbe < this.probeEvery) return false;
    this.sinceProbe = 0;
    return true;
  }

  /** A rerank's latency; a request dropped at the budget counts as the budget. */
  observe(ms: number): void {
    this.ema = this.ema === null ? ms : 0.7 * this.ema + 0.3 * ms;
  }
}
