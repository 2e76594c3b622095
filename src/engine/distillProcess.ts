// Entry of a basis job process (child_process.fork; bundled as dist/distill.js): runs one distillation or one
// diagnostics job with its own copy of the model, reports progress, and exits. A process of its own because the
// engine process serves completions one request at a time and must stay responsive, and the extension host must
// never block. Cancel aborts the job at its next check; the windows already collected stay in the cache (each
// written atomically), so the next run resumes from them.
import { validateLocalModel } from "../core/setup/localModel";
import { diagnosePack } from "./diagnose";
import { distillBasis } from "./distill";
import { parseToBasisProcess, type BasisJob, type BasisJobResult, type FromBasisProcess } from "./distillProtocol";
import { EngineError } from "./protocol";

const ac = new AbortController();
let started = false;

function send(m: FromBasisProcess): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(m, undefined, {}, () => resolve());
  });
}

async function run(job: BasisJob): Promise<BasisJobResult> {
  switch (job.kind) {
    case "distill":
      return { kind: "distill", report: await distillBasis(job.options, ac.signal, (progress) => void send({ type: "progress", progress })) };
    case "diagnose":
      return { kind: "diagnose", diagnosis: await diagnosePack(job.options, ac.signal) };
    case "checkModel":
      return { kind: "checkModel", check: await validateLocalModel(job.options.modelPath) };
  }
}

async function start(job: BasisJob): Promise<void> {
  let code = 0;
  try {
    await send({ type: "log", level: "info", message: `${job.kind} started (pid ${process.pid})` });
    await send({ type: "result", result: await run(job) });
  } catch (e) {
    const err = e instanceof EngineError ? e : new EngineError(ac.signal.aborted ? "cancelled" : "internal", e instanceof Error ? e.message : String(e));
    await send({ type: "failed", code: err.code, message: err.message });
    code = 1;
  }
  // llama.cpp's native handles can keep the event loop alive after unloading: the job is over, so leave.
  process.exit(code);
}

process.on("message", (raw) => {
  const m = parseToBasisProcess(raw);
  if ("error" in m) void send({ type: "failed", code: "bad-request", message: m.error }).then(() => !started && process.exit(1));
  else if (m.type === "cancel") ac.abort();
  else if (started) void send({ type: "log", level: "warn", message: "a basis job process runs one job; a second start was ignored" });
  else {
    started = true;
    void start(m.job);
  }
});
// The parent went away (the window closed): nobody is waiting for the result.
process.on("disconnect", () => process.exit(0));
