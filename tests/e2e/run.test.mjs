// End to end: the Run view — the built-in MNIST model drawn on and fed test digits, its
// accuracy table against ONNX Runtime's committed figures, the per-layer chart, and a user's own
// models (one that runs, one with an op the engine lacks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';
import { toMnist } from '../../www/run/preprocess.js';
import { formatMicros } from '../../www/run/ui.js';
import { wilson } from '../../www/run/stats.js';
import { onnxModel } from './onnx-writer.mjs';

const expected = JSON.parse(await readFile(new URL('../fixtures/mnist/expected.json', import.meta.url), 'utf8'));
const ortFp32 = [...expected.fp32.predictions].map(Number);
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openRun() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
}

// The prediction table's "predicted" row: [FP32, INT8, INT4, chosen].
async function predicted(page) {
  return page.$$eval('#run-predictions tfoot tr:first-child td', (tds) => tds.map((td) => Number(td.textContent)));
}

// Waits until the prediction table shows the latest request, made after `previous`.
async function waitForPrediction(page, previous) {
  await page.waitForFunction((prev) => {
    const t = document.querySelector('#run-predictions');
    return Number(t.dataset.rendered) > prev && t.dataset.rendered === t.dataset.requested;
  }, previous, { timeout: 30000 });
}

const snapshot = (page) => page.evaluate(() => Number(document.querySelector('#run-predictions').dataset.requested ?? 0));

test('the runner module loads only when the Run view is first shown, in a worker of its own', async () => {
  const page = await browser.page();
  // The wasm packages fetched (the page's main thread the plot module, its worker the workbench).
  const wasm = new Set();
  page.on('request', (r) => { const m = /\/([^/]+)\/[^/]+\.wasm$/.exec(r.url()); if (m) wasm.add(m[1]); });
  await page.goto(browser.url);
  await page.waitForLoadState('networkidle');
  assert.deepEqual([...wasm].sort(), ['pkg', 'pkg-plot'], 'the Inspect view loads the workbench and plot modules alone');
  assert.equal(page.workers().length, 1);
  await page.click('#tab-run');
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  // Chromium has relaxed SIMD: the Run worker picks that build (www/run/runner.js).
  assert.deepEqual([...wasm].sort(), ['pkg', 'pkg-plot', 'pkg-run-relaxed']);
  assert.equal(page.workers().length, 2);
  assert.ok(page.workers().some((w) => w.url().endsWith('/run/worker.js')));
  await page.close();
});

test('a Run worker that cannot start is reported once, not restarted in a loop', async () => {
  const page = await browser.page();
  let starts = 0;
  page.on('request', (r) => { if (r.url().endsWith('/run/worker.js')) starts++; });
  // Neither runner's bindings load (www/run/runner.js tries the relaxed one, then the plain one):
  // every request to the worker fails with the import's error, and the page says so once.
  await page.route('**/pkg-run{,-relaxed}/quantscope.js', (route) => route.abort());
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /did not load/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 30000 });
  await page.waitForTimeout(1500);
  assert.ok(starts <= 2, `the worker was started ${starts} times`);
  assert.match(await page.textContent('#run-error'), /Could not load the built-in model: Failed to fetch dynamically imported module: \S+\/pkg-run\/quantscope\.js/);
  await page.close();
});

