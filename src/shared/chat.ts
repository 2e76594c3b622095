// The chat's words, shared by the conversation logic, its history file and the chat page. Pure and
// dependency-free.

/** What the user asked to attach as context to a chat message. */
export type AttachMode = "none" | "selection" | "file";
export const ATTACH_MODES: readonly AttachMode[] = ["none", "selection", "file"];

/** The active editor as a question sees it: its file and language, and the code attached ("" when none). */
export interface ChatEditor {
  file: string;
  /** VS Code language id. */
  language: string;
  code: string;
}

/** One dimension's share w_k * phi_k of an answer's implicit reward: the "why" hint under an answer. */
export interface Contribution {
  id: string;
  label: string;
  value: number;
}

export type ChatTurn =
  | { role: "user"; text: string; attach: AttachMode }
  | {
      role: "assistant";
      answerId: string;
      text: string;
      contributions: Contribution[];
      rating?: "up" | "down";
      /** A base code model's answer: `text` is the model's continuation as one fenced block in this language. */
      code?: { language: string };
      /**
       * phi of the answer by policy id, from its generation: a rating after a reload records exactly the text that
       * was shown (scoring the text again re-tokenizes it, which can differ from the tokens generated).
       */
      features?: Record<string, number>;
    };

export interface ComparisonSide {
  answerId: string;
  text: string;
}

/** What the conversation tells the chat page, in order. */
export type ChatUpdate =
  | { type: "answerStart"; answerId: string }
  | { type: "answerDelta"; answerId: string; text: string }
  | { type: "answerEnd"; answerId: string; contributions: Contribution[]; stopped: boolean }
  /** `dimension`: the label of the uncertain dimension the question is meant to settle (shown to the user). */
  | { type: "comparison"; comparisonId: string; dimension: string; a: ComparisonSide; b: ComparisonSide }
  /** Work without a streaming answer (an A/B pair being generated) is running or ended: shows or hides stop. */
  | { type: "busy"; busy: boolean }
  /** `notice`: said once above the conversation (the loaded model is a base code model, answering in code). */
  | { type: "history"; turns: ChatTurn[]; notice?: string };
