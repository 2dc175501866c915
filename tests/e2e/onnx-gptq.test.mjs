// End to end: Run → Your own model → weight-only, method "GPTQ (with calibration data)" (issue
// 13, item 3). The four-MatMul model of scripts/fixtures/make_onnx_gptq.py is dropped; without
// calibration data the button waits and says why; with the fixture's calibration rows as the .npy
// the page downloads a file whose initializers are, name by name, the bytes ONNX Runtime 1.32's
// GPTQ wrote for those rows as one reader item (mlp.b32_asym_onebatch.onnx), and the line under the
// button gives each MatMul's output error against round to nearest. The downloaded file and ONNX
// Runtime's run in onnxruntime-web (wasm, one thread) on the fixture's input with the same bits,
// within 1e-5 of ONNX Runtime's CPU outputs (gptq.json). A screenshot of the panel. Cancel, on a
// larger model built by the test, stops GPTQ between two weights without a file, and the next
// press quantizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, screenshotOf, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';
import { onnxModel } from './onnx-writer.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fixture = (name) => readFile(new URL(`../fixtures/onnx_gptq/${name}`, import.meta.url));

// protobuf: (field number, wire type, payload or value) of each field of a message
function* fields(buf) {
  let i = 0;
  const varint = () => {
    let v = 0n, s = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << s;
      s += 7n;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const [field, wire] = [key >> 3, key & 7];
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 2) {
      const len = Number(varint());
      yield [field, wire, buf.subarray(i, i + len)];
      i += len;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else throw new Error(`wire type ${wire}`);
  }
}

// ModelProto.graph (7) → GraphProto.initializer (5) → TensorProto name (8) and raw_data (9)
function initializers(bytes) {
  const out = new Map();
  for (const [f, , graph] of fields(bytes)) {
    if (f !== 7) continue;
    for (const [g, , t] of fields(graph)) {
      if (g !== 5) continue;
      let name = '', raw = null;
      for (const [k, , v] of fields(t)) {
        if (k === 8) name = new TextDecoder().decode(v);
        if (k === 9) raw = Buffer.from(v).toString('hex');
      }
      out.set(name, raw);
    }
  }
  return out;
}

// The Run view with the fixture's model dropped as "your own model".
async function pageWithModel() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  await dropFiles(page, '#run-custom-drop', [{ name: 'mlp.onnx', bytes: await fixture('mlp.onnx') }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 60000 });
  return page;
}

test("GPTQ waits for calibration data, then downloads ONNX Runtime's file for those rows", async () => {
  const page = await pageWithModel();
  await page.selectOption('#run-custom-nbits-method', 'gptq');
  await page.selectOption('#run-custom-nbits-block', '32');
  assert.ok(await page.locator('#run-custom-nbits-go').isDisabled());
  assert.match(await page.locator('#run-custom-nbits-why').textContent(), /GPTQ needs calibration data/);

  await dropFiles(page, '#run-custom-drop', [{ name: 'calibration_all.npy', bytes: await fixture('calibration_all.npy') }]);
  await page.waitForFunction(() => !document.querySelector('#run-custom-nbits-go').disabled, null, { timeout: 60000 });
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('#run-custom-nbits-go')]);
  assert.equal(file.suggestedFilename(), 'mlp.matmulnbits_gptq_b32.onnx');
  // one weight per job on the page's pool (a worker per core, two here): ONNX Runtime's bytes
  assert.equal(await page.evaluate(() => document.body.dataset.onnxNbitsWorkers), String(Math.min(4, await page.evaluate(() => navigator.hardwareConcurrency))));
  const ours = initializers(await readFile(await file.path()));
  const theirs = initializers(await fixture('mlp.b32_asym_onebatch.onnx'));
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  for (const [name, raw] of theirs) assert.equal(ours.get(name), raw, name);
  const line = await page.locator('#run-custom-nbits-result').textContent();
  assert.match(line, /4 MatMuls with GPTQ's 4-bit weights \(as ONNX Runtime 1\.32's, no error fed forward\) in blocks of 32, with zero points, calibrated on calibration_all\.npy/);
  assert.match(line, /'fc2' 0\.00\d+ \(round to nearest 0\.00\d+\)/);
  // both files in onnxruntime-web on the fixture's input x [2, 4, 192]
  const input = await fixture('input.npy');
  const x = Array.from(new Float32Array(input.buffer.slice(input.byteOffset + input.length - 2 * 4 * 192 * 4, input.byteOffset + input.length)));
  const runs = await page.evaluate(async ([models, x]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const out = [];
    for (const bytes of models) {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      const r = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x), [2, 4, 192]) });
      out.push(Array.from(r.y.data));
    }
    return out;
  }, [[Array.from(await readFile(await file.path())), Array.from(await fixture('mlp.b32_asym_onebatch.onnx'))], x]);
  assert.deepEqual(runs[0], runs[1], "the page's file and ONNX Runtime's run alike in onnxruntime-web");
  const cpu = JSON.parse(await fixture('gptq.json')).variants.b32_asym_onebatch.output;
  const scale = Math.max(...cpu.map(Math.abs));
  const diff = Math.max(...runs[0].map((v, i) => Math.abs(v - cpu[i])));
  assert.ok(diff <= 1e-5 * scale, `onnxruntime-web against ONNX Runtime's CPU outputs: ${diff}`);
  await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}run-onnx-gptq.png`);
});

// "GPTQ with error feedback (the paper's)": the same file format with each row's rounding error
// carried onto the rows after it (ONNX Runtime 1.32's GPTQ carries none; the weights are held to
// its quantizer with the paper's update in src/onnx-quant/tests/ort_gptq.rs). On the calibration
// rows every MatMul's output error is then below round to nearest's, and the file runs in
// onnxruntime-web.
test('GPTQ with error feedback beats round to nearest on every MatMul, and the file runs in onnxruntime-web', async () => {
  const page = await pageWithModel();
  await dropFiles(page, '#run-custom-drop', [{ name: 'calibration_all.npy', bytes: await fixture('calibration_all.npy') }]);
  await page.selectOption('#run-custom-nbits-method', 'gptq_feedback');
  await page.selectOption('#run-custom-nbits-block', '32');
  await page.waitForFunction(() => !document.querySelector('#run-custom-nbits-go').disabled, null, { timeout: 60000 });
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('#run-custom-nbits-go')]);
  assert.equal(file.suggestedFilename(), 'mlp.matmulnbits_gptq_feedback_b32.onnx');
  const line = await page.locator('#run-custom-nbits-result').textContent();
  assert.match(line, /GPTQ's 4-bit weights \(error fed forward, as the paper does\) in blocks of 32/);
  const errors = [...line.matchAll(/'(fc\w+)' ([\d.e-]+) \(round to nearest ([\d.e-]+)\)/g)];
  assert.equal(errors.length, 4, line);
  for (const [, matmul, gptq, rtn] of errors) assert.ok(Number(gptq) < Number(rtn), `${matmul}: GPTQ ${gptq}, round to nearest ${rtn}`);
  const bytes = Array.from(await readFile(await file.path()));
  const y = await page.evaluate(async (bytes) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(new Uint8Array(bytes));
    const r = await session.run({ x: new ort.Tensor('float32', new Float32Array(2 * 4 * 192).fill(0.5), [2, 4, 192]) });
    return Array.from(r.y.data);
  }, bytes);
  assert.equal(y.length, 2 * 4 * 40);
  assert.ok(y.every(Number.isFinite));
  await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}run-onnx-gptq-feedback.png`);
});

