// Owns the engine for the extension (the engine process, or a llama-server pool when server URLs are set): loads
// what the settings name (again whenever they change, without a window reload), tracks the state the status bar
// shows, relays the engine's log lines to the "Spectral Soup" output channel, and logs every generate call's mode
// and weights so what the soup was asked for is visible.
import { appendFile } from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";
import type { EngineBackend } from "../engine/backend";
import { EngineClient, type RequestOptions } from "../engine/client";
import { EngineError, type GenerateParams, type GenerateResult, type LoadParams, type ScoreParams, type ScoreResult } from "../engine/protocol";
import { describeBackend, loadFraction, type EngineState } from "../core/editor/status";
import { ServerBackend } from "./serverBackend";
import type { LoadSettings } from "./settings";

/** Backoff of the retries of a failed load from a server pool: 5 s, doubling, at most a minute apart. */
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 60_000;

export class EngineController implements vscode.Disposable {
  private readonly local: EngineClient;
  private readonly servers: ServerBackend;
  private client: EngineBackend;
  private readonly stateEmitter = new vscode.EventEmitter<EngineState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly requestEmitter = new vscode.EventEmitter<1 | -1>();
  /** +1 when a generate or score request starts, -1 when it ends: background work yields while any runs. */
  readonly onDidRequest = this.requestEmitter.event;
  private current: EngineState = { kind: "starting" };
  /** Bumped by every load, so a slow load that was superseded does not overwrite the newer one's state. */
  private loadSeq = 0;
  private loaded: Promise<boolean> = Promise.resolve(false);
  /** A failed load from a server pool is tried again on this timer: servers come back without a settings change. */
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    extensionPath: string,
    private readonly output: vscode.LogOutputChannel,
    private readonly traceFile: () => string,
    secrets: vscode.SecretStorage,
  ) {
    this.local = new EngineClient({
      entry: path.join(extensionPath, "dist", "engine.js"),
      onLog: (level, message) => this.output[level](message),
      onCrash: (reason) => this.setState({ kind: "error", message: reason }),
    });
    this.client = this.local;
    this.servers = new ServerBackend(secrets, output, (h) => {
      if (this.client !== this.local && this.current.kind !== "loading") this.setState({ kind: "servers", ...h });
    });
  }

  get state(): EngineState {
    return this.current;
  }

  /** The loaded basis' policies and their kinds (what "auto" soup mode decides on). */
  policies: { id: string; kind: "prompted" | "adapter"; head?: boolean }[] = [];
  private hasChatTemplate: boolean | null = null;

  /** Whether the model has a chat template, once the current load is done (null: no model, or a server pool). */
  async chatTemplate(): Promise<boolean | null> {
    return (await this.loaded) ? this.hasChatTemplate : null;
  }

  /**
   * Loads the model the settings name with the basis pack at `packPath` (and head adapters distilled from its
   * prompted experts, by policy id); resolves with whether that load succeeded.
   */
  load(settings: LoadSettings, packPath: string, heads?: Record<string, string>, attempt = 0): Promise<boolean> {
    const seq = ++this.loadSeq;
    clearTimeout(this.retryTimer);
    const remote = settings.server.urls.length > 0;
    if (!settings.modelPath && !remote) {
      this.setState({ kind: "no-model" });
      this.loaded = Promise.resolve(false);
      return this.loaded;
    }
    const params: LoadParams = {
      modelPath: settings.modelPath,
      gpu: settings.gpu,
      gpuLayers: settings.gpuLayers,
      ...(settings.threads > 0 ? { threads: settings.threads } : {}),
      contextSize: settings.contextSize,
      basis: { kind: "pack", path: packPath, ...(heads && !remote ? { heads } : {}) },
    };
    const distilled = heads && !remote ? `, with ${Object.keys(heads).length} distilled head adapters` : "";
    this.output.info(`loading ${remote ? "the basis for the server pool" : params.modelPath} (basis ${packPath}${distilled})`);
    this.setState({ kind: "loading", fraction: 0 });
    this.loaded = (remote ? this.servers.engineFor(settings.server) : Promise.resolve(this.local))
      .then((backend) => {
        this.client = backend;
        return backend.load(params, {
          onProgress: (stage, fraction) => {
            if (seq === this.loadSeq) this.setState({ kind: "loading", fraction: loadFraction(stage, fraction) });
          },
        });
      })
      .then(
        (status) => {
          if (seq !== this.loadSeq) return false;
          if (!status.backend) throw new EngineError("internal", "the engine reported no backend after loading");
          this.output.info(`ready: ${remote ? status.modelPath : describeBackend(status.backend)}, loaded in ${Math.round(status.loadMs)} ms`);
          this.policies = status.basis?.policies ?? [];
          this.hasChatTemplate = status.chatTemplate;
          this.setState(remote ? { kind: "servers", ...this.servers.health() } : { kind: "ready", backend: status.backend, tokensPerSecond: null });
          return true;
        },
      )
      .catch((e: unknown) => {
        if (seq !== this.loadSeq) return false;
        const message = e instanceof Error ? e.message : String(e);
        this.output.error(`cannot load the model: ${message}`);
        this.setState({ kind: "error", message });
        if (remote) {
          const delayMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
          this.output.info(`trying the server pool again in ${Math.round(delayMs / 1000)} s`);
          this.retryTimer = setTimeout(() => {
            if (seq === this.loadSeq) void this.load(settings, packPath, heads, attempt + 1);
          }, delayMs);
        }
        return false;
      });
    return this.loaded;
  }

  /** Generates once the current load is done; null when no model is loaded. */
  async generate(params: GenerateParams, options: RequestOptions): Promise<GenerateResult | null> {
    this.requestEmitter.fire(1);
    try {
      return await this.generateLoaded(params, options);
    } finally {
      this.requestEmitter.fire(-1);
    }
  }

  private async generateLoaded(params: GenerateParams, options: RequestOptions): Promise<GenerateResult | null> {
    if (!(await this.loaded)) return null;
    const weights = Object.entries(params.weights)
      .map(([id, w]) => `${id}=${w.toFixed(3)}`)
      .join(" ");
    this.output.info(`generate mode=${params.mode} weights: ${weights}`);
    void this.trace({ method: "generate", mode: params.mode, weights: params.weights, candidates: params.candidates });
    if (this.client !== this.local) {
      // A server serves parameter and rerank souping; explicit souping would cost K+1 requests per token.
      const result = await this.client.generate(params.mode === "explicit" ? { ...params, mode: "rerank" } : params, options);
      this.setState({ kind: "servers", ...this.servers.health() });
      return result;
    }
    const result = await this.client.generate(params, options);
    this.setState({ kind: "ready", backend: result.backend, tokensPerSecond: result.timings.tokensPerSecond });
    return result;
  }

  /** phi of a response the user gave feedback on; null when no model is loaded. */
  async score(params: ScoreParams): Promise<ScoreResult | null> {
    this.requestEmitter.fire(1);
    try {
      if (!(await this.loaded)) return null;
      return await this.client.score(params);
    } finally {
      this.requestEmitter.fire(-1);
    }
  }

  dispose(): void {
    this.loadSeq++;
    clearTimeout(this.retryTimer);
    this.local.dispose();
    this.servers.dispose();
    this.stateEmitter.dispose();
    this.requestEmitter.dispose();
  }

  /** One JSON line per engine request, for diagnosing what the extension asked for (a debug setting). */
  private async trace(entry: object): Promise<void> {
    const file = this.traceFile();
    if (!file) return;
    try {
      await appendFile(file, JSON.stringify({ time: new Date().toISOString(), ...entry }) + "\n");
    } catch (e) {
      this.output.warn(`cannot write the trace file ${file}: ${(e as Error).message}`);
    }
  }

  private setState(state: EngineState): void {
    this.current = state;
    this.stateEmitter.fire(state);
  }
}
