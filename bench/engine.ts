// Engine benchmark: `npm run bench:engine` (same as `soup bench engine`). Figures go to docs/BENCHMARKS.md.
import { benchEngine } from "../src/cli/benchEngine";

benchEngine(process.argv.slice(2), (l) => console.log(l)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
