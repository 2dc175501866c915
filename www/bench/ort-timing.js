// What the two onnxruntime-web bench workers (bench-ort-worker.js, bench-real-worker.js) share:
// onnxruntime-web's wasm backend on one thread, served from node_modules (no CDN), status
// messages, fetching a file next to the page, and the timing rule.
import * as ort from '../../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

ort.env.wasm.wasmPaths = new URL('../../node_modules/onnxruntime-web/dist/', import.meta.url).href;
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

export { ort };

export const say = (text) => self.postMessage({ type: 'status', text });

export const fetchBytes = async (path) => {
  const res = await fetch(new URL(path, import.meta.url));
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

// Median over `rounds` of the mean ms per call of `call` (async or not); a round lasts at least
// `roundMs`, so the 0.1 ms resolution of performance.now() (without cross-origin isolation)
// does not matter.
export async function medianMs(call, rounds, roundMs) {
  let reps = 1;
  for (;;) { // warm up and size a round
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await call();
    if (performance.now() - t0 >= roundMs) break;
    reps *= 2;
  }
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await call();
    times.push((performance.now() - t0) / reps);
  }
  times.sort((a, b) => a - b);
  return times[rounds >> 1];
}

// Several calls timed in interleaved rounds (each round times every call once, so the machine's
// load moves them alike): per call, the median and the fastest of `rounds` rounds' mean ms per
// call, each round at least `roundMs` long (sized per call as in medianMs).
export async function interleavedMs(calls, rounds, roundMs) {
  const reps = [];
  for (const call of calls) {
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await call();
      if (performance.now() - t0 >= roundMs) break;
      n *= 2;
    }
    reps.push(n);
  }
  const times = calls.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [c, call] of calls.entries()) {
      const t0 = performance.now();
      for (let i = 0; i < reps[c]; i++) await call();
      times[c].push((performance.now() - t0) / reps[c]);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return { median: t[t.length >> 1], fastest: t[0] };
  });
}
