// Real models (tests/fixtures/real_models, and the larger ones of scripts/fixtures/make_real_models.py
// when its cache .cache/real-models is there) in quantscope's engine (the models module, every op)
// and in onnxruntime-web (wasm, one thread), in one worker: FP32, and int8 dynamic — quantscope's
// int8_dynamic variant against ONNX Runtime running the model as quantize_dynamic writes it
// (written by quantscope's exporter, byte-identical to ORT's own quantizer). Both engines'
// FP32 outputs are checked equal (≤ 1e-4 relative) before anything is timed.
// `?base=DIR` (a folder of the repository holding another build of the models module, e.g. main's
// copied to .cache/pkg-models-main) times that build too, in turn with this one, and reports
// whether its outputs are bit-identical to this build's: a before/after in the same run.
import initModels, { engine_for_any_model, read_npy_input, output_error } from '../pkg-models/quantscope.js';
import initExport, { quantize_onnx_dynamic } from '../pkg-export/quantscope.js';
import { fetchBytes, medianMs as timed, ort, say } from './ort-timing.js';

const ROUNDS = 9;
const ROUND_MS = 60;

const medianMs = (call) => timed(call, ROUNDS, ROUND_MS);

const ortTensor = (io, t) => (io.dtype === 'int64'
  ? new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(Math.round(v))), t.shape)
  : new ort.Tensor('float32', t.data, t.shape));

const params = new URL(self.location.href).searchParams;

/** The other build of `?base=`, or null. */
async function baseModule() {
  const dir = params.get('base');
  if (!dir) return null;
  const mod = await import(new URL(`../../${dir}/quantscope.js`, import.meta.url).href);
  await mod.default();
  return mod;
}

const sameBits = (a, b) => Object.keys(a).every((k) => a[k].data.length === b[k].data.length
  && a[k].data.every((v, i) => Object.is(v, b[k].data[i])));

async function bench(name, modelBytes, inputFiles, base) {
  const engine = engine_for_any_model();
  const info = engine.load(name, modelBytes);
  const raw = await Promise.all(inputFiles.map(fetchBytes));
  const tensors = raw.map((b) => read_npy_input(b));
  const ours = Object.fromEntries(info.inputs.map((io, k) => [io.name, { shape: tensors[k].shape, data: tensors[k].data }]));
  const theirs = Object.fromEntries(info.inputs.map((io, k) => [io.name, ortTensor(io, tensors[k])]));
  const int8 = engine.variant(info.handle, { kind: 'int8_dynamic', per_channel: false });
  const other = base && base.engine_for_any_model();
  const otherInfo = other && other.load(name, modelBytes);
  const otherInt8 = other && other.variant(otherInfo.handle, { kind: 'int8_dynamic', per_channel: false });
  const q = quantize_onnx_dynamic(modelBytes, 'int8', false, false, false);
  const ortInt8Bytes = q.bytes;
  q.free();
  const rows = [];
  const variants = [['FP32', info.handle, modelBytes, otherInfo?.handle], ['INT8', int8.handle, ortInt8Bytes, otherInt8?.handle]];
  for (const [variant, handle, bytes, otherHandle] of variants) {
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const runOurs = () => engine.run(handle, ours, 0).outputs;
    const runTheirs = async () => session.run(theirs);
    const a = runOurs(), b = await runTheirs();
    // Checked before timing: FP32 equal to 1e-4 of the output's range, int8 reported.
    const errors = Object.keys(a).map((k) => {
      const x = a[k].data, y = Float32Array.from(b[k].data, Number);
      const scale = y.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
      return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0) / scale;
    });
    const worst = Math.max(...errors);
    if (variant === 'FP32' && !(worst <= 1e-4)) throw new Error(`${name}: FP32 outputs differ by ${worst} of their range`);
    say(`${name} ${variant}: quantscope`);
    const oursMs = await medianMs(runOurs);
    const row = { model: name, variant, quantscope_ms: oursMs, rel_diff: worst };
    if (other) {
      const runOther = () => other.run(otherHandle, ours, 0).outputs;
      row.base_same_bits = sameBits(a, runOther());
      say(`${name} ${variant}: quantscope (base build)`);
      row.base_ms = await medianMs(runOther);
    }
    say(`${name} ${variant}: onnxruntime-web`);
    row.ort_ms = await medianMs(runTheirs);
    rows.push(row);
    await session.release();
  }
  engine.free(int8.handle);
  engine.free(info.handle);
  if (other) {
    other.free(otherInt8.handle);
    other.free(otherInfo.handle);
  }
  return rows;
}

async function main() {
  await initModels();
  await initExport();
  const base = await baseModule();
  const manifest = JSON.parse(new TextDecoder().decode(await fetchBytes('../../tests/fixtures/real_models/manifest.json')));
  const only = params.get('only')?.split(',');
  for (const [name, entry] of Object.entries(manifest.models)) {
    if (only && !only.includes(name)) continue;
    let model, inputs;
    if (entry.committed) {
      model = await fetchBytes(`../../tests/fixtures/real_models/${name}/model.onnx`).catch(() => null);
      inputs = entry.inputs.map((_, k) => `../../tests/fixtures/real_models/${name}/input_${k}.npy`);
    } else {
      model = await fetchBytes(`../../.cache/real-models/${name}.onnx`).catch(() => null);
      inputs = entry.inputs.map((n) => `../../.cache/real-models/io/${name}/${n}.npy`);
    }
    if (!model) continue;
    say(`${name}: loading`);
    try {
      for (const row of await bench(name, model, inputs, base)) self.postMessage({ type: 'result', result: row });
    } catch (err) {
      self.postMessage({ type: 'error', message: `${name}: ${err?.message ?? err}` });
    }
  }
  self.postMessage({ type: 'done' });
}

main().catch((err) => self.postMessage({ type: 'error', message: String(err?.message ?? err) }));