test('preprocessing puts a drawing in a 20-pixel box centred by mass, as MNIST does', () => {
  // A thick off-centre "L" on a 280×280 pad: 200 px tall, 100 px wide.
  const ink = new Float32Array(280 * 280);
  for (let y = 20; y < 220; y++) for (let x = 30; x < 50; x++) ink[y * 280 + x] = 1;
  for (let y = 200; y < 220; y++) for (let x = 30; x < 130; x++) ink[y * 280 + x] = 1;
  const img = toMnist(ink, 280, 280);
  let top = 28, bottom = -1, left = 28, right = -1, mass = 0, my = 0, mx = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = img[y * 28 + x];
      if (v > 0) { top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x); }
      mass += v; my += v * y; mx += v * x;
    }
  }
  assert.equal(bottom - top + 1, 20, 'the longer side is 20 pixels');
  assert.equal(right - left + 1, 10, 'the aspect ratio is kept');
  assert.ok(Math.abs(my / mass - 14) <= 0.5 && Math.abs(mx / mass - 14) <= 0.5, `centre of mass (${my / mass}, ${mx / mass})`);
  assert.ok(Math.max(...img) <= 1 && Math.min(...img) >= 0);
  assert.equal(toMnist(new Float32Array(280 * 280), 280, 280), null, 'no ink, no image');
});

test('latencies read as people read them: µs, then ms, then s', () => {
  assert.equal(formatMicros(5.04), '5.0 µs');
  assert.equal(formatMicros(164.2), '164 µs');
  assert.equal(formatMicros(66600), '66.6 ms');
  assert.equal(formatMicros(1234), '1.23 ms');
  assert.equal(formatMicros(2.5e6), '2.50 s');
});

test('the prediction table\'s latency is the median of repeated timings, and says so', async () => {
  const page = await openRun();
  await waitForPrediction(page, 0);
  assert.equal(await page.textContent('#run-latency-label'), 'latency (median of 7)');
  const cells = await page.$$eval('#run-predictions tfoot tr:nth-child(2) td', (tds) => tds.map((td) => td.textContent));
  assert.equal(cells.length, 4);
  for (const c of cells) assert.match(c, /^\d+(\.\d+)? (µs|ms)$/);
  // At desktop width all four columns show without scrolling.
  const [table, box] = await page.$eval('#run-predictions', (t) => [t.scrollWidth, t.parentElement.clientWidth]);
  assert.ok(table <= box, `the prediction table is ${table} px in a ${box} px box`);
  await page.close();
});

// Holds the Run worker's answers to `op` until window.releaseHeld() (a slow answer, on demand).
async function holdAnswers(page, op) {
  await page.evaluate((op) => {
    window.holdOp = op;
  }, op);
}

const HOLD_SCRIPT = () => {
  const Native = window.Worker;
  window.held = [];
  window.releaseHeld = () => { const h = window.held; window.held = []; window.holdOp = null; h.forEach((f) => f()); };
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      this.ops = new Map();
    }
    postMessage(msg, transfer) {
      if (msg?.id) this.ops.set(msg.id, msg.op);
      return super.postMessage(msg, transfer);
    }
    set onmessage(fn) {
      super.onmessage = (e) => {
        const op = this.ops.get(e.data?.id);
        if (window.holdOp && op === window.holdOp && e.data.type !== 'progress') window.held.push(() => fn(e));
        else fn(e);
      };
    }
  };
};

