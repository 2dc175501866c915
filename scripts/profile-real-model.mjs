// Where a real model's time goes in the page's models module (www/pkg-models, SIMD128, in
// Node's V8 with TurboFan from the first call): each node of the run plan timed by the engine
// (`profile_run`, fused chains as one node), summed by op type, and the slowest nodes. The
// native profile (`cargo run --example profile`) runs the portable kernels instead of SIMD128.
// After scripts/build-wasm.sh pkg-models (and make_real_models.py for the larger models):
//   node --no-liftoff scripts/profile-real-model.mjs MODEL [--int8] [--runs N] [--top N] [--module DIR]
//        [--base DIR] [--cpu] [--json FILE]
// --module DIR: another build of the models module that has `profile_run`; --json FILE: every
// node's row ({name, op_type, ms}) written there.
// --cpu: each node timed by the process's CPU time (process.cpuUsage) instead of the wall
// clock. On a loaded machine a preemption can land on the same nodes run after run (the runs
// keep step with the scheduler's slices), so even each node's median charged a 0.3 ms Conv
// 8 ms of wall time; CPU time leaves out the time the process was not running.
// --base DIR: another build (e.g. main's www/pkg-models copied to .cache/pkg-models-main) run
// in turn with this one, run by run, its outputs compared bit for bit and its times beside.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const runs = Number(opt('--runs', 5));
const dir = resolve(opt('--module', 'www/pkg-models'));
const baseDir = opt('--base', null);
const top = Number(opt('--top', 15));
const json = opt('--json', null);
const int8 = args.includes('--int8');
const cpu = args.includes('--cpu');
const name = args.find((a) => !a.startsWith('--'));
if (!name) throw new Error('usage: profile-real-model.mjs MODEL [--int8] [--runs N] [--top N] [--module DIR] [--base DIR] [--cpu] [--json FILE]');

if (cpu) {
  // The engine's clock is globalThis.performance.now (quantscope_wasm_common::performance_now).
  const now = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  Object.defineProperty(globalThis, 'performance', { value: { now }, configurable: true, writable: true });
}
const manifest = JSON.parse(readFileSync('tests/fixtures/real_models/manifest.json', 'utf8')).models;
const entry = manifest[name];
if (!entry) throw new Error(`${name} is not in tests/fixtures/real_models/manifest.json`);
const [model, inputs] = entry.committed
  ? [`tests/fixtures/real_models/${name}/model.onnx`, entry.inputs.map((_, k) => `tests/fixtures/real_models/${name}/input_${k}.npy`)]
  : [`.cache/real-models/${name}.onnx`, entry.inputs.map((n) => `.cache/real-models/io/${name}/${n}.npy`)];

/** One build of the models module with the model loaded: its `run()` profiles one run. */
async function side(folder, tag) {
  const mod = await import(`${pathToFileURL(`${folder}/quantscope.js`).href}?${tag}`);
  await mod.default({ module_or_path: readFileSync(`${folder}/quantscope_bg.wasm`) });
  const engine = mod.engine_for_any_model();
  const info = engine.load(name, readFileSync(model));
  const values = Object.fromEntries(info.inputs.map((io, k) => {
    const t = mod.read_npy_input(readFileSync(inputs[k]));
    return [io.name, { shape: t.shape, data: t.data }];
  }));
  const handle = int8 ? engine.variant(info.handle, { kind: 'int8_dynamic', per_channel: false }).handle : info.handle;
  mod.profile_run(engine, handle, values, 2); // warm-up: tiers and buffers
  return { folder, run: () => mod.profile_run(engine, handle, values, 1), outputs: () => engine.run(handle, values, 0).outputs, each: [] };
}

const sides = [await side(dir, 'this')];
if (baseDir) sides.push(await side(resolve(baseDir), 'base'));
if (baseDir) {
  const [a, b] = sides.map((s) => s.outputs());
  const same = Object.keys(a).every((k) => a[k].data.length === b[k].data.length && a[k].data.every((v, i) => Object.is(v, b[k].data[i])));
  let worst = 0;
  for (const k of Object.keys(a)) {
    const scale = a[k].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    worst = Math.max(worst, a[k].data.reduce((m, v, i) => Math.max(m, Math.abs(v - b[k].data[i])), 0) / scale);
  }
  console.log(`outputs against the base build: ${same ? 'the same bits' : `differ by up to ${worst.toExponential(2)} of their range`}`);
}
// Each node's median over the runs: on a shared machine a preemption lands on whichever node
// is running, and a mean would charge it to that node. With --base, the builds take turns.
for (let r = 0; r < runs; r++) for (const s of sides) s.each.push(s.run());
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const s of sides) {
  s.rows = s.each[0].map((r, i) => ({ ...r, ms: median(s.each.map((run) => run[i].ms)) }));
  s.total = median(s.each.map((run) => run.reduce((t, r) => t + r.ms, 0)));
  s.byOp = new Map();
  for (const r of s.rows) s.byOp.set(r.op_type, { ms: (s.byOp.get(r.op_type)?.ms ?? 0) + r.ms, count: (s.byOp.get(r.op_type)?.count ?? 0) + 1 });
}
const [self, base] = sides;
const clock = cpu ? 'CPU ms' : 'ms';
console.log(`${name}${int8 ? ' INT8' : ' FP32'}: ${self.total.toFixed(2)} ${clock} per run (median of ${runs} runs' sums, ${dir})`
  + (base ? `; base ${base.total.toFixed(2)} (${base.folder}), ${(base.total / self.total).toFixed(2)}× its time` : ''));
const beside = (s, key, get) => (s ? ` ${(get(s, key) ?? 0).toFixed(3).padStart(9)} base` : '');
for (const [op, e] of [...self.byOp].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`  ${op.padEnd(24)} ${e.ms.toFixed(3).padStart(9)} ${clock} ${(100 * e.ms / self.total).toFixed(1).padStart(5)} %  (${e.count} nodes)`
    + beside(base, op, (s, k) => s.byOp.get(k)?.ms));
}
console.log('  slowest nodes:');
const baseRow = (s, n) => s.rows.find((r) => r.name === n)?.ms;
for (const r of [...self.rows].sort((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(`    ${r.name.padEnd(40)} ${r.op_type.padEnd(16)} ${r.ms.toFixed(3).padStart(8)} ${clock}${beside(base, r.name, baseRow)}`);
}
if (json) writeFileSync(json, JSON.stringify(self.rows));
