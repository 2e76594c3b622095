// Entry of the engine process (child_process.fork). Requests run one at a time in arrival order
// (they share sequences and KV state); `cancel` aborts a running or queued request; `status` answers at once.
import { SoupEngine } from "./soupEngine";
import { EngineError, type ClientMessage, type EngineMessage } from "./protocol";
import { removeOwnedTempDirs, removeStaleTempDirs } from "./tempDirs";

const engine = new SoupEngine((message) => send({ type: "log", level: "warn", message }));
const controllers = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

function send(m: EngineMessage): void {
  process.send?.(m);
}

type Request = Extract<ClientMessage, { type: "request" }>;

async function handle(m: Request, signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) throw new EngineError("cancelled", `${m.method} cancelled before it started`);
  switch (m.method) {
    case "load":
      return engine.load(m.params, (stage, fraction) => send({ type: "progress", id: m.id, stage, fraction }));
    case "generate":
      return engine.generate(m.params, signal, (text) => send({ type: "token", id: m.id, text }));
    case "score":
      return engine.score(m.params, signal);
    case "next":
      return engine.next(m.params, signal);
    case "status":
      return engine.status();
  }
}

function run(m: Request): void {
  const ac = new AbortController();
  controllers.set(m.id, ac);
  const task = async () => {
    try {
      const result = await handle(m, ac.signal);
      send({ type: "result", id: m.id, result } as EngineMessage);
    } catch (e) {
      const err = e instanceof EngineError ? e : new EngineError("internal", e instanceof Error ? e.message : String(e));
      send({ type: "error", id: m.id, code: err.code, message: err.message });
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
