// Worker operations for llama.cpp's mixes (Q4_K_M, Q3_K_S, ...) of a dropped GGUF model. They run
// on the mixer module (www/pkg-mix, the src/mixer crate: llama.cpp's rules and every quantizer),
// which this worker imports the first time a mix is previewed; the workbench module never
// carries those rules. The mixer opens the same File the workbench opened (lazily, its own
// reads), so nothing is copied between the two modules. The module carries "fit a size" and
// llama.cpp's IQ1-IQ3 grid quantizers too (built with the mixer's `fit` and `iq-grids` features).
//
//   mix_plan   [fileId, fileType, settings]  → {file_type, bytes, elements, tensors: [{name,
//                                              type, bytes, elements, rule, weighted}]} or llama.cpp's refusal
//   mix_export [fileId, fileType, settings, workers] → {plan, blob, workers}: the file, with
//                                              progress in bytes (fileType FIT: the last fit's
//                                              file), its chunks encoded on a pool of `workers`
//   mix_plan's tensors also carry {sqnr_db, weighted_mse} once the errors are measured (measured: true)
//   mix_fit     [fileId, unit, text, label] → "fit a size": the target checked first (unit "bpw"
//                                              or "mb", text as typed), every tensor measured in
//                                              every type if not yet (progress in values, Cancel),
//                                              then the plan of least total error within it
//   mix_fit_plan [fileId] → the last fit's plan, or null (an imatrix change drops it)
//   mix_compare [fileId]  → every named mix's {file_type, bytes, bits_per_weight, sqnr_db,
//                           error}, measuring first if needed (progress, Cancel)
//   imatrix_load  [File]  → the importance matrix's summary {file_name, format, entries, datasets,
//                           chunk_count, chunk_size}; every mix after it uses it (--imatrix)
//   imatrix_clear []      → the mixes after it use none
//   imatrix_entry [name]  → {name, columns, experts, counts, top, values: Float32Array} or null
//   imatrix_weighted_mse [index, scheme, name, rowLength] → the importance-weighted MSE of
//                           workbench tensor `index` quantized as `scheme`, with the weights of
//                           entry `name` (whose columns must be the rows' length), or null
//   imatrix_weighted_mse_all [index, schemes, name, rowLength] → {scheme: that MSE}, progress
//                           in schemes
//   mix_shape_plan [fileType, shape] → the plan of a llama-shaped model one does not have
//                           (shape {n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, tied}):
//                           {file_type, bytes, elements, bits_per_weight, tensors: [{name, type,
//                           rule, bytes, elements}]}; the Learn view's mixes panel
//
// `settings` is {pure, output_tensor_type, token_embedding_type}, llama-quantize's options. The
// importance matrix is the worker's one loaded file (the page has one control for it): a file
// that does not read leaves the one before in place.
import { checkpoint } from '../worker-loop.js';
import { gatherPieces, gatherPooled } from './pieces.js';
import { poolSize } from './pool.js';

// The largest importance matrix read whole into the mixer's memory (a MoE model's can be large).
const IMATRIX_MAX_BYTES = 2 ** 30;

// The mixer module (loaded on first use), the GgufMixer of each file by id and the importance
// matrix (the page's one loaded file).
const state = { module: null, loading: null, files: new Map(), mixers: new Map(), imatrix: null };

// The File behind each file the workbench opened from disk (open_file), by its file id.
export function rememberFile(fileId, file) {
  state.files.set(fileId, file);
}

export function forgetFile(fileId) {
  state.files.delete(fileId);
  state.mixers.get(fileId)?.free();
  state.mixers.delete(fileId);
}

// The mixer module, imported once on first use; a failed fetch is retried next time. The Learn
// view's grid block decoder uses it too (learn/ops.js).
export async function mixerModule() {
  state.loading ??= import('../pkg-mix/quantscope.js').then(async (m) => {
    await m.default();
    state.module = m;
    return m;
  });
  try {
    return await state.loading;
  } catch (err) {
    state.loading = null;
    throw new Error(`could not load the mixer module: ${err?.message ?? err}`);
  }
}

// The mixer of a file, with the worker's importance matrix. Its mixes, its fit and its measured
// errors (once a fit or a comparison measured them) all come from it.
async function mixerFor(fileId) {
  const file = state.files.get(fileId);
  if (!file) throw new Error('a llama.cpp mix is made from a .gguf file opened from disk; this one is not open any more');
  const m = await mixerModule();
  let mixer = state.mixers.get(fileId);
  if (!mixer) {
    mixer = new m.GgufMixer(file.name, file);
    state.mixers.set(fileId, mixer);
  }
  if (state.imatrix) mixer.set_imatrix(state.imatrix);
  else mixer.clear_imatrix();
  return mixer;
}

// The values of a float32 .npy (what the workbench's export writes): after the magic, the
// version, the header length (u16 in version 1, u32 after) and the header.
function npyFloat32(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = bytes[6] === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
  return new Float32Array(bytes.slice(start).buffer);
}

// The weights of entry `name` for a dense tensor whose rows have `rowLength` values, or null
// when the loaded imatrix has no such entry.
function denseWeights(name, rowLength) {
  const entry = state.imatrix?.entry(name);
  if (!entry) return null;
  if (entry.experts > 1) throw new Error(`${name} has ${entry.experts} experts' weights: the weighted MSE is computed for dense tensors only`);
  if (entry.columns !== rowLength) {
    throw new Error(`the entry of ${name} has ${entry.columns} columns and the tensor's rows have ${rowLength} values`);
  }
  return state.imatrix.entry_values(name);
}

