// Entry of the engine process (child_process.fork). Requests run one at a time in arrival order
// (they share sequences and KV state); `cancel` aborts a running or queued request; `status` answers at once.
import { SoupEngine } from "./soupEngine";
import type { ClientMessage, EngineMessage, EngineMethods } from "./protocol";
import { answer, type Handlers, type RpcRequest } from "./rpc";
import { removeOwnedTempDirs, removeStaleTempDirs } from "./tempDirs";

const engine = new SoupEngine((message) => send({ type: "log", level: "warn", message }));
const controllers = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

function send(m: EngineMessage): void {
  process.send?.(m);
}

/** What a handler knows of its request besides the params: its number (for streamed events) and its cancel. */
interface RequestContext {
  id: number;
  signal: AbortSignal;
}

const handlers: Handlers<EngineMethods, RequestContext> = {
  load: (params, { id }) => engine.load(params, (stage, fraction) => send({ type: "progress", id, stage, fraction })),
  generate: (params, { id, signal }) => engine.generate(params, signal, (text) => send({ type: "token", id, text })),
  score: (params, { signal }) => engine.score(params, signal),
  next: (params, { signal }) => engine.next(params, signal),
  status: () => engine.status(),
};

function run(m: RpcRequest<EngineMethods>): void {
  const ac = new AbortController();
  controllers.set(m.id, ac);
  const task = async () => {
    try {
      if (ac.signal.aborted) send({ type: "error", id: m.id, code: "cancelled", message: `${m.method} cancelled before it started` });
      else send(await answer(handlers, m, { id: m.id, signal: ac.signal }));
    } finally {
      controllers.delete(m.id);
      engine.afterRequest();
    }
  };
  if (m.method === "status") void task();
  else queue = queue.then(task);
}

process.on("message", (raw) => {
  const m = raw as ClientMessage;
  if (m.type === "cancel") controllers.get(m.id)?.abort();
  else run(m);
});
// The extension host went away: nothing left to serve.
process.on("disconnect", () => process.exit(0));
// dispose() sends SIGTERM; exiting through process.exit runs the cleanup below.
process.on("SIGTERM", () => process.exit(0));
process.on("exit", removeOwnedTempDirs);
// Engines killed before they could clean up (SIGKILL, a crash) left their folders behind.
void removeStaleTempDirs().then((n) => n > 0 && send({ type: "log", level: "info", message: `removed ${n} temp folders left by engines that are gone` }));
