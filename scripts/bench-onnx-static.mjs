// Static INT8 (QDQ) quantization of a ~10 MB real model in the page, as a person does it (issue 13:
// "quantizing a 10 MB model statically with 32 calibration inputs takes under 10 s in the page"):
// Run → Your own model, pick PP-OCRv4's text recognizer (ppocr_rec, 10.9 MB, from the cache of
// scripts/fixtures/make_real_models.py) and a .npy of 32 seeded text-line images shaped as its input
// ([32, 3, 48, 320]: RapidOCR's rec_img_shape), choose a calibration, press "Download static INT8
// (QDQ) .onnx" and wait for the download. Reported per calibration: the wall time from the press to
// the download, and the worker's phases (custom-ops.js custom_static: listing the tensors to calibrate, the calibration
// run, histograms and ranges, writing the file, running it against FP32). Each downloaded file is
// then loaded and run by onnxruntime-web (wasm, one thread) in the same browser on the first
// calibration image, against the FP32 model there (SQNR of the output). With --python PY (a venv of
// scripts/fixtures/requirements-real.txt) ONNX Runtime's own quantize_static (MinMax) of the same
// model on the same rows (one calibration item of all 32) is written too, and the page's file
// compared with it: how many initializers are byte-identical (the weights must all be; an
// activation scale may differ by an ulp where the engine's float sums differ from ONNX Runtime's
// kernels), and ONNX Runtime (CPU) runs the page's file.
// A benchmark, never part of `npm test`. After scripts/build-wasm.sh (run, models, qdq, calib):
//   node scripts/bench-onnx-static.mjs [--methods minmax,entropy,percentile,distribution]
//       [--count 32] [--width 320] [--model .cache/real-models/ppocr_rec.onnx] [--python PY]
//       [--workers N] (the page's pool for the histograms; by default one per core, as the page)
// The files and the .npy are left in .cache/bench-onnx-static/.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { launch } from '../tests/e2e/browser.mjs';
import { npy } from '../tests/e2e/npy.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const OUT = `${ROOT}.cache/bench-onnx-static/`;
const METHODS = { minmax: 'MinMax', entropy: 'Entropy', percentile: 'Percentile', distribution: 'Distribution' };

function option(args, name, fallback) {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
}

// mulberry32: a small seeded generator, so the rows are the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `count` text lines as make_real_models.py's page_image draws them: dark strokes on a light
// page with a little noise, scaled to [0, 1] and normalised as PP-OCR's recognizer expects
// ((x − 0.5) / 0.5), the same plane in each of the 3 channels.
function textLines(count, height, width, seed = 2026) {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const plane = height * width;
  const out = new Float32Array(count * 3 * plane);
  const img = new Float64Array(plane);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < plane; i++) img[i] = 235 + 6 * normal();
    const strokes = Math.max(2, Math.floor(plane / 250));
    for (let s = 0; s < strokes; s++) {
      const y = Math.floor(next() * (height - 6)), x = Math.floor(next() * (width - 20));
      const h = 3 + Math.floor(next() * 5), w = 8 + Math.floor(next() * 32), v = 10 + 50 * next();
      for (let r = y; r < Math.min(height, y + h); r++) for (let c = x; c < Math.min(width, x + w); c++) img[r * width + c] = v;
    }
    for (let ch = 0; ch < 3; ch++) {
      const base = (n * 3 + ch) * plane;
      for (let i = 0; i < plane; i++) out[base + i] = (Math.min(255, Math.max(0, img[i])) / 255 - 0.5) / 0.5;
    }
  }
  return out;
}

async function openRun(browser, workers) {
  const page = await browser.page();
  await page.goto(`${browser.url}#run${workers ? `?workers=${workers}` : ''}`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 120000 });
  return page;
}

