// Training speed, the Train view against PyTorch on the same machine in the same run
// (`node scripts/bench-train.mjs [steps]` after scripts/build-wasm.sh): steps per second of the
// 784-100-100-10 MLP, batch 64, Adam, FP32, QAT INT8 and LSQ INT8 (per-channel weights), and of the
// conv net (src/train/src/conv.rs) in FP32 and QAT INT8, in headless
// Chromium on one thread (www/pkg-train, SIMD128) and in torch on one CPU thread
// (scripts/bench-train-torch.py, Debian's python3-torch). Prints both and their ratio, by wall time
// and by CPU time (the page's renderer process from /proc, torch's `process_time`): on a shared
// machine the wall time counts other processes' turns, the CPU time much less so.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { launch } from '../tests/e2e/browser.mjs';

// CPU seconds (user + system) of this process's descendants that are Chromium renderers (Linux /proc).
const stat = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
};
const renderers = () => {
  const children = new Map();
  for (const d of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const parent = Number(stat(d)[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(d)]);
    } catch {} // gone meanwhile
  }
  const found = [];
  for (const stack = [process.pid]; stack.length;) {
    for (const c of children.get(stack.pop()) ?? []) {
      stack.push(c);
      try { if (readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('--type=renderer')) found.push(c); } catch {}
    }
  }
  return found;
};
const cpuSeconds = (pids) => pids.reduce((sum, p) => {
  try { const f = stat(p); return sum + (Number(f[11]) + Number(f[12])) / 100; } catch { return sum; }
}, 0);

const steps = Number(process.argv[2] ?? 250);
const browser = await launch();
const page = await browser.page();
await page.goto(`${browser.url}#train`);
await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
await page.evaluate(async () => {
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
  window.rate = (qat, lsq = false, conv = false, n) => {
    const net = conv ? { arch: 'conv', hidden: [] } : { hidden: [100, 100] };
    const run = new TrainingRun(...train, ...test, { ...net, optimizer: 'adam', learning_rate: 1e-3, epochs: 10, batch_size: 64, seed: 1, qat_bits: qat, per_channel: true, lsq });
    const start = performance.now();
    run.advance(n);
    const rate = n / ((performance.now() - start) / 1000);
    run.free();
    return rate;
  };
  rate(null, false, false, 250); // warm-up: the first run grows the memory and tiers up the wasm
  rate(null, false, true, 30); // and the conv net's functions, which the MLP does not call
});
const pids = renderers();
const configs = { fp32: [null], qat8: [8], lsq8: [8, true], conv_fp32: [null, false, true], conv_qat8: [8, false, true] };
const ours = {}, oursCpu = {};
for (const [k, [qat, lsq, conv]] of Object.entries(configs)) {
  const before = cpuSeconds(pids);
  ours[k] = await page.evaluate(([qat, lsq, conv, n]) => window.rate(qat, lsq, conv, n), [qat, lsq ?? false, conv ?? false, steps]);
  oursCpu[k] = steps / (cpuSeconds(pids) - before);
}
await browser.close();
const torch = JSON.parse(execFileSync('/usr/bin/python3', [new URL('./bench-train-torch.py', import.meta.url).pathname, String(steps)]).toString());
for (const k of Object.keys(configs)) {
  console.log(`${k.padEnd(9)} quantscope (wasm SIMD128, 1 thread) ${ours[k].toFixed(0)} steps/s, torch ${torch.torch} (1 thread) ${torch[k].toFixed(0)} steps/s: ${(ours[k] / torch[k]).toFixed(2)}×;`
    + ` by CPU time ${oursCpu[k].toFixed(0)} against ${torch.cpu[k].toFixed(0)}: ${(oursCpu[k] / torch.cpu[k]).toFixed(2)}×`);
}
