// Three status bar items: the engine's state (click: the engine log, where the details of an error are), the
// background distillation while it has something to say (click: stop or resume it), and the completions on/off
// switch.
import * as vscode from "vscode";
import type { ScheduleState } from "../core/basis/background";
import { distillStatus, engineStatus, type EngineState } from "../core/editor/status";
import type { BackgroundDistill } from "./backgroundDistill";
import { COMMANDS } from "./commands";
import type { Session } from "./session";

// The ids make the items addressable (the DOM id is "<publisher>.<name>.<id>", which the e2e tests use).
const ENGINE_ITEM_ID = "engine";
const TOGGLE_ITEM_ID = "completions";
const DISTILL_ITEM_ID = "distill";

export class StatusBar implements vscode.Disposable {
  private readonly engine = vscode.window.createStatusBarItem(ENGINE_ITEM_ID, vscode.StatusBarAlignment.Right, 100);
  private readonly toggle = vscode.window.createStatusBarItem(TOGGLE_ITEM_ID, vscode.StatusBarAlignment.Right, 99);
  private readonly distill = vscode.window.createStatusBarItem(DISTILL_ITEM_ID, vscode.StatusBarAlignment.Right, 99.5);
  private readonly subscriptions: vscode.Disposable[];

  constructor(session: Session, background: BackgroundDistill) {
    this.engine.name = "Spectral Soup engine";
    this.toggle.name = "Spectral Soup completions";
    this.distill.name = "Spectral Soup background distillation";
    this.showDistill(background.schedule);
    this.toggle.command = COMMANDS.toggle;
    this.showEngine(session.engine.state);
    this.showCompletions(session.settings.completions.enabled);
    this.engine.show();
    this.toggle.show();
    this.subscriptions = [
      session.engine.onDidChangeState((s) => this.showEngine(s)),
      background.onDidChange((s) => this.showDistill(s)),
      session.onDidChange((change) => {
        if (change.settings) this.showCompletions(session.settings.completions.enabled);
      }),
    ];
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.engine.dispose();
    this.toggle.dispose();
    this.distill.dispose();
  }

  private showDistill(s: ScheduleState): void {
    const status = distillStatus(s);
    if (!status) {
      this.distill.hide();
      return;
    }
    this.distill.text = status.text;
    this.distill.tooltip = status.tooltip;
    this.distill.command =
      s.phase === "stopped" || s.phase === "failed" ? COMMANDS.resumeBackgroundDistillation : s.phase === "ready" ? COMMANDS.showLog : COMMANDS.stopBackgroundDistillation;
    this.distill.show();
  }

  private showEngine(state: EngineState): void {
    const { text, tooltip } = engineStatus(state);
    this.engine.text = text;
    this.engine.tooltip = tooltip;
    this.engine.command = state.kind === "no-model" ? COMMANDS.chooseModel : COMMANDS.showLog;
    this.engine.backgroundColor = state.kind === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  private showCompletions(enabled: boolean): void {
    this.toggle.text = enabled ? "$(eye) Completions" : "$(eye-closed) Completions off";
    this.toggle.tooltip = `Spectral Soup inline completions are ${enabled ? "on" : "off"}. Click to turn them ${enabled ? "off" : "on"}.`;
  }
}
