// `soup generate --server URL`: the CLI runs the remote engine, with the key from the environment only.
import * as assert from "node:assert/strict";
import { generateCommand } from "../../../src/cli/generate";
import { fakeServer } from "../../support/fakeLlamaServer";

describe("soup generate --server", () => {
  it("generates on the server with the adapters' scales and the key from SOUP_SERVER_API_KEY", async () => {
    const f = await fakeServer(["/srv/quotes.gguf"], { apiKey: "k1" });
    process.env.SOUP_SERVER_API_KEY = "k1";
    try {
      const lines: string[] = [];
      const code = await generateCommand(
        "generate",
        ["--server", f.url, "--adapter", "/pack/quotes.gguf=0.25", "--prefix", "ab", "--suffix", "c", "--max-tokens", "3", "--json"],
        (l) => lines.push(l),
      );
      assert.equal(code, 0);
      const r = JSON.parse(lines[0]);
      assert.equal(r.text, "abc");
      assert.equal(r.mode, "parameter");
      assert.equal(r.backend.backend, "server");
      const completion = f.requests.find((q) => q.path === "/completion" && q.body.stream)!;
      assert.deepEqual(completion.body.lora, [{ id: 0, scale: 0.25 }]);
    } finally {
      delete process.env.SOUP_SERVER_API_KEY;
      await f.close();
    }
  });
});
