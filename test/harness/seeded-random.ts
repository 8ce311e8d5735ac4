/**
 * Mulberry32 (Tommy Ettinger, 2017): a 32-bit generator that is small, fast and good enough for
 * simulations whose figures must come out the same on every run. Not for anything secret.
 */

// Read once: under Jest the code runs in a vm context, where every look-up of a global such as
// `Math` in a loop of millions costs many times what it does in plain Node.
const imul = Math.imul;

export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
