// Worker operations of the panels 'Granularity', 'Memory' and 'Compare schemes'. Each is a thin
// call into the Rust core (src/teach/granularity.rs, memory.rs, compare.rs); the page's main
// thread only draws what they return. The SQNR chart of 'Compare schemes' reuses the worker's
// core 'compare' op (the Inspect view's comparison of every scheme).
import { learn_memory_presets, learn_memory_table, learn_nf4_chart } from '../pkg/quantscope.js';

export const blocksOps = {
  // {bits, symmetric, shape, choices: [{scheme, label, mse, sqnr_db, bits_per_weight, groups,
  //  element_stride, grid_columns, grid_caption, scales: Float32Array, zero_points}]}
  learn_granularity: (ws, _id, [index, bits, symmetric]) => ws.learn_granularity(index, bits, symmetric),
  // The packed block (GGML) or group (integer scheme) holding `element`, decoded field by field.
  learn_block_view: (ws, _id, [index, scheme, element]) => ws.learn_block_view(index, scheme, element),
  // `shapes` null: bits per weight for 4096×4096 layers; else for these shapes.
  learn_memory_table: (_ws, _id, [parameters, shapes]) => learn_memory_table(parameters, shapes ?? null),
  learn_memory_presets: () => learn_memory_presets(),
  learn_grid_comparison: (ws, _id, [index, bins]) => ws.learn_grid_comparison(index, bins),
  learn_nf4_chart: () => learn_nf4_chart(),
};
