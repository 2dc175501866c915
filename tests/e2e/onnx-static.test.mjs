// End to end: Run → Your own model → "Download static INT8 (QDQ) .onnx" (issue 13, item 3). The
// built-in MNIST MLP, dropped as a person's own model with 32 of its calibration digits as a .npy,
// is calibrated (min-max) and quantized in the page's worker; the downloaded QDQ file and ONNX
// Runtime's own quantize_static output for the same digits (tests/fixtures/onnx_static, made by
// scripts/fixtures/make_onnx_static.py) then run in onnxruntime-web in the same browser on the
// same digits. The page calibrates with the engine, whose dot products differ from ONNX Runtime's
// kernels in the last bits, so a few activation scales may differ by an ulp: the outputs must
// agree to within one step of the output's scale (1/255) and pick the same digits. Without a .npy
// the MNIST MLP calibrates on the built-in calibration digits. ONNX Runtime's Percentile and
// Entropy calibrations (the calibration module, www/pkg-calib) download files that run in
// onnxruntime-web as ONNX Runtime's own for the same options do (tests/fixtures/onnx_static_calib,
// scripts/fixtures/make_onnx_static_calib.py); bad calibration options are refused. No calibration
// data, inputs of the wrong shape and a model quantized already are refused with the reason, and
// Cancel stops it between its steps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const mnist = () => readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
const fixture = (name) => readFile(new URL(`../fixtures/onnx_static/${name}`, import.meta.url));

// The fixture's calibration runs [4, 8, 784] as one [32, 784] array of float32 pixels.
async function digits() {
  const bytes = await fixture('mnist_mlp.calibration.npy');
  const headerLength = bytes[8] | (bytes[9] << 8);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.length));
  assert.equal(data.length, 32 * 784);
  return data;
}

async function openRun() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
}

// The file is saved before the worker runs it against FP32; the line gets the SQNR after.
async function download(page) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click('#run-custom-static-go')]);
  await page.waitForFunction(() => /SQNR/.test(document.querySelector('#run-custom-static-result')?.textContent ?? ''), null, { timeout: 60000 });
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// Runs each model in onnxruntime-web (wasm, one thread) on x (by default the digits, fed as
// `input` [N, 784]): each one's `output` (by default the probabilities).
function runInOrt(page, models, x, { input = 'input', shape = [x.length / 784, 784], output = 'probabilities' } = {}) {
  return page.evaluate(async ([models, x, input, shape, output]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const results = [];
    for (const bytes of models) {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      const out = await session.run({ [input]: new ort.Tensor('float32', Float32Array.from(x), shape) });
      results.push(Array.from(out[output].data));
    }
    return results;
  }, [models.map((b) => Array.from(b)), Array.from(x), input, shape, output]);
}

const argmaxes = (p) => Array.from({ length: p.length / 10 }, (_, r) => p.slice(r * 10, r * 10 + 10).reduce((best, v, i, row) => (v > row[best] ? i : best), 0));

