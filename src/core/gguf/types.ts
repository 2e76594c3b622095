/** ggml tensor types (ggml/include/ggml.h); gaps are types removed from GGUF files. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/** Elements per block and bytes per block, from ggml's type_traits (ggml.c / ggml-common.h). */
export const GGML_BLOCK: Readonly<Record<GgmlType, { elements: number; bytes: number }>> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q4_1]: { elements: 32, bytes: 20 },
  [GgmlType.Q5_0]: { elements: 32, bytes: 22 },
  [GgmlType.Q5_1]: { elements: 32, bytes: 24 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.Q8_1]: { elements: 32, bytes: 36 },
  [GgmlType.Q2_K]: { elements: 256, bytes: 84 },
  [GgmlType.Q3_K]: { elements: 256, bytes: 110 },
  [GgmlType.Q4_K]: { elements: 256, bytes: 144 },
  [GgmlType.Q5_K]: { elements: 256, bytes: 176 },
  [GgmlType.Q6_K]: { elements: 256, bytes: 210 },
  [GgmlType.Q8_K]: { elements: 256, bytes: 292 },
  [GgmlType.IQ2_XXS]: { elements: 256, bytes: 66 },
  [GgmlType.IQ2_XS]: { elements: 256, bytes: 74 },
  [GgmlType.IQ3_XXS]: { elements: 256, bytes: 98 },
  [GgmlType.IQ1_S]: { elements: 256, bytes: 50 },
  [GgmlType.IQ4_NL]: { elements: 32, bytes: 18 },
  [GgmlType.IQ3_S]: { elements: 256, bytes: 110 },
  [GgmlType.IQ2_S]: { elements: 256, bytes: 82 },
  [GgmlType.IQ4_XS]: { elements: 256, bytes: 136 },
  [GgmlType.I8]: { elements: 1, bytes: 1 },
  [GgmlType.I16]: { elements: 1, bytes: 2 },
  [GgmlType.I32]: { elements: 1, bytes: 4 },
  [GgmlType.I64]: { elements: 1, bytes: 8 },
  [GgmlType.F64]: { elements: 1, bytes: 8 },
  [GgmlType.IQ1_M]: { elements: 256, bytes: 56 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
  [GgmlType.TQ1_0]: { elements: 256, bytes: 54 },
  [GgmlType.TQ2_0]: { elements: 256, bytes: 66 },
  [GgmlType.MXFP4]: { elements: 32, bytes: 17 },
  [GgmlType.NVFP4]: { elements: 64, bytes: 36 },
  [GgmlType.Q1_0]: { elements: 128, bytes: 18 },
  [GgmlType.Q2_0]: { elements: 64, bytes: 18 },
};

/** Tensor types this toolkit writes (and reads back). */
export type WritableTensorType = "f32" | "f16" | "q8_0";

export const WRITABLE_TYPES: Readonly<Record<WritableTensorType, GgmlType.F32 | GgmlType.F16 | GgmlType.Q8_0>> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
};

/** GGUF metadata value types (ggml/include/gguf.h). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GgufScalar = number | bigint | boolean | string;

/** A typed metadata entry: the type travels with the value so that files round-trip exactly. */
export type GgufKv =
  | { key: string; type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { key: string; type: GgufValueType.ARRAY; itemType: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar[] };

/** Shorthands for building metadata. */
export const kv = {
  str: (key: string, value: string): GgufKv => ({ key, type: GgufValueType.STRING, value }),
  u32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.UINT32, value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.INT32, value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: GgufValueType.FLOAT32, value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: GgufValueType.BOOL, value }),
  strs: (key: string, value: string[]): GgufKv => ({ key, type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value }),
  f32s: (key: string, value: number[]): GgufKv => ({ key, type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value }),
  i32s: (key: string, value: number[]): GgufKv => ({ key, type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value }),
};

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Every failure of the toolkit: the message always starts with the file's name, then the problem. */
export class GgufError extends Error {
  constructor(
    readonly file: string,
    /** The message without the file name. */
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "GgufError";
  }
}

/** Element count of a tensor from its dims. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
