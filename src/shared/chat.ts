// The chat's words, shared by the conversation logic, its history file and the chat page. Pure and
// dependency-free.

/** What the user asked to attach as context to a chat message. */
export type AttachMode = "none" | "selection" | "file";
export const ATTACH_MODES: readonly AttachMode[] = ["none", "selection", "file"];

/** One dimension's share w_k * phi_k of an answer's implicit reward: the "why" hint under an answer. */
export interface Contribution {
  id: string;
  label: string;
  value: number;
}

export type ChatTurn =
  | { role: "user"; text: string; attach: AttachMode }
  | { role: "assistant"; answerId: string; text: string; contributions: Contribution[]; rating?: "up" | "down" };
