import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { adaptCommand, simulateCommand } from "../../../src/cli/adapt";

async function session(args: string[], lines: string[]): Promise<{ code: number; out: unknown[] }> {
  const stdin = new PassThrough();
  const out: unknown[] = [];
  const done = adaptCommand(args, { stdin, out: (l) => out.push(JSON.parse(l)) });
  for (const l of lines) stdin.write(l + "\n");
  stdin.end();
  return { code: await done, out };
}

describe("cli/adapt", () => {
  it("refuses an over-long line with a message and keeps going (no RangeError however long it is)", async () => {
    const stdin = new PassThrough();
    const out: unknown[] = [];
    const done = adaptCommand(["--dims", "2"], { stdin, out: (l) => out.push(JSON.parse(l)) });
    // 8 MiB in 64 KiB writes: only the cap's worth is ever held.
    const chunk = Buffer.alloc(1 << 16, 0x61);
    for (let i = 0; i < 128; i++) stdin.write(chunk);
    stdin.write('\n{"type":"rating","features":[1e7,0],"up":true}\n{"type":"query"}\n');
    stdin.end();
    assert.equal(await done, 0);
    assert.equal(out.length, 3);
    assert.match((out[0] as { error: string }).error, /input line of 8388608 bytes skipped: longer than the 1048576-byte limit/);
    assert.match((out[1] as { error: string }).error, /within \+-1000000/);
    assert.deepEqual((out[2] as { weights: number[] }).weights, [0, 0]);
  });

  it("answers every line of the protocol, malformed ones included, and keeps going", async () => {
    const { code, out } = await session(
      ["--dims", "2", "--prior", "0.5,0", "--box", "-0.5,2", "--seed", "3"],
      [
        '{"type":"query","sample":false}',
        '{"type":"rating","features":[1,0],"up":true,"confidence":1,"surface":"chat"}',
        '{"type":"choice","winner":[2,0],"loser":[0,1]}',
        '{"type":"slider","dim":1,"value":0.25,"locked":true}',
        "not json",
        '{"type":"rating","features":[1],"up":true}',
        '{"type":"query","sample":true}',
        '{"type":"query"}',
      ],
    );
    assert.equal(code, 0);
    assert.equal(out.length, 8);
    const first = out[0] as { weights: number[]; std: number[] };
    first.weights.forEach((w, i) => assert.ok(Math.abs(w - [0.5, 0][i]) < 1e-9, `the stated prior before any feedback: ${first.weights}`));
    assert.equal(first.std.length, 2);
    assert.deepEqual(out.slice(1, 4), [{ ok: true }, { ok: true }, { ok: true }]);
    for (const bad of out.slice(4, 6)) assert.equal((bad as { ok: boolean }).ok, false);
    assert.match((out[5] as { error: string }).error, /2 finite numbers/);
    const sampled = out[6] as { weights: number[] };
    const mean = out[7] as { weights: number[]; std: number[] };
    assert.equal(sampled.weights[1], 0.25);
    assert.equal(mean.weights[1], 0.25);
    assert.equal(mean.std[1], 0);
    assert.ok(mean.weights[0] > 0.5, "the feedback favoured dimension 0");
  });

  it("refuses bad arguments with a usage line", async () => {
    const { code, out } = await session(["--dims", "two"], []);
    assert.equal(code, 2);
    assert.match((out[0] as { error: string }).error, /usage: soup adapt/);
  });

  it("simulate prints the table, or JSON", async () => {
    const lines: string[] = [];
    assert.equal(await simulateCommand(["--users", "3", "--k", "2", "--rounds", "5", "--feedback", "choice"], (l) => lines.push(l)), 0);
    assert.match(lines.join("\n"), /\| thompson \|/);
    const json: string[] = [];
    assert.equal(await simulateCommand(["--json", "--users", "2", "--k", "2", "--rounds", "3"], (l) => json.push(l)), 0);
    const results = JSON.parse(json[0]) as { results: { utility: number[] }[] }[];
    assert.equal(results.length, 2);
    assert.equal(results[0].results[0].utility.length, 4);
    await assert.rejects(simulateCommand(["--users"], () => {}), { name: "UsageError", message: /^--users needs a value/ });
  });
});