// The file run by onnxruntime-web on the first row, and the FP32 model too: the output's SQNR.
function ortCheck(page, fp32Url, fileUrl, row, shape) {
  return page.evaluate(async ([fp32Url, fileUrl, row, shape]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'error';
    const outputs = [];
    for (const url of [fp32Url, fileUrl]) {
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(row), shape) });
      outputs.push(out[session.outputNames[0]].data);
      await session.release();
    }
    const [ref, q] = outputs;
    let signal = 0, noise = 0;
    for (let i = 0; i < ref.length; i++) { signal += ref[i] ** 2; noise += (ref[i] - q[i]) ** 2; }
    return { values: ref.length, sqnr_db: 10 * Math.log10(signal / noise), finite: q.every(Number.isFinite) };
  }, [fp32Url, fileUrl, Array.from(row), shape]);
}

const PY_COMPARE = `
import sys, numpy as np, onnx, onnxruntime as ort
from onnxruntime.quantization import quantize_static, CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
ort.set_default_logger_severity(3)
model, rows, ours, method, theirs = sys.argv[1:6]
x = np.load(rows)
class Reader(CalibrationDataReader):
    def __init__(self): self.items = iter([{"x": x}])
    def get_next(self): return next(self.items, None)
quantize_static(model, theirs, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, method))
a = {t.name: t for t in onnx.load(ours).graph.initializer}
b = {t.name: t for t in onnx.load(theirs).graph.initializer}
def kind(k):
    return "scales" if k.endswith("_scale") else "zero points" if k.endswith("_zero_point") else "weights and biases"
counts = {}
for k in b:
    c = counts.setdefault(kind(k), [0, 0])
    c[1] += 1
    c[0] += k in a and a[k].SerializeToString() == b[k].SerializeToString()
sess = ort.InferenceSession(ours, providers=["CPUExecutionProvider"])
y = sess.run(None, {"x": x[:1]})[0]
ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x[:1]})[0]
theirs_y = ort.InferenceSession(theirs, providers=["CPUExecutionProvider"]).run(None, {"x": x[:1]})[0]
sqnr = lambda q: 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref.astype(np.float64) - q) ** 2))
print(f"ONNX Runtime's quantize_static: byte-identical initializers, of its {len(b)} ({len(a)} in the page's file): "
      + ", ".join(f"{k} {c[0]}/{c[1]}" for k, c in counts.items())
      + f"; onnxruntime {ort.__version__} (CPU) on row 0: the page's file SQNR {sqnr(y):.1f} dB, ONNX Runtime's {sqnr(theirs_y):.1f} dB")
`;

