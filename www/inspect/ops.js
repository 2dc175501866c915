// Worker operations of the Inspect view: `(ws, id, args) => value` on the worker's Workspace,
// merged into the workbench worker's table (www/worker.js). The Learn view's 'Compare schemes'
// panel reuses `compare`.
import { gguf_types } from '../pkg/quantscope.js';
import { checkpoint } from '../worker-loop.js';

// Scheme ids and ggml type ids differ only for the half floats.
const GGUF_TYPE_OF = { fp16: 'f16' };
const SCHEME_OF_GGUF_TYPE = { f16: 'fp16' };

// The type each tensor gets in a GGUF export as `type`: the export's plan, made and dropped
// (planning reads only shapes). [{name, type, bytes, note}] in the order of `indices`.
function planTypes(ws, indices, type) {
  const plan = ws.export_gguf_begin(indices, type, 'compare');
  ws.export_gguf_cancel(plan.export_id);
  return plan.tensors;
}

// Values whose statistics one step of open_file streams (about 20–60 ms of work), and bytes of
// GGUF export gathered before they are folded into a Blob (which the browser may keep on disk).
const OPEN_STEP_VALUES = 1 << 22;
const EXPORT_FOLD_BYTES = 64 << 20;

// Streams the statistics of a file just opened, a step at a time, with progress; a cancel or an
// error closes the file. Resolves to what load_file gives.
async function streamStatistics(ws, id, opened) {
  try {
    for (;;) {
      const step = ws.open_step(opened.file_id, OPEN_STEP_VALUES);
      self.postMessage({ id, type: 'progress', done: step.done, total: step.total });
      if (step.finished) return step.info;
      await checkpoint(id);
    }
  } catch (err) {
    ws.close_file(opened.file_id);
    throw err;
  }
}

