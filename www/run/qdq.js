// The static QDQ module (www/pkg-qdq: ONNX Runtime's quantize_static in QDQ format and its
// augmented calibration model), imported by the Run view's worker the first time such a file is
// asked for.
let loading = null;

export async function qdqModule() {
  loading ??= import('../pkg-qdq/quantscope.js').then(async (m) => {
    await m.default();
    return m;
  });
  try {
    return await loading;
  } catch (err) {
    loading = null; // a failed fetch may succeed next time
    throw new Error(`could not load the static QDQ module: ${err?.message ?? err}`);
  }
}