export async function benchOnnxStatic({ methods, count, width, model, python, workers }) {
  if (!existsSync(model)) {
    throw new Error(`${model} is missing: make it with scripts/fixtures/make_real_models.py (its docstring: a venv of scripts/fixtures/requirements-real.txt)`);
  }
  const name = basename(model);
  const shape = [count, 3, 48, width];
  const rows = textLines(count, 48, width);
  await mkdir(OUT, { recursive: true });
  const npyPath = `${OUT}${name.replace(/\.onnx$/, '')}.calibration.npy`;
  await writeFile(npyPath, npy(rows, shape));
  const modelBytes = await readFile(model);
  console.error(`[bench] ${name} (${(modelBytes.length / 1e6).toFixed(1)} MB), ${count} calibration inputs [${shape.join(', ')}], ` +
    `load ${loadavg().map((v) => v.toFixed(1)).join(' ')} on ${cpus().length} cores`);
  const browser = await launch();
  const results = [];
  try {
    const page = await openRun(browser, workers);
    const dropped = performance.now();
    // The drop zone's file picker (the same handler as a drop), with the model and the .npy.
    await page.setInputFiles('#run-custom-file', [
      { name, mimeType: 'application/octet-stream', buffer: modelBytes },
      { name: basename(npyPath), mimeType: 'application/octet-stream', buffer: await readFile(npyPath) }]);
    await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 600000 });
    // Dropping a model compares it with its default quantized copy on the .npy at once: wait for that.
    await page.waitForSelector('#run-custom-table:not([hidden]), #run-custom-error:not([hidden])', { timeout: 1800000 });
    // (Its layer-by-layer part refuses inputs this large; the quantize buttons stay usable.)
    if (await page.locator('#run-custom-error').isVisible()) console.error(`[bench] the comparison says: ${await page.locator('#run-custom-error').textContent()}`);
    console.error(`[bench] dropped, loaded and compared in ${((performance.now() - dropped) / 1000).toFixed(1)} s`);
    for (const method of methods) {
      await page.selectOption('#run-custom-static-method', method);
      await page.evaluate(() => { delete document.body.dataset.onnxStaticSeconds; });
      const pressed = performance.now();
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 1800000 }), page.click('#run-custom-static-go')]);
      const wall = (performance.now() - pressed) / 1000;
      const path = `${OUT}${download.suggestedFilename()}`;
      await download.saveAs(path);
      await page.waitForFunction(() => document.body.dataset.onnxStaticSeconds, null, { timeout: 600000 });
      const seconds = JSON.parse(await page.evaluate(() => document.body.dataset.onnxStaticSeconds));
      const line = await page.locator('#run-custom-static-result').textContent();
      const fileUrl = `${browser.url}${path.slice(ROOT.length)}`;
      const check = await ortCheck(page, `${browser.url}${model.slice(ROOT.length)}`, fileUrl, rows.subarray(0, rows.length / count), [1, 3, 48, width]);
      const pool = Number(await page.evaluate(() => document.body.dataset.onnxStaticWorkers));
      const row = { method, wall, seconds, pool, bytes: (await readFile(path)).length, path, line, ort_web: check };
      // (MinMax only: ONNX Runtime's histogram calibrations hold every tensor of every run, 6.5 GB here.)
      if (python && method === 'minmax') {
        row.python = execFileSync(python, ['-c', PY_COMPARE, model, npyPath, path, METHODS[method], `${OUT}ort.${download.suggestedFilename()}`],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
      }
      console.error(`[bench] ${method}: ${wall.toFixed(2)} s`);
      results.push(row);
    }
    if (page.errors.length) console.log(`page errors:\n${page.errors.join('\n')}`);
  } finally {
    await browser.close();
  }
  const s = (v) => (v === undefined ? '—' : v.toFixed(2)).padStart(7);
  console.log(`\n${name}, ${count} calibration inputs [${shape.join(', ')}], static INT8 QDQ (uint8 activations, per-tensor weights), ` +
    `one press to the download, seconds (load ${loadavg().map((v) => v.toFixed(1)).join(' ')} at the end)`);
  console.log(`${'calibration'.padEnd(13)} ${'wall'.padStart(7)} ${'modules'.padStart(7)} ${'cal.model'.padStart(9)} ${'cal.runs'.padStart(8)} ` +
    `${'histo.'.padStart(7)} ${'pooled'.padStart(7)} ${'workers'.padStart(7)} ${'ranges'.padStart(7)} ${'writing'.padStart(7)} ${'checking'.padStart(8)}  ORT-web loads and runs it`);
  for (const r of results) {
    const p = r.seconds;
    console.log(`${METHODS[r.method].padEnd(13)} ${s(r.wall)} ${s(p.modules)} ${s(p.calibration_model).padStart(9)} ${s(p.calibration_run).padStart(8)} ` +
      `${s(p.histograms)} ${s(p.calibration_pool)} ${String(r.pool).padStart(7)} ${s(p.ranges)} ${s(p.writing)} ${s(p.checking).padStart(8)}  ${r.ort_web.finite ? 'yes' : 'NOT FINITE'}, SQNR ${r.ort_web.sqnr_db.toFixed(1)} dB on row 0`);
  }
  for (const r of results) if (r.python) console.log(`${METHODS[r.method]}: ${r.python}`);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const methods = option(args, 'methods', 'minmax,entropy,percentile,distribution').split(',');
  for (const m of methods) if (!METHODS[m]) throw new Error(`--methods: ${m} is not one of ${Object.keys(METHODS).join(', ')}`);
  await benchOnnxStatic({
    methods,
    count: Number(option(args, 'count', '32')),
    width: Number(option(args, 'width', '320')),
    model: resolve(option(args, 'model', `${ROOT}.cache/real-models/ppocr_rec.onnx`)),
    python: option(args, 'python', null),
    workers: option(args, 'workers', null),
  });
}
