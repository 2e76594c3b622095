// A second window for the store's race tests: appends `count` events to the workspace under `dir` through its own
// AdaptStore (a snapshot every `snapshotEvery` events; the extension uses 1), then prints its posterior mean.
import { AdaptStore } from "../../src/core/adapt/store";
import { seededRng } from "../../src/core/adapt/rng";

const [dir, workspace, count, seed, dims, snapshotEvery] = process.argv.slice(2);
const k = Number(dims);
const store = AdaptStore.open(dir!, { basis: { id: "coding", version: "1", dims: k }, workspace: workspace!, snapshotEvery: Number(snapshotEvery) });
const rng = seededRng(Number(seed));
for (let i = 0; i < Number(count); i++) {
  const features = Array.from({ length: k }, () => rng.normal());
  store.record({ type: "rating", features, up: features[0]! > 0, surface: "chat" });
}
store.dispose();
process.stdout.write(JSON.stringify(store.posterior.mean()));
