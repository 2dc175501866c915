// Worker operations of the Learn view: `(ws, id, args) => value`, merged into the workbench
// worker's table (www/worker.js). Each is a thin call into the Rust core (src/learn/src/); the page's
// main thread only draws what they return. The SQNR chart of 'Compare schemes' reuses the
// Inspect view's 'compare' op (inspect/ops.js).
import { learn_decode_bits, learn_format_facts, learn_memory_presets, learn_memory_table, learn_nf4_chart, learn_number } from '../pkg/quantscope.js';
import { Cancelled } from '../worker-loop.js';

// Curve points per wasm call: small enough that progress moves and that slider requests
// (learn_clip_at) get answered between two slices, since the worker yields after each.
const CURVE_SLICE = 10;

// The newest curve request; an older one still running stops at its next slice (the page only
// wants the newest) and answers as cancelled.
let curveGeneration = 0;

export const learnOps = {
  // How numbers are stored (formats.js; src/learn/src/number_formats.rs).
  learn_format_facts: () => learn_format_facts(),
  learn_number: (_ws, _id, [text]) => learn_number(text),
  learn_decode_bits: (_ws, _id, [format, code, typed]) => learn_decode_bits(format, code, typed ?? undefined),
  learn_pick_histogram: (ws, _id, [index, bins]) => ws.learn_pick_histogram(index, bins),

  // Scale and zero point (mapping.js; src/learn/src/mapping.rs).
  learn_mapping: (ws, _id, [index, bits, value]) => ws.learn_mapping(index, bits, value ?? undefined),

  // Clipping and calibration (clipping.js; src/learn/src/clipping.rs).
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
      if (generation !== curveGeneration) throw new Cancelled('superseded by a newer curve');
    }
    return points;
  },

  // Granularity (granularity.js; src/learn/src/granularity.rs).
  // {bits, symmetric, shape, choices: [{scheme, label, mse, sqnr_db, bits_per_weight, groups,
  //  element_stride, grid_columns, grid_caption, scales: Float32Array, zero_points}]}
  learn_granularity: (ws, _id, [index, bits, symmetric]) => ws.learn_granularity(index, bits, symmetric),
  // The packed block (GGML) or group (integer scheme) holding `element`, decoded field by field.
  learn_block_view: (ws, _id, [index, scheme, element]) => ws.learn_block_view(index, scheme, element),

  // Memory (memory.js; src/learn/src/memory.rs). `shapes` null: bits per weight for 4096×4096
  // layers; else for these shapes.
  learn_memory_table: (_ws, _id, [parameters, shapes]) => learn_memory_table(parameters, shapes ?? null),
  learn_memory_presets: () => learn_memory_presets(),

  // Compare schemes (compare.js; src/learn/src/compare.rs).
  learn_grid_comparison: (ws, _id, [index, bins]) => ws.learn_grid_comparison(index, bins),
  learn_nf4_chart: () => learn_nf4_chart(),
};
