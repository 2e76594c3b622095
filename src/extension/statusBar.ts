// Two status bar items: the engine's state (click: the engine log, where the details of an error are) and the
// completions on/off switch.
import * as vscode from "vscode";
import { describeBackend, type EngineState } from "./engine";

export const ENGINE_ITEM_ID = "engine";
export const TOGGLE_ITEM_ID = "completions";

export class StatusBar implements vscode.Disposable {
  private readonly engine = vscode.window.createStatusBarItem(ENGINE_ITEM_ID, vscode.StatusBarAlignment.Right, 100);
  private readonly toggle = vscode.window.createStatusBarItem(TOGGLE_ITEM_ID, vscode.StatusBarAlignment.Right, 99);

  constructor(private readonly commands: { showLog: string; toggle: string; chooseModel: string }) {
    this.engine.name = "Spectral Soup engine";
    this.toggle.name = "Spectral Soup completions";
    this.toggle.command = commands.toggle;
    this.engine.show();
    this.toggle.show();
  }

  showEngine(state: EngineState): void {
    const e = this.engine;
    e.backgroundColor = undefined;
    e.command = this.commands.showLog;
    switch (state.kind) {
      case "starting":
        e.text = "$(loading~spin) Soup: starting";
        e.tooltip = "Spectral Soup: starting the engine";
        break;
      case "no-model":
        e.text = "$(circle-slash) Soup: no model";
        e.tooltip = "Spectral Soup: no model configured. Click to choose a GGUF file.";
        e.command = this.commands.chooseModel;
        break;
      case "loading":
        e.text = `$(loading~spin) Soup: loading ${Math.round(state.fraction * 100)}%`;
        e.tooltip = "Spectral Soup: loading the model";
        break;
      case "ready": {
        const speed = state.tokensPerSecond === null ? "" : ` · ${state.tokensPerSecond.toFixed(0)} tok/s`;
        e.text = `$(sparkle) Soup: ${describeBackend(state.backend)}${speed}`;
        e.tooltip = "Spectral Soup: engine ready. Click for the engine log.";
        break;
      }
      case "error":
        e.text = "$(error) Soup: error";
        e.tooltip = `Spectral Soup: ${state.message}\nClick for the engine log.`;
        e.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
    }
  }

  showCompletions(enabled: boolean): void {
    this.toggle.text = enabled ? "$(eye) Completions" : "$(eye-closed) Completions off";
    this.toggle.tooltip = `Spectral Soup inline completions are ${enabled ? "on" : "off"}. Click to turn them ${enabled ? "off" : "on"}.`;
  }

  dispose(): void {
    this.engine.dispose();
    this.toggle.dispose();
  }
}
