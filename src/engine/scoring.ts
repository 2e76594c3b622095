// Features of a response: phi_k = log pi_k(y|x) - log pi_0(y|x) for every basis policy.
import type { Token } from "node-llama-cpp";
import { adapterStreams, type Loaded } from "./loaded";
import { EngineError, type PromptSpec } from "./protocol";
import { distributionOptions, responseLogProb, throwIfAborted } from "./sequences";

/**
 * One batched pass per policy. A FIM response is scored given the prefix only (an empty suffix): with the
 * suffix, every keystroke moves the whole suffix and each of the K+1 policies would evaluate it again (measured
 * 11.5x a plain completion for K = 8); without it, each policy's cached prompt only grows by the typed characters.
 *
 * Head-only adapters are scored on the reference sequence itself: their scales do not change the KV cache, so
 * after pi_0's pass only the response is evaluated again, once per adapter, with that adapter at scale 1 on the
 * base context. No context per adapter is needed (each would hold a KV cache of its own).
 */
export async function scoreTokens(l: Loaded, prompt: PromptSpec, response: Token[], signal: AbortSignal): Promise<number[]> {
  const scored: PromptSpec = prompt.kind === "fim" ? { ...prompt, suffix: "" } : prompt;
  const options = distributionOptions(l.vocabSize);
  const logProb = async (sequence: Loaded["baseStream"]["sequence"], tokens: Token[]) => {
    checkRoom(l, tokens.length, response.length);
    throwIfAborted(signal);
    return responseLogProb(sequence, tokens, response, l.vocabSize, options);
  };
  await l.parameter?.reference();
  const shared = [l.baseStream, ...l.promptedStreams];
  const sharedLogp = await Promise.all(shared.map((s) => logProb(s.sequence, l.prompts.tokens(scored, s.policy))));
  let adapterLogp: number[] = [];
  if (l.adapters.length && l.parameter?.headOnly) {
    const tokens = l.prompts.tokens(scored);
    for (const a of l.adapters) {
      await l.parameter.single(a.path);
      adapterLogp.push(await logProb(l.baseStream.sequence, tokens));
    }
  } else if (l.adapters.length) {
    const streams = await adapterStreams(l);
    adapterLogp = await Promise.all(streams.map((s) => logProb(s.sequence, l.prompts.tokens(scored, s.policy))));
  }
  const logp = [...sharedLogp, ...adapterLogp];
  return logp.slice(1).map((v) => v - logp[0]);
}

export function checkRoom(l: Loaded, promptTokens: number, more: number): void {
  const size = l.baseContext.contextSize;
  if (promptTokens + more > size) {
    throw new EngineError(
      "bad-request",
      `prompt of ${promptTokens} tokens plus ${more} more does not fit the context of ${size} tokens: shorten the prompt or raise contextSize`,
    );
  }
}