test('the MNIST MLP downloads as ONNX Runtime statically quantizes it, and runs in onnxruntime-web alike', async () => {
  const page = await openRun();
  const x = await digits();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }, { name: 'digits.npy', bytes: npy(x, [32, 784]) }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });

  for (const [act, channel, reference] of [['uint8', false, 'mnist_mlp.u8.onnx'], ['int8', true, 'mnist_mlp.s8_per_channel.onnx']]) {
    await page.selectOption('#run-custom-static-act', act);
    await page.setChecked('#run-custom-static-channel', channel);
    const file = await download(page);
    const tag = `${act === 'uint8' ? 'u8' : 's8'}${channel ? '_per_channel' : ''}`;
    assert.equal(file.name, `mnist_mlp.qdq_${tag}.onnx`);
    const line = await page.locator('#run-custom-static-result').textContent();
    assert.match(line, /7 tensors calibrated \(MinMax\) on digits\.npy; 6 nodes quantized \(Gemm 'fc1', Relu 'relu1', Gemm 'fc2', Relu 'relu2', Gemm 'fc3', Softmax 'softmax'\)/);
    const sqnr = Number(/probabilities ([\d.]+) dB/.exec(line)?.[1]);
    assert.ok(sqnr > 15, line);
    const [ours, theirs] = await runInOrt(page, [file.bytes, await fixture(reference)], x);
    const diff = Math.max(...ours.map((v, i) => Math.abs(v - theirs[i])));
    console.log(`${tag}: onnxruntime-web, page's file against ONNX Runtime's: max |difference| ${diff}`);
    assert.ok(diff <= 1 / 255 + 1e-7, `${tag}: max |difference| ${diff}`);
    assert.deepEqual(argmaxes(ours), argmaxes(theirs));
  }
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#run-custom-export').screenshot({ path: `${SCREENSHOTS}onnx-static-${width}.png` });
  }
  // Changing an option clears the line that described the last file.
  await page.selectOption('#run-custom-static-act', 'uint8');
  assert.equal(await page.locator('#run-custom-static-result').textContent(), '');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('no calibration data (the MNIST MLP takes its built-in digits), inputs of the wrong shape and a quantized model are refused with the reason', async () => {
  const page = await openRun();
  // A conv net (not MNIST's [N, 784] pixels, so no built-in digits to fall back on) and no .npy.
  const convnet = await readFile(new URL('../fixtures/onnx_node/ort/convnet_fp32/model.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'convnet.onnx', bytes: convnet }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-static-go');
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.locator('#run-custom-error').textContent(), /Quantizing convnet\.onnx statically: no calibration data: .*drop \.npy\/\.npz arrays or images of them first/);

  // The MNIST MLP without a .npy calibrates on the built-in model's calibration digits.
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  const builtIn = await download(page);
  assert.equal(builtIn.name, 'mnist_mlp.qdq_u8.onnx');
  assert.match(await page.locator('#run-custom-static-result').textContent(),
    /7 tensors calibrated \(MinMax\) on the 256 built-in calibration digits; 6 nodes quantized .* This file against FP32 on those digits, SQNR: probabilities [\d.]+ dB/);

  await dropFiles(page, '#run-custom-drop', [{ name: 'wrong.npy', bytes: npy(new Float32Array(10), [2, 5]) }]);
  await page.waitForFunction(() => /wrong\.npy/.test(document.querySelector('#run-custom-files')?.textContent ?? ''));
  await page.click('#run-custom-static-go');
  await page.waitForFunction(() => /calibration inputs do not run/.test(document.querySelector('#run-custom-error')?.textContent ?? ''), null, { timeout: 30000 });
  assert.match(await page.locator('#run-custom-error').textContent(), /784/);
  assert.equal(await page.locator('#run-custom-static-result').textContent(), '');

  const x = await digits();
  await dropFiles(page, '#run-custom-drop', [{ name: 'qdq.onnx', bytes: await fixture('mnist_mlp.u8.onnx') },
    { name: 'digits.npy', bytes: npy(x, [32, 784]) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-static-go');
  await page.waitForFunction(() => /quantized already/.test(document.querySelector('#run-custom-error')?.textContent ?? ''), null, { timeout: 30000 });
  assert.match(await page.locator('#run-custom-error').textContent(), /Quantizing qdq\.onnx statically: the model is quantized already \(DequantizeLinear/);
  await page.close();
});

test('Cancel stops the static quantization between its steps and says so', async () => {
  const page = await openRun();
  const x = await digits();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }, { name: 'digits.npy', bytes: npy(x, [32, 784]) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  // Hold the static QDQ module's script until Cancel is pressed, so the worker is between steps.
  let release, held = false;
  const gate = new Promise((r) => { release = r; });
  await page.context().route('**/pkg-qdq/quantscope.js', async (route) => { held = true; await gate; await route.continue(); });
  await page.click('#run-custom-static-go');
  await page.waitForSelector('#run-custom-static-progress:not([hidden])');
  assert.match(await page.locator('#run-custom-static-progress').textContent(), /Calibrating and quantizing/);
  while (!held) await new Promise((r) => setTimeout(r, 20));
  await page.click('#run-custom-static-progress button');
  release();
  await page.waitForFunction(() => document.querySelector('#run-custom-static-result')?.textContent === 'Static quantization cancelled.', null, { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-static-progress').isHidden(), true);
  // The next press quantizes (the module is loaded now).
  const file = await download(page);
  assert.equal(file.name, 'mnist_mlp.qdq_u8.onnx');

  // Entropy: Cancel while the calibration module (www/pkg-calib) is on its way, then again.
  let releaseCalib, heldCalib = false;
  const gateCalib = new Promise((r) => { releaseCalib = r; });
  await page.context().route('**/pkg-calib/quantscope.js', async (route) => { heldCalib = true; await gateCalib; await route.continue(); });
  await page.selectOption('#run-custom-static-method', 'entropy');
  await page.click('#run-custom-static-go');
  while (!heldCalib) await new Promise((r) => setTimeout(r, 20));
  await page.click('#run-custom-static-progress button');
  releaseCalib();
  await page.waitForFunction(() => document.querySelector('#run-custom-static-result')?.textContent === 'Static quantization cancelled.', null, { timeout: 30000 });
  const entropy = await download(page);
  assert.equal(entropy.name, 'mnist_mlp.qdq_u8_entropy.onnx');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Percentile and Entropy calibration download the files ONNX Runtime writes for them; bad options are refused', async () => {
  const page = await openRun();
  const x = await digits();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }, { name: 'digits.npy', bytes: npy(x, [32, 784]) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-static-bins-row').isHidden(), true);
  const calib = (name) => readFile(new URL(`../fixtures/onnx_static_calib/${name}`, import.meta.url));
  for (const [method, bins, reference, text] of [
    ['percentile', null, 'mnist_mlp.percentile.onnx', /calibrated \(Percentile 99\.999 of \|x\|, 2048 bins\) on digits\.npy/],
    ['entropy', '512', 'mnist_mlp.entropy_bins_512.onnx', /calibrated \(Entropy, 512 bins\) on digits\.npy/],
  ]) {
    await page.selectOption('#run-custom-static-method', method);
    assert.equal(await page.locator('#run-custom-static-percentile-row').isHidden(), method !== 'percentile');
    assert.equal(await page.inputValue('#run-custom-static-bins'), method === 'entropy' ? '128' : '2048');
    if (bins) await page.fill('#run-custom-static-bins', bins);
    const file = await download(page);
    assert.equal(file.name, `mnist_mlp.qdq_u8_${method}.onnx`);
    const line = await page.locator('#run-custom-static-result').textContent();
    assert.match(line, text);
    // The engine's activations are not ONNX Runtime's kernels' to the last bit, so a range may move
    // by a histogram bin: the outputs agree within two steps of the output's scale, the digits too.
    const [ours, theirs] = await runInOrt(page, [file.bytes, await calib(reference)], x);
    const diff = Math.max(...ours.map((v, i) => Math.abs(v - theirs[i])));
    console.log(`${method}: onnxruntime-web, page's file against ONNX Runtime's: max |difference| ${diff}`);
    assert.ok(diff <= 2 / 255 + 1e-7, `${method}: max |difference| ${diff}`);
    assert.deepEqual(argmaxes(ours), argmaxes(theirs));
  }
  await page.selectOption('#run-custom-static-method', 'percentile');
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.locator('#run-custom-export').screenshot({ path: `${SCREENSHOTS}onnx-static-calibration.png` });
  for (const [field, value, why] of [
    ['#run-custom-static-percentile', '0', /Quantizing mnist_mlp\.onnx statically: calibration: the percentile must be in \(0, 100\]/],
    ['#run-custom-static-bins', '0', /calibration: the histogram needs at least 1 bin/],
    ['#run-custom-static-bins', '2.5', /calibration: the bins must be a whole number/],
  ]) {
    await page.fill('#run-custom-static-percentile', '99.999');
    await page.fill('#run-custom-static-bins', '2048');
    await page.fill(field, value);
    await page.click('#run-custom-static-go');
    await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#run-custom-error')?.textContent ?? ''), why.source, { timeout: 30000 });
    assert.equal(await page.locator('#run-custom-static-result').textContent(), '');
  }
  // Entropy with more quantized bins than the histogram has is the calibration module's refusal.
  await page.selectOption('#run-custom-static-method', 'entropy');
  await page.fill('#run-custom-static-bins', '64');
  await page.click('#run-custom-static-go');
  await page.waitForFunction(() => /must not exceed num_bins/.test(document.querySelector('#run-custom-error')?.textContent ?? ''), null, { timeout: 30000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('"quantize pass-through ops always" is ONNX Runtime\'s ForceQuantizeNoInputCheck, and its file runs in onnxruntime-web', async () => {
  const page = await openRun();
  // tests/fixtures/onnx_static/force_model.onnx: Transpose, MaxPool, AveragePool, Where, Gather and
  // Reshape fed by Abs and Neg, which quantize_static leaves in float; its first calibration run.
  const calibration = await fixture('force.calibration.npy');
  const headerLength = calibration[8] | (calibration[9] << 8);
  const run0 = new Float32Array(calibration.buffer.slice(calibration.byteOffset + 10 + headerLength)).slice(0, 32);
  await dropFiles(page, '#run-custom-drop', [{ name: 'force_model.onnx', bytes: await fixture('force_model.onnx') },
    { name: 'run0.npy', bytes: npy(run0, [1, 2, 4, 4]) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  const plain = await download(page);
  assert.equal(plain.name, 'force_model.qdq_u8.onnx');
  assert.match(await page.locator('#run-custom-static-result').textContent(), /; 0 nodes quantized\./);
  await page.setChecked('#run-custom-static-force', true);
  assert.equal(await page.locator('#run-custom-static-result').textContent(), '', 'the option clears the last file\'s line');
  const forced = await download(page);
  assert.equal(forced.name, 'force_model.qdq_u8_force.onnx');
  assert.match(await page.locator('#run-custom-static-result').textContent(),
    /6 nodes quantized \(Transpose 'transpose', MaxPool 'maxpool', AveragePool 'avgpool', Where 'where', Gather 'gather', Reshape 'reshape'\)/);
  const [y] = await runInOrt(page, [forced.bytes], run0, { input: 'x', shape: [1, 2, 4, 4], output: 'y' });
  assert.equal(y.length, 8);
  assert.ok(y.every(Number.isFinite), `${y}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a paddle2onnx-style model (weights in Constant nodes, an empty Resize roi) calibrates with Entropy as ONNX Runtime does, on 3 workers or 1 alike', async () => {
  const page = await browser.page();
  // The histograms over a pool of 3 workers (run/pool.js calibrateOnPool: the tensors shared out).
  await page.goto(`${browser.url}#run?workers=3`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  // tests/fixtures/onnx_static/paddle_model.onnx (opset 12) and its three calibration runs [3, 1, 2, 4, 4]
  // as one [3, 2, 4, 4] batch: ONNX Runtime's histograms collect all runs at once too.
  const calibration = await fixture('paddle.calibration.npy');
  const headerLength = calibration[8] | (calibration[9] << 8);
  const rows = new Float32Array(calibration.buffer.slice(calibration.byteOffset + 10 + headerLength, calibration.byteOffset + calibration.length));
  assert.equal(rows.length, 3 * 32);
  await dropFiles(page, '#run-custom-drop', [{ name: 'paddle_model.onnx', bytes: await fixture('paddle_model.onnx') },
    { name: 'rows.npy', bytes: npy(rows, [3, 2, 4, 4]) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-static-method', 'entropy');
  const file = await download(page);
  assert.equal(file.name, 'paddle_model.qdq_u8_entropy.onnx');
  assert.match(await page.locator('#run-custom-static-result').textContent(), /calibrated \(Entropy, 128 bins\) on rows\.npy.*The histograms on 3 workers\./);
  // One worker calibrates every tensor itself: the same file, byte for byte.
  await page.evaluate(() => { location.hash = '#run?workers=1'; });
  const alone = await download(page);
  assert.equal(await page.evaluate(() => document.body.dataset.onnxStaticWorkers), '1');
  assert.doesNotMatch(await page.locator('#run-custom-static-result').textContent(), /workers/);
  assert.ok(Buffer.compare(alone.bytes, file.bytes) === 0, 'the file on 1 worker is the file on 3');
  // A NaN among the inputs: the pool worker that meets it names the tensor, and the page says so.
  await page.evaluate(() => { location.hash = '#run?workers=3'; });
  const nan = rows.slice();
  nan[5] = NaN;
  await dropFiles(page, '#run-custom-drop', [{ name: 'nan.npy', bytes: npy(nan, [3, 2, 4, 4]) }]);
  await page.waitForFunction(() => /nan\.npy/.test(document.querySelector('#run-custom-files')?.textContent ?? ''));
  await page.click('#run-custom-static-go');
  await page.waitForFunction(() => /statically: calibration: '.+' took the value NaN in the calibration runs/.test(document.querySelector('#run-custom-error')?.textContent ?? ''), null, { timeout: 30000 });
  const theirs = await readFile(new URL('../fixtures/onnx_static_calib/paddle.entropy.onnx', import.meta.url));
  const [a, b] = await runInOrt(page, [file.bytes, theirs], rows, { input: 'x', shape: [3, 2, 4, 4], output: 'y' });
  assert.equal(a.length, 3 * 4 * 8 * 8);
  // The engine's activations may move a range by a histogram bin: within two steps of y's scale.
  const step = (Math.max(...b) - Math.min(...b)) / 255;
  const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(diff <= 2 * step + 1e-6, `max |difference| ${diff}, step ${step}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
