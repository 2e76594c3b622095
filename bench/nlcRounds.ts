// Child process of bench/peer.ts: node-llama-cpp alone (no project code) on one model, one thread, one round of
// prompt processing and generation per message from the parent. A child per build, because two builds of
// llama.cpp's shared libraries (same sonames) cannot be told apart within one process.
//   argv: <node-llama-cpp entry: "node-llama-cpp" or a path to a copy's dist/index.js> <model> <prompt tokens> <generated tokens>
import { pathToFileURL } from "node:url";

async function main(): Promise<void> {
  const [entry, modelPath, promptArg, genArg] = process.argv.slice(2);
  const PROMPT = Number(promptArg);
  const GEN = Number(genArg);
  const nlc = (await import(entry === "node-llama-cpp" ? entry : pathToFileURL(entry).href)) as typeof import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 1024, threads: 1 });
  const seq = ctx.getSequence();
  const tokens = Array.from({ length: PROMPT }, (_, i) => (100 + ((i * 37) % 20000)) as never);
  process.on("message", async (m) => {
    if (m === "stop") {
      await model.dispose();
      process.exit(0);
    }
    await seq.clearHistory();
    const cpuSeconds = (from: NodeJS.CpuUsage) => {
      const d = process.cpuUsage(from);
      return (d.user + d.system) / 1e6;
    };
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await seq.controlledEvaluate(tokens);
    const pp = (PROMPT / (performance.now() - t0)) * 1000;
    const ppCpu = PROMPT / cpuSeconds(c0);
    await seq.clearHistory();
    let n = 0;
    let t1 = 0;
    let c1 = process.cpuUsage();
    for await (const _ of seq.evaluate([tokens[0]], { temperature: 0, yieldEogToken: true })) {
      if (n === 0) {
        t1 = performance.now();
        c1 = process.cpuUsage();
      }
      if (++n >= GEN) break;
    }
    // Also per CPU second of this process: less sensitive than wall time to other processes on a shared machine.
    process.send!({ tg: (n / (performance.now() - t1)) * 1000, pp, tgCpu: n / cpuSeconds(c1), ppCpu });
  });
  process.send!({ ready: llama.buildType });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
