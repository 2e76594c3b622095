// A small fake llama-server on 127.0.0.1 for protocol edge cases: the endpoints the remote engine uses, with a
// one-token-per-character tokenizer, a settable delay, an API key, and a switch that drops a stream mid-way.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface Fake {
  url: string;
  requests: { path: string; body: Record<string, unknown>; auth?: string }[];
  /** Adapter files the fake server says it loaded. */
  adapters: string[];
  apiKey?: string;
  delayMs: number;
  /** Drop the connection of the next /completion after its first streamed token. */
  dieMidStream: boolean;
  /** Answer a grammar of token ids with exactly those tokens (off: one fixed token, as a server that ignored it). */
  followGrammar: boolean;
  close(): Promise<void>;
}

export async function fakeServer(adapters: string[], init: Partial<Pick<Fake, "apiKey" | "delayMs">> = {}): Promise<Fake> {
  const fake: Fake = { url: "", requests: [], adapters, delayMs: init.delayMs ?? 0, apiKey: init.apiKey, dieMidStream: false, followGrammar: true, close: async () => {} };
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", async () => {
      const path = req.url ?? "";
      const body = raw ? JSON.parse(raw) : {};
      fake.requests.push({ path, body, auth: req.headers.authorization });
      if (fake.delayMs) await new Promise((r) => setTimeout(r, fake.delayMs));
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(v));
      };
      if (fake.apiKey && req.headers.authorization !== `Bearer ${fake.apiKey}` && path !== "/health") {
        return json(401, { error: { code: 401, message: "Invalid API Key", type: "authentication_error" } });
      }
      switch (path) {
        case "/props":
          return json(200, { model_path: "/models/base.gguf", total_slots: 4, default_generation_settings: { n_ctx: 512 } });
        case "/lora-adapters":
          return json(200, fake.adapters.map((p, id) => ({ id, path: p, scale: 0 })));
        case "/v1/models":
          return json(200, { data: [{ id: "base.gguf", meta: { n_vocab: 400 } }] });
        case "/tokenize": {
          // One token per character, BOS = 1; "<|fim_prefix|>" and friends are single special tokens.
          const special: Record<string, number> = { "<|fim_prefix|>": 3, "<|fim_suffix|>": 4, "<|fim_middle|>": 5 };
          const content = String(body.content);
          const tokens = body.parse_special && special[content] ? [special[content]] : [...content].map((c) => 100 + c.charCodeAt(0));
          return json(200, { tokens: body.add_special ? [1, ...tokens] : tokens });
        }
        case "/completion": {
          const words = ["a", "b", "c"];
          if (!body.stream) {
            const forced = fake.followGrammar && typeof body.grammar === "string" ? [...body.grammar.matchAll(/<\[(\d+)\]>/g)].map((m) => Number(m[1])) : [200];
            return json(200, {
              content: words.join(""),
              stop: true,
              stop_type: "limit",
              completion_probabilities: forced.map((id) => ({ id, token: "x", logprob: -0.5, top_logprobs: [{ id, token: "x", logprob: -0.5 }] })),
            });
          }
          res.writeHead(200, { "content-type": "text/event-stream" });
          for (const [i, w] of words.entries()) {
            const event = `data: ${JSON.stringify({ content: w, tokens: [300 + i], stop: false })}\n\n`;
            if (fake.dieMidStream) {
              // Dies once the first token has left, as a server killed mid-generation.
              fake.dieMidStream = false;
              res.write(event, () => setTimeout(() => res.socket?.destroy(), 50));
              return;
            }
            res.write(event);
          }
          res.end(`data: ${JSON.stringify({ content: "", stop: true, stop_type: "limit", timings: { prompt_ms: 1, predicted_ms: 2, predicted_n: 3, prompt_n: 4 } })}\n\n`);
          return;
        }
        default:
          return json(404, { error: { code: 404, message: "File Not Found" } });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}
