// End to end: Run → Your own model → "Download weight-only INT4 .onnx" on the page's pool of
// workers (issue 15, "All cores"; www/run/pool.js). The Run worker plans the file and each pool
// worker — its own wasm instance — encodes whole weights; `#run?workers=N` sets the count.
// With 1, 2 and 3 workers the downloaded file is the same bytes, for round to nearest and HQQ
// (the MNIST MatMul MLP, three MatMuls) and for Gather tables (the embedding model). A pooled
// HQQ quantization of a bigger model (eight 512×512 MatMuls written in the page) is cancelled
// mid-way, which ends its workers, and the page quantizes again at once; the times with one worker and with two are
// logged (a measurement, not a test: see the README).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, dropFiles } from './browser.mjs';

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

// The page's worker count once it has fallen back to `n` (workers end asynchronously), or
// what it is after 5 s.
async function workersBackTo(page, n) {
  for (let i = 0; i < 50 && page.workers().length !== n; i++) await new Promise((r) => setTimeout(r, 100));
  return page.workers().length;
}

// The pool size the next quantization asks for, as a link would set it.
const setWorkers = (page, n) => page.evaluate((n) => history.replaceState(null, '', `#run?workers=${n}`), n);

async function download(page, timeout = 120000) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout }), page.click('#run-custom-nbits-go')]);
  const workers = Number(await page.evaluate(() => document.body.dataset.onnxNbitsWorkers));
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()), workers };
}

async function choose(page, { method = 'rtn', bits = '4', format = 'qoperator', block = '32', symmetric = false, gather = false }) {
  await page.selectOption('#run-custom-nbits-method', method);
  await page.selectOption('#run-custom-nbits-bits', bits);
  await page.selectOption('#run-custom-nbits-format', format);
  await page.selectOption('#run-custom-nbits-block', block);
  await page.setChecked('#run-custom-nbits-symmetric', symmetric);
  await page.setChecked('#run-custom-nbits-gather', gather);
}

test('1, 2 and 3 pool workers download the same bytes', async () => {
  const page = await openRun();
  const cases = [
    ['mnist.onnx', [{ method: 'rtn' }, { method: 'hqq' }, { method: 'rtn', format: 'qdq', block: '128', symmetric: true }]],
    ['embed.onnx', [{ gather: true }]],
  ];
  for (const [model, variants] of cases) {
    await dropFiles(page, '#run-custom-drop', [{ name: model, bytes: await fixture(model) }]);
    await page.waitForFunction((m) => (document.querySelector('#run-custom-model')?.textContent ?? '').includes(m), model, { timeout: 30000 });
    await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 30000 });
    for (const v of variants) {
      await choose(page, v);
      const files = [];
      for (const n of [1, 2, 3]) {
        await setWorkers(page, n);
        files.push(await download(page));
      }
      // three weights each: three workers are three in use
      assert.deepEqual(files.map((f) => f.workers), [1, 2, 3], `${model} ${JSON.stringify(v)}`);
      assert.match(await page.locator('#run-custom-nbits-result').textContent(), /Quantized in [\d.]+ s on 3 workers\./);
      for (const f of files.slice(1)) {
        assert.equal(f.name, files[0].name);
        assert.ok(Buffer.compare(f.bytes, files[0].bytes) === 0, `${f.name}: ${f.workers} workers wrote other bytes than 1 worker`);
      }
      console.log(`${files[0].name}: ${files[0].bytes.length} bytes, the same with 1, 2 and 3 workers`);
    }
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

// A MatMul chain x[1, width] → (W_i [width, width])_i → y written in the page (field numbers from
// onnx/onnx.proto), its weights seeded, dropped as big.onnx.
async function dropBigModel(page, width, layers) {
  const dataTransfer = await page.evaluateHandle(([width, layers]) => {
    const text = new TextEncoder();
    const varint = (n) => { const out = []; do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n); return Uint8Array.from(out); };
    const cat = (parts) => {
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    };
    const len = (num, bytes) => cat([varint((num << 3) | 2), varint(bytes.length), bytes]);
    const int = (num, n) => cat([varint(num << 3), varint(n)]);
    const str = (num, s) => len(num, text.encode(s));
    const io = (num, name) => len(num, cat([str(1, name), len(2, len(1, cat([int(1, 1), len(2, cat([len(1, int(1, 1)), len(1, int(1, width))]))])))]));
    let s = 12345;
    const parts = [];
    for (let i = 0; i < layers; i++) {
      const w = new Float32Array(width * width);
      for (let j = 0; j < w.length; j++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        w[j] = ((s >>> 8) / 16777216 - 0.5) * 0.1;
      }
      parts.push(len(1, cat([str(1, i ? `h${i}` : 'x'), str(1, `w${i}`), str(2, i === layers - 1 ? 'y' : `h${i + 1}`), str(3, `mm${i}`), str(4, 'MatMul')])));
      parts.push(len(5, cat([int(1, width), int(1, width), int(2, 1), str(8, `w${i}`), len(9, new Uint8Array(w.buffer))])));
    }
    const graph = cat([...parts, str(2, 'big'), io(11, 'x'), io(12, 'y')]);
    const model = cat([int(1, 8), len(7, graph), len(8, cat([str(1, ''), int(2, 17)]))]);
    const dt = new DataTransfer();
    dt.items.add(new File([model], 'big.onnx'));
    return dt;
  }, [width, layers]);
  await page.dispatchEvent('#run-custom-drop', 'drop', { dataTransfer });
  await page.waitForFunction(() => (document.querySelector('#run-custom-model')?.textContent ?? '').includes('big.onnx'), null, { timeout: 60000 });
  await page.waitForSelector('#run-custom-table:not([hidden])', { timeout: 60000 });
}

