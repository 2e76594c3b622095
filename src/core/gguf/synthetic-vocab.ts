/** llama.cpp token types (llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const;

export const SPECIAL_TOKENS = {
  unk: 0,
  bos: 1,
  eos: 2,
  fimPrefix: 3,
  fimSuffix: 4,
  fimMiddle: 5,
} as const;

/** Id of the byte token `<0xNN>`. */
export const byteTokenId = (byte: number): number => 6 + byte;

const FIRST_FILLER = 6 + 256;

/** Smallest vocabulary: the specials, the 256 byte tokens and the space piece (without it spaces detokenize as "\u2581"). */
export const MIN_VOCAB_SIZE = FIRST_FILLER + 1;

// SentencePiece writes a space as U+2581; the space-led pieces come first so that they are the commonest.
const ALPHABET = ["\u2581", ..."etaoinshrdlucmfwypvbgkjqxz", ..."ETAOINSHRDLUCMFWYPVBGKJQXZ", ..."0123456789", ..."_.,;:(){}[]=+-*/<>!?'\"#&|%$@^~`\\"];

export interface SyntheticVocab {
  tokens: string[];
  scores: number[];
  types: number[];
}

/**
 * A llama (SentencePiece) vocabulary: specials, byte fallback, then pieces (the space first) in breadth-first order over
 * ALPHABET. Each filler's prefix is itself a piece, so the SPM merge of prefix + last character reaches it and
 * fillers really occur when text is tokenized.
 */
export function syntheticVocab(size: number): SyntheticVocab {
  if (!Number.isInteger(size) || size < MIN_VOCAB_SIZE) {
    throw new RangeError(`vocabulary size must be an integer of at least ${MIN_VOCAB_SIZE}, got ${size}`);
  }
  const tokens = ["<unk>", "<s>", "</s>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"];
  const types: number[] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TokenType.BYTE);
  }
  const scores = tokens.map(() => 0);
  let frontier = [""];
  while (tokens.length < size) {
    const next: string[] = [];
    for (const prefix of frontier) {
      for (const c of ALPHABET) {
        if (tokens.length >= size) break;
        const piece = prefix + c;
        // Earlier pieces score higher, like a SentencePiece model's frequency order.
        scores.push(-(tokens.length - FIRST_FILLER));
        tokens.push(piece);
        types.push(TokenType.NORMAL);
        next.push(piece);
      }
    }
    frontier = next;
  }
  return { tokens, scores, types };
}
