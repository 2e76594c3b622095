// Issue 6: does the whitening preconditioner (prior precision alpha * Sigma_phi instead of alpha * I, i.e. an
// isotropic prior in whitened coordinates) speed up learning in the issue-3 simulator? Same seeds and users for every
// prior; Sigma_phi is the model's own (an upper bound on what whitening can do) or estimated from a small
// calibration set of base-model responses (what a basis diagnosis would give the product).
//   node --import tsx bench/whitening.ts [--users N] [--k 8,30] [--correlation 0.3,0.7] [--feedback rating,choice]
//                                        [--calibration 2] [--alpha 1]
// --calibration c: the estimated Sigma_phi uses c * K responses per user (default 2, i.e. 16 at K = 8, 60 at K = 30).
import { simulate, type FeedbackKind, type PolicyName, type SimulationOptions } from "../src/core/adapt/simulate";

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

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : `>${rounds}`);
console.log(`${users} users, T = ${rounds}, seed 1, alpha ${alpha}; estimated Sigma from ${calibration} K base-model responses per user\n`);
console.log("| K | feedback | corr | prior precision | policy | u(25) | u(100) | regret(T) | rounds to 0.9 |");
console.log("|---:|---|---:|---|---|---:|---:|---:|---:|");
const started = Date.now();
for (const k of ks) {
  for (const correlation of correlations) {
    for (const feedback of feedbacks) {
      const priors: [string, SimulationOptions["preconditioner"]][] = [
        ["alpha I (default)", "none"],
        ["alpha Sigma, true", "true"],
        [`alpha Sigma, est. n=${calibration * k}`, calibration * k],
      ];
      for (const [label, preconditioner] of priors) {
        const r = simulate({ users, k, rounds, feedback, seed: 1, correlation, policies, preconditioner, posterior: { alpha } });
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
