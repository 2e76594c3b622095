// A pool of llama-servers. Each user is kept on one server (rendezvous hashing over the servers that answer) and
// one slot of it, so their prompt cache stays warm while their weights stay the same; when a server stops
// answering, only its users move, and it is probed again before it gets requests back.
import { createHash } from "node:crypto";
import { EngineError } from "../protocol";
import { ServerError, ServerHttp, type HttpOptions } from "./http";

export interface ServerAdapter {
  id: number;
  path: string;
}

export interface ServerInfo {
  modelPath: string;
  slots: number;
  contextSize: number;
  /** 0 when the server does not say. */
  vocabSize: number;
  adapters: ServerAdapter[];
}

export interface PoolServer {
  readonly http: ServerHttp;
  up: boolean;
  /** Why the server is down, for the log and the status bar tooltip. */
  lastError: string | null;
  downSince: number;
  info: ServerInfo | null;
}

export interface PoolHealth {
  up: number;
  total: number;
  problems: string[];
}

export interface PoolOptions extends HttpOptions {
  /** How long a server that stopped answering is left alone before it is probed again. */
  retryMs?: number;
  onHealth?: (health: PoolHealth) => void;
  onLog?: (level: "info" | "warn" | "error", message: string) => void;
}

interface PropsResponse {
  model_path?: string;
  total_slots?: number;
  default_generation_settings?: { n_ctx?: number };
}

export class ServerPool {
  readonly servers: PoolServer[];
  private readonly retryMs: number;

  constructor(
    urls: readonly string[],
    private readonly options: PoolOptions,
  ) {
    if (urls.length === 0) throw new EngineError("bad-request", "spectralSoup.server.urls is empty: no server to connect to");
    this.servers = [...new Set(urls.map((u) => new ServerHttp(u, options).url))].map((url) => ({
      http: new ServerHttp(url, options),
      up: true,
      lastError: null,
      downSince: 0,
      info: null,
    }));
    this.retryMs = options.retryMs ?? 5000;
  }

  health(): PoolHealth {
    return {
      up: this.servers.filter((s) => s.up).length,
      total: this.servers.length,
      problems: this.servers.flatMap((s) => (s.lastError ? [s.lastError] : [])),
    };
  }

  /** Reads every server's model, slots and adapters; a server that does not answer is marked down, not fatal. */
  async connect(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.servers.map((s) => this.refresh(s, signal)));
    this.emitHealth();
  }

  /** The user's server: the highest rendezvous score among servers that answer (a dead one is probed first). */
  async serverFor(user: string, exclude: ReadonlySet<PoolServer> = new Set()): Promise<PoolServer> {
    const order = [...this.servers].filter((s) => !exclude.has(s)).sort((a, b) => score(user, b.http.url) - score(user, a.http.url));
    for (const s of order) {
      if (!s.up && Date.now() - s.downSince >= this.retryMs) await this.refresh(s);
      if (s.up && s.info) return s;
    }
    this.emitHealth();
    const why = this.servers.map((s) => s.lastError ?? `${s.http.url}: not connected`).join("; ");
    throw new EngineError("engine-crashed", `no Spectral Soup server answers (${why})`);
  }

  /** The user's slot on a server: fixed while the server keeps its slot count, so the slot's KV cache is reused. */
  slotFor(user: string, server: PoolServer): number {
    const slots = server.info?.slots ?? 1;
    return score(user, "slot") % slots;
  }

  /** Records that a server failed a request; only a failure to answer takes it out of the pool. */
  reportFailure(server: PoolServer, error: unknown): void {
    if (error instanceof ServerError && error.serverDown && server.up) {
      server.up = false;
      server.downSince = Date.now();
      server.lastError = error.message;
      this.options.onLog?.("error", `${error.message}; requests go to the other servers until it answers again`);
      this.emitHealth();
    }
  }

  private async refresh(s: PoolServer, signal?: AbortSignal): Promise<void> {
    try {
      const [props, adapters, models] = await Promise.all([
        s.http.get<PropsResponse>("/props", signal),
        s.http.get<{ id: number; path: string }[]>("/lora-adapters", signal),
        s.http.get<{ data?: { meta?: { n_vocab?: number } }[] }>("/v1/models", signal),
      ]);
      const wasDown = !s.up;
      s.info = {
        modelPath: props.model_path ?? "",
        slots: Math.max(1, props.total_slots ?? 1),
        contextSize: props.default_generation_settings?.n_ctx ?? 0,
        vocabSize: models.data?.[0]?.meta?.n_vocab ?? 0,
        adapters: adapters.map((a) => ({ id: a.id, path: a.path })),
      };
      s.up = true;
      s.lastError = null;
      if (wasDown) {
        this.options.onLog?.("info", `server ${s.http.url} answers again`);
        this.emitHealth();
      }
    } catch (e) {
      if (e instanceof ServerError && e.failure === "cancelled") throw e;
      s.up = false;
      s.downSince = Date.now();
      s.lastError = e instanceof Error ? e.message : String(e);
      this.options.onLog?.("warn", s.lastError);
    }
  }

  private emitHealth(): void {
    this.options.onHealth?.(this.health());
  }
}

function score(user: string, key: string): number {
  return createHash("sha256").update(`${user}\0${key}`).digest().readUInt32BE(0);
}