// The Learn view's block decoder (learn/ops.js): the loaded imatrix's weights for tensor `name`
// with rows of `rowLength`: {weights, file}, or {weights: null, why} without a loaded imatrix or
// an entry of that name; an entry of another column count is an error, as for the weighted MSE.
export function importanceFor(name, rowLength) {
  if (!state.imatrix) return { weights: null, why: 'no importance matrix is loaded' };
  const file = state.imatrix.summary().file_name;
  const weights = denseWeights(name, rowLength);
  return weights ? { weights, file } : { weights: null, why: `${file} has no entry named ${name}` };
}

function imatrixEntry(name) {
  const entry = state.imatrix?.entry(name) ?? null;
  if (entry) entry.values = state.imatrix.entry_values(name);
  return entry;
}

// Values measured between two cancel points: each is quantized in every candidate type.
const MEASURE_STEP_VALUES = 1 << 18;

// Every tensor measured in every type it can take (the slow part of a fit or a comparison), a
// step at a time with progress in values; once done it is kept until the imatrix changes.
async function measure(mixer, id) {
  if (mixer.measured()) return;
  const total = mixer.measure_begin();
  try {
    for (;;) {
      const done = mixer.measure_step(MEASURE_STEP_VALUES);
      self.postMessage({ id, type: 'progress', done, total });
      if (mixer.measured()) return;
      await checkpoint(id);
    }
  } catch (err) {
    mixer.measure_cancel();
    throw err;
  }
}

export const mixOps = {
  async mix_shape_plan(_ws, _id, [fileType, shape]) {
    return (await mixerModule()).shape_plan(fileType, shape);
  },
  // The whole file is read: a dense model's imatrix is small (about 5 MB for a 7B one). The name
  // it was dropped under is the one llama-quantize would write into quantize.imatrix.file.
  async imatrix_load(_ws, _id, [file]) {
    if (file.size > IMATRIX_MAX_BYTES) {
      throw new Error(`${file.name} is ${(file.size / 2 ** 30).toFixed(1)} GiB; an importance matrix read in the page is at most 1 GiB (is it a model?)`);
    }
    const m = await mixerModule();
    const parsed = new m.ImatrixFile(file.name, new Uint8Array(await file.arrayBuffer()));
    state.imatrix?.free();
    state.imatrix = parsed;
    return parsed.summary();
  },

  imatrix_clear() {
    state.imatrix?.free();
    state.imatrix = null;
    return null;
  },

  imatrix_entry: (_ws, _id, [name]) => imatrixEntry(name),

  // The tensor and its round trip come from the workbench (the values it holds, and the
  // dequantized .npy it downloads); the weighting is core's weighted_mse, in the mixer module.
  imatrix_weighted_mse(ws, _id, [index, scheme, name, rowLength]) {
    const weights = denseWeights(name, rowLength);
    if (!weights) return null;
    const dequantized = npyFloat32(ws.export(index, 'dequantized', scheme));
    return state.module.weighted_mse(ws.tensor_values(index), dequantized, weights);
  },

  // The same for every scheme of the comparison, one at a time with progress and Cancel:
  // {scheme: mse, or null where the scheme does not quantize this tensor}, or null.
  async imatrix_weighted_mse_all(ws, id, [index, schemes, name, rowLength]) {
    const weights = denseWeights(name, rowLength);
    if (!weights) return null;
    const original = ws.tensor_values(index);
    const out = {};
    for (const [i, scheme] of schemes.entries()) {
      try {
        out[scheme] = state.module.weighted_mse(original, npyFloat32(ws.export(index, 'dequantized', scheme)), weights);
      } catch {
        out[scheme] = null; // the comparison shows that scheme's own error
      }
      self.postMessage({ id, type: 'progress', done: i + 1, total: schemes.length });
      await checkpoint(id);
    }
    return out;
  },

  // With each tensor's SQNR once a fit or a comparison has measured this file's errors.
  mix_plan: async (_ws, _id, [fileId, fileType, settings]) => (await mixerFor(fileId)).plan(fileType, settings),

  async mix_fit(_ws, id, [fileId, unit, text, label]) {
    const mixer = await mixerFor(fileId);
    // A bad target says so before anything is measured; a text that is not a number is NaN.
    const value = /^\s*[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?\s*$/i.test(text) ? Number(text) : NaN;
    const bytes = mixer.fit_target(unit, value, text);
    await measure(mixer, id);
    return mixer.fit(bytes, label);
  },

  mix_fit_plan: async (_ws, _id, [fileId]) => (state.mixers.has(fileId) ? (await mixerFor(fileId)).fit_plan() : null),

  async mix_compare(_ws, id, [fileId]) {
    const mixer = await mixerFor(fileId);
    await measure(mixer, id);
    return mixer.compare();
  },

  // The header, then each tensor quantized (or copied as stored) a chunk at a time; the pieces
  // are gathered into a Blob that is posted back.
  // With `workers` > 1 the chunks are encoded on a pool of that many workers (pieces.js), each
  // loading the mixer module for its quantizers; the file is unchanged.
  async mix_export(_ws, id, [fileId, fileType, settings, workers]) {
    const mixer = await mixerFor(fileId);
    const plan = fileType === 'FIT' ? mixer.begin_fit() : mixer.begin(fileType, settings);
    const size = poolSize(workers ?? 1, plan.tensors.length);
    const blob = size > 1
      ? await gatherPooled(id, () => mixer.work(), plan.bytes, () => mixer.cancel(), size, 'mix_encode')
      : await gatherPieces(id, () => mixer.step(), plan.bytes, () => mixer.cancel());
    return { plan, blob, workers: size };
  },
  // One chunk of a mix, in a pool worker.
  mix_encode: async (_ws, _id, [job]) => (await mixerModule()).mix_encode(job),
};