test('a slow answer for an old input is never shown under a new one', async () => {
  const page = await browser.page();
  await page.addInitScript(HOLD_SCRIPT);
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  await waitForPrediction(page, 0);
  // A test digit is asked for; the visitor draws before it arrives: the drawing stays.
  await holdAnswers(page, 'mnist_digit');
  await page.click('#run-next');
  await page.waitForFunction(() => window.held.length === 1, null, { timeout: 30000 });
  await page.click('#run-clear');
  let before = await snapshot(page);
  await stroke(page, [[150, 40], [145, 120], [138, 240]]);
  await waitForPrediction(page, before);
  await page.evaluate(() => window.releaseHeld());
  await page.waitForTimeout(300);
  assert.equal(await page.textContent('#run-source'), 'your drawing', 'the late test digit did not replace the drawing');
  assert.equal((await predicted(page))[0], 1);
  // A prediction for the drawing is held; the next test digit's prediction arrives first.
  await holdAnswers(page, 'mnist_predict');
  await page.click('#run-clear');
  await stroke(page, [[70, 50], [210, 50], [170, 130], [120, 240]]);
  await page.waitForFunction(() => window.held.length >= 1, null, { timeout: 30000 });
  const stale = await snapshot(page);
  await page.evaluate(() => { window.holdOp = null; });
  await page.fill('#run-index', '3');
  await page.press('#run-index', 'Enter');
  await waitForPrediction(page, stale);
  const fresh = await predicted(page);
  await page.evaluate(() => window.releaseHeld());
  await page.waitForTimeout(300);
  assert.deepEqual(await predicted(page), fresh, 'the held prediction for the old drawing was dropped');
  assert.equal(fresh[0], ortFp32[3]);
  assert.match(await page.textContent('#run-source'), /#3/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('test digits: the FP32 prediction is the one ONNX Runtime (and the Rust engine) computes', async () => {
  const page = await openRun();
  await waitForPrediction(page, 0);
  assert.match(await page.locator('#run-source').textContent(), /test digit #0, labelled \d/);
  for (let i = 0; i < 6; i++) {
    const index = Number(await page.locator('#run-index').inputValue());
    const [fp32, int8, int4] = await predicted(page);
    assert.equal(fp32, ortFp32[index], `test digit ${index}: FP32 predicts ${fp32}, ORT ${ortFp32[index]}`);
    // These first digits are not borderline: the quantized models agree.
    assert.equal(int8, fp32, `test digit ${index}: INT8`);
    assert.equal(int4, fp32, `test digit ${index}: INT4`);
    const before = await snapshot(page);
    await page.click('#run-next');
    await waitForPrediction(page, before);
  }
  // Keyboard: type an index.
  const before = await snapshot(page);
  await page.fill('#run-index', '1234');
  await page.press('#run-index', 'Enter');
  await waitForPrediction(page, before);
  assert.equal((await predicted(page))[0], ortFp32[1234]);
  assert.match(await page.locator('#run-source').textContent(), /#1234/);
  await page.locator('#run-digits').screenshot({ path: `${SCREENSHOTS}run-test-digit.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

// Mouse strokes on the pad, in pad pixels (0–280).
async function stroke(page, points) {
  const box = await page.locator('#run-pad').boundingBox();
  const at = ([x, y]) => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height];
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 4 });
  await page.mouse.up();
}

test('drawing a digit with the mouse gets a prediction', async () => {
  const page = await openRun();
  await waitForPrediction(page, 0);
  await page.click('#run-clear');
  // A "1": one slightly slanted vertical stroke.
  let before = await snapshot(page);
  await stroke(page, [[150, 40], [145, 120], [138, 240]]);
  await waitForPrediction(page, before);
  assert.equal(await page.locator('#run-source').textContent(), 'your drawing');
  assert.equal((await predicted(page))[0], 1, 'a vertical stroke reads as 1');
  // A "0": an ellipse.
  await page.click('#run-clear');
  const ellipse = Array.from({ length: 41 }, (_, i) => [140 + 60 * Math.sin((i / 40) * 2 * Math.PI), 140 - 95 * Math.cos((i / 40) * 2 * Math.PI)]);
  before = await snapshot(page);
  await stroke(page, ellipse);
  await waitForPrediction(page, before);
  assert.equal((await predicted(page))[0], 0, 'an ellipse reads as 0');
  // A "7": a bar and a diagonal.
  await page.click('#run-clear');
  before = await snapshot(page);
  await stroke(page, [[70, 50], [210, 50], [170, 130], [120, 240]]);
  await waitForPrediction(page, before);
  assert.equal((await predicted(page))[0], 7, 'a bar and a diagonal read as 7');
  // The model's input (the preview) has ink.
  const inked = await page.evaluate(() => {
    const d = document.querySelector('#run-preview').getContext('2d').getImageData(0, 0, 28, 28).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 20, `${inked} inked pixels in the 28×28 input`);
  await page.locator('#run-digits').screenshot({ path: `${SCREENSHOTS}run-drawn-7.png` });
  // Keyboard drawing: focus the pad, arrows draw.
  await page.click('#run-clear');
  before = await snapshot(page);
  await page.focus('#run-pad');
  for (const key of ['ArrowUp', 'ArrowUp', 'ArrowUp', 'ArrowUp', 'ArrowUp', 'ArrowUp']) await page.keyboard.press(key);
  await waitForPrediction(page, before);
  assert.equal(await page.locator('#run-source').textContent(), 'your drawing');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the accuracy table reproduces ONNX Runtime\'s FP32 accuracy, and the per-layer chart draws', async () => {
  const page = await openRun();
  await page.waitForSelector('#run-accuracy-table:not([hidden])', { timeout: 240000 });
  const rows = await page.$$eval('#run-accuracy-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const byLabel = Object.fromEntries(rows.map((r) => [r[0], r]));
  assert.equal(rows[0][0], 'FP32');
  assert.equal(byLabel.FP32[5], `${expected.fp32.correct} / ${expected.fp32.count}`, 'FP32 gets exactly ORT\'s digits right');
  assert.equal(byLabel.FP32[2], `${(100 * expected.fp32.accuracy).toFixed(2)}%`);
  // Each accuracy with its 95 % interval; Δ paired against FP32, noise said to be noise.
  const [lo, hi] = wilson(expected.fp32.correct, expected.fp32.count);
  assert.equal(byLabel.FP32[3], `${(100 * lo).toFixed(2)}–${(100 * hi).toFixed(2)}`);
  assert.equal(byLabel.FP32[4], 'reference');
  assert.match(byLabel['INT8 dynamic'][4], /^[+−±]\d*\.?\d+ ± \d+\.\d\d, within noise$|^±0 ± 0\.00, within noise$/);
  assert.match(byLabel.int2_sym_channel[4], /^−\d+\.\d\d ± \d+\.\d\d, worse$/);
  const noise = await page.textContent('#run-accuracy-noise');
  assert.match(noise, /one standard error of an accuracy near 96\.0% is ≈ 0\.44 points/);
  assert.match(noise, /Not distinguishable from FP32: INT8 dynamic/);
  assert.match(noise, /Measurably different: .*int2_sym_channel/);
  // Against another variant: the Δ column follows.
  await page.selectOption('#run-accuracy-reference', { label: 'q4_k' });
  assert.equal(await page.textContent('#run-accuracy-delta-head'), 'Δ vs q4_k (points)');
  const q4k = await page.$$eval('#run-accuracy-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)).find((r) => r[0] === 'q4_k'));
  assert.equal(q4k[4], 'reference');
  assert.match(await page.textContent('#run-accuracy-noise'), /Not distinguishable from q4_k: [^.]*q3_k/, 'the issue\'s q4_k against q3_k is noise');
  const int8Right = Number(byLabel['INT8 dynamic'][5].split(' / ')[0]);
  assert.ok(Math.abs(int8Right - expected.int8_dynamic_ort.correct) <= 10, `INT8 ${int8Right} vs ORT ${expected.int8_dynamic_ort.correct}`);
  for (const label of ['INT8 static (min-max)', 'INT8 static (entropy)', 'INT4 dynamic', 'q4_k', 'nf4', 'fp8_e4m3']) {
    assert.ok(byLabel[label], `the table has ${label}`);
  }
  assert.match(await page.locator('#run-accuracy-summary').textContent(), /^FP32 96\.00% → INT8 9\d\.\d\d%, 350 KB → 8\d KB/);
  assert.equal(await page.locator('#run-accuracy-progress').isHidden(), true);

  // Per-layer sensitivity with the default (int2) scheme: one bar per Gemm and one for all.
  await page.click('#run-sensitivity-start');
  await page.waitForSelector('#run-sensitivity-table:not([hidden])', { timeout: 120000 });
  const layers = await page.$$eval('#run-sensitivity-table tbody tr', (trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.deepEqual(layers, ['fc1', 'fc2', 'fc3', 'all layers']);
  assert.equal(await page.locator('#run-sensitivity-chart svg rect').count(), 4);
  await page.locator('#run-accuracy').screenshot({ path: `${SCREENSHOTS}run-accuracy.png` });
  await page.locator('#run-sensitivity').screenshot({ path: `${SCREENSHOTS}run-sensitivity.png` });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the accuracy run can be cancelled', async () => {
  const page = await openRun();
  await page.waitForSelector('#run-accuracy-progress:not([hidden])', { timeout: 30000 });
  await page.click('#run-accuracy-progress button');
  await page.waitForSelector('#run-accuracy-progress', { state: 'hidden', timeout: 30000 });
  assert.equal(await page.locator('#run-accuracy-error').isHidden(), true, 'a cancel is not an error');
  assert.equal(await page.locator('#run-accuracy-start').isDisabled(), false);
  await page.close();
});

test('a user\'s own model: FP32 against quantized per output, and a clear error for an unsupported op', async () => {
  const page = await openRun();
  const model = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  // Three inputs of the model's own shape: a blank, a bright and a half-grey image.
  const input = npy([...new Array(784).fill(0), ...new Array(784).fill(1), ...new Array(784).fill(0.5)], [3, 784]);
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: model }, { name: 'three.npy', bytes: input }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  const row = await page.$$eval('#run-custom-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(row.length, 1);
  assert.equal(row[0][0], 'probabilities');
  assert.equal(row[0][1], '[3, 10]');
  assert.ok(Number(row[0][4]) > 20, `SQNR ${row[0][4]} dB`);
  assert.match(await page.locator('#run-custom-input').textContent(), /input \[3, 784\]: three\.npy/);
  assert.match(await page.locator('#run-custom-model').textContent(), /Gemm ×3/);
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom.png` });

  const bad = await readFile(new URL('../fixtures/run_ops/deformconv_unsupported.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'deformconv_unsupported.onnx', bytes: bad }]);
  await page.waitForSelector('#run-custom-error:not([hidden])', { timeout: 30000 });
  const message = await page.locator('#run-custom-error').textContent();
  assert.match(message, /deformconv_unsupported\.onnx/);
  assert.match(message, /ops the engine does not run: DeformConv ×1$/);
  assert.equal(await page.locator('#run-custom-table').isHidden(), true, 'the previous model\'s results are gone');
  assert.equal(await page.getAttribute('#run-custom-refused a', 'href'), 'README.md#run-a-model');
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-error.png` });
  // Its weights can be inspected instead: the file opens in the Inspect view.
  await page.click('#run-custom-inspect');
  await page.waitForFunction(() => document.body.dataset.view === 'inspect');
  await page.waitForFunction(() => /deformconv_unsupported\.onnx/.test(document.querySelector('#view-inspect').textContent), null, { timeout: 30000 });
  await page.click('#tab-run');
  // A model lacking several ops is refused once, with every op it lacks and how many nodes use it.
  const detector = onnxModel({
    nodes: [
      { op: 'STFT', name: 't1', inputs: ['x'], outputs: ['a'] },
      { op: 'Relu', name: 'r', inputs: ['a'], outputs: ['b'] },
      { op: 'Col2Im', name: 'z1', inputs: ['b'], outputs: ['c'] },
      { op: 'STFT', name: 't2', inputs: ['c'], outputs: ['d'] },
      { op: 'Unique', name: 'nz', inputs: ['d'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', shape: [4] }],
    outputs: [{ name: 'y', shape: ['?', '?'] }],
  });
  await dropFiles(page, '#run-custom-drop', [{ name: 'detector.onnx', bytes: detector }]);
  await page.waitForFunction(() => /detector\.onnx/.test(document.querySelector('#run-custom-error').textContent), null, { timeout: 30000 });
  assert.equal(await page.textContent('#run-custom-error'), 'detector.onnx: ops the engine does not run: STFT ×2, Col2Im ×1, Unique ×1');
  await page.close();
});

test('a bad .npy does not stick: a new model starts without it, and Clear forgets model and input', async () => {
  const page = await openRun();
  const model = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  const wrong = npy(new Array(10).fill(0.5), [2, 5]);
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: model }, { name: 'wrong.npy', bytes: wrong }]);
  await page.waitForSelector('#run-custom-error:not([hidden])', { timeout: 30000 });
  assert.match(await page.textContent('#run-custom-error'), /with wrong\.npy/);
  assert.match(await page.textContent('#run-custom-files'), /input wrong\.npy/);
  // The model alone again: it runs on random inputs, the wrong input is gone.
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: model }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-error').isHidden(), true);
  assert.doesNotMatch(await page.textContent('#run-custom-files'), /wrong\.npy/);
  assert.match(await page.textContent('#run-custom-input'), /seeded random/);
  // A bad input for this model, then Clear: nothing is left, and the next model starts clean.
  await dropFiles(page, '#run-custom-drop', [{ name: 'wrong.npy', bytes: wrong }]);
  await page.waitForSelector('#run-custom-error:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-clear');
  assert.equal(await page.locator('#run-custom-error').isHidden(), true);
  assert.equal(await page.locator('#run-custom-table').isHidden(), true);
  assert.equal(await page.textContent('#run-custom-files'), 'No model loaded.');
  assert.equal(await page.locator('#run-custom-clear').isDisabled(), true);
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: model }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-error').isHidden(), true);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a model without inputs asks for its open dimensions by their names; argmax only for classifiers', async () => {
  const page = await openRun();
  // An image model with named and unnamed open dimensions, and a feature-map output.
  const model = onnxModel({
    nodes: [{ op: 'Relu', name: 'relu', inputs: ['image'], outputs: ['features'] }],
    inputs: [{ name: 'image', shape: ['batch', 3, 'height', '?'] }],
    outputs: [{ name: 'features', shape: ['batch', 3, 'height', '?'] }],
  });
  await dropFiles(page, '#run-custom-drop', [{ name: 'features.onnx', bytes: model }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  const fields = await page.$$eval('#run-custom-size-fields label', (ls) => ls.map((l) => [l.textContent.trim(), l.querySelector('input').value]));
  assert.deepEqual(fields, [['batch', '1'], ['height', '224'], ['image, axis 3', '224']]);
  assert.match(await page.textContent('#run-custom-input'), /image \[1, 3, 224, 224\]: seeded random/);
  assert.equal(await page.locator('#run-custom-argmax').isHidden(), true, 'a feature map has no argmax to agree on');
  // Another size: the run follows.
  await page.fill('#run-custom-size-fields input[data-key="batch"]', '2');
  await page.press('#run-custom-size-fields input[data-key="batch"]', 'Enter');
  await page.waitForFunction(() => /image \[2, 3, 224, 224\]/.test(document.querySelector('#run-custom-input').textContent), null, { timeout: 30000 });
  assert.equal((await page.$$eval('#run-custom-table tbody td', (tds) => tds.map((t) => t.textContent)))[1], '[2, 3, 224, 224]');
  // A size that is no size: a specific error, the last results kept.
  await page.fill('#run-custom-size-fields input[data-key="height"]', '0');
  await page.press('#run-custom-size-fields input[data-key="height"]', 'Enter');
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.textContent('#run-custom-error'), /the size of 'height' must be a whole number from 1 to 1,000,000, not '0'/);
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-sizes.png` });
  // A classifier ([batch, classes]) shows whether the argmax agrees.
  const mlp = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: mlp }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-argmax').isHidden(), false);
  assert.match((await page.$$eval('#run-custom-table tbody td', (tds) => tds.map((t) => t.textContent)))[6], /^(yes|no|\d)/);
  assert.deepEqual(page.errors, []);
  await page.close();
});