export const inspectOps = {
  load_file: (ws, _id, [name, bytes]) => ws.load_file(name, new Uint8Array(bytes)),
  load_sharded: (ws, _id, [indexName, index, shardNames, shards]) =>
    ws.load_sharded(indexName, new Uint8Array(index), shardNames, shards.map((b) => new Uint8Array(b))),
  add_sample: (ws, _id, [kind, rows, cols, seed]) => ws.add_sample(kind, rows, cols, seed),
  export: (ws, _id, [index, what, scheme]) => ws.export(index, what, scheme),

  // A dropped File, never copied whole: .safetensors/.gguf headers are parsed, then every
  // tensor's statistics are streamed from the file in steps (progress in values, cancel between
  // steps). Other formats are read whole inside open_file, as load_file reads them.
  open_file: (ws, id, [file]) => streamStatistics(ws, id, ws.open_file(file.name, file)),
  // A sharded checkpoint the same way: the index's bytes, the shards as Files.
  open_sharded: (ws, id, [indexName, index, shards]) =>
    streamStatistics(ws, id, ws.open_sharded(indexName, new Uint8Array(index), shards.map((f) => f.name), shards)),

  // Forgets a file and its tensors (a file dropped again replaces it).
  close_file: (ws, _id, [fileId]) => ws.close_file(fileId),

  // The values of a tensor too big to compare, counted chunk by chunk from its file.
  histogram_streamed: (ws, _id, [index, bins, range]) => ws.histogram_streamed(index, bins, range ?? null),

  // A whole model as GGUF: the header, then each tensor quantized a chunk at a time; the pieces
  // are gathered into a Blob that is posted back (no copy of the file stays in wasm memory).
  async export_gguf(ws, id, [indices, scheme, name]) {
    const plan = ws.export_gguf_begin(indices, scheme, name);
    let blob = new Blob([]);
    let parts = [], pending = 0, written = 0;
    try {
      for (let piece = ws.export_gguf_step(plan.export_id); piece !== undefined; piece = ws.export_gguf_step(plan.export_id)) {
        parts.push(piece);
        pending += piece.length;
        written += piece.length;
        if (pending >= EXPORT_FOLD_BYTES) {
          blob = new Blob([blob, ...parts]);
          parts = [];
          pending = 0;
        }
        self.postMessage({ id, type: 'progress', done: written, total: plan.bytes });
        await checkpoint(id);
      }
    } catch (err) {
      ws.export_gguf_cancel(plan.export_id);
      throw err;
    }
    return { plan, blob: new Blob([blob, ...parts], { type: 'application/octet-stream' }) };
  },

  // Scheme by scheme, so progress can be shown and a cancel can land between two schemes.
  async compare(ws, id, [index, schemeIds, options]) {
    let tensor = null, histogram = null;
    const schemes = [];
    for (const [done, scheme] of schemeIds.entries()) {
      const r = ws.compare(index, [scheme], options);
      tensor = r.tensor;
      schemes.push(r.schemes[0]);
      histogram = r.histogram ?? histogram;
      if (schemeIds.length > 1) {
        self.postMessage({ id, type: 'progress', done: done + 1, total: schemeIds.length });
        await checkpoint(id);
      }
    }
    return { tensor, schemes, histogram };
  },

  // Every scheme on every tensor of a model, aggregated per scheme: parameter-weighted MSE and SQNR
  // over all weights (Σx² / Σe², with Σx² = n·(std² + mean²) from each tensor's statistics), and
  // each tensor's own numbers for the breakdown. A scheme that is a GGUF type is applied as the
  // GGUF export applies it: export_gguf_begin's plan (formats::gguf_writer::choose_type, the
  // export's own rule) gives the type each tensor really gets — 1-D tensors f32, rows that are
  // not whole blocks a fallback type.
  async compare_model(ws, id, [tensors, schemeIds]) {
    const indices = tensors.map((t) => t.index);
    const ggufTypes = new Set(gguf_types().map((t) => t.id));
    const total = tensors.length * schemeIds.length;
    let done = 0;
    const rows = [];
    for (const scheme of schemeIds) {
      const planned = ggufTypes.has(GGUF_TYPE_OF[scheme] ?? scheme) ? planTypes(ws, indices, GGUF_TYPE_OF[scheme] ?? scheme) : null;
      const row = { scheme, gguf: planned !== null, bytes: 0, elements: 0, compared: 0, squared_error: 0, signal: 0, tensors: [] };
      for (const [k, t] of tensors.entries()) {
        const type = planned ? planned[k].type : scheme;
        const signal = t.count * (t.std ** 2 + t.mean ** 2);
        let entry;
        if (type === 'f32') {
          // Kept as stored floats: exact.
          entry = { name: t.name, type, bytes: planned[k].bytes, compared: t.count, mse: 0, sqnr_db: null, note: planned[k].note };
        } else {
          const s = ws.compare(t.index, [SCHEME_OF_GGUF_TYPE[type] ?? type], { bins: 1 }).schemes[0];
          entry = { name: t.name, type, bytes: s.bytes, compared: s.compared, mse: s.mse, sqnr_db: s.sqnr_db, note: planned?.[k].note ?? null };
        }
        row.tensors.push(entry);
        row.bytes += entry.bytes;
        row.elements += t.count;
        row.compared += entry.compared;
        // A null MSE is an infinite one (the round trip overflowed): so is the model's.
        row.squared_error += entry.compared > 0 ? (entry.mse ?? Infinity) * entry.compared : 0;
        if (entry.compared > 0) row.signal += signal;
        self.postMessage({ id, type: 'progress', done: ++done, total });
        await checkpoint(id);
      }
      rows.push(row);
    }
    return rows.map((t) => ({
      ...t,
      bits_per_weight: t.elements ? (8 * t.bytes) / t.elements : 0,
      // Non-finite numbers travel as null, as the worker's other reports send them (errorText
      // reads a null MSE as ∞, sqnrText a null SQNR with a non-zero MSE as −∞).
      mse: !t.compared ? 0 : Number.isFinite(t.squared_error) ? t.squared_error / t.compared : null,
      sqnr_db: t.squared_error > 0 && Number.isFinite(t.squared_error) ? 10 * Math.log10(t.signal / t.squared_error) : null,
    }));
  },
};
