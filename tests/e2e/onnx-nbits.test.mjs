// End to end: Run → Your own model → "Download weight-only INT4 .onnx" (issue 13, item 3). The
// MNIST MLP written with MatMul (tests/fixtures/onnx_nbits, scripts/fixtures/make_onnx_nbits.py)
// is dropped with the fixture's seeded input as a .npy and quantized in the page as com.microsoft
// MatMulNBits and as blocked int4 DequantizeLinear. Each downloaded file and ONNX Runtime's own
// MatMulNBitsQuantizer output run in onnxruntime-web (wasm, one thread; its CPU build has
// MatMulNBits) on that input and give the same bits (the weights are ONNX Runtime's byte for
// byte); the page's engine runs the downloaded file on the same input within 1e-5 of
// onnxruntime-web's largest output. The page's Gemm model is refused with the reason, and Cancel
// stops a quantization.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, screenshotOf, SCREENSHOTS } from './browser.mjs';
import { npy } from './npy.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fixture = (name) => readFile(new URL(`../fixtures/onnx_nbits/${name}`, import.meta.url));

async function openRun() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
}

async function download(page) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click('#run-custom-nbits-go')]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// Runs each model in onnxruntime-web on `x` ([4, 784]); returns its probabilities, or the error
// onnxruntime-web gives.
function runInOrt(page, models, x) {
  return page.evaluate(async ([models, x]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const results = [];
    for (const bytes of models) {
      try {
        const session = await ort.InferenceSession.create(new Uint8Array(bytes));
        const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x), [4, 784]) });
        results.push(Array.from(out.probabilities.data));
      } catch (err) {
        results.push(String(err?.message ?? err));
      }
    }
    return results;
  }, [models.map((b) => Array.from(b)), x]);
}

// The engine's run, in the page's worker, of the model loaded now on the .npy dropped with it.
function runInEngine(page, npyBytes) {
  return page.evaluate(async (bytes) => {
    const { runWorker } = await import('./www/run/client.js');
    const r = await runWorker.request('custom_run', [{ arrays: [{ file: 'input.npy', bytes: new Uint8Array(bytes).buffer }], images: [] }, {}]);
    return Array.from(r.outputs.probabilities.data);
  }, Array.from(npyBytes));
}

