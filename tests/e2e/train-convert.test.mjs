// End to end: Train → "Download as QDQ .onnx" (issue 18's Convert). A QAT INT8 run (784-32-10,
// one epoch) is converted in the page: quantscope's engine runs the downloaded file on the 2,000
// test digits and the page says how many of its predictions equal the fake-quant forward's (all
// of them); then the same file runs in onnxruntime-web in the same browser and every one of its
// predictions must be the page's fake-quant prediction. An FP32 run downloads as a plain .onnx,
// and an LSQ INT2 run as QDQ with its codes clamped at 3; both hold in onnxruntime-web too. The
// conv net's QAT INT8 and FP32 runs download the same way (a file taking [N, 1, 28, 28]), and
// their weights as a .npz under torch's nn.Sequential names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { launch, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rowCount = (page, n) => page.waitForFunction((n) => document.querySelectorAll('#train-results tbody tr').length === n, n, { timeout: 180000 });

async function convert(page, row) {
  const button = page.locator('#train-results tbody tr').nth(row).locator('.train-convert');
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), button.click()]);
  const line = page.locator('#train-results tbody tr').nth(row).locator('.train-convert-result');
  // The row's own line (PTQ rows have none, so the n-th line is not the n-th row's).
  await page.waitForFunction((row) => /predictions equal/.test(document.querySelectorAll('#train-results tbody tr')[row]
    ?.querySelector('.train-convert-result')?.textContent ?? ''), row, { timeout: 120000 });
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()), line: await line.textContent() };
}

// The file's predictions on the 2,000 shipped test digits (pixels / 255 in float32, as the
// trainer scales them) in onnxruntime-web (wasm, one thread).
function ortPredictions(page, bytes, dims = [784]) {
  return page.evaluate(async ([bytes, dims]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    const { unzipSync } = await import('/node_modules/fflate/esm/browser.js');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const npz = unzipSync(new Uint8Array(await (await fetch('/www/models/mnist_test.npz')).arrayBuffer()));
    const npy = npz['images.npy'];
    const start = 10 + new DataView(npy.buffer, npy.byteOffset).getUint16(8, true);
    const pixels = npy.subarray(start);
    const x = new Float32Array(pixels.length);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(pixels[i] / 255);
    const session = await ort.InferenceSession.create(new Uint8Array(bytes));
    const { logits } = await session.run({ input: new ort.Tensor('float32', x, [x.length / 784, ...dims]) });
    const out = [];
    for (let r = 0; r < logits.dims[0]; r++) {
      const row = logits.data.subarray(r * 10, r * 10 + 10);
      out.push(row.reduce((b, v, i) => (v > row[b] ? i : b), 0));
    }
    return out.join('');
  }, [Array.from(bytes), dims]);
}

