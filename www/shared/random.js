// A small seeded generator (mulberry32), so that what the page draws "at random" — a model's
// seeded inputs, the order tensors are dealt to pool workers — is the same on every run.
// → a function giving uniform values in [0, 1).
export function seededUniform(seed = 0x9e3779b9) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
