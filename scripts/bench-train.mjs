// Training speed, the Train view against PyTorch on the same machine in the same run
// (`node scripts/bench-train.mjs [steps]` after scripts/build-wasm.sh): steps per second of the
// 784-100-100-10 MLP, batch 64, Adam, FP32, QAT INT8 and LSQ INT8 (per-channel weights), and of the
// conv net (src/train/src/conv.rs) in FP32 and QAT INT8, in headless
// Chromium on one thread (www/pkg-train, SIMD128) and in torch on one CPU thread
// (scripts/bench-train-torch.py, Debian's python3-torch). Prints both and their ratio.
import { execFileSync } from 'node:child_process';
import { launch } from '../tests/e2e/browser.mjs';

const steps = Number(process.argv[2] ?? 250);
const browser = await launch();
const page = await browser.page();
await page.goto(`${browser.url}#train`);
await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
const ours = await page.evaluate(async (steps) => {
  const { default: init, TrainingRun } = await import('/www/pkg-train/quantscope.js');
  const { unzipSync } = await import('/node_modules/fflate/esm/browser.js');
  await init();
  // The trainer takes raw uint8 digits: each .npy member past its header (u16 length in version 1).
  const raw = (b) => b.subarray(b[6] === 1 ? 10 + (b[8] | (b[9] << 8)) : 12 + new DataView(b.buffer, b.byteOffset).getUint32(8, true));
  const members = async (url) => {
    const files = unzipSync(new Uint8Array(await (await fetch(url)).arrayBuffer()));
    return [raw(files['images.npy']), raw(files['labels.npy'])];
  };
  const train = await members('/www/models/mnist_train.npz');
  const test = await members('/www/models/mnist_test.npz');
  const rate = (qat, lsq = false, conv = false, n = steps) => {
    const net = conv ? { arch: 'conv', hidden: [] } : { hidden: [100, 100] };
    const run = new TrainingRun(...train, ...test, { ...net, optimizer: 'adam', learning_rate: 1e-3, epochs: 10, batch_size: 64, seed: 1, qat_bits: qat, per_channel: true, lsq });
    const start = performance.now();
    run.advance(n);
    const rate = n / ((performance.now() - start) / 1000);
    run.free();
    return rate;
  };
  rate(null); // warm-up: the first run grows the memory and tiers up the wasm
  rate(null, false, true, 30); // and the conv net's functions, which the MLP does not call
  return { fp32: rate(null), qat8: rate(8), lsq8: rate(8, true), conv_fp32: rate(null, false, true), conv_qat8: rate(8, false, true) };
}, steps);
await browser.close();
const torch = JSON.parse(execFileSync('/usr/bin/python3', [new URL('./bench-train-torch.py', import.meta.url).pathname, String(steps)]).toString());
for (const k of ['fp32', 'qat8', 'lsq8', 'conv_fp32', 'conv_qat8']) {
  console.log(`${k.padEnd(9)} quantscope (wasm SIMD128, 1 thread) ${ours[k].toFixed(0)} steps/s, torch ${torch.torch} (1 thread) ${torch[k].toFixed(0)} steps/s: ${(ours[k] / torch[k]).toFixed(2)}×`);
}
