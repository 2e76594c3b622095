// Real vocabularies (llama.cpp's tokenizer test files) on small random models: the tokenizer matches
// llama.cpp's test vectors, the FIM prompt of each code family is its documented format token by token,
// repository context uses the family's separators, stop tokens end a completion, chat prompts follow the
// model's template, and generated text keeps the spaces the model wrote (detokenized after the prompt).
import * as assert from "node:assert/strict";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { OutputText } from "../../src/engine/output";
import { PromptBuilder } from "../../src/engine/prompts";
import type { PromptSpec } from "../../src/engine/protocol";
import { SoupEngine } from "../../src/engine/soupEngine";
import { syntheticAdapterCache } from "../../src/core/gguf/synthetic";
import { existsSync } from "node:fs";
import { MODEL_CACHE, SHARED_MODELS, STORIES } from "../support/engine";
import { FAMILIES, hasVocab, tokenizerVectors, vocabFile, vocabModel, vocabModelOptions, type VocabModelSpec } from "../support/vocabModels";
import * as path from "node:path";

type Nlc = typeof import("node-llama-cpp");
const ALL_VOCABS = ["deepseek-coder", "starcoder", "gpt-2", "llama-spm", "falcon", "bert-bge"];

describe("real vocabularies on random-weight models (real llama.cpp)", function () {
  this.timeout(300_000);
  let nlc: Nlc;
  let llama: Llama;
  const models = new Map<string, LlamaModel>();

  before(async function () {
    if (!ALL_VOCABS.every(hasVocab)) {
      console.log(`      (skipped: the vocabulary files are not all in ${path.dirname(vocabFile("x"))})`);
      this.skip();
    }
    nlc = await import("node-llama-cpp");
    llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  });
  after(async () => {
    for (const m of models.values()) await m.dispose();
  });

  async function load(spec: VocabModelSpec): Promise<LlamaModel> {
    const key = JSON.stringify(spec);
    if (!models.has(key)) models.set(key, await llama.loadModel({ modelPath: await vocabModel(spec), gpuLayers: 0 }));
    return models.get(key)!;
  }

  /** The pieces (vocabulary strings) of `tokens`, to state expected prompts in the vocabulary's own terms. */
  const pieces = (model: LlamaModel, tokens: readonly Token[]) => tokens.map((t) => model.detokenize([t], true));

  describe("the test models tokenize as llama.cpp's tokenizer tests say", () => {
    for (const name of ALL_VOCABS) {
      it(name, async () => {
        const model = await load({ vocab: name });
        const vectors = await tokenizerVectors(name);
        assert.ok(vectors.length > 20, `${vectors.length} vectors`);
        for (const { text, ids } of vectors) assert.deepEqual([...model.tokenize(text, false)], ids, JSON.stringify(text));
      });
    }
  });

  describe("generated text is detokenized after the prompt (leading spaces kept)", () => {
    for (const name of ALL_VOCABS) {
      it(name, async () => {
        const model = await load({ vocab: name });
        // A prompt and its continuation tokenized as one text, as a model would have produced it.
        let checked = 0;
        for (const [prompt, rest] of [
          ["The quick brown", " fox jumps over the lazy dog"],
          ["function add(a, b) {\n  return", " a + b;\n}"],
          ["Once upon a time", ", there was a river"],
        ] as const) {
          const all = model.tokenize(prompt + rest, false);
          const head = model.tokenize(prompt, false);
          // Only where the tokenization splits at the boundary is the continuation a sequence of its own.
          if (!head.every((t, i) => all[i] === t)) continue;
          const out = new OutputText(model, []);
          const withContext = new OutputText(model, [], undefined, head);
          for (const t of all.slice(head.length)) {
            out.push(t);
            withContext.push(t);
          }
          const expected = model.detokenize(all).slice(model.detokenize(head).length);
          assert.equal(withContext.finish(), expected, `${name}: ${JSON.stringify(prompt)} + ${JSON.stringify(rest)}`);
          checked++;
          if (name === "llama-spm" && rest.startsWith(" ")) assert.equal(out.finish(), expected.slice(1), "without context SentencePiece drops the space");
        }
        assert.ok(checked >= 2, `${name}: only ${checked} prompts split at the boundary`);
      });
    }
  });

  describe("FIM prompts are each family's documented format, token by token", () => {
    const prefix = "def add(a, b):\n    return";
    const suffix = "\n\nprint(add(1, 2))\n";
    const fim: PromptSpec = { kind: "fim", prefix, suffix };
    const build = async (spec: VocabModelSpec, prompt: PromptSpec = fim) => {
      const model = await load(spec);
      return { model, tokens: new PromptBuilder(nlc, model, spec.vocab).tokens(prompt) };
    };

    it("DeepSeek-Coder: <｜begin▁of▁sentence｜><｜fim▁begin｜>PREFIX<｜fim▁hole｜>SUFFIX<｜fim▁end｜>", async () => {
      const { model, tokens } = await build(FAMILIES["deepseek-coder"]);
      const p = pieces(model, tokens);
      assert.deepEqual([p[0], p[1]], ["<｜begin▁of▁sentence｜>", "<｜fim▁begin｜>"]);
      assert.equal(p.at(-1), "<｜fim▁end｜>");
      const hole = p.indexOf("<｜fim▁hole｜>");
      assert.deepEqual(tokens.slice(2, hole), model.tokenize(prefix));
      assert.deepEqual(tokens.slice(hole + 1, -1), model.tokenize(suffix));
      assert.equal(p.slice(2, hole).join(""), prefix);
    });

    for (const [family, pre, suf, mid] of [
      ["starcoder2", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
      ["qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
    ] as const) {
      it(`${family}: ${pre}PREFIX${suf}SUFFIX${mid}, no BOS`, async () => {
        const { model, tokens } = await build(FAMILIES[family]);
        const special = (t: string) => model.tokenize(t, true)[0]!;
        assert.deepEqual(tokens, [special(pre), ...model.tokenize(prefix), special(suf), ...model.tokenize(suffix), special(mid)]);
        const p = pieces(model, tokens);
        assert.equal(p.join(""), `${pre}${prefix}${suf}${suffix}${mid}`);
      });
    }

    it("Code Llama: <s>▁<PRE> PREFIX▁<SUF>SUFFIX▁<MID> (a space before the prefix, none before the suffix)", async () => {
      const { model, tokens } = await build(FAMILIES.codellama);
      const special = (t: string) => model.tokenize(t, true)[0]!;
      assert.deepEqual([tokens[0], tokens[1], tokens.at(-1)], [model.tokens.bos, special("▁<PRE>"), special("▁<MID>")]);
      const suf = tokens.indexOf(special("▁<SUF>"));
      // Meta's reference (codellama generation.py): encode(prefix) with SentencePiece's implicit leading space,
      // encode_infilling(suffix) without it.
      assert.equal(model.detokenize([model.tokens.bos!, ...tokens.slice(2, suf)]), " " + prefix);
      assert.equal(model.detokenize([model.tokens.bos!, ...tokens.slice(suf + 1, -1)]), suffix);
      // The cursor line, when it starts the middle, continues the text like the suffix: no leading space.
      const split = new PromptBuilder(nlc, model, FAMILIES.codellama.vocab).tokens({ kind: "fim", prefix: "def add(a, b):\n", middle: "    return", suffix });
      const mid = split.indexOf(special("▁<MID>"));
      assert.equal(model.detokenize([model.tokens.bos!, ...split.slice(mid + 1)]), "    return");
      assert.deepEqual(split.slice(0, mid + 1), new PromptBuilder(nlc, model, FAMILIES.codellama.vocab).tokens({ kind: "fim", prefix: "def add(a, b):\n", suffix }));
    });

    it("tinycoder (SentencePiece without the leading space): PREFIX and SUFFIX are their plain tokenizations", async function () {
      const tinycoder = path.join(SHARED_MODELS, "tinycoder", "tinycoder.gguf");
      if (!existsSync(tinycoder)) {
        console.log(`      (skipped: ${tinycoder} is absent)`);
        this.skip();
      }
      const model = await llama.loadModel({ modelPath: tinycoder, gpuLayers: 0, vocabOnly: true });
      try {
        const tokens = new PromptBuilder(nlc, model, tinycoder).tokens(fim);
        const [bos, pre, suf, mid] = [model.tokens.bos!, model.tokens.infill.prefix!, model.tokens.infill.suffix!, model.tokens.infill.middle!];
        assert.deepEqual(tokens, [bos, pre, ...model.tokenize(prefix), suf, ...model.tokenize(suffix), mid]);
        // A middle's start goes after the middle token, the rest of the prompt unchanged.
        const split = new PromptBuilder(nlc, model, tinycoder).tokens({ kind: "fim", prefix: "def add(a, b):\n", middle: "    return", suffix });
        assert.deepEqual(split, [bos, pre, ...model.tokenize("def add(a, b):\n"), suf, ...model.tokenize(suffix), mid, ...model.tokenize("    return")]);
      } finally {
        await model.dispose();
      }
    });

    it("repository context: Qwen2.5-Coder's <|repo_name|> and <|file_sep|>, StarCoder2's <repo_name> and <file_sep>", async () => {
      const context = [
        { file: "src/util.py", text: "def helper():\n    pass" },
        { file: "src/other.py", text: "X = 1\n" },
      ];
      const prompt: PromptSpec = { kind: "fim", prefix, suffix, context, file: "src/main.py", repo: "demo" };
      for (const [family, repo, sep, pre] of [
        ["qwen2.5-coder", "<|repo_name|>", "<|file_sep|>", "<|fim_prefix|>"],
        ["starcoder2", "<repo_name>", "<file_sep>", "<fim_prefix>"],
      ] as const) {
        const { model, tokens } = await build(FAMILIES[family], prompt);
        const text = model.detokenize(tokens, true);
        assert.equal(
          text,
          `${repo}demo\n${sep}src/util.py\ndef helper():\n    pass\n${sep}src/other.py\nX = 1\n${sep}src/main.py\n${pre}${prefix}` +
            text.slice(text.indexOf(pre) + pre.length + prefix.length),
          family,
        );
        const special = (t: string) => model.tokenize(t, true)[0]!;
        assert.equal(tokens[0], special(repo), family);
        assert.equal(tokens.filter((t) => t === special(sep)).length, 3, family);
      }
      // Without separator tokens the other files are comments at the top of the prefix.
      const { model, tokens } = await build(FAMILIES["deepseek-coder"], { ...prompt, language: "python" });
      assert.match(model.detokenize(tokens, true), /<｜fim▁begin｜># File: src\/util\.py\ndef helper\(\):\n    pass\n\n# File: src\/other\.py\nX = 1\n/);
    });
  });

  describe("stop tokens end a completion", () => {
    // Each marker is made the model's sure next token by a head adapter that boosts it in every context.
    const markers: [keyof typeof FAMILIES, string[]][] = [
      ["qwen2.5-coder", ["<|endoftext|>", "<|file_sep|>", "<|fim_pad|>", "<|repo_name|>", "<|im_end|>"]],
      ["starcoder2", ["<|endoftext|>", "<file_sep>", "<fim_pad>"]],
      ["deepseek-coder", ["<｜end▁of▁sentence｜>", "<|EOT|>"]],
      ["codellama", ["▁<EOT>", "</s>"]],
    ];
    for (const [family, texts] of markers) {
      it(`${family}: ${texts.join(" ")}`, async () => {
        const spec = FAMILIES[family];
        const model = await load(spec);
        const ids = texts.map((t) => {
          const tok = model.tokenize(t, true);
          assert.equal(tok.length, 1, `${t} is one token`);
          return tok[0]!;
        });
        const base = await vocabModelOptions(spec);
        const adapters = await Promise.all(ids.map((id, i) => syntheticAdapterCache(MODEL_CACHE, { seed: 40 + i, base, target: "head", rank: 2, boostTokens: [id], strength: 12 })));
        const engine = new SoupEngine();
        await engine.load(
          {
            modelPath: await vocabModel(spec),
            gpu: "off",
            gpuLayers: 0,
            threads: 1,
            contextSize: 256,
            basis: { kind: "policies", id: "stops", version: "1", policies: adapters.map((p, i) => ({ id: `m${i}`, kind: "adapter" as const, path: p })) },
          },
          () => {},
        );
        try {
          const fim: PromptSpec = { kind: "fim", prefix: "x = ", suffix: "\n" };
          const free = await engine.generate({ prompt: fim, mode: "parameter", weights: {}, maxTokens: 4, temperature: 0 }, new AbortController().signal, () => {});
          assert.equal(free.tokens.length, 4, `${family}: without a boost the model writes on (${free.finishReason})`);
          for (const [i, t] of texts.entries()) {
            const r = await engine.generate({ prompt: fim, mode: "parameter", weights: { [`m${i}`]: 1 }, maxTokens: 4, temperature: 0 }, new AbortController().signal, () => {});
            assert.ok(r.finishReason === "eog" || r.finishReason === "stop", `${family} ${t}: ${r.finishReason} after ${JSON.stringify(r.text)}`);
            assert.deepEqual(r.tokens, [], `${family} ${t}`);
          }
        } finally {
          await engine.unload();
        }
      });
    }
  });

  describe("chat prompts follow the model's own template", () => {
    it("Qwen2.5-Coder: its ChatML template (tokenizer.chat_template), system message and generation prompt", async () => {
      const model = await load(FAMILIES["qwen2.5-coder"]);
      const builder = new PromptBuilder(nlc, model, "qwen");
      const tokens = builder.tokens({ kind: "chat", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Sort a list" }] });
      assert.equal(
        model.detokenize(tokens, true),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSort a list<|im_end|>\n<|im_start|>assistant\n",
      );
      // The markers are single special tokens, not their characters.
      const imStart = model.tokenize("<|im_start|>", true);
      assert.equal(imStart.length, 1);
      assert.equal(tokens.filter((t) => t === imStart[0]).length, 3);
      // A prompted expert's instruction joins the system message.
      const expert = builder.tokens(
        { kind: "chat", messages: [{ role: "user", content: "Sort a list" }] },
        { id: "e", kind: "prompted", chat: "Use single quotes.", fim: "" },
      );
      assert.equal(model.detokenize(expert, true), "<|im_start|>system\nUse single quotes.<|im_end|>\n<|im_start|>user\nSort a list<|im_end|>\n<|im_start|>assistant\n");
    });
  });

  describe("chat prompts follow the model's own template (SentencePiece)", () => {
    it("Code Llama - Instruct: [INST] <<SYS>> ... [/INST], tokenized as the one text it is (no stray spaces between pieces)", async () => {
      const model = await load(FAMILIES.codellama);
      const tokens = new PromptBuilder(nlc, model, "codellama").tokens({ kind: "chat", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Sort a list" }] });
      // Meta's reference tokenizes "<s>[INST] ..." in one go: BOS, then "▁[" (SentencePiece's space after BOS).
      const text = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nSort a list [/INST]";
      assert.deepEqual(tokens.slice(0, -1), model.tokenize(text, true));
      // The last token is the space that opens the assistant's turn (" " + content in the template).
      assert.ok(model.detokenize(tokens, true).endsWith("\n\nSort a list [/INST] "), model.detokenize(tokens, true));
    });
  });

  describe("ghost text keeps the model's leading space, end to end through the engine", () => {
    it("Code Llama vocabulary (SentencePiece): a FIM completion whose pieces are '▁the'", async () => {
      const spec = FAMILIES.codellama;
      const model = await load(spec);
      // "the" with SentencePiece's leading space is one piece of LLaMA's vocabulary: "▁the".
      const river = model.tokenize("the");
      assert.equal(river.length, 1);
      assert.equal(model.detokenize([model.tokens.bos!, river[0]!]), " the");
      const boost = await syntheticAdapterCache(MODEL_CACHE, { seed: 60, base: await vocabModelOptions(spec), target: "head", rank: 2, boostTokens: [river[0]!], strength: 12 });
      const engine = new SoupEngine();
      await engine.load(
        { modelPath: await vocabModel(spec), gpu: "off", gpuLayers: 0, threads: 1, contextSize: 256, basis: { kind: "policies", id: "r", version: "1", policies: [{ id: "river", kind: "adapter", path: boost }] } },
        () => {},
      );
      try {
        const prompt: PromptSpec = { kind: "fim", prefix: "the", suffix: "\nbank", language: "plaintext" };
        const streamed: string[] = [];
        for (const mode of ["parameter", "explicit"] as const) {
          streamed.length = 0;
          const r = await engine.generate({ prompt, mode, weights: { river: 1 }, maxTokens: 2, temperature: 0 }, new AbortController().signal, (t) => streamed.push(t));
          assert.deepEqual(r.tokens, [river[0], river[0]], mode);
          assert.equal(r.text, " the the", mode);
          assert.equal(streamed.join(""), " the the", `${mode}: streamed text`);
        }
      } finally {
        await engine.unload();
      }
    });

    it("stories260K (SentencePiece, trained): the engine's text is the model's detokenization after the prompt", async function () {
      if (!existsSync(STORIES)) {
        console.log(`      (skipped: ${STORIES} is absent)`);
        this.skip();
      }
      const engine = new SoupEngine();
      await engine.load({ modelPath: STORIES, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 256, basis: { kind: "policies", id: "s", version: "1", policies: [] } }, () => {});
      try {
        const model = engine.model();
        let spaced = 0;
        for (const text of ["Once upon a time, there was a little", "The dog ran to the", "Lily and her mom went to the"]) {
          const r = await engine.generate({ prompt: { kind: "raw", text }, mode: "parameter", weights: {}, maxTokens: 6, temperature: 0 }, new AbortController().signal, () => {});
          const prompt = model.tokenize(text);
          const expected = model.detokenize([...prompt, ...(r.tokens as Token[])]).slice(model.detokenize(prompt).length);
          assert.equal(r.text, expected, text);
          if (r.text.startsWith(" ")) spaced++;
        }
        assert.ok(spaced >= 2, `the continuations start with a word (a leading space) in ${spaced} of 3`);
      } finally {
        await engine.unload();
      }
    });
  });
});
