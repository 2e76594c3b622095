// The one random source of the project: seeded, so a seed reproduces a generated model, a sampled generation, a
// simulated user and a Thompson draw on every machine.

/** Deterministic PRNG (mulberry32, 32-bit state), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  normal(): number;
}

/** mulberry32 with Box-Muller normals (each pair of uniforms gives two normals). */
export function seededRng(seed: number): Rng {
  const next = mulberry32(seed);
  let spare: number | null = null;
  const normal = () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u = 1 - next(); // (0, 1]: log stays finite
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * next();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
  return { next, normal };
}

/** `count` samples of N(0, std^2) from a seed. */
export function gaussian(seed: number, count: number, std: number): Float32Array {
  const rng = seededRng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = std * rng.normal();
  return out;
}

/** Seed for a named stream under a base seed (FNV-1a), so each named stream is independent of the others. */
export function deriveSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