test('a QAT INT8 run downloads as a QDQ .onnx whose predictions in the engine and in onnxruntime-web are the fake-quant forward\'s', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.fill('#train-hidden', '32');
  await page.selectOption('#train-method', 'qat8');
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await rowCount(page, 1);
  const accuracy = await page.locator('#train-results tbody tr td').nth(2).textContent();

  const file = await convert(page, 0);
  assert.equal(file.name, 'quantscope-run1-qat-int8.onnx');
  // quantscope's engine ran the very file: the same accuracy as the fake-quant forward's row,
  // and every prediction equal.
  const engine = /engine ran it on the test digits: ([\d.]+) %, 2000 of 2000 predictions equal to the fake-quant forward's\./.exec(file.line);
  assert.ok(engine, file.line);
  assert.ok(Math.abs(Number(engine[1]) - Number(accuracy.replace(' %', ''))) < 1e-9, `engine ${engine[1]} %, fake quant ${accuracy}`);
  const predictions = await page.locator('#train-results tbody tr').first().getAttribute('data-predictions');
  assert.equal(predictions.length, 2000);
  const ort = await ortPredictions(page, file.bytes);
  const differing = [...ort].filter((p, i) => p !== predictions[i]).length;
  assert.equal(differing, 0, 'onnxruntime-web predicts other classes than the fake-quant forward');
  // The same run with its codes stored as uint8 + 128: the same predictions everywhere.
  await page.locator('#train-results tbody tr').first().locator('.train-convert-weights').selectOption('uint8');
  const u8 = await convert(page, 0);
  assert.equal(u8.name, 'quantscope-run1-qat-int8-u8w.onnx');
  assert.notDeepEqual(u8.bytes, file.bytes);
  assert.match(u8.line, /2000 of 2000 predictions equal to the fake-quant forward's/);
  assert.equal(await ortPredictions(page, u8.bytes), predictions);

  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.locator('#train-results-panel').screenshot({ path: `${SCREENSHOTS}train-convert-${width}.png` });
  }

  // An FP32 run: a plain .onnx; the QAT run's button is retired (the worker holds one run).
  await page.selectOption('#train-method', 'fp32');
  await page.click('#train-start');
  await rowCount(page, 8); // the QAT row, FP32 and its static and dynamic PTQ rows
  assert.equal(await page.locator('#train-results tbody tr').first().locator('.train-convert').isDisabled(), true);
  const fp32 = await convert(page, 1);
  assert.equal(fp32.name, 'quantscope-run2-fp32.onnx');
  assert.match(fp32.line, /2000 of 2000 predictions equal to the FP32 forward's/);
  const fp32Predictions = await page.locator('#train-results tbody tr').nth(1).getAttribute('data-predictions');
  assert.equal(await ortPredictions(page, fp32.bytes), fp32Predictions);

  // LSQ INT2: the codes clamp at 3 (a Clip after each output's DequantizeLinear) and the learned
  // scales are the file's; onnxruntime-web again predicts as the fake-quant forward.
  await page.selectOption('#train-method', 'lsq2');
  await page.click('#train-start');
  await rowCount(page, 9);
  const lsq = await convert(page, 8);
  assert.equal(lsq.name, 'quantscope-run3-lsq-int2.onnx');
  assert.match(lsq.line, /2000 of 2000 predictions equal to the fake-quant forward's/);
  const lsqPredictions = await page.locator('#train-results tbody tr').nth(8).getAttribute('data-predictions');
  assert.equal(await ortPredictions(page, lsq.bytes), lsqPredictions);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a conv net run downloads as a QDQ (or FP32) .onnx whose predictions in the engine and in onnxruntime-web are its forward\'s, and its weights as a .npz', async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#train`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
  await page.selectOption('#train-arch', 'conv');
  await page.selectOption('#train-method', 'qat8');
  await page.fill('#train-epochs', '1');
  await page.click('#train-start');
  await rowCount(page, 1);
  const accuracy = await page.locator('#train-results tbody tr td').nth(2).textContent();
  const file = await convert(page, 0);
  assert.equal(file.name, 'quantscope-run1-qat-int8-conv-net.onnx');
  const engine = /engine ran it on the test digits: ([\d.]+) %, 2000 of 2000 predictions equal to the fake-quant forward's\./.exec(file.line);
  assert.ok(engine, file.line);
  assert.ok(Math.abs(Number(engine[1]) - Number(accuracy.replace(' %', ''))) < 1e-9, `engine ${engine[1]} %, fake quant ${accuracy}`);
  const predictions = await page.locator('#train-results tbody tr').first().getAttribute('data-predictions');
  assert.equal(predictions.length, 2000);
  assert.equal(await ortPredictions(page, file.bytes, [1, 28, 28]), predictions, 'onnxruntime-web predicts as the fake-quant forward');
  // The QDQ graph has the conv net's ops.
  const text = file.bytes.toString('latin1');
  for (const op of ['Conv', 'MaxPool', 'Flatten', 'QuantizeLinear', 'DequantizeLinear', 'MatMul']) assert.ok(text.includes(op), `the file has no ${op}`);
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.locator('#train-results-panel').screenshot({ path: `${SCREENSHOTS}train-convert-conv.png` });

  // FP32: its .onnx and its weights .npz.
  await page.selectOption('#train-method', 'fp32');
  await page.click('#train-start');
  await rowCount(page, 5); // the QAT row, FP32 and its three static PTQ rows
  const fp32 = await convert(page, 1);
  assert.equal(fp32.name, 'quantscope-run2-fp32-conv-net.onnx');
  assert.match(fp32.line, /2000 of 2000 predictions equal to the FP32 forward's/);
  const fp32Predictions = await page.locator('#train-results tbody tr').nth(1).getAttribute('data-predictions');
  assert.equal(await ortPredictions(page, fp32.bytes, [1, 28, 28]), fp32Predictions);
  const weightsButton = page.locator('#train-results tbody tr').nth(1).locator('.train-weights');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), weightsButton.click()]);
  assert.equal(download.suggestedFilename(), 'quantscope-run2-fp32-conv-net-weights.npz');
  const npz = unzipSync(new Uint8Array(await readFile(await download.path())));
  const shapes = Object.fromEntries(Object.entries(npz).map(([name, npy]) => {
    const header = new TextDecoder().decode(npy.subarray(10, 10 + new DataView(npy.buffer, npy.byteOffset).getUint16(8, true)));
    assert.match(header, /'descr': '<f4'/);
    return [name, /'shape': \(([^)]*)\)/.exec(header)[1]];
  }));
  assert.deepEqual(shapes, { '0.weight.npy': '8, 1, 5, 5', '0.bias.npy': '8,', '3.weight.npy': '16, 8, 5, 5', '3.bias.npy': '16,', '7.weight.npy': '10, 256', '7.bias.npy': '10,' });
  // The .npz's conv1 weight is the FP32 file's (its first Conv's float32 initializer, in the same order).
  const npy = npz['0.weight.npy'];
  const w = new Uint8Array(npy.subarray(npy.length - 200 * 4));
  assert.ok(fp32.bytes.includes(Buffer.from(w)), 'the .npz weight is the .onnx one');
  assert.deepEqual(page.errors, []);
  await page.close();
});
