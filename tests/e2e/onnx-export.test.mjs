// End to end: Run → Your own model → "Download quantized .onnx" (issue 13, item 3). The model of
// scripts/fixtures/make_onnx_dynamic.py with Gemm splits, a Transpose of a quantized weight and
// a MatMul of two computed values is quantized in the page; the downloaded file and ONNX
// Runtime's own quantize_dynamic output (tests/fixtures/onnx_dynamic) then run in
// onnxruntime-web in the same browser on the same input and must give the same bits; the page's
// SQNR line is the engine's run of that file. A model the quantizer refuses says why. With
// "inside If/Loop/Scan" the If branches and Loop body are quantized too (ONNX Runtime's EnableSubgraph).
// A transformer ONNX Runtime's optimizer fused (com.microsoft Attention, EmbedLayerNormalization,
// SkipLayerNormalization, BiasGelu) runs and downloads with QAttention and QEmbedLayerNormalization.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles, screenshotOf, SCREENSHOTS } from './browser.mjs';
import { onnxModel } from './onnx-writer.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const fixture = (name) => readFile(new URL(`../fixtures/onnx_dynamic/${name}`, import.meta.url));

async function openRun() {
  const page = await browser.page();
  await page.goto(`${browser.url}#run`);
  await page.waitForFunction(() => /held-out test digits/.test(document.querySelector('#run-model-status')?.textContent ?? ''), null, { timeout: 60000 });
  return page;
}

async function download(page) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('#run-custom-export-go')]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// Runs each model in onnxruntime-web (wasm, one thread) on each of `feeds` (input name →
// [type, values, dims]; by default one seeded float32 x of [3, 16]); returns, model by model and
// feed by feed, each output's values as arrays of bit patterns (16 or 32 bits per value).
const seeded = (n) => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37) * 2));
function runInOrt(page, models, feeds = [{ x: ['float32', seeded(3 * 16), [3, 16]] }]) {
  return page.evaluate(async ([models, feeds]) => {
    const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const tensor = ([type, values, dims]) => new ort.Tensor(type,
      type === 'int64' ? BigInt64Array.from(values, BigInt) : type === 'float32' ? Float32Array.from(values) : values, dims);
    const results = [];
    for (const bytes of models) {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      for (const feed of feeds) {
        const out = await session.run(Object.fromEntries(Object.entries(feed).map(([name, t]) => [name, tensor(t)])));
        results.push(Object.fromEntries(Object.entries(out).map(([k, v]) => {
          const Bits = v.data.BYTES_PER_ELEMENT === 2 ? Uint16Array : Uint32Array;
          return [k, Array.from(new Bits(v.data.buffer, v.data.byteOffset, v.data.length))];
        })));
      }
    }
    return results;
  }, [models.map((b) => Array.from(b)), feeds]);
}

