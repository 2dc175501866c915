// The converter module (www/pkg-convert: a model's float32 weights in FP16 or BF16, as
// onnxconverter_common's convert_float_to_float16 writes them), imported by the Run view's worker
// the first time such a file is asked for.
let loading = null;

export async function converterModule() {
  loading ??= import('../pkg-convert/quantscope.js').then(async (m) => {
    await m.default();
    return m;
  });
  try {
    return await loading;
  } catch (err) {
    loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the converter module: ${err?.message ?? err}`);
  }
}
