// Where a real model's time goes in the page's models module (www/pkg-models, SIMD128, in
// Node's V8 with TurboFan from the first call): each node of the run plan timed by the engine
// (`profile_run`, fused chains as one node), summed by op type, and the slowest nodes. The
// native profile (`cargo run --example profile`) runs the portable kernels instead of SIMD128.
// After scripts/build-wasm.sh pkg-models (and make_real_models.py for the larger models):
//   node --no-liftoff scripts/profile-real-model.mjs MODEL [--int8] [--runs N] [--top N] [--module DIR] [--json FILE]
// --module DIR: another build of the models module that has `profile_run`; --json FILE: every
// node's row ({name, op_type, ms}) written there.
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
const top = Number(opt('--top', 15));
const json = opt('--json', null);
const int8 = args.includes('--int8');
const name = args.find((a) => !a.startsWith('--'));
if (!name) throw new Error('usage: profile-real-model.mjs MODEL [--int8] [--runs N] [--top N] [--module DIR] [--json FILE]');

const mod = await import(pathToFileURL(`${dir}/quantscope.js`).href);
await mod.default({ module_or_path: readFileSync(`${dir}/quantscope_bg.wasm`) });
const manifest = JSON.parse(readFileSync('tests/fixtures/real_models/manifest.json', 'utf8')).models;
const entry = manifest[name];
if (!entry) throw new Error(`${name} is not in tests/fixtures/real_models/manifest.json`);
const [model, inputs] = entry.committed
  ? [`tests/fixtures/real_models/${name}/model.onnx`, entry.inputs.map((_, k) => `tests/fixtures/real_models/${name}/input_${k}.npy`)]
  : [`.cache/real-models/${name}.onnx`, entry.inputs.map((n) => `.cache/real-models/io/${name}/${n}.npy`)];
const engine = mod.engine_for_any_model();
const info = engine.load(name, readFileSync(model));
const values = Object.fromEntries(info.inputs.map((io, k) => {
  const t = mod.read_npy_input(readFileSync(inputs[k]));
  return [io.name, { shape: t.shape, data: t.data }];
}));
const handle = int8 ? engine.variant(info.handle, { kind: 'int8_dynamic', per_channel: false }).handle : info.handle;
mod.profile_run(engine, handle, values, 2); // warm-up: tiers and buffers
// Each node's median over the runs: on a shared machine a preemption lands on whichever node
// is running, and a mean would charge it to that node.
const each = Array.from({ length: runs }, () => mod.profile_run(engine, handle, values, 1));
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const rows = each[0].map((r, i) => ({ ...r, ms: median(each.map((run) => run[i].ms)) }));
const total = rows.reduce((s, r) => s + r.ms, 0);
const byOp = new Map();
for (const r of rows) {
  const e = byOp.get(r.op_type) ?? { ms: 0, count: 0 };
  e.ms += r.ms;
  e.count += 1;
  byOp.set(r.op_type, e);
}
console.log(`${name}${int8 ? ' INT8' : ' FP32'}: ${total.toFixed(2)} ms per run (sum of each node's median of ${runs} runs, ${dir})`);
for (const [op, e] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`  ${op.padEnd(24)} ${e.ms.toFixed(3).padStart(9)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)} %  (${e.count} nodes)`);
}
console.log('  slowest nodes:');
for (const r of [...rows].sort((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(`    ${r.name.padEnd(40)} ${r.op_type.padEnd(16)} ${r.ms.toFixed(3).padStart(8)} ms`);
}
if (json) writeFileSync(json, JSON.stringify(rows));
