// Worker operations of the panels 'How numbers are stored', 'Scale and zero point' and
// 'Clipping and calibration'. Each is a thin call into the Rust core (src/teach/formats.rs,
// mapping.rs, clipping.rs); the page's main thread only draws what they return.
import { learn_decode_bits, learn_format_facts, learn_number } from '../pkg/quantscope.js';

// Curve points per wasm call: small enough that progress moves and that slider requests
// (learn_clip_at) get answered between two slices, since the worker yields after each.
const CURVE_SLICE = 10;

// The newest curve request per tensor-and-bits panel; an older one still running stops at its
// next slice (the page only wants the newest).
let curveGeneration = 0;

export const numbersOps = {
  learn_format_facts: () => learn_format_facts(),
  learn_number: (_ws, _id, [text]) => learn_number(text),
  learn_decode_bits: (_ws, _id, [format, code, typed]) => learn_decode_bits(format, code, typed ?? undefined),
  learn_pick_histogram: (ws, _id, [index, bins]) => ws.learn_pick_histogram(index, bins),
  learn_mapping: (ws, _id, [index, bits, value]) => ws.learn_mapping(index, bits, value ?? undefined),
  learn_clip_setup: (ws, _id, [index, bits, points]) => ws.learn_clip_setup(index, bits, points),
  learn_clip_at: (ws, _id, [index, bits, clip]) => ws.learn_clip_at(index, bits, clip),

  // The MSE-vs-clip curve, a slice at a time with progress; a newer curve request supersedes it.
  async learn_clip_curve(ws, id, [index, bits, clips]) {
    const generation = ++curveGeneration;
    const points = [];
    for (let start = 0; start < clips.length; start += CURVE_SLICE) {
      points.push(...ws.learn_clip_curve(index, bits, Float32Array.from(clips.slice(start, start + CURVE_SLICE))));
      self.postMessage({ id, type: 'progress', done: points.length, total: clips.length });
      await new Promise((r) => setTimeout(r, 0));
      if (generation !== curveGeneration) throw Object.assign(new Error('superseded by a newer curve'), { superseded: true });
    }
    return points;
  },
};