test('a model downloads as ONNX Runtime quantizes it, and runs in onnxruntime-web to the same bits', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'gemms.onnx', bytes: await fixture('gemms.onnx') }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });

  for (const [type, reference] of [['int8', 'gemms.int8.onnx'], ['uint8', 'gemms.uint8.onnx']]) {
    await page.selectOption('#run-custom-export-type', type);
    const file = await download(page);
    assert.equal(file.name, `gemms.dynamic_${type}.onnx`);
    const line = await page.locator('#run-custom-export-result').textContent();
    assert.match(line, /4 nodes quantized \(MatMul 'gemm_t_MatMul', MatMul 'gemm_n_MatMul', Transpose 'tr', Transpose ''\)/);
    assert.match(line, /Kept in float: MatMul '' \(its B is not a float constant/);
    // The engine's run of the downloaded file against FP32: three outputs, each with a finite SQNR.
    const sqnr = [...line.matchAll(/(r1|g3|g4) ([\d.]+) dB/g)].map((m) => Number(m[2]));
    assert.equal(sqnr.length, 3, line);
    assert.ok(sqnr.every((s) => s > 15), line);
    const [ours, theirs] = await runInOrt(page, [file.bytes, await fixture(reference)]);
    assert.deepEqual(Object.keys(ours).sort(), ['g3', 'g4', 'r1']);
    assert.deepEqual(ours, theirs, `${type}: onnxruntime-web gives other bits for the page's file than for ONNX Runtime's`);
  }
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}onnx-export-${width}.png`);
  }
  // Changing an option clears the line that described the last file.
  await page.check('#run-custom-export-channel');
  assert.equal(await page.locator('#run-custom-export-result').textContent(), '');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a model the quantizer cannot take is refused with the reason, and the loaded model stays', async () => {
  const page = await openRun();
  // Opset 10 has no DynamicQuantizeLinear; the engine still runs the model.
  const old = onnxModel({ nodes: [{ op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', shape: [2, 3] }],
    outputs: [{ name: 'y', shape: [2, 3] }], opset: 10 });
  await dropFiles(page, '#run-custom-drop', [{ name: 'opset10.onnx', bytes: old }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.click('#run-custom-export-go');
  await page.waitForSelector('#run-custom-error:not([hidden])');
  assert.match(await page.locator('#run-custom-error').textContent(),
    /Quantizing opset10\.onnx: the model imports ONNX opset 10; dynamic quantization needs opset 11 or later/);
  assert.equal(await page.locator('#run-custom-export-result').textContent(), '');
  assert.match(await page.locator('#run-custom-files').textContent(), /model opset10\.onnx/);
  assert.equal(await page.locator('#run-custom-model').isHidden(), false);
  await page.close();
});

test('a float16 embedding table downloads as ONNX Runtime quantizes it at opset 21, and stays float16 with the reason at opset 17', async () => {
  const page = await openRun();
  await dropFiles(page, '#run-custom-drop', [{ name: 'half_gathers.onnx', bytes: await fixture('half_gathers.onnx') }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-export-type', 'uint8');
  const file = await download(page);
  assert.equal(file.name, 'half_gathers.dynamic_uint8.onnx');
  assert.match(await page.locator('#run-custom-export-result').textContent(),
    /: \d+ B \(the original 144 B\); 2 nodes quantized \(Gather 'embed16', Gather 'by_column16'\)\./);
  // The page's file and ONNX Runtime's own give the same float16 bits in onnxruntime-web.
  const [ours, theirs] = await runInOrt(page, [file.bytes, await fixture('half_gathers.uint8.onnx')],
    [{ ids: ['int64', [0, 5, 11], [3]], cols: ['int64', [1, 4], [2]] }]);
  assert.deepEqual(Object.keys(ours).sort(), ['e2', 'r1']);
  assert.equal(ours.r1.length, 18);
  assert.deepEqual(ours, theirs, "onnxruntime-web gives other bits for the page's file than for ONNX Runtime's");

  // At opset 17 DequantizeLinear takes no float16 scale: ONNX Runtime writes that file anyway and
  // refuses to load it; the page keeps both Gathers in float16 and says why.
  await dropFiles(page, '#run-custom-drop', [{ name: 'half_gathers_opset17.onnx', bytes: await fixture('half_gathers_opset17.onnx') }]);
  await page.waitForFunction(() => /model half_gathers_opset17\.onnx/.test(document.querySelector('#run-custom-files').textContent));
  await download(page);
  const line = await page.locator('#run-custom-export-result').textContent();
  assert.match(line, /0 nodes quantized\./);
  assert.match(line, /Kept in float: Gather 'embed16' \(its table is float16: .* at this model's opset 17 refuses to load its own file\); Gather 'by_column16'/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an LSTM model downloads with com.microsoft DynamicQuantizeLSTM as ONNX Runtime writes it, and runs', async () => {
  const page = await openRun();
  // make_onnx_dynamic.py's lstms: a forward LSTM with a bias, then an unnamed bidirectional one
  // with sequence_lens, an initial state, clip and no Y. The page loads it, runs it (FP32), and
  // quantizes it per channel; the file must run in onnxruntime-web to the bits of ONNX
  // Runtime's own quantize_dynamic file, and the page's SQNR line is the engine's run of it.
  await dropFiles(page, '#run-custom-drop', [{ name: 'lstms.onnx', bytes: await fixture('lstms.onnx') }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-export-type', 'int8');
  await page.check('#run-custom-export-channel');
  const file = await download(page);
  assert.equal(file.name, 'lstms.dynamic_int8_per_channel.onnx');
  const line = await page.locator('#run-custom-export-result').textContent();
  assert.match(line, /2 nodes quantized \(LSTM 'lstm_fwd', LSTM ''\)/);
  const sqnr = [...line.matchAll(/(y1_h|y2_h) ([\d.]+) dB/g)].map((m) => Number(m[2]));
  assert.equal(sqnr.length, 2, line);
  assert.ok(sqnr.every((s) => s > 15), line);
  const outputs = await runInOrt(page, [file.bytes, await fixture('lstms.int8_per_channel.onnx')],
    [{ x: ['float32', seeded(4 * 2 * 5), [4, 2, 5]] }]);
  assert.deepEqual(Object.keys(outputs[0]).sort(), ['y1_h', 'y2_h']);
  assert.deepEqual(outputs[0], outputs[1], "onnxruntime-web gives other bits for the page's file than for ONNX Runtime's");
  await page.setViewportSize({ width: 1366, height: 900 });
  await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}onnx-export-lstm-1366.png`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('with "inside If/Loop/Scan" the subgraphs download quantized as ONNX Runtime writes them, and run', async () => {
  const page = await openRun();
  // make_onnx_dynamic.py's subgraphs: MatMul and Conv nodes in If branches, a Loop body with a
  // nested If; ONNX Runtime's file is quantize_dynamic(extra_options={"EnableSubgraph": True}).
  await dropFiles(page, '#run-custom-drop', [{ name: 'subgraphs.onnx', bytes: await fixture('subgraphs.onnx') }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-export-type', 'int8');
  let file = await download(page);
  assert.equal(file.name, 'subgraphs.dynamic_int8.onnx');
  let line = await page.locator('#run-custom-export-result').textContent();
  assert.match(line, /2 nodes quantized/);
  assert.match(line, /If 'branch' \(4 MatMul\/Conv\/LSTM\/Gemm node\(s\) inside its subgraphs stay in float/);
  await page.check('#run-custom-export-subgraphs');
  file = await download(page);
  assert.equal(file.name, 'subgraphs.dynamic_int8_subgraphs.onnx');
  line = await page.locator('#run-custom-export-result').textContent();
  assert.match(line, /9 nodes quantized/);
  const x = ['float32', seeded(3 * 16), [3, 16]];
  const outputs = await runInOrt(page, [file.bytes, await fixture('subgraphs.int8_subgraphs.onnx')],
    [true, false].map((cond) => ({ x, cond: ['bool', [cond], []] })));
  assert.deepEqual(Object.keys(outputs[0]).sort(), ['y_if', 'y_loop', 'z']);
  assert.deepEqual(outputs.slice(0, 2), outputs.slice(2), "onnxruntime-web gives other bits for the page's file than for ONNX Runtime's");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a transformer ONNX Runtime's optimizer fused runs, and downloads with QAttention as ONNX Runtime writes it", async () => {
  const page = await openRun();
  // make_onnx_transformer.py's distilbert: EmbedLayerNormalization (no token types), Attention,
  // SkipLayerNormalization and BiasGelu; ONNX Runtime's file is its quantize_dynamic per channel.
  const model = await readFile(new URL('../fixtures/onnx_transformer/distilbert.onnx', import.meta.url));
  await dropFiles(page, '#run-custom-drop', [{ name: 'distilbert.onnx', bytes: model }]);
  await page.waitForSelector('#run-custom-export:not([hidden])', { timeout: 30000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
  await page.selectOption('#run-custom-export-type', 'int8');
  await page.check('#run-custom-export-channel');
  const file = await download(page);
  assert.equal(file.name, 'distilbert.dynamic_int8_per_channel.onnx');
  const line = await page.locator('#run-custom-export-result').textContent();
  assert.match(line, /nodes quantized \(EmbedLayerNormalization 'EmbedLayerNormalization_0', Attention 'Attention_0', /);
  assert.doesNotMatch(line, /Kept in float/);
  // two sequences of 8 tokens, the second right padded to 5 (EmbedLayerNormalization's mask_index)
  const ids = [5, 17, 33, 2, 90, 41, 7, 12, 60, 3, 25, 71, 8, 14, 0, 0];
  const mask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0];
  const outputs = await runInOrt(page, [file.bytes, await readFile(new URL('../fixtures/onnx_transformer/distilbert.int8_per_channel.onnx', import.meta.url))],
    [{ input_ids: ['int64', ids, [2, 8]], attention_mask: ['int64', mask, [2, 8]] }]);
  assert.deepEqual(Object.keys(outputs[0]).sort(), ['last_hidden_state', 'pooler_output']);
  assert.deepEqual(outputs[0], outputs[1], "onnxruntime-web gives other bits for the page's file than for ONNX Runtime's");
  await page.setViewportSize({ width: 1366, height: 900 });
  await screenshotOf(page, '#run-custom-export', `${SCREENSHOTS}onnx-export-transformer-1366.png`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
