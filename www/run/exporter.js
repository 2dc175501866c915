// The exporter module (www/pkg-export: ONNX Runtime's quantize_dynamic and llama.cpp's imatrix
// file writer), imported by the Run view's worker the first time a file is asked for.
let loading = null;

export async function exporterModule() {
  loading ??= import('../pkg-export/quantscope.js').then(async (m) => {
    await m.default();
    return m;
  });
  try {
    return await loading;
  } catch (err) {
    loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the exporter module: ${err?.message ?? err}`);
  }
}
