// The completion settings as the pipeline reads them (src/extension/settings.ts reads them from VS Code).

export interface CompletionSettings {
  enabled: boolean;
  /** languageId -> on/off; "*" is the default for languages not listed. */
  languages: Record<string, boolean>;
  debounceMs: number;
  prefixLines: number;
  suffixLines: number;
  maxTokens: number;
  timeBudgetMs: number;
  candidates: number;
  multiline: "auto" | "always" | "never";
  /** Generate the suggestion that would follow an accept while the user reads the shown one. */
  prefetch: boolean;
}

/** The per-language switch: the language's own entry, else "*", else on. */
export function completionsEnabledFor(s: { enabled: boolean; languages: Record<string, boolean> }, languageId: string): boolean {
  return s.enabled && (s.languages[languageId] ?? s.languages["*"] ?? true);
}
