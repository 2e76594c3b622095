// Per-workspace chat history: survives reloads, stays bounded, and a damaged file never blocks the chat (it is
// set aside for inspection and a fresh history starts, with a message the extension shows once).
import { readFile, rename } from "node:fs/promises";
import { ATTACH_MODES, type ChatTurn, type Contribution } from "../../shared/chat";
import { finite, isObj } from "../../shared/check";
import { writeFileAtomic } from "../files";
import { INITIAL_AB_STATE, type AbState } from "./ab";

export interface ChatHistoryOptions {
  /** Oldest turns are dropped beyond this many. */
  maxTurns?: number;
  /** ... or beyond this many characters of text in all. */
  maxChars?: number;
  /** Epoch ms, for the name of a set-aside corrupt file. */
  now?: () => number;
}

export const DEFAULT_HISTORY_LIMITS = { maxTurns: 200, maxChars: 500_000 };

interface HistoryFile {
  version: 1;
  turns: ChatTurn[];
  /** The A/B scheduler's state, so its rate limits hold across reloads. */
  ab: AbState;
}

export class ChatHistory {
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private data: HistoryFile,
    private readonly limits: { maxTurns: number; maxChars: number },
  ) {}

  /** Loads the history; `message` is set when the file was unreadable or corrupt and a new one was started. */
  static async open(file: string, opts: ChatHistoryOptions = {}): Promise<{ history: ChatHistory; message?: string }> {
    const limits = { maxTurns: opts.maxTurns ?? DEFAULT_HISTORY_LIMITS.maxTurns, maxChars: opts.maxChars ?? DEFAULT_HISTORY_LIMITS.maxChars };
    const empty = (): HistoryFile => ({ version: 1, turns: [], ab: { ...INITIAL_AB_STATE } });
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { history: new ChatHistory(file, empty(), limits) };
      return { history: new ChatHistory(file, empty(), limits), message: `Cannot read the chat history ${file} (${code ?? String(e)}); starting an empty one.` };
    }
    const data = parseHistory(text);
    if (data) return { history: new ChatHistory(file, data, limits) };
    const aside = `${file}.corrupt-${(opts.now ?? Date.now)()}`;
    await rename(file, aside);
    return {
      history: new ChatHistory(file, empty(), limits),
      message: `The chat history ${file} was corrupt; it was set aside as ${aside} and a new history was started.`,
    };
  }

  get turns(): readonly ChatTurn[] {
    return this.data.turns;
  }

  get ab(): AbState {
    return this.data.ab;
  }

  append(turn: ChatTurn): Promise<void> {
    const turns = [...this.data.turns, turn];
    let chars = turns.reduce((n, t) => n + t.text.length, 0);
    // Keep at least the new turn, however long it is.
    while (turns.length > 1 && (turns.length > this.limits.maxTurns || chars > this.limits.maxChars)) chars -= turns.shift()!.text.length;
    return this.save({ ...this.data, turns });
  }

  /** Records a thumb on an answer; false when the answer is no longer in the history. */
  async rate(answerId: string, up: boolean): Promise<boolean> {
    const i = this.data.turns.findIndex((t) => t.role === "assistant" && t.answerId === answerId);
    if (i < 0) return false;
    const turns = this.data.turns.map((t, j) => (j === i && t.role === "assistant" ? { ...t, rating: up ? ("up" as const) : ("down" as const) } : t));
    await this.save({ ...this.data, turns });
    return true;
  }

  setAb(ab: AbState): Promise<void> {
    return this.save({ ...this.data, ab });
  }

  clear(): Promise<void> {
    return this.save({ ...this.data, turns: [] });
  }

  /** Memory changes at once; writes are chained so they land in order and never race on the file. */
  private save(data: HistoryFile): Promise<void> {
    this.data = data;
    const json = JSON.stringify(data);
    this.saving = this.saving.catch(() => undefined).then(() => writeFileAtomic(this.file, json));
    return this.saving;
  }
}

function isContribution(v: unknown): v is Contribution {
  return isObj(v) && typeof v.id === "string" && typeof v.label === "string" && finite(v.value);
}

function isTurn(v: unknown): v is ChatTurn {
  if (!isObj(v) || typeof v.text !== "string") return false;
  if (v.role === "user") return ATTACH_MODES.some((m) => m === v.attach);
  return (
    v.role === "assistant" &&
    typeof v.answerId === "string" &&
    Array.isArray(v.contributions) &&
    v.contributions.every(isContribution) &&
    (v.rating === undefined || v.rating === "up" || v.rating === "down") &&
    (v.code === undefined || (isObj(v.code) && typeof v.code.language === "string" && Object.keys(v.code).length === 1)) &&
    (v.features === undefined || (isObj(v.features) && Object.values(v.features).every(finite)))
  );
}

function parseHistory(text: string): HistoryFile | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(raw) || raw.version !== 1 || !Array.isArray(raw.turns) || !raw.turns.every(isTurn) || !isObj(raw.ab)) return undefined;
  const { answersSinceLast, lastAt } = raw.ab;
  if (!finite(answersSinceLast) || answersSinceLast < 0 || (lastAt !== undefined && !finite(lastAt))) return undefined;
  return { version: 1, turns: raw.turns, ab: lastAt === undefined ? { answersSinceLast } : { answersSinceLast, lastAt } };
}