test('the MNIST MatMul MLP downloads as ONNX Runtime quantizes it to INT4, and runs in onnxruntime-web alike', async () => {
  const cases = JSON.parse(await fixture('cases.json')).cases.mnist;
  const x = cases.inputs.input.data;
  const input = npy(x, [4, 784]);
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist.onnx', bytes: await fixture('mnist.onnx') }, { name: 'digits.npy', bytes: input }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });

  // ONNX Runtime writes 8- and 2-bit weights as MatMulNBits only: with QDQ chosen the button waits
  await page.selectOption('#run-custom-nbits-format', 'qdq');
  await page.selectOption('#run-custom-nbits-bits', '8');
  assert.ok(await page.locator('#run-custom-nbits-go').isDisabled());
  assert.match(await page.locator('#run-custom-nbits-why').textContent(), /8-bit weights are written as MatMulNBits only/);
  assert.equal(await page.locator('#run-custom-nbits-go').textContent(), 'Download weight-only INT8 .onnx');

  // HQQ is MatMulNBits with zero points at 2 or 4 bits: otherwise the button says why and waits
  await page.selectOption('#run-custom-nbits-method', 'hqq');
  await page.selectOption('#run-custom-nbits-format', 'qoperator');
  assert.ok(await page.locator('#run-custom-nbits-go').isDisabled());
  assert.match(await page.locator('#run-custom-nbits-why').textContent(), /HQQ takes 2 or 4 bits/);
  await page.selectOption('#run-custom-nbits-bits', '4');
  await page.setChecked('#run-custom-nbits-symmetric', true);
  assert.match(await page.locator('#run-custom-nbits-why').textContent(), /untick symmetric/);

  const hqq = JSON.parse(await fixture('hqq.json')).cases.mnist;
  const variants = [
    ['rtn', 'qoperator', 4, '32', false, 'mnist.matmulnbits_b32.onnx', 'mnist.qoperator_b32_asym.onnx'],
    ['rtn', 'qdq', 4, '128', true, 'mnist.qdq_int4_b128_sym.onnx', 'mnist.qdq_b128_sym.onnx'],
    ['rtn', 'qoperator', 8, '32', false, 'mnist.matmulnbits8_b32.onnx', 'mnist.qoperator_8bit_b32_asym.onnx'],
    ['rtn', 'qoperator', 2, '32', true, 'mnist.matmulnbits2_b32_sym.onnx', 'mnist.qoperator_2bit_b32_sym.onnx'],
    ['hqq', 'qoperator', 4, '32', false, 'mnist.matmulnbits_hqq_b32.onnx', 'mnist.hqq_4bit_b32.onnx'],
  ];
  const files = [];
  for (const [method, format, bits, block, symmetric, name, reference] of variants) {
    await page.selectOption('#run-custom-nbits-method', method);
    await page.selectOption('#run-custom-nbits-bits', String(bits));
    await page.selectOption('#run-custom-nbits-format', format);
    await page.selectOption('#run-custom-nbits-block', block);
    await page.setChecked('#run-custom-nbits-symmetric', symmetric);
    const file = await download(page);
    assert.equal(file.name, name);
    const line = await page.locator('#run-custom-nbits-result').textContent();
    assert.equal(await page.locator('#run-custom-nbits-why').textContent(), '');
    const zeroPoints = method === 'hqq' ? "HQQ's float zero points" : symmetric ? 'symmetric' : 'with zero points';
    assert.match(line, new RegExp(`3 MatMuls with ${bits}-bit weights in blocks of ${block}, ${zeroPoints} ` +
      `\\(MatMul 'fc1_matmul', MatMul 'fc2_matmul', MatMul 'fc3_matmul'\\)`));
    // the codes' share of float32 (bits / 32) plus a 4-byte scale per block and the zero points
    const ratio = Number(/FP32 file [\d.,]+ [KM]?B, (\d+)%\)/.exec(line)?.[1]);
    // (HQQ's zero points are float32: another 4 bytes per block)
    const expected = 100 * (bits / 32 + (method === 'hqq' ? 2 : 1) / Number(block));
    assert.ok(ratio > expected - 3 && ratio < expected + 8, `${ratio}% (about ${expected.toFixed(0)}% expected): ${line}`);
    const sqnr = Number(/probabilities (-?[\d.]+) dB/.exec(line)?.[1]);
    // on uniform noise, not digits: 28.8 dB for 4-bit blocks of 32 with zero points, 9.2 dB for 128
    // symmetric; 8 bits far above, 2 bits below
    assert.ok(Number.isFinite(sqnr) && sqnr > (bits === 8 ? 30 : bits === 4 ? 5 : -20), line);
    console.log(`${name}: ${line}`);
    const [ours, theirs] = await runInOrt(page, [file.bytes, await fixture(reference)], x);
    assert.equal(typeof ours, 'object', `onnxruntime-web does not run the page's ${format} file: ${ours}`);
    if (method === 'hqq') {
      // HQQ's zero points are torch's float32 solver's: within its rounding, not bit for bit
      const d = Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]))) / Math.max(...theirs.map(Math.abs));
      assert.ok(d <= 1e-4, `${name}: onnxruntime-web's outputs on the page's file and ONNX Runtime's differ by ${d}`);
    } else {
      assert.deepEqual(ours, theirs, `${name}: onnxruntime-web gives other values for the page's file than for ONNX Runtime's`);
    }
    // ONNX Runtime (CPU, 1.32) on the same input, as the fixture script recorded it.
    const recorded = method === 'hqq' ? hqq : cases;
    const cpu = recorded.variants[reference.replace(/^mnist\.|\.onnx$/g, '')].outputs.probabilities;
    const scale = Math.max(...cpu.map(Math.abs));
    const vsCpu = Math.max(...ours.map((v, i) => Math.abs(v - cpu[i]))) / scale;
    assert.ok(vsCpu <= (method === 'hqq' ? 1e-4 : 1e-5), `${name}: onnxruntime-web and ONNX Runtime's CPU differ by ${vsCpu} of the largest output`);
    files.push({ name, bytes: file.bytes, ort: ours });
  }
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}onnx-nbits-${width}.png`);
  }
  // Changing an option clears the line that described the last file.
  await page.selectOption('#run-custom-nbits-block', '64');
  assert.equal(await page.locator('#run-custom-nbits-result').textContent(), '');

  // Each downloaded file dropped as the model: the engine's outputs on the same input.
  for (const f of files) {
    await dropFiles(page, '#run-custom-drop', [{ name: f.name, bytes: f.bytes }, { name: 'digits.npy', bytes: input }]);
    await page.waitForFunction((n) => (document.querySelector('#run-custom-model')?.textContent ?? '').includes(n), f.name, { timeout: 30000 });
    await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
    const engine = await runInEngine(page, input);
    const scale = Math.max(...f.ort.map(Math.abs));
    const diff = Math.max(...engine.map((v, i) => Math.abs(v - f.ort[i]))) / scale;
    console.log(`${f.name}: the engine against onnxruntime-web, max |difference| / max |output| ${diff}`);
    assert.ok(diff <= 1e-5, `${f.name}: ${diff}`);
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('Cancel stops a quantization, and a model without a MatMul to quantize is refused with the reason', async () => {
  const page = await openRun();
  // Cancel while the module is on its way (the first press fetches it).
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist.onnx', bytes: await fixture('mnist.onnx') }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  let release, held = false;
  const gate = new Promise((r) => { release = r; });
  await page.context().route('**/pkg-nbits/quantscope.js', async (route) => { held = true; await gate; await route.continue(); });
  await page.click('#run-custom-nbits-go');
  for (let waited = 0; !held; waited += 20) {
    assert.ok(waited < 30000, 'the module was never fetched');
    await new Promise((r) => setTimeout(r, 20));
  }
  await page.click('#run-custom-nbits-progress button');
  release();
  await page.waitForFunction(() => document.querySelector('#run-custom-nbits-result')?.textContent === 'Weight-only INT4 quantization cancelled.', null, { timeout: 30000 });
  assert.equal(await page.locator('#run-custom-nbits-progress').isHidden(), true);
  assert.equal(await page.locator('#run-custom-nbits-go').isDisabled(), false);
  // The next press quantizes (the module is loaded now).
  const file = await download(page);
  assert.equal(file.name, 'mnist.matmulnbits_b128.onnx');

  // The page's built-in MNIST model is written with Gemm.
  const gemm = await readFile(new URL('../../www/models/mnist_mlp.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'mnist_mlp.onnx', bytes: gemm }]);
  await page.waitForFunction(() => (document.querySelector('#run-custom-model')?.textContent ?? '').includes('mnist_mlp.onnx'), null, { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-nbits-go');
  await page.waitForFunction(() => /weight-only INT4/.test(document.querySelector('#run-custom-error')?.textContent ?? ''), null, { timeout: 30000 });
  const err = await page.textContent('#run-custom-error');
  assert.match(err, /no MatMul with a constant 2-D float B to quantize to 4 bits: Gemm 'fc1': ONNX Runtime's weight-only quantizer rewrites MatMul only/);
  assert.equal(await page.locator('#run-custom-nbits-go').isDisabled(), false);
  assert.deepEqual(page.errors, []);
  await page.close();
});

// An embedding model: with "Gather tables too" the constant Gather tables become
// GatherBlockQuantized as ONNX Runtime writes them (op_types_to_quantize MatMul and Gather), and
// the page's file runs in onnxruntime-web like ONNX Runtime's own on the page's seeded ids.
test('Gather tables quantize to GatherBlockQuantized as ONNX Runtime writes them', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'embed.onnx', bytes: await fixture('embed.onnx') }]);
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-nbits-block', '32');
  await page.setChecked('#run-custom-nbits-gather', true);
  // 2 bits with Gathers: ONNX Runtime quantizes tables to 4 bits only
  await page.selectOption('#run-custom-nbits-bits', '2');
  assert.ok(await page.locator('#run-custom-nbits-go').isDisabled());
  assert.match(await page.locator('#run-custom-nbits-why').textContent(), /Gather tables to 4-bit GatherBlockQuantized/);
  await page.selectOption('#run-custom-nbits-bits', '4');
  const file = await download(page);
  assert.equal(file.name, 'embed.matmulnbits_b32_gather.onnx');
  const line = await page.locator('#run-custom-nbits-result').textContent();
  assert.match(line, /1 MatMul and 2 Gather tables with 4-bit weights in blocks of 32, with zero points \(Gather 'embed', MatMul 'proj', Gather 'pick'\)/);
  const ids = [3, 41, 7, 0, 49, 12], ids2 = [9, 1];
  const [ours, theirs] = await page.evaluate(async ([models, ids, ids2]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const out = [];
    for (const bytes of models) {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      const r = await session.run({
        ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 3]),
        ids2: new ort.Tensor('int64', BigInt64Array.from(ids2.map(BigInt)), [2]),
      });
      out.push({ y: Array.from(r.y.data), z: Array.from(r.z.data) });
    }
    return out;
  }, [[Array.from(file.bytes), Array.from(await fixture('embed.gather_b32_asym.onnx'))], ids, ids2]);
  assert.deepEqual(ours, theirs, "onnxruntime-web gives other values for the page's file than for ONNX Runtime's");
  assert.ok(ours.z.some((v) => v !== 0));
  assert.deepEqual(page.errors, []);
  await page.close();
});
