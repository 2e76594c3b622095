import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "../../..");
const PRINT_ENV = `node -e "process.stdout.write(JSON.stringify(process.env))"`;

/** The environment a command sees when a real outer npm (`npm exec`, as under `npm start`) runs it. */
function envUnderNpm(command: string): Record<string, string> {
  const out = execFileSync("npm", ["exec", "--yes=false", "-c", command], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out) as Record<string, string>;
}

describe("scripts/npm-clean.sh (nested installs under npm start / npm run test:e2e)", function () {
  it("the outer npm does leak its variables into a nested command (the failure it guards against)", () => {
    const env = envUnderNpm(PRINT_ENV);
    assert.match(env.npm_config_user_agent ?? "", /^npm\//);
  });

  it("a command run through it sees no npm_* variable, NODE, INIT_CWD or npm's bin folders on PATH", () => {
    const env = envUnderNpm(`bash scripts/npm-clean.sh ${PRINT_ENV}`);
    const leaked = Object.keys(env).filter((k) => /^npm_/i.test(k) || k === "NODE" || k === "INIT_CWD");
    assert.deepEqual(leaked, []);
    assert.equal(env.npm_config_user_agent, undefined);
    for (const dir of env.PATH!.split(":")) assert.doesNotMatch(dir, /node_modules\/\.bin$|node-gyp-bin$/);
    assert.ok(env.HOME, "the rest of the environment is kept");
  });
});
