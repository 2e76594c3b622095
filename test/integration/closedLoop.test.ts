// The closed loop: the posterior learns soup weights from ratings of REAL generated text. Each round the engine
// generates with the current Thompson sample (explicit mode, so phi comes with the text), a scripted user rates the
// text by a hidden text-level rule, and the posterior is updated.
import * as assert from "node:assert/strict";
import { AgingPosterior, STREAM_POSTERIOR } from "../../src/core/adapt/aging";
import { SoupPosterior, type Learner } from "../../src/core/adapt/posterior";
import { seededRng } from "../../src/core/random";
import type { EngineClient } from "../../src/engine/client";
import type { PolicySpec, PromptSpec } from "../../src/engine/protocol";
import { BYTE_PROMPT, BYTE_SETS, loadByteSets, measureShare, setShare } from "../support/byteSets";
import { engineClient, hasSharedModels, SPARKY, STORIES } from "../support/engine";


async function learn<P extends Learner>(opts: {
  posterior: P;
  client: EngineClient;
  policies: PolicySpec[];
  prompt: PromptSpec;
  rounds: number;
  likes: (text: string) => boolean;
  temperature: number;
  maxTokens: number;
  seed: number;
  onRound?: (round: number, posterior: P) => Promise<boolean>;
}): Promise<{ posterior: P; ups: number; stoppedAt: number }> {
  const ids = opts.policies.map((p) => p.id);
  const posterior = opts.posterior;
  const rng = seededRng(opts.seed);
  let ups = 0;
  for (let round = 1; round <= opts.rounds; round++) {
    const w = posterior.sample(rng);
    const r = await opts.client.generate({
      prompt: opts.prompt,
      mode: "explicit",
      weights: Object.fromEntries(ids.map((id, k) => [id, w[k]])),
      maxTokens: opts.maxTokens,
      temperature: opts.temperature,
      seed: opts.seed * 1000 + round,
    });
    const up = opts.likes(r.text);
    ups += up ? 1 : 0;
    posterior.observe({ type: "rating", features: ids.map((id) => r.features![id]), up, surface: "chat", signal: "thumb" });
    if (opts.onRound && (await opts.onRound(round, posterior))) return { posterior, ups, stoppedAt: round };
  }
  return { posterior, ups, stoppedAt: opts.rounds };
}

describe("closed loop: posterior + real inference", function () {
  // The user thumbs up text past a share of vowels, a step: the thumbs are separable in the features, so 30 of them fix
  // the direction of the weights but not their size, which the prior sets (measured with bench/closedLoop.ts over 16
  // seeds: the favourite's share under the learned mean exceeded base + 0.15 in 4 of 16, twice the base model's with
  // the favourite's weight the largest in 16 of 16). The test checks what the loop learns reliably, on four seeds.
  it("generated model: on each of four seeds, the favourite byte set's weight is the largest and its share at least doubles within 30 ratings", async () => {
    const client = engineClient();
    try {
      const policies = await loadByteSets(client);
      const share = setShare(BYTE_SETS[1]);
      const prompt = BYTE_PROMPT;
      const measure = (weights: Record<string, number>) => measureShare(client, share, weights);
      const base = await measure({});
      for (const seed of [1, 2, 3, 4]) {
        const { posterior, ups } = await learn({
          posterior: new AgingPosterior({ dims: policies.length, ...STREAM_POSTERIOR }),
          client,
          policies,
          prompt,
          rounds: 30,
          likes: (t) => share(t) > 0.15,
          temperature: 1,
          maxTokens: 32,
          seed,
        });
        const mean = posterior.mean();
        const learned = await measure(Object.fromEntries(policies.map((p, k) => [p.id, mean[k]])));
        console.log(`      seed ${seed}: base share ${base.toFixed(3)}, learned share ${learned.toFixed(3)}, weights ${mean.map((x) => x.toFixed(2)).join(", ")}, ${ups}/30 up`);
        assert.ok(learned > 2 * base, `seed ${seed}: favourite share ${learned} vs base ${base}`);
        assert.ok(mean[1] > mean[0] && mean[1] > mean[2], `seed ${seed}: the favourite dimension has the largest weight (${mean})`);
      }
    } finally {
      client.dispose();
    }
  });

  it("stories260K: a user who likes dragons gets Sparky under the learned mean within 20 ratings", async function () {
    if (!hasSharedModels()) {
      console.log(`      skipped: ${STORIES} or ${SPARKY} not present`);
      this.skip();
    }
    const policies: PolicySpec[] = [
      { id: "sparky", kind: "adapter", path: SPARKY },
      { id: "park", kind: "prompted", chat: "Tell a story about a park.", fim: "Lily went to the park with her mom. They played on the swings." },
    ];
    const client = engineClient();
    try {
      await client.load({ modelPath: STORIES, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis: { kind: "policies", id: "stories", version: "1", policies } });
      const prompt = { kind: "raw" as const, text: "Once upon a time" };
      const greedyUnderMean = async (p: Learner) => {
        const m = p.mean();
        return (await client.generate({ prompt, mode: "explicit", weights: { sparky: m[0], park: m[1] }, maxTokens: 24, temperature: 0 })).text;
      };
      assert.doesNotMatch(await greedyUnderMean(new SoupPosterior({ dims: 2 })), /Sparky/, "the prior mean (w = 0) tells the Lily story");
      let last = "";
      const { stoppedAt } = await learn({
        posterior: new SoupPosterior({ dims: policies.length }),
        client,
        policies,
        prompt,
        rounds: 20,
        likes: (t) => /dragon|Sparky/i.test(t),
        temperature: 1,
        maxTokens: 24,
        seed: 1,
        onRound: async (_round, p) => /Sparky/.test((last = await greedyUnderMean(p))),
      });
      console.log(`      Sparky under the learned mean after ${stoppedAt} ratings: ${JSON.stringify(last)}`);
      assert.match(last, /Sparky/);
    } finally {
      client.dispose();
    }
  });
});
