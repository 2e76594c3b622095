// The chat page's protocol with the extension (src/extension/chatView.ts <-> webview/chat.ts).
import { ATTACH_MODES, type AttachMode, type ChatUpdate } from "../../src/shared/chat";
import { bool, matches, oneOf, parseMessage, text, type MessageSchema } from "../../src/shared/check";
import { MESSAGE_ID, type PageError, type Ready } from "./page";

export const MAX_PROMPT_CHARS = 100_000;
export const MAX_CODE_CHARS = 1_000_000;

export type ToChat = ChatUpdate | PageError;

export type FromChat =
  | Ready
  | { type: "send"; text: string; attach: AttachMode }
  | { type: "stop" }
  | { type: "regenerate" }
  | { type: "clear" }
  | { type: "rate"; answerId: string; up: boolean }
  | { type: "choose"; comparisonId: string; pick: "a" | "b" }
  | { type: "copy"; code: string }
  | { type: "insert"; code: string }
  | { type: "replace"; code: string };

/** Every message type with the checks of its fields; typed from the union, so the two cannot drift apart. */
const SCHEMA: MessageSchema<FromChat> = {
  ready: {},
  send: { text: text(MAX_PROMPT_CHARS, true), attach: oneOf(ATTACH_MODES) },
  stop: {},
  regenerate: {},
  clear: {},
  rate: { answerId: matches(MESSAGE_ID), up: bool },
  choose: { comparisonId: matches(MESSAGE_ID), pick: oneOf(["a", "b"]) },
  copy: { code: text(MAX_CODE_CHARS, false) },
  insert: { code: text(MAX_CODE_CHARS, false) },
  replace: { code: text(MAX_CODE_CHARS, false) },
};

/** Validates a message posted by the chat page; returns it typed, or why it was rejected (for the log). */
export function parseFromChat(msg: unknown): FromChat | { error: string } {
  return parseMessage(msg, SCHEMA);
}
