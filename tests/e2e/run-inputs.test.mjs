// End to end: a person's own model gets every input from the files dropped beside it
// (www/run/input-files.js) — .npy files matched to inputs by name, a .npz's arrays by name or in
// order, images resized and normalised into an image input — and the Run card counts the weights
// inside If branches (silero-vad keeps all of its there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { zipSync } from 'fflate';
import { launch, dropFiles, SCREENSHOTS } from './browser.mjs';
import { onnxModel } from './onnx-writer.mjs';
import { npy } from './npy.mjs';

const silero = (name) => readFile(new URL(`../fixtures/real_models/silero_vad/${name}`, import.meta.url));
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const openRun = async () => {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
};

// Every value of the FP32 outputs of the page's model, from the same worker, on inputs given as
// the page gives them (custom-ops.js's `given`: {arrays: [{file, bytes}], images, image}).
const outputs = (page, files, image = null, shapes = {}) => page.evaluate(async ([files, image, shapes]) => {
  const { runWorker } = await import('./www/run/client.js');
  const read = (list) => list.map(({ file, bytes }) => ({ file, bytes: new Uint8Array(bytes).buffer }));
  const given = { arrays: read(files.arrays ?? []), images: read(files.images ?? []), image };
  const r = await runWorker.request('custom_run', [given, shapes]);
  return Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, [...v.data]]));
}, [files, image, shapes]);

// The table's first FP32 values of output `row` (4 significant digits).
const preview = async (page, row = 0) => (await page.$$eval('#run-custom-table tbody tr', (trs) => trs.map((tr) => tr.cells[7].textContent)))[row]
  .split(', ').filter((t) => !t.startsWith('…')).map(Number);

// numpy's .npy of float32 values, read back (the fixtures' reference outputs).
const npyValues = (bytes) => {
  const headerLength = bytes[8] | (bytes[9] << 8);
  return [...new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.length))];
};

function assertClose(got, want, what) {
  assert.equal(got.length, want.length, what);
  const scale = Math.max(...want.map(Math.abs), 1e-30);
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0) / scale;
  assert.ok(worst <= 1e-4, `${what} differs from ONNX Runtime's by ${worst} of its largest value`);
}

