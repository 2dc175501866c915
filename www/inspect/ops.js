// Worker operations of the Inspect view: `(ws, id, args) => value` on the worker's Workspace,
// merged into the workbench worker's table (www/worker.js). The Learn view's 'Compare schemes'
// panel reuses `compare`.
import { base_scheme_ids, compare_values, gguf_encode, gguf_file_types, gguf_types, sample_list, scheme_list } from '../pkg/quantscope.js';
import { checkpoint } from '../worker-loop.js';
import { poolSize, runPool } from './pool.js';
import { forgetFile, rememberFile } from './mix-ops.js';
import { gatherPieces, gatherPooled } from './pieces.js';
import { openAny } from './reader.js';

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

// Values whose statistics one step of open_file streams (about 20–60 ms of work).
const OPEN_STEP_VALUES = 1 << 22;
// Schemes per job of the whole-model comparison: small enough that a cancel lands soon and the
// pool's workers share a big tensor's schemes, large enough that few copies of it are posted.
const SCHEMES_PER_JOB = 8;

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
  // The pickers' lists for the main thread, which has no workbench module (inspect/lists.js).
  page_lists: () => ({
    schemes: scheme_list(), samples: sample_list(), baseSchemeIds: base_scheme_ids(), ggufTypes: gguf_types(), ggufFileTypes: gguf_file_types(),
  }),
  // Bytes of a file: .npz and ONNX through the reader module (reader.js), as open_file opens them.
  async load_file(ws, id, [name, bytes]) {
    const { opened, weights } = await openAny(ws, name, new Blob([bytes]));
    const info = await streamStatistics(ws, id, opened);
    return weights ? { ...info, weights } : info;
  },
  load_sharded: (ws, _id, [indexName, index, shardNames, shards]) =>
    ws.load_sharded(indexName, new Uint8Array(index), shardNames, shards.map((b) => new Uint8Array(b))),
  add_sample: (ws, _id, [kind, rows, cols, seed]) => ws.add_sample(kind, rows, cols, seed),
  export: (ws, _id, [index, what, scheme]) => ws.export(index, what, scheme),

  // A dropped File, never copied whole: .safetensors/.gguf headers are parsed, then every
  // tensor's statistics are streamed from the file in steps (progress in values, cancel between
  // steps). Other formats are read whole inside open_file, .npz and ONNX files by the reader
  // module (reader.js). The File is kept for the mixer (mix-ops.js), which opens it on its own.
  async open_file(ws, id, [file]) {
    const { opened, weights } = await openAny(ws, file.name, file);
    const info = await streamStatistics(ws, id, opened);
    rememberFile(opened.file_id, file);
    return weights ? { ...info, weights } : info;
  },
  // A sharded checkpoint the same way: the index's bytes, the shards as Files.
  open_sharded: (ws, id, [indexName, index, shards]) =>
    streamStatistics(ws, id, ws.open_sharded(indexName, new Uint8Array(index), shards.map((f) => f.name), shards)),

  // Forgets a file and its tensors (a file dropped again replaces it).
  close_file: (ws, _id, [fileId]) => {
    forgetFile(fileId);
    ws.close_file(fileId);
  },

  // One job of the whole-model comparison, in a pool worker (pool.js): values posted to it.
  compare_values: (_ws, _id, [values, shape, ids]) => compare_values(values, shape, ids),

  // The values of a tensor too big to compare, counted chunk by chunk from its file.
  histogram_streamed: (ws, _id, [index, bins, range]) => ws.histogram_streamed(index, bins, range ?? null),

  // A whole model as GGUF: the header, then each tensor quantized a chunk at a time; the pieces
  // are gathered into a Blob that is posted back (no copy of the file stays in wasm memory).
  // With `workers` > 1 the chunks are encoded on a pool of that many workers (pieces.js), the
  // file unchanged.
  async export_gguf(ws, id, [indices, scheme, name, workers]) {
    const plan = ws.export_gguf_begin(indices, scheme, name);
    const cancel = () => ws.export_gguf_cancel(plan.export_id);
    const size = poolSize(workers ?? 1, plan.tensors.length);
    const blob = size > 1
      ? await gatherPooled(id, () => ws.export_gguf_work(plan.export_id), plan.bytes, cancel, size, 'gguf_encode')
      : await gatherPieces(id, () => ws.export_gguf_step(plan.export_id), plan.bytes, cancel);
    return { plan, blob, workers: size };
  },
  // One chunk of a GGUF export, in a pool worker.
  gguf_encode: (_ws, _id, [job]) => gguf_encode(job),

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
  // not whole blocks a fallback type. The quantizing runs on a pool of `workers` workers
  // (pool.js), a tensor and a few schemes per job; a type several schemes fall back to is
  // computed once per tensor.
  async compare_model(ws, id, [tensors, schemeIds, workers]) {
    const indices = tensors.map((t) => t.index);
    const ggufTypes = new Set(gguf_types().map((t) => t.id));
    const plans = schemeIds.map((scheme) => {
      const type = GGUF_TYPE_OF[scheme] ?? scheme;
      return ggufTypes.has(type) ? planTypes(ws, indices, type) : null;
    });
    // What each (scheme, tensor) pair runs: the scheme itself, or the type its plan gives
    // ('f32': kept as stored, nothing to run).
    const typeOf = (s, k) => (plans[s] ? plans[s][k].type : schemeIds[s]);
    const jobs = [];
    for (const [k, t] of tensors.entries()) {
      const ids = [...new Set(schemeIds.map((_, s) => typeOf(s, k)).filter((type) => type !== 'f32')
        .map((type) => SCHEME_OF_GGUF_TYPE[type] ?? type))];
      for (let i = 0; i < ids.length; i += SCHEMES_PER_JOB) {
        jobs.push({ k, shape: t.shape, ids: ids.slice(i, i + SCHEMES_PER_JOB), values: () => ws.tensor_values(t.index) });
      }
    }
    const reports = tensors.map(() => new Map());
    const total = jobs.reduce((a, j) => a + j.ids.length, 0);
    let done = 0;
    const size = poolSize(workers, jobs.length);
    const started = performance.now();
    await runPool(id, jobs, size, (job, answer) => {
      job.ids.forEach((scheme, i) => reports[job.k].set(scheme, answer[i]));
      done += job.ids.length;
      self.postMessage({ id, type: 'progress', done, total });
    });
    const seconds = (performance.now() - started) / 1000;

    const rows = schemeIds.map((scheme, s) => {
      const row = { scheme, gguf: plans[s] !== null, bytes: 0, elements: 0, compared: 0, squared_error: 0, signal: 0, tensors: [] };
      for (const [k, t] of tensors.entries()) {
        const type = typeOf(s, k);
        const note = plans[s]?.[k].note ?? null;
        const signal = t.count * (t.std ** 2 + t.mean ** 2);
        let entry;
        if (type === 'f32') {
          // Kept as stored floats: exact.
          entry = { name: t.name, type, bytes: plans[s][k].bytes, compared: t.count, mse: 0, sqnr_db: null, note };
        } else {
          const r = reports[k].get(SCHEME_OF_GGUF_TYPE[type] ?? type);
          entry = { name: t.name, type, bytes: r.bytes, compared: r.compared, mse: r.mse, sqnr_db: r.sqnr_db, note };
        }
        row.tensors.push(entry);
        row.bytes += entry.bytes;
        row.elements += t.count;
        row.compared += entry.compared;
        // A null MSE is an infinite one (the round trip overflowed): so is the model's.
        row.squared_error += entry.compared > 0 ? (entry.mse ?? Infinity) * entry.compared : 0;
        if (entry.compared > 0) row.signal += signal;
      }
      return {
        ...row,
        bits_per_weight: row.elements ? (8 * row.bytes) / row.elements : 0,
        // Non-finite numbers travel as null, as the worker's other reports send them (errorText
        // reads a null MSE as ∞, sqnrText a null SQNR with a non-zero MSE as −∞).
        mse: !row.compared ? 0 : Number.isFinite(row.squared_error) ? row.squared_error / row.compared : null,
        sqnr_db: row.squared_error > 0 && Number.isFinite(row.squared_error) ? 10 * Math.log10(row.signal / row.squared_error) : null,
      };
    });
    return { rows, workers: size, seconds, pairs: total };
  },
};
