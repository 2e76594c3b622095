// Posterior rules on the closed loop with REAL inference, over several seeds: the generated model of the
// closed-loop integration test with three head adapters (digits, vowels, brackets), a scripted user who likes text
// with more than 15% vowels, 30 thumbs. Per rule and seed: the favourite's share under the learned mean (6 fixed
// generations) against the base model's, and whether it passes the integration test's bar (> base + 0.15 and
// > 2 x base). The simulator cannot tell whether a rule starves this loop of exploration; this does.
//   node --import tsx bench/closedLoop.ts [--seeds 8] [--rules plain,robust-0.98,stream]
import { AgingPosterior, STREAM_POSTERIOR } from "../src/core/adapt/aging";
import { SoupPosterior, type Learner } from "../src/core/adapt/posterior";
import { seededRng } from "../src/core/random";
import { BYTE_PROMPT, BYTE_SETS, loadByteSets, measureShare, setShare } from "../test/support/byteSets";
import { engineClient } from "../test/support/engine";


const RULES: Record<string, (dims: number) => Learner> = {
  /** The editor's default: plain logistic likelihood, full-width draws, no forgetting. */
  plain: (dims) => new SoupPosterior({ dims }),
  /** The previous stream rule: careless-feedback model, forgetting 0.98, draws narrowing to half width. */
  "robust-0.98": (dims) => new SoupPosterior({ dims, noisePrior: [4, 16], minSpread: 0.5, forgetting: 0.98 }),
  /** The plain rule with the posterior mean as the estimate (and no extra cost on negative weights). */
  "plain-mean": (dims) => new SoupPosterior({ dims, negativePenalty: 0, importanceSamples: 512 }),
  /** The stream rule `soup adapt` uses now. */
  stream: (dims) => new AgingPosterior({ dims, ...STREAM_POSTERIOR }),
};

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const seeds = Number(arg("seeds", "8"));
const rounds = Number(arg("rounds", "30"));
const rules = arg("rules", Object.keys(RULES).join(",")).split(",");
for (const r of rules) if (!RULES[r]) throw new Error(`unknown rule ${r} (${Object.keys(RULES).join(", ")})`);

async function main() {
  const client = engineClient();
  try {
    const policies = await loadByteSets(client);
    const ids = policies.map((p) => p.id);
    const share = setShare(BYTE_SETS[1]);
    const prompt = BYTE_PROMPT;
    const measure = (w: number[]) => measureShare(client, share, Object.fromEntries(ids.map((id, k) => [id, w[k]])));
    const base = await measure([0, 0, 0]);
    console.log(`base share ${base.toFixed(3)}; bar: learned > ${Math.max(base + 0.15, 2 * base).toFixed(3)}\n`);
    console.log(`| rule | seeds passing | seeds > 2x base, favourite largest | median learned share | per seed | median thumbs up /${rounds} |`);
    console.log("|---|---:|---:|---:|---|---:|");
    for (const rule of rules) {
      const learned: number[] = [];
      const ups: number[] = [];
      let directed = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const posterior = RULES[rule](ids.length);
        const rng = seededRng(seed);
        let up = 0;
        for (let round = 1; round <= rounds; round++) {
          const w = posterior.sample(rng);
          const r = await client.generate({ prompt, mode: "explicit", weights: Object.fromEntries(ids.map((id, k) => [id, w[k]])), maxTokens: 32, temperature: 1, seed: seed * 1000 + round });
          const liked = share(r.text) > 0.15;
          up += liked ? 1 : 0;
          posterior.observe({ type: "rating", features: ids.map((id) => r.features![id]), up: liked, surface: "chat", signal: "thumb" });
        }
        const mean = posterior.mean();
        learned.push(await measure(mean));
        if (learned[learned.length - 1] > 2 * base && mean[1] > mean[0] && mean[1] > mean[2]) directed++;
        ups.push(up);
      }
      const median = (v: number[]) => {
        const s = [...v].sort((a, b) => a - b);
        return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
      };
      const passing = learned.filter((l) => l > base + 0.15 && l > 2 * base).length;
      console.log(`| ${rule} | ${passing}/${seeds} | ${directed}/${seeds} | ${median(learned).toFixed(3)} | ${learned.map((l) => l.toFixed(3)).join(", ")} | ${median(ups)} |`);
    }
  } finally {
    client.dispose();
  }
}

void main();
