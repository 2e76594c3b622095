// Does the whitening preconditioner (prior precision alpha * Sigma_phi instead of alpha * I, i.e. an
// isotropic prior in whitened coordinates) speed up learning in the Gaussian-feature simulator (src/core/adapt/simulate.ts)? Same seeds and users for every
// prior; Sigma_phi is the model's own (an upper bound on what whitening can do) or estimated from a small
// calibration set of base-model responses (what a basis diagnosis would give the product). The posterior takes any
// Gaussian prior, so the preconditioner needs no code of its own: fitting in whitened coordinates z = Sigma^1/2 w
// with the box mapped back to w has the same MAP and Laplace posterior (projected Newton is affine-invariant), so the
// prior is all that whitening changes. Verdict (docs/BENCHMARKS.md, "Whitening preconditioner"): it does not help.
//   node --import tsx bench/whitening.ts [--users N] [--k 8,30] [--correlation 0.3,0.7] [--feedback rating,choice]
//                                        [--calibration 2] [--alpha 1]
// --calibration c: the estimated Sigma_phi uses c * K responses per user (default 2, i.e. 16 at K = 8, 60 at K = 30).
import { cholesky } from "../src/core/adapt/linalg";
import type { GaussianPrior } from "../src/core/adapt/posterior";
import { seededRng } from "../src/core/adapt/rng";
import { simulate, type FeedbackKind, type PolicyName } from "../src/core/adapt/simulate";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const users = Number(arg("users", "100"));
const ks = arg("k", "8,30").split(",").map(Number);
const correlations = arg("correlation", "0.3,0.7").split(",").map(Number);
const calibration = Number(arg("calibration", "2"));
const alpha = Number(arg("alpha", "1"));
const feedbacks: FeedbackKind[] = arg("feedback", "rating,choice").split(",") as FeedbackKind[];
const policies: PolicyName[] = ["greedy", "thompson"];
const rounds = 200;

const seed = 1;

/** The simulator's Sigma: unit variances, equal correlations (feature scale 1). */
function equicorrelated(k: number, correlation: number): number[] {
  return Array.from({ length: k * k }, (_, idx) => (Math.floor(idx / k) === idx % k ? 1 : correlation));
}

/** Sample covariance of n base-model responses, phi ~ N(0, Sigma): a calibration set's estimate of Sigma_phi. */
function calibrate(sigma: number[], k: number, n: number, user: number): number[] {
  const l = cholesky(Float64Array.from(sigma), k);
  if (!l) throw new Error("Sigma is not positive definite");
  // Its own stream per user: the users' w* and feedback streams are the same under every prior.
  const rng = seededRng((seed + 2) * 15485863 + user);
  const xs = Array.from({ length: n }, () => {
    const xi = Array.from({ length: k }, () => rng.normal());
    return Array.from({ length: k }, (_, i) => xi.reduce((a, x, j) => a + l[i * k + j] * x, 0));
  });
  const mean = Array.from({ length: k }, (_, i) => xs.reduce((a, x) => a + x[i], 0) / n);
  const cov = new Array<number>(k * k).fill(0);
  for (const x of xs) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) cov[i * k + j] += ((x[i] - mean[i]) * (x[j] - mean[j])) / (n - 1);
  return cov;
}

/**
 * The whitened prior N(0, (alpha Sigma_phi)^-1): isotropic in z = Sigma_phi^1/2 w. A ridge of 1e-3 of the mean
 * variance keeps it proper where a calibration set never moved phi (n <= K, a duplicated dimension).
 */
function whitenedPrior(cov: number[], k: number): GaussianPrior {
  let trace = 0;
  for (let i = 0; i < k; i++) trace += cov[i * k + i];
  const ridge = 1e-3 * Math.max(trace / k, 1e-12);
  const precision = cov.map((c, idx) => alpha * (c + (Math.floor(idx / k) === idx % k ? ridge : 0)));
  return { mean: new Array<number>(k).fill(0), precision };
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : `>${rounds}`);
console.log(`${users} users, T = ${rounds}, seed ${seed}, alpha ${alpha}; estimated Sigma from ${calibration} K base-model responses per user\n`);
console.log("| K | feedback | corr | prior precision | policy | u(25) | u(100) | regret(T) | rounds to 0.9 |");
console.log("|---:|---|---:|---|---|---:|---:|---:|---:|");
const started = Date.now();
for (const k of ks) {
  for (const correlation of correlations) {
    for (const feedback of feedbacks) {
      const sigma = equicorrelated(k, correlation);
      const priors: [string, ((user: number) => GaussianPrior) | undefined][] = [
        ["alpha I (default)", undefined],
        ["alpha Sigma, true", () => whitenedPrior(sigma, k)],
        [`alpha Sigma, est. n=${calibration * k}`, (user) => whitenedPrior(calibrate(sigma, k, calibration * k, user), k)],
      ];
      for (const [label, prior] of priors) {
        const r = simulate({ users, k, rounds, feedback, seed, correlation, policies, posterior: { alpha }, ...(prior ? { prior } : {}) });
        for (const p of r.results) {
          const to90 = Number.isFinite(p.roundsTo90) ? String(p.roundsTo90) : `>${rounds}`;
          console.log(
            `| ${k} | ${feedback} | ${correlation} | ${label} | ${p.policy} | ${fmt(p.utility[25])} | ${fmt(p.utility[100])} | ${p.regret.toFixed(1)} | ${to90} |`,
          );
          if (p.nonFinite) console.log(`  (!) ${p.nonFinite} non-finite utilities`);
        }
      }
    }
  }
}
console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
