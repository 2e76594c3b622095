// Entry of a basis job process (child_process.fork; bundled as dist/basisJobs.js): runs one distillation or one
// diagnostics job with its own copy of the model, reports progress, and exits. A process of its own because the
// engine process serves completions one request at a time and must stay responsive, and the extension host must
// never block. Cancel aborts the job at its next check; the windows already collected stay in the cache (each
// written atomically), so the next run resumes from them. Pause holds a job at its next check until resume.
import { validateLocalModel } from "../core/setup/localModel";
import { diagnosePack } from "./diagnose";
import { distillBasis } from "./distill";
import { parseToBasisProcess, type BasisJobMethods, type FromBasisProcess } from "./basisJobProtocol";
import { answer, type Handlers, type RpcRequest } from "./rpc";
import { throwIfAborted } from "./sequences";

const ac = new AbortController();
let started = false;
/** Set while paused: the job waits at its next check until resume (or cancel) settles it. */
let paused: { promise: Promise<void>; resolve: () => void } | null = null;

/** Where a job may stop or wait: throws once cancelled, waits while paused. */
async function checkpoint(): Promise<void> {
  throwIfAborted(ac.signal, "distillation");
  if (paused) await paused.promise;
  throwIfAborted(ac.signal, "distillation");
}

function setPaused(pause: boolean): void {
  if (pause && !paused) {
    let resolve = () => {};
    const promise = new Promise<void>((r) => (resolve = r));
    paused = { promise, resolve };
  } else if (!pause && paused) {
    paused.resolve();
    paused = null;
  }
}

function send(m: FromBasisProcess): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(m, undefined, {}, () => resolve());
  });
}

const handlers: Handlers<BasisJobMethods, { id: number }> = {
  distill: (options, { id }) => distillBasis(options, ac.signal, (progress) => void send({ type: "progress", id, progress }), checkpoint),
  diagnose: (options) => diagnosePack(options, ac.signal),
  checkModel: ({ modelPath }) => validateLocalModel(modelPath),
};

async function start(request: RpcRequest<BasisJobMethods>): Promise<void> {
  await send({ type: "log", level: "info", message: `${request.method} started (pid ${process.pid})` });
  let reply = await answer(handlers, request, { id: request.id });
  // A job stopped by cancel may fail with whatever its interrupted step threw: it was cancelled.
  if (reply.type === "error" && reply.code === "internal" && ac.signal.aborted) reply = { ...reply, code: "cancelled" };
  await send(reply);
  // llama.cpp's native handles can keep the event loop alive after unloading: the job is over, so leave.
  process.exit(reply.type === "error" ? 1 : 0);
}

process.on("message", (raw) => {
  const m = parseToBasisProcess(raw);
  if ("error" in m) void send({ type: "error", id: 0, code: "bad-request", message: m.error }).then(() => !started && process.exit(1));
  else if (m.type === "cancel") {
    ac.abort();
    setPaused(false);
  } else if (m.type === "pause" || m.type === "resume") setPaused(m.type === "pause");
  else if (started) void send({ type: "log", level: "warn", message: "a basis job process runs one job; a second request was ignored" });
  else {
    started = true;
    void start(m);
  }
});
// The parent went away (the window closed): nobody is waiting for the result.
process.on("disconnect", () => process.exit(0));
