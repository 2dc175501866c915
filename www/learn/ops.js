// Worker operations of the Learn view: `(ws, id, args) => value`, merged into the workbench
// worker's table (www/worker.js). Each is a thin call into the Rust core (src/learn/src/) through
// the tutor module (www/pkg-learn, src/tutor), which this worker instantiates the first time a
// Learn operation arrives: the Inspect view never loads it. The page's main thread only draws
// what they return. The SQNR chart of 'Compare schemes' reuses the Inspect view's 'compare' op
// (inspect/ops.js).
import initTutor, { Lesson, learn_decode_bits, learn_decode_block, learn_format_facts, learn_memory_presets, learn_memory_table, learn_nf4_chart, learn_number } from '../pkg-learn/quantscope.js';
import { Cancelled } from '../worker-loop.js';
import { importanceFor, mixerModule } from '../inspect/mix-ops.js';

// Curve points per wasm call: small enough that progress moves and that slider requests
// (learn_clip_at) get answered between two slices, since the worker yields after each.
const CURVE_SLICE = 10;

// The newest curve request; an older one still running stops at its next slice (the page only
// wants the newest) and answers as cancelled.
let curveGeneration = 0;

// The tutor module, instantiated once, with its lesson: a copy of the tensor the panels look at.
let tutor = null;
let lessonIndex = null;
const tutorReady = () => (tutor ??= initTutor().then(() => new Lesson()));

// What the mixer module's Learn exports need of workbench tensor `index` around `element`: the
// 256 values of the super-block that holds it (every block they open lies inside one), where
// they start, the tensor's size and row length, and the loaded imatrix's weights for `name`.
function blockWindow(ws, index, element, name) {
  const t = ws.lesson_tensor(index);
  const rowLength = t.shape.at(-1) ?? 1;
  const first = element - (element % 256);
  return {
    args: [t.values.subarray(first, first + 256), first, t.values.length, rowLength, element],
    importance: importanceFor(name, rowLength),
  };
}

// How the answer names its importance weights: {file, name}, or null and why there are none.
const weightsUsed = (imp, name) => ({ importance: imp.weights ? { file: imp.file, name } : null, why_none: imp.why ?? null });

// The lesson holding workbench tensor `index`, copied into the tutor when it holds another one.
// Call it right before each use: between two awaits another request may have changed the tensor.
async function lessonFor(ws, index) {
  const lesson = await tutorReady();
  if (lessonIndex !== index) {
    lessonIndex = null;
    const t = ws.lesson_tensor(index);
    lesson.set_tensor(t.name, t.shape, t.values);
    lessonIndex = index;
  }
  return lesson;
}

