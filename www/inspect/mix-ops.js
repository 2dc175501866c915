// Worker operations for llama.cpp's mixes (Q4_K_M, Q3_K_S, ...) of a dropped GGUF model. They run
// on the mixer module (www/pkg-mix, the src/mixer crate: llama.cpp's rules and every quantizer),
// which this worker imports the first time a mix is previewed; the workbench module never
// carries those rules. The mixer opens the same File the workbench opened (lazily, its own
// reads), so nothing is copied between the two modules.
//
//   mix_plan   [fileId, fileType, settings]  → {file_type, bytes, elements, tensors: [{name,
//                                              type, bytes, elements, rule}]} or llama.cpp's refusal
//   mix_export [fileId, fileType, settings]  → {plan, blob}: the file, with progress in bytes
//
// `settings` is {pure, output_tensor_type, token_embedding_type}, llama-quantize's options.
import { gatherPieces } from './pieces.js';

const state = { module: null, loading: null, files: new Map(), mixers: new Map() };

// The File behind each file the workbench opened from disk (open_file), by its file id.
export function rememberFile(fileId, file) {
  state.files.set(fileId, file);
}

export function forgetFile(fileId) {
  state.files.delete(fileId);
  state.mixers.get(fileId)?.free();
  state.mixers.delete(fileId);
}

async function mixerModule() {
  state.loading ??= import('../pkg-mix/quantscope.js').then(async (m) => {
    await m.default();
    state.module = m;
    return m;
  });
  try {
    return await state.loading;
  } catch (err) {
    state.loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the mixer module: ${err?.message ?? err}`);
  }
}

async function mixerFor(fileId) {
  const file = state.files.get(fileId);
  if (!file) throw new Error('a llama.cpp mix is made from a .gguf file opened from disk; this one is not open any more');
  const m = await mixerModule();
  let mixer = state.mixers.get(fileId);
  if (!mixer) {
    mixer = new m.GgufMixer(file.name, file);
    state.mixers.set(fileId, mixer);
  }
  return mixer;
}

export const mixOps = {
  mix_plan: async (_ws, _id, [fileId, fileType, settings]) => (await mixerFor(fileId)).plan(fileType, settings),

  // The header, then each tensor quantized (or copied as stored) a chunk at a time; the pieces
  // are gathered into a Blob that is posted back.
  async mix_export(_ws, id, [fileId, fileType, settings]) {
    const mixer = await mixerFor(fileId);
    const plan = mixer.begin(fileType, settings);
    const blob = await gatherPieces(id, () => mixer.step(), plan.bytes, () => mixer.cancel());
    return { plan, blob };
  },
};