// GPTQ on a model made here (never committed): LAYERS chained MatMuls of WIDTH × WIDTH seeded
// weights, a few MB, whose weights take GPTQ long enough in the worker to press Cancel between
// two of them (the committed fixture's four small MatMuls are done before a click lands).
const WIDTH = 512, LAYERS = 8, ROWS = 64;

function seeded(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.2;
  });
}

function slowModel() {
  const names = Array.from({ length: LAYERS + 1 }, (_, i) => (i === 0 ? 'x' : i === LAYERS ? 'y' : `h${i}`));
  return onnxModel({
    nodes: Array.from({ length: LAYERS }, (_, i) => ({ op: 'MatMul', name: `fc${i}`, inputs: [names[i], `w${i}`], outputs: [names[i + 1]] })),
    inputs: [{ name: 'x', shape: ['N', WIDTH] }],
    outputs: [{ name: 'y', shape: ['N', WIDTH] }],
    initializers: Array.from({ length: LAYERS }, (_, i) => ({ name: `w${i}`, dims: [WIDTH, WIDTH], data: seeded(WIDTH * WIDTH, 7 + i) })),
  });
}

test('Cancel stops GPTQ between two weights: no file, and the next press quantizes', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  const rows = Array.from(seeded(ROWS * WIDTH, 99), (v) => v * 20);
  await page.setInputFiles('#run-custom-file', [
    { name: 'slow.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from(slowModel()) },
    { name: 'rows.npy', mimeType: 'application/octet-stream', buffer: Buffer.from(npy(rows, [ROWS, WIDTH])) }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 60000 });
  await page.selectOption('#run-custom-nbits-method', 'gptq');
  await page.waitForFunction(() => !document.querySelector('#run-custom-nbits-go').disabled, null, { timeout: 120000 });
  let downloads = 0;
  page.on('download', () => { downloads++; });
  await page.click('#run-custom-nbits-go');
  // Progress: 3 steps, then one per weight (custom-ops.js custom_gptq). Cancel once two are done.
  const progress = '#run-custom-nbits-progress .run-progress-text';
  await page.waitForFunction((sel) => Number(/: (\d+) \//.exec(document.querySelector(sel)?.textContent ?? '')?.[1]) >= 4, progress, { timeout: 120000 });
  const at = await page.locator(progress).textContent();
  await page.click('#run-custom-nbits-progress button');
  await page.waitForFunction(() => document.querySelector('#run-custom-nbits-result')?.textContent === 'GPTQ quantization cancelled.', null, { timeout: 60000 });
  const [done, total] = /: (\d+) \/ (\d+)/.exec(at).slice(1).map(Number);
  assert.equal(total, LAYERS + 4, at);
  assert.ok(done < total - 1, `Cancel pressed at ${at}, before the last weight`);
  assert.equal(await page.locator('#run-custom-nbits-progress').isHidden(), true);
  // The worker stops at its next checkpoint; nothing is saved, now or when it gets there.
  await page.waitForFunction(() => !document.querySelector('#run-custom-nbits-go').disabled);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(downloads, 0, 'a cancelled GPTQ saves no file');

  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 300000 }), page.click('#run-custom-nbits-go')]);
  assert.equal(file.suggestedFilename(), 'slow.matmulnbits_gptq_b128.onnx');
  assert.match(await page.locator('#run-custom-nbits-result').textContent(),
    new RegExp(`${LAYERS} MatMuls with GPTQ's 4-bit weights \\(as ONNX Runtime 1\\.32's, no error fed forward\\) in blocks of 128, with zero points, calibrated on rows\\.npy`));
  assert.equal(downloads, 1);
  assert.deepEqual(page.errors, []);
  await page.close();
});
