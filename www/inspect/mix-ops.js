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
import { checkpoint } from '../worker-loop.js';

// Bytes of export gathered before they are folded into a Blob (which the browser may keep on disk).
const EXPORT_FOLD_BYTES = 64 << 20;

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
    let blob = new Blob([]);
    let parts = [], pending = 0, written = 0;
    try {
      for (let piece = mixer.step(); piece !== undefined; piece = mixer.step()) {
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
      mixer.cancel();
      throw err;
    }
    return { plan, blob: new Blob([blob, ...parts], { type: 'application/octet-stream' }) };
  },
};