test('a pooled HQQ quantization is cancelled and the page quantizes again; 1 worker against 2', async () => {
  const page = await openRun();
  await dropBigModel(page, 512, 8);
  await choose(page, { method: 'hqq' });

  // Cancel once the pool (two more workers, nested in the Run worker) has answered for a weight
  await setWorkers(page, 2);
  const before = page.workers().length;
  await page.click('#run-custom-nbits-go');
  const bar = '#run-custom-nbits-progress progress';
  await page.waitForFunction((bar) => document.querySelector(bar)?.value >= 2, bar, { timeout: 120000 });
  assert.equal(page.workers().length, before + 2, 'the pool is running, 2 workers');
  await page.click('#run-custom-nbits-progress button');
  await page.waitForFunction(() => /cancelled/.test(document.querySelector('#run-custom-nbits-result')?.textContent ?? ''), null, { timeout: 30000 });
  assert.equal(await workersBackTo(page, before), before, 'Cancel terminates the pool');
  assert.equal(await page.textContent('#run-custom-nbits-result'), 'Weight-only INT4 quantization cancelled.');
  assert.equal(await page.locator('#run-custom-nbits-go').isDisabled(), false);
  assert.equal(await page.textContent('#run-custom-error'), '');

  // The page goes on: the same quantization with one worker and with two, the same bytes
  const times = [], encoding = [];
  const files = [];
  for (const n of [1, 2]) {
    await setWorkers(page, n);
    files.push(await download(page, 300000));
    times.push(Number(/Quantized in ([\d.]+) s on (\d+) worker/.exec(await page.textContent('#run-custom-nbits-result'))[1]));
    encoding.push(Number(await page.evaluate(() => document.body.dataset.onnxNbitsEncodeSeconds)));
  }
  assert.deepEqual(files.map((f) => f.workers), [1, 2]);
  assert.ok(Buffer.compare(files[0].bytes, files[1].bytes) === 0, 'two workers wrote other bytes than one');
  console.log(`HQQ 4-bit b32 of 8 × 512×512 MatMuls: ${times[0].toFixed(2)} s on 1 worker, ${times[1].toFixed(2)} s on 2 ` +
    `(${(times[0] / times[1]).toFixed(2)}× faster); the weights' encoding alone ${encoding[0].toFixed(2)} s and ` +
    `${encoding[1].toFixed(2)} s (${(encoding[0] / encoding[1]).toFixed(2)}×)`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
