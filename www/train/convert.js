// Convert (issue 18): the Train worker's last run as a file. The trainer hands over the run's
// parameters and its fake-quant nodes' scales and zero points; the Train export module
// (www/pkg-train-export, src/train-export) turns a QAT or LSQ run into the integer model its fake-quant
// forward simulates (int8 codes and scales of each weight, the learned uint8 scale and zero point
// of the input and of each layer's output) and writes it as the QDQ .onnx of that forward; an
// FP32 run as MatMul/Add/Relu. Then quantscope's engine (the models module, www/pkg-models, which
// runs any op) runs the very file on the test digits, and its predictions are compared with the
// trainer's own forward. Both modules load on the first Convert only.
// `import(url)` once, initialised, then `pick(module)`; a failed fetch may succeed next time.
async function load(cache, url, what, pick) {
  cache.p ??= import(url).then(async (m) => {
    await m.default();
    return pick(m);
  });
  try {
    return await cache.p;
  } catch (err) {
    cache.p = null;
    throw new Error(`could not load the ${what} module: ${err?.message ?? err}`);
  }
}

const converter = { p: null };
const engine = { p: null };

const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

// `run` is the worker's TrainingRun, `settings` its settings (arch, hidden, qat_bits, per_channel, lsq),
// `test` the test digits [images (uint8 [N, 784]), labels]; `uint8Weights` stores the weight codes
// as uint8 + 128 (the Train export module's run_onnx). Returns {bytes, quantized,
// engine_accuracy, agree, total, predictions}: `agree` test digits whose class the engine's run of
// the file predicts as the trainer's forward does (fake-quantized under QAT), whose predictions
// are `predictions` (one digit character per test digit).
// A conv net run (settings.arch 'conv') is written by run_conv_onnx and its file takes [N, 1, 28, 28].
export async function convertRun(run, settings, [images, labels], uint8Weights = false) {
  const conv = settings.arch === 'conv';
  const bits = settings.qat_bits ?? 0;
  const m = await load(converter, '../pkg-train-export/quantscope.js', 'converter', (m) => m);
  const bytes = conv ?
    m.run_conv_onnx(run.params(), bits, Boolean(settings.per_channel), Boolean(settings.lsq), run.node_state(), Boolean(uint8Weights)) :
    m.run_onnx([784, ...settings.hidden, 10], run.params(), bits, Boolean(settings.per_channel), Boolean(settings.lsq), run.node_state(), Boolean(uint8Weights));
  const models = await load(engine, '../pkg-models/quantscope.js', 'models', (m) => m.engine_for_any_model());
  const { handle } = models.load('converted.onnx', bytes);
  const total = labels.length;
  // Pixels / 255 in float32, as the trainer scales them (f64 then rounded to f32 gives the same
  // floats for all 256 pixel values).
  const x = new Float32Array(images.length);
  for (let i = 0; i < x.length; i++) x[i] = images[i] / 255;
  let logits;
  try {
    const shape = conv ? [total, 1, 28, 28] : [total, 784];
    logits = models.run(handle, { input: { shape, data: x } }, 0).outputs.logits.data;
  } finally {
    models.free(handle);
  }
  const ours = run.test_predictions();
  let correct = 0;
  let agree = 0;
  for (let i = 0; i < total; i++) {
    const p = argmax(logits.subarray(i * 10, i * 10 + 10));
    if (p === labels[i]) correct++;
    if (p === ours[i]) agree++;
  }
  return { bytes, quantized: bits > 0, engine_accuracy: correct / total, agree, total, predictions: Array.from(ours).join('') };
}