export const learnOps = {
  // How numbers are stored (formats.js; src/learn/src/number_formats.rs).
  learn_format_facts: async () => (await tutorReady(), learn_format_facts()),
  learn_number: async (_ws, _id, [text]) => (await tutorReady(), learn_number(text)),
  learn_decode_bits: async (_ws, _id, [format, code, typed]) => (await tutorReady(), learn_decode_bits(format, code, typed ?? undefined)),
  learn_pick_histogram: async (ws, _id, [index, bins]) => (await lessonFor(ws, index)).learn_pick_histogram(bins),

  // Scale and zero point (mapping.js; src/learn/src/mapping.rs).
  learn_mapping: async (ws, _id, [index, bits, value]) => (await lessonFor(ws, index)).learn_mapping(bits, value ?? undefined),

  // Clipping and calibration (clipping.js; src/learn/src/clipping.rs).
  learn_clip_setup: async (ws, _id, [index, bits, points]) => (await lessonFor(ws, index)).learn_clip_setup(bits, points),
  learn_clip_at: async (ws, _id, [index, bits, clip]) => (await lessonFor(ws, index)).learn_clip_at(bits, clip),
  // The MSE-vs-clip curve, a slice at a time with progress; a newer curve request supersedes it.
  async learn_clip_curve(ws, id, [index, bits, clips]) {
    const generation = ++curveGeneration;
    const points = [];
    for (let start = 0; start < clips.length; start += CURVE_SLICE) {
      const lesson = await lessonFor(ws, index);
      points.push(...lesson.learn_clip_curve(bits, Float32Array.from(clips.slice(start, start + CURVE_SLICE))));
      self.postMessage({ id, type: 'progress', done: points.length, total: clips.length });
      await new Promise((r) => setTimeout(r, 0));
      if (generation !== curveGeneration) throw new Cancelled('superseded by a newer curve');
    }
    return points;
  },

  // Granularity (granularity.js; src/learn/src/granularity.rs).
  // {bits, symmetric, shape, choices: [{scheme, label, mse, sqnr_db, bits_per_weight, groups,
  //  element_stride, grid_columns, grid_caption, scales: Float32Array, zero_points}]}
  learn_granularity: async (ws, _id, [index, bits, symmetric]) => (await lessonFor(ws, index)).learn_granularity(bits, symmetric),
  // The packed block (GGML) or group (integer scheme) holding `element`, decoded field by field.
  learn_block_view: async (ws, _id, [index, scheme, element]) => (await lessonFor(ws, index)).learn_block_view(scheme, element),

  // llama.cpp's grid types (IQ2_XXS … IQ1_M) on the mixer module, which links their quantizers
  // (src/mixer/src/learn.rs → src/learn/src/iq_blocks.rs): the block quantized, with the loaded
  // imatrix's weights for `name` when it has them, then decoded: the grid block's numbers
  // {scheme, block, …, d, fields, groups} with its originals, importance and why_none (the page
  // makes its block view, iq-blocks.js); a type llama.cpp refuses without weights answers
  // {refused, why_none}.
  async learn_grid_block(ws, _id, [index, scheme, element, name]) {
    const m = await mixerModule();
    const { args, importance } = blockWindow(ws, index, element, name);
    let q;
    try {
      q = m.learn_quantize_block(scheme, ...args, importance.weights ?? undefined, undefined);
    } catch (err) {
      if (importance.weights || !/needs an importance matrix/.test(err.message)) throw err;
      return { refused: err.message.replace(/^invalid argument: /, ''), ...weightsUsed(importance, name) };
    }
    return { ...m.learn_grid_decode(scheme, q.packed, q.originals.length, q.block), originals: q.originals, ...weightsUsed(importance, name) };
  },
  // The same block without and with the imatrix's weights (K-quants, IQ4_NL/XS, grid types),
  // both measured with them: {scheme, block, first_element, originals, weights, without (null
  // where llama.cpp refuses: `refused` says why), with, importance}, each side {packed, decoded,
  // sse, weighted_sse, view}: quantized by the mixer module, its bytes decoded field by field by
  // the grid decoder there (view: a grid block with its originals) or the tutor's block view.
  // {importance: null, why_none} when the loaded imatrix has no weights for `name`.
  async learn_importance_compare(ws, _id, [index, scheme, element, name]) {
    const m = await mixerModule();
    const { args, importance } = blockWindow(ws, index, element, name);
    const weights = importance.weights;
    if (!weights) return weightsUsed(importance, name);
    const withImatrix = m.learn_quantize_block(scheme, ...args, weights, weights);
    let without = null, refused = null;
    try {
      without = m.learn_quantize_block(scheme, ...args, undefined, weights);
    } catch (err) {
      if (!/needs an importance matrix/.test(err.message)) throw err;
      refused = err.message.replace(/^invalid argument: /, '');
    }
    const grid = /^iq[123]_/.test(scheme);
    if (!grid) await tutorReady();
    for (const side of [without, withImatrix]) {
      if (!side) continue;
      side.view = grid ? { ...m.learn_grid_decode(scheme, side.packed, side.originals.length, side.block), originals: side.originals }
        : learn_decode_block(scheme, side.packed, side.originals, side.block);
    }
    const { block, first_element, originals } = withImatrix;
    return { scheme, block, first_element, originals, weights: withImatrix.weights, without, refused, with: withImatrix, ...weightsUsed(importance, name) };
  },

  // Memory (memory.js; src/learn/src/memory.rs). `shapes` null: bits per weight for 4096×4096
  // layers; else for these shapes.
  learn_memory_table: async (_ws, _id, [parameters, shapes]) => (await tutorReady(), learn_memory_table(parameters, shapes ?? null)),
  learn_memory_presets: async () => (await tutorReady(), learn_memory_presets()),

  // Compare schemes (compare.js; src/learn/src/compare.rs).
  learn_grid_comparison: async (ws, _id, [index, bins]) => (await lessonFor(ws, index)).learn_grid_comparison(bins),
  learn_nf4_chart: async () => (await tutorReady(), learn_nf4_chart()),
};
