// Worker operations for llama.cpp's mixes (Q4_K_M, Q3_K_S, ...) of a dropped GGUF model. They run
// on the mixer module (www/pkg-mix, the src/mixer crate: llama.cpp's rules and every quantizer),
// which this worker imports the first time a mix is previewed; the workbench module never
// carries those rules. The mixer opens the same File the workbench opened (lazily, its own
// reads), so nothing is copied between the two modules. An IQ1_*/IQ2_*/IQ3_* mix runs on the
// mixer built with llama.cpp's grid quantizers (www/pkg-mix-iq, imported the first time one is
// picked; the plain mixer has no room for them): it gets its own GgufMixer and its own copy of
// the importance matrix, read again from the same File.
//
//   mix_plan   [fileId, fileType, settings]  → {file_type, bytes, elements, tensors: [{name,
//                                              type, bytes, elements, rule, weighted}]} or llama.cpp's refusal
//   mix_export [fileId, fileType, settings]  → {plan, blob}: the file, with progress in bytes
//   imatrix_load  [File]  → the importance matrix's summary {file_name, format, entries, datasets,
//                           chunk_count, chunk_size}; every mix after it uses it (--imatrix)
//   imatrix_clear []      → the mixes after it use none
//   imatrix_entry [name]  → {name, columns, experts, counts, top, values: Float32Array} or null
//   imatrix_weighted_mse [index, scheme, name, rowLength] → the importance-weighted MSE of
//                           workbench tensor `index` quantized as `scheme`, with the weights of
//                           entry `name` (whose columns must be the rows' length), or null
//   imatrix_weighted_mse_all [index, schemes, name, rowLength] → {scheme: that MSE}, progress
//                           in schemes
//
// `settings` is {pure, output_tensor_type, token_embedding_type}, llama-quantize's options. The
// importance matrix is the worker's one loaded file (the page has one control for it): a file
// that does not read leaves the one before in place.
import { checkpoint } from '../worker-loop.js';
import { gatherPieces } from './pieces.js';

// The largest importance matrix read whole into the mixer's memory (a MoE model's can be large).
const IMATRIX_MAX_BYTES = 2 ** 30;

// Per module (plain, grids): the loaded module, its loading promise, and its copy of the imatrix.
const modules = {
  plain: { url: '../pkg-mix/quantscope.js', module: null, loading: null, imatrix: null },
  grids: { url: '../pkg-mix-iq/quantscope.js', module: null, loading: null, imatrix: null },
};
// `imatrix` is the plain module's ImatrixFile (entries, weighted MSE); `imatrixFile` the File it
// was read from, for the grid module's copy. Mixers are keyed by `${fileId} ${variant}`.
const state = { module: null, files: new Map(), mixers: new Map(), imatrix: null, imatrixFile: null };

// The mixes that need the grid quantizers (IQ4_NL and IQ4_XS do not).
const variantOf = (fileType) => (/^IQ[123]_/.test(fileType) ? 'grids' : 'plain');

// The File behind each file the workbench opened from disk (open_file), by its file id.
export function rememberFile(fileId, file) {
  state.files.set(fileId, file);
}

export function forgetFile(fileId) {
  state.files.delete(fileId);
  for (const variant of Object.keys(modules)) {
    state.mixers.get(`${fileId} ${variant}`)?.free();
    state.mixers.delete(`${fileId} ${variant}`);
  }
}

async function mixerModule(variant = 'plain') {
  const slot = modules[variant];
  slot.loading ??= import(slot.url).then(async (m) => {
    await m.default();
    slot.module = m;
    if (variant === 'plain') state.module = m;
    return m;
  });
  try {
    return await slot.loading;
  } catch (err) {
    slot.loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the mixer module: ${err?.message ?? err}`);
  }
}

const readImatrix = async (m, file) => new m.ImatrixFile(file.name, new Uint8Array(await file.arrayBuffer()));

// The importance matrix in `variant`'s module (the grid module reads its copy on first use).
async function imatrixIn(variant) {
  if (!state.imatrix) return null;
  if (variant === 'plain') return state.imatrix;
  const slot = modules[variant];
  slot.imatrix ??= await readImatrix(await mixerModule(variant), state.imatrixFile);
  return slot.imatrix;
}

async function mixerFor(fileId, fileType) {
  const file = state.files.get(fileId);
  if (!file) throw new Error('a llama.cpp mix is made from a .gguf file opened from disk; this one is not open any more');
  const variant = variantOf(fileType);
  const m = await mixerModule(variant);
  const key = `${fileId} ${variant}`;
  let mixer = state.mixers.get(key);
  if (!mixer) {
    mixer = new m.GgufMixer(file.name, file);
    state.mixers.set(key, mixer);
  }
  const imatrix = await imatrixIn(variant);
  if (imatrix) mixer.set_imatrix(imatrix);
  else mixer.clear_imatrix();
  return mixer;
}

// Frees the grid module's copy of the importance matrix (a new one was loaded, or none).
function dropCopies() {
  for (const slot of Object.values(modules)) {
    if (slot !== modules.plain) {
      slot.imatrix?.free();
      slot.imatrix = null;
    }
  }
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

function imatrixEntry(name) {
  const entry = state.imatrix?.entry(name) ?? null;
  if (entry) entry.values = state.imatrix.entry_values(name);
  return entry;
}

export const mixOps = {
  // The whole file is read: a dense model's imatrix is small (about 5 MB for a 7B one). The name
  // it was dropped under is the one llama-quantize would write into quantize.imatrix.file.
  async imatrix_load(_ws, _id, [file]) {
    if (file.size > IMATRIX_MAX_BYTES) {
      throw new Error(`${file.name} is ${(file.size / 2 ** 30).toFixed(1)} GiB; an importance matrix read in the page is at most 1 GiB (is it a model?)`);
    }
    const parsed = await readImatrix(await mixerModule(), file);
    state.imatrix?.free();
    state.imatrix = parsed;
    state.imatrixFile = file;
    dropCopies();
    return parsed.summary();
  },

  imatrix_clear() {
    state.imatrix?.free();
    state.imatrix = null;
    state.imatrixFile = null;
    dropCopies();
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

  mix_plan: async (_ws, _id, [fileId, fileType, settings]) => (await mixerFor(fileId, fileType)).plan(fileType, settings),

  // The header, then each tensor quantized (or copied as stored) a chunk at a time; the pieces
  // are gathered into a Blob that is posted back.
  async mix_export(_ws, id, [fileId, fileType, settings]) {
    const mixer = await mixerFor(fileId, fileType);
    const plan = mixer.begin(fileType, settings);
    const blob = await gatherPieces(id, () => mixer.step(), plan.bytes, () => mixer.cancel());
    return { plan, blob };
  },
};
