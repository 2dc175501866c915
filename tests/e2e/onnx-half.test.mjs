// End to end: Run → Your own model → "Download FP16 .onnx" / "Download BF16 .onnx" (issue 13,
// item 3). The built-in MNIST MLP, dropped as a person's own model, is converted in the page;
// the downloaded FP16 file runs in onnxruntime-web in the same browser, to the same bits as
// onnxconverter_common's own file of the model (tests/fixtures/onnx_float16, made by
// scripts/fixtures/make_onnx_float16.py) and within FP16's tolerance of the FP32 model. The BF16
// file has the same graph in BFLOAT16, which onnxruntime-web's CPU kernels do not run (recorded
// here so a change shows). A model already in FP16 is refused with the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const mnist = () => readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
const reference = () => readFile(new URL('../fixtures/onnx_float16/mnist_mlp.fp16.reference.onnx', import.meta.url));

async function openRun() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
}

async function download(page, button) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click(button)]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// Runs each model in onnxruntime-web (wasm, one thread) on the same two seeded rows of pixels;
// returns each model's probabilities, or the error ONNX Runtime gave.
function runInOrt(page, models) {
  return page.evaluate(async (models) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const x = new Float32Array(2 * 784).map((_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const results = [];
    for (const bytes of models) {
      try {
        const session = await ort.InferenceSession.create(new Uint8Array(bytes));
        const out = await session.run({ input: new ort.Tensor('float32', x, [2, 784]) });
        results.push({ type: out.probabilities.type, values: Array.from(out.probabilities.data) });
      } catch (err) {
        results.push({ error: String(err?.message ?? err) });
      }
    }
    return results;
  }, models.map((b) => Array.from(b)));
}

test('a model downloads in FP16 as onnxconverter_common writes it, and runs in onnxruntime-web within tolerance of FP32', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });

  const fp16 = await download(page, '#run-custom-half-fp16');
  assert.equal(fp16.name, 'mnist_mlp.fp16.onnx');
  const line = await page.locator('#run-custom-half-result').textContent();
  assert.match(line, /^mnist_mlp\.fp16\.onnx: 176 KB \(FP32 file 351 KB, 50%\); 6 tensors \(89,610 values\) in FP16, 2 Cast nodes added\./);
  // The engine's run of the downloaded file against FP32 on the page's inputs.
  const sqnr = Number(line.match(/probabilities ([\d.]+) dB/)?.[1]);
  assert.ok(sqnr > 40, line);

  const [fp32, ours, theirs] = await runInOrt(page, [await mnist(), fp16.bytes, await reference()]);
  assert.equal(ours.type, 'float32', 'the FP16 file keeps its float32 output');
  assert.deepEqual(ours.values, theirs.values, "onnxruntime-web gives other values for the page's file than for onnxconverter_common's");
  const worst = Math.max(...fp32.values.map((v, i) => Math.abs(v - ours.values[i])));
  assert.ok(worst > 0 && worst < 1e-2, `FP16 against FP32: max |diff| ${worst}`);

  const bf16 = await download(page, '#run-custom-half-bf16');
  assert.equal(bf16.name, 'mnist_mlp.bf16.onnx');
  const bf16Line = await page.locator('#run-custom-half-result').textContent();
  assert.match(bf16Line, /^mnist_mlp\.bf16\.onnx: 176 KB .* in BF16, 2 Cast nodes added\./);
  // The file is written; the engine has no BF16 Softmax, and says so.
  assert.match(bf16Line, /The engine could not run this file: node 'softmax' \(Softmax\): Softmax does not accept bfloat16/);
  // onnxruntime-web's CPU provider has no BFLOAT16 Gemm.
  const [ortBf16] = await runInOrt(page, [bf16.bytes]);
  assert.match(ortBf16.error ?? '', /Gemm|bfloat16|implementation/i, JSON.stringify(ortBf16).slice(0, 200));

  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#run-custom-export').screenshot({ path: `${SCREENSHOTS}onnx-half-${width}.png` });
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a model already in FP16 is refused with the reason, and the loaded model stays', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_fp16.onnx', bytes: await reference() }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-half-fp16');
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.locator('#run-custom-error').textContent(),
    /Converting mnist_fp16\.onnx to FP16: the model is already in half precision \(value 'fc1' is float16\)/);
  assert.equal(await page.locator('#run-custom-half-result').textContent(), '');
  assert.match(await page.locator('#run-custom-files').textContent(), /model mnist_fp16\.onnx/);
  await page.close();
});

test('values beyond FP16 are clamped as onnxconverter_common clamps them, counted, and the float32-kept ops are named', async () => {
  const page = await openRun();
  // scripts/fixtures/make_onnx_float16.py's `blocked`: weights with 1e-9, -3e-8, 2e4, -7e4, 6e4;
  // TopK, Resize, Max, CumSum and Range between converted ops.
  const blocked = await readFile(new URL('../fixtures/onnx_float16/blocked.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'blocked.onnx', bytes: blocked }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  const file = await download(page, '#run-custom-half-fp16');
  assert.equal(file.name, 'blocked.fp16.onnx');
  const line = await page.locator('#run-custom-half-result').textContent();
  assert.match(line, /Clamped as onnxconverter_common clamps: 2 values 0 < \|x\| < 1e-7 raised to ±1e-7, 3 \|x\| > 1e4 lowered to ±1e4\./);
  assert.match(line, /Kept in float32: Max 'max', CumSum 'cumsum', TopK 'topk', Resize 'resize', Range 'range'\./);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Cancel stops the conversion between its steps and says so', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: await mnist() }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  // Hold the converter module's script until Cancel is pressed, so the worker is between steps.
  let release, held = false;
  const gate = new Promise((r) => { release = r; });
  await page.context().route('**/pkg-convert/quantscope.js', async (route) => { held = true; await gate; await route.continue(); });
  await page.click('#run-custom-half-fp16');
  await page.waitForSelector('#run-custom-half-progress:not([hidden])');
  assert.match(await page.locator('#run-custom-half-progress').textContent(), /Converting to FP16/);
  // the worker asks for the module right after its first progress message
  while (!held) await new Promise((r) => setTimeout(r, 20));
  await page.click('#run-custom-half-progress button');
  release();
  await page.waitForFunction(() => document.querySelector('#run-custom-half-result')?.textContent === 'FP16 conversion cancelled.', null, { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-half-progress').isHidden(), true);
  // The next press converts (the module is loaded now).
  const file = await download(page, '#run-custom-half-fp16');
  assert.equal(file.name, 'mnist_mlp.fp16.onnx');
  assert.deepEqual(page.errors, []);
  await page.close();
});
