// The issue-14 targets measured the way an outside checker sees them: simulated users that speak `soup adapt`'s
// JSON-lines protocol (`{"type":"query","sample":true}` for what to show, a rating or choice event back, a plain
// query for the weights scored). The user model is written here again from its definition (tilted Gaussian
// features, phi ~ N(s^2 Sigma w, s^2 Sigma), equicorrelated Sigma, w* ~ U[0,1]^K) on seeds of its own, so it checks
// the protocol path and the simulator's figures on users the simulator never drew.
//   node --import tsx bench/adaptProtocol.ts [--users 100] [--seed 1001] [--settings standard,noisy,...]
import { PassThrough } from "node:stream";
import { adaptCommand } from "../src/cli/adapt";
import { cholesky } from "../src/core/adapt/linalg";
import { seededRng, type Rng } from "../src/core/random";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};

interface Setting {
  k: number;
  at: number;
  target: number;
  flip?: number;
  switchAt?: number;
  negativeShare?: number;
  scale?: number;
  choices?: boolean;
}

const SETTINGS: Record<string, Setting> = {
  standard: { k: 8, at: 25, target: 0.85 },
  noisy: { k: 8, at: 100, target: 0.65, flip: 0.2 },
  drifting: { k: 8, at: 100, target: 0.75, switchAt: 50 },
  negative: { k: 16, at: 100, target: 0.8, negativeShare: 0.25 },
  scale3: { k: 8, at: 100, target: 0.8, scale: 3 },
  choices: { k: 8, at: 100, target: 0.92, choices: true },
};

/** A `soup adapt` session driven line by line: each written line is answered by exactly one line. */
function session(dims: number, seed: number) {
  const stdin = new PassThrough();
  const waiting: ((line: string) => void)[] = [];
  const done = adaptCommand(["--dims", String(dims), "--seed", String(seed)], { stdin, out: (l) => waiting.shift()!(l) });
  const ask = (msg: object) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.push((l) => resolve(JSON.parse(l) as Record<string, unknown>));
      stdin.write(JSON.stringify(msg) + "\n");
    });
  return { ask, close: () => (stdin.end(), done) };
}

function equicorrelated(k: number, rho: number): { sigma: Float64Array; chol: Float64Array } {
  const sigma = Float64Array.from({ length: k * k }, (_, i) => (Math.floor(i / k) === i % k ? 1 : rho));
  return { sigma, chol: cholesky(sigma, k)! };
}

async function runUser(s: Setting, u: number, seed: number): Promise<{ score: number; bad: number }> {
  const k = s.k;
  const scale = s.scale ?? 1;
  const { sigma, chol } = equicorrelated(k, 0.3);
  const rng = seededRng(seed * 100_003 + u);
  const taste = (r: Rng) => {
    const w = Array.from({ length: k }, () => r.next());
    const negatives = Math.round((s.negativeShare ?? 0) * k);
    for (let i = 0; i < negatives; i++) w[i] = -0.5 * w[i];
    return w;
  };
  const tastes = [taste(rng), taste(rng)];
  const quad = (a: number[], b: number[]) => {
    let q = 0;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) q += (a[i] - b[i]) * sigma[i * k + j] * (a[j] - b[j]);
    return q;
  };
  const utility = (w: number[], star: number[]) => 1 - quad(w, star) / quad(star, new Array<number>(k).fill(0));
  const features = (w: number[]) => {
    const xi = Array.from({ length: k }, () => rng.normal());
    return Array.from({ length: k }, (_, i) => {
      let m = 0;
      let n = 0;
      for (let j = 0; j < k; j++) {
        m += sigma[i * k + j] * w[j];
        n += chol[i * k + j] * xi[j];
      }
      return scale * scale * m + scale * n;
    });
  };
  const dot = (a: number[], b: number[]) => a.reduce((t, x, i) => t + x * b[i], 0);
  const flip = (v: boolean) => (rng.next() < (s.flip ?? 0) ? !v : v);
  const adapt = session(k, seed * 7 + u);
  let bad = 0;
  for (let t = 0; t < s.at; t++) {
    const star = tastes[t >= (s.switchAt ?? Infinity) ? 1 : 0];
    const shown = (await adapt.ask({ type: "query", sample: true })).weights as number[];
    const phiA = features(shown);
    if (s.choices) {
      const other = (await adapt.ask({ type: "query", sample: true })).weights as number[];
      const phiB = features(other);
      const aWins = flip(rng.next() < 1 / (1 + Math.exp(dot(star, phiB) - dot(star, phiA))));
      const r = await adapt.ask({ type: "choice", winner: aWins ? phiA : phiB, loser: aWins ? phiB : phiA });
      if (r.ok !== true) bad++;
    } else {
      const up = flip(rng.next() < 1 / (1 + Math.exp(-dot(star, phiA))));
      const r = await adapt.ask({ type: "rating", features: phiA, up });
      if (r.ok !== true) bad++;
    }
  }
  const mean = (await adapt.ask({ type: "query" })).weights as number[];
  await adapt.close();
  const star = tastes[s.at >= (s.switchAt ?? Infinity) ? 1 : 0];
  if (!mean.every((w) => Number.isFinite(w) && w >= -0.5 && w <= 2)) bad++;
  return { score: utility(mean, star), bad };
}

async function main() {
  const users = Number(arg("users", "100"));
  const seed = Number(arg("seed", "1001"));
  const names = arg("settings", Object.keys(SETTINGS).join(",")).split(",");
  for (const name of names) {
    const s = SETTINGS[name];
    if (!s) throw new Error(`unknown setting ${name} (${Object.keys(SETTINGS).join(", ")})`);
    const started = Date.now();
    const scores: number[] = [];
    let bad = 0;
    for (let u = 0; u < users; u++) {
      const r = await runUser(s, u, seed);
      scores.push(r.score);
      bad += r.bad;
    }
    scores.sort((a, b) => a - b);
    const q = (p: number) => scores[Math.round(p * (scores.length - 1))];
    const median = (scores[Math.floor((users - 1) / 2)] + scores[Math.ceil((users - 1) / 2)]) / 2;
    const verdict = median >= s.target ? "met" : "MISSED";
    console.log(
      `${name}, K=${s.k}, seed ${seed}: median u(${s.at}) ${median.toFixed(4)} (IQR ${q(0.25).toFixed(2)}-${q(0.75).toFixed(2)}), ` +
        `target ${s.target}: ${verdict}; protocol errors or weights outside the box: ${bad} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
}

void main();