test('silero-vad: three .npy inputs matched by name, then a .npz in order; its branches\' weights counted', async () => {
  const page = await openRun();
  const [input, state, sr] = await Promise.all(['input_0.npy', 'input_1.npy', 'input_2.npy'].map(silero));
  const want = { output: npyValues(await silero('output_0.npy')), stateN: npyValues(await silero('output_1.npy')) };
  // Dropped out of order: each goes to the input of its file name.
  await dropFiles(page, '#run-custom-drop', [{ name: 'silero_vad.onnx', bytes: await silero('model.onnx') },
    { name: 'sr.npy', bytes: sr }, { name: 'state.npy', bytes: state }, { name: 'input.npy', bytes: input }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 60000 });
  assert.equal(await page.locator('#run-custom-error').isHidden(), true, await page.textContent('#run-custom-error'));
  assert.match(await page.textContent('#run-custom-input'), /^input \[1, \d+\]: input\.npy; state \[2, 1, 128\]: state\.npy; sr \[\]: sr\.npy$/);
  assert.equal(await page.locator('#run-custom-sizes').isHidden(), true, 'no input is left to random values');
  // The table ran on them: its first values are ONNX Runtime's.
  (await preview(page, 1)).forEach((x, i) => assert.ok(Math.abs(x - want.stateN[i]) <= 1e-3 * Math.max(1, Math.abs(want.stateN[i])), `stateN[${i}] shows ${x}`));
  const arrays = [{ file: 'sr.npy', bytes: [...sr] }, { file: 'state.npy', bytes: [...state] }, { file: 'input.npy', bytes: [...input] }];
  let got = await outputs(page, { arrays });
  assertClose(got.output, want.output, 'output');
  assertClose(got.stateN, want.stateN, 'stateN');
  // Its weights live in If branches: the card counts them (the file holds ~309k values).
  const card = Object.fromEntries(await page.$$eval('#run-custom-model div', (ds) => ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
  assert.ok(Number(card.parameters.replace(/,/g, '')) > 100000, `parameters ${card.parameters}`);
  assert.match(card.size, /MB|KB/);
  assert.match(card.ops, /, and \d+ more op types$/);
  assert.match(await page.getAttribute('#run-custom-model div:nth-child(4) dd', 'title'), /Conv ×\d+.*LSTM ×\d+/);

  // The same three arrays in a .npz under numpy's default names (arr_0, ...): given in order.
  const npz = zipSync({ 'arr_0.npy': input, 'arr_1.npy': state, 'arr_2.npy': sr });
  await dropFiles(page, '#run-custom-drop', [{ name: 'vad_inputs.npz', bytes: npz }]);
  await page.waitForFunction(() => /vad_inputs\.npz 'arr_2'/.test(document.querySelector('#run-custom-input').textContent), null, { timeout: 30000 });
  got = await outputs(page, { arrays: [{ file: 'vad_inputs.npz', bytes: [...npz] }] });
  assertClose(got.output, want.output, 'output from the .npz');
  assertClose(got.stateN, want.stateN, 'stateN from the .npz');
  // An array too many fits no input: said, and the inputs before stay.
  await dropFiles(page, '#run-custom-drop', [{ name: 'more.npz', bytes: zipSync({ 'a.npy': input, 'b.npy': state, 'c.npy': sr, 'd.npy': sr }) }]);
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.textContent('#run-custom-error'), /^more\.npz 'd': every input of the model \('input', 'state', 'sr'\) has values already/);
  assert.match(await page.textContent('#run-custom-files'), /inputs? vad_inputs\.npz\./);
  // Not a zip at all.
  await dropFiles(page, '#run-custom-drop', [{ name: 'broken.npz', bytes: new Uint8Array([1, 2, 3, 4]) }]);
  await page.waitForFunction(() => /^broken\.npz: not a \.npz archive/.test(document.querySelector('#run-custom-error').textContent));
  assert.match(await page.textContent('#run-custom-files'), /vad_inputs\.npz/);
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-inputs.png` });
  // Dropped with a model, the archive's error stays in view after the model's run (which, on
  // made-up inputs of the default sizes, fails on its own; the archive's error is the one said).
  await dropFiles(page, '#run-custom-drop', [{ name: 'silero_vad.onnx', bytes: await silero('model.onnx') },
    { name: 'broken.npz', bytes: new Uint8Array([1, 2, 3, 4]) }]);
  await page.waitForFunction(() => /^broken\.npz: not a \.npz archive/.test(document.querySelector('#run-custom-error').textContent) &&
    document.querySelector('#run-custom-run') && !document.querySelector('#run-custom-run').disabled, null, { timeout: 60000 });
  await page.waitForTimeout(300);
  assert.match(await page.textContent('#run-custom-error'), /^broken\.npz: not a \.npz archive/);
  assert.match(await page.textContent('#run-custom-files'), /^Loaded: model silero_vad\.onnx\.$/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('images become an image input: resized, normalised as the settings say, one batch row each', async () => {
  const page = await openRun();
  // A 4 × 2 image, left half red, right half blue, made by the page's own canvas as a PNG.
  const png = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(4, 2);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#ff0000';
    ctx.fillRect(0, 0, 2, 2);
    ctx.fillStyle = '#0000ff';
    ctx.fillRect(2, 0, 2, 2);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  });
  const model = onnxModel({
    nodes: [{ op: 'Identity', name: 'id', inputs: ['pixels'], outputs: ['same'] }],
    inputs: [{ name: 'pixels', shape: ['batch', 3, 2, '?'] }],
    outputs: [{ name: 'same', shape: ['batch', 3, 2, '?'] }],
  });
  await dropFiles(page, '#run-custom-drop', [{ name: 'identity.onnx', bytes: model },
    { name: 'a.png', bytes: new Uint8Array(png) }, { name: 'b.png', bytes: new Uint8Array(png) }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 60000 });
  assert.equal(await page.locator('#run-custom-image').isHidden(), false);
  // Only the open width is asked for, by what it is (the batch and channels come from the images).
  const fields = await page.$$eval('#run-custom-size-fields label', (ls) => ls.map((l) => l.textContent.trim()));
  assert.deepEqual(fields, ['pixels, width']);
  await page.fill('#run-custom-size-fields input[data-key="pixels:3"]', '4');
  await page.press('#run-custom-size-fields input[data-key="pixels:3"]', 'Enter');
  await page.waitForFunction(() => /pixels \[2, 3, 2, 4\]: 2 images, resized to 4 × 2/.test(document.querySelector('#run-custom-input').textContent), null, { timeout: 30000 });
  // ImageNet's mean and std (the default): (pixel / 255 − mean) / std per channel, NCHW.
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const rgb = { red: [255, 0, 0], blue: [0, 0, 255] };
  const expect = (order) => Array.from({ length: 2 }, () => [0, 1, 2].flatMap((c) => Array.from({ length: 8 }, (_, p) => {
    const colour = p % 4 < 2 ? rgb.red : rgb.blue;
    return (colour[order[c]] / 255 - mean[c]) / std[c];
  }))).flat();
  const images = [{ file: 'a.png', bytes: png }, { file: 'b.png', bytes: png }];
  const imagenet = { scale: 1 / 255, mean, std, order: 'RGB' };
  let got = (await outputs(page, { images }, imagenet, { pixels: [1, 3, 2, 4] })).same;
  got.forEach((v, i) => assert.ok(Math.abs(v - expect([0, 1, 2])[i]) < 1e-5, `value ${i}: ${v} vs ${expect([0, 1, 2])[i]}`));
  // The page's own run used the same settings: its first values are the red plane's first row.
  (await preview(page)).forEach((v, i) => assert.ok(Math.abs(v - expect([0, 1, 2])[i]) < 1e-3, `shown value ${i}: ${v}`));
  // BGR: the first plane is the blue channel, in the worker and in the page's run.
  got = (await outputs(page, { images }, { ...imagenet, order: 'BGR' }, { pixels: [1, 3, 2, 4] })).same;
  got.forEach((v, i) => assert.ok(Math.abs(v - expect([2, 1, 0])[i]) < 1e-5, `BGR value ${i}: ${v}`));
  await page.selectOption('#run-custom-image-order', 'BGR');
  await page.waitForFunction((want) => Math.abs(Number(document.querySelector('#run-custom-table tbody tr').cells[7].textContent.split(', ')[0]) - want) < 1e-3,
    expect([2, 1, 0])[0], { timeout: 30000 });
  // A std of 0 is refused by name.
  await page.fill('#run-custom-image-std', '0.5, 0, 0.5');
  await page.press('#run-custom-image-std', 'Enter');
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.textContent('#run-custom-error'), /the images' std must be one or three numbers, none of them 0, not '0.5, 0, 0.5'/);
  // Not an image at all (the preset back to ImageNet's first: the settings stay while the page is open).
  await page.selectOption('#run-custom-image-preset', 'imagenet');
  await dropFiles(page, '#run-custom-drop', [{ name: 'identity.onnx', bytes: model }, { name: 'c.png', bytes: new Uint8Array([1, 2, 3]) }]);
  await page.waitForFunction(() => /c\.png: not an image the browser can decode/.test(document.querySelector('#run-custom-error').textContent), null, { timeout: 30000 });
  await page.locator('#run-custom').screenshot({ path: `${SCREENSHOTS}run-custom-images.png` });
  // An image for a model without an image input: said, nothing else lost.
  const mlp = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_copy.onnx', bytes: mlp }, { name: 'a.png', bytes: new Uint8Array(png) }]);
  await page.waitForFunction(() => /the image: the model has no image-shaped input left/.test(document.querySelector('#run-custom-error').textContent), null, { timeout: 30000 });
  assert.match(await page.textContent('#run-custom-files'), /model mnist_copy\.onnx\.$/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a model that fixes its batch at 1 takes several images as one run each: its static calibration equals the open-batch model\'s', async () => {
  const page = await openRun();
  // Two different 4 × 2 images (the second widens every range).
  const pngs = await page.evaluate(async () => Promise.all([['#ff0000', '#0000ff'], ['#ffffff', '#102030']].map(async ([left, right]) => {
    const canvas = new OffscreenCanvas(4, 2);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = left;
    ctx.fillRect(0, 0, 2, 2);
    ctx.fillStyle = right;
    ctx.fillRect(2, 0, 2, 2);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  })));
  const conv = (batch) => onnxModel({
    nodes: [{ op: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', shape: [batch, 3, 2, 4] }],
    outputs: [{ name: 'y', shape: [batch, 2, 2, 4] }],
    initializers: [{ name: 'w', dims: [2, 3, 1, 1], data: [0.1, 0.2, 0.3, -0.4, 0.5, 0.6] }],
  });
  const images = pngs.map((p, k) => ({ name: `${k}.png`, bytes: new Uint8Array(p) }));
  const files = {};
  for (const batch of [1, 'N']) {
    await dropFiles(page, '#run-custom-drop', [{ name: `conv_${batch}.onnx`, bytes: conv(batch) }, ...images]);
    await page.waitForFunction((b) => document.querySelector('#run-custom-files').textContent.includes(`conv_${b}.onnx`) &&
      !document.querySelector('#run-custom-table').hidden, batch, { timeout: 30000 });
    assert.equal(await page.locator('#run-custom-error').isHidden(), true, await page.textContent('#run-custom-error'));
    assert.equal(await page.textContent('#run-custom-input'),
      `x [2, 3, 2, 4]: 2 images, resized to 4 × 2${batch === 1 ? '; the model takes 1 at a time: 2 runs' : ''}`);
    for (const method of ['minmax', 'entropy']) {
      await page.selectOption('#run-custom-static-method', method);
      await page.evaluate(() => { document.querySelector('#run-custom-static-result').textContent = ''; });
      const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click('#run-custom-static-go')]);
      await page.waitForFunction(() => / SQNR: /.test(document.querySelector('#run-custom-static-result').textContent), null, { timeout: 60000 });
      assert.match(await page.textContent('#run-custom-static-result'), /calibrated \((MinMax|Entropy, 128 bins)\) on 2 images/);
      files[`${batch} ${method}`] = [...await readFile(await file.path())];
    }
  }
  // Calibrated on the first image alone, the file differs (the second image widens y's range):
  // a calibration that saw only the first run would fail the check below.
  await dropFiles(page, '#run-custom-drop', [{ name: 'conv_1.onnx', bytes: conv(1) }, images[0]]);
  await page.waitForFunction(() => /input 0\.png/.test(document.querySelector('#run-custom-files').textContent) &&
    !document.querySelector('#run-custom-table').hidden, null, { timeout: 30000 });
  await page.selectOption('#run-custom-static-method', 'minmax');
  const [one] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click('#run-custom-static-go')]);
  files['first image'] = [...await readFile(await one.path())];
  // The same ranges, so the same quantized model: onnxruntime-web runs each batch-1 file as the
  // open-batch one on the first image, value for value.
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const x = [0, 1, 2].flatMap((c) => Array.from({ length: 8 }, (_, p) => ((p % 4 < 2 ? [1, 0, 0] : [0, 0, 1])[c] - mean[c]) / std[c]));
  const ys = await page.evaluate(async ([files, x]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const out = {};
    for (const [key, bytes] of Object.entries(files)) {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      out[key] = Array.from((await session.run({ x: new ort.Tensor('float32', Float32Array.from(x), [1, 3, 2, 4]) })).y.data);
    }
    return out;
  }, [files, x]);
  for (const method of ['minmax', 'entropy']) assert.deepEqual(ys[`1 ${method}`], ys[`N ${method}`], method);
  assert.notDeepEqual(ys['1 minmax'], ys['first image'], 'one image\'s calibration differs from two\'s, so the check can fail');
  assert.deepEqual(page.errors, []);
  await page.close();
});
