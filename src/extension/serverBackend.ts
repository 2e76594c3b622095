// The llama-server pool as the extension's engine: its API key lives in VS Code's secret storage (set by a
// command, sent as a bearer token, never logged), and the pool is rebuilt only when its URLs, timeout or key change.
import * as vscode from "vscode";
import { ServerPool, type PoolHealth } from "../engine/remote/pool";
import { RemoteEngine } from "../engine/remote/remoteEngine";
import type { LoadSettings } from "./settings";

const API_KEY_SECRET = "spectralSoup.server.apiKey";

/** Asks for the server API key and stores it (an empty value removes it); false when the user cancelled. */
export async function setServerApiKey(secrets: vscode.SecretStorage): Promise<boolean> {
  const key = await vscode.window.showInputBox({
    title: "Spectral Soup: server API key",
    prompt: "The key your team's llama-server pool (or its proxy) expects as a bearer token. Empty: remove the stored key.",
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return false;
  if (key.trim()) await secrets.store(API_KEY_SECRET, key.trim());
  else await secrets.delete(API_KEY_SECRET);
  return true;
}

export class ServerBackend {
  private engine: RemoteEngine | null = null;
  private pool: ServerPool | null = null;
  private key = "";

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly output: vscode.LogOutputChannel,
    private readonly onHealth: (health: PoolHealth) => void,
  ) {}

  /** The remote engine for these settings: the current one while URLs, timeout and key are unchanged. */
  async engineFor(settings: LoadSettings["server"]): Promise<RemoteEngine> {
    const apiKey = (await this.secrets.get(API_KEY_SECRET)) ?? "";
    // The key is part of the identity but never written anywhere: only whether one is set.
    const key = JSON.stringify([settings.urls, settings.timeoutMs, apiKey]);
    if (this.engine && key === this.key) return this.engine;
    this.engine?.dispose();
    const pool = new ServerPool(settings.urls, {
      apiKey: apiKey || undefined,
      timeoutMs: settings.timeoutMs,
      onLog: (level, message) => this.output[level](message),
      onHealth: this.onHealth,
    });
    this.output.info(`using the server pool ${settings.urls.join(", ")} (${apiKey ? "with" : "without"} an API key)`);
    this.pool = pool;
    this.engine = new RemoteEngine(pool, vscode.env.machineId);
    this.key = key;
    return this.engine;
  }

  health(): PoolHealth {
    return this.pool?.health() ?? { up: 0, total: 0, problems: [] };
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}
