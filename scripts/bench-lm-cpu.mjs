// Language-model speed by CPU time, for a shared machine where wall-clock figures scatter by 2×
// (`node scripts/bench-lm-cpu.mjs [rounds]` after scripts/build-wasm.sh): tokens per second
// generating 128 tokens from a one-token prompt with the tiny model, counted in the process's own
// CPU time on both sides — www/pkg-lm's LmSession in this Node process (wasm SIMD128, one thread,
// `process.cpuUsage`; QUANTSCOPE_LM_PKG=www/pkg-old,www/pkg-lm compares builds, their rounds
// interleaved, the best of `rounds` each) and `llama-bench -t 1 -p 0 -n 128` (user + system time
// of `-r 32` minus `-r 2`, by /usr/bin/time, so 30 × 128 tokens without the model's load; the best
// of three) on the same files, which quantscope's CLI writes byte for byte as llama-quantize does.
// Load still costs some through shared caches, but no longer the time the process waits for a core.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rounds = Number(process.argv[2] ?? 20);
const TOKENS = 128;
const TYPES = ['F32', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_0', 'Q4_K_M', 'Q4_0', 'IQ4_XS', 'IQ4_NL', 'Q3_K_M', 'Q2_K'];
const PKGS = (process.env.QUANTSCOPE_LM_PKG ?? 'www/pkg-lm').split(',');
const root = new URL('..', import.meta.url).pathname;
const model = join(root, 'tests/fixtures/tiny_lm/tiny-lm-f32.gguf');
const bytes = new Uint8Array(readFileSync(model));

const sessions = [];
for (const pkg of PKGS) {
  const m = await import(join(root, pkg, 'quantscope.js'));
  await m.default({ module_or_path: readFileSync(join(root, pkg, 'quantscope_bg.wasm')) });
  const s = new m.LmSession('tiny-lm-f32.gguf', bytes);
  for (const t of TYPES) if (!s.summary().variants.some((v) => v.name === t)) s.add_type(t);
  sessions.push({ s, names: s.summary().variants.map((v) => v.name) });
}
const rate = ({ s, names }, t) => {
  s.start_generation(Uint32Array.from([1]), TOKENS, undefined, 1, 0);
  const before = process.cpuUsage();
  const step = s.generate(names.indexOf(t), TOKENS);
  const used = process.cpuUsage(before);
  return step.generated / ((used.user + used.system) / 1e6);
};
for (const ses of sessions) for (const t of TYPES) rate(ses, t); // warm-up: memory grown, wasm tiered up
const ours = sessions.map(() => ({}));
for (let r = 0; r < rounds; r++) {
  for (const t of TYPES) sessions.forEach((ses, i) => { ours[i][t] = Math.max(ours[i][t] ?? 0, rate(ses, t)); });
}

const python = process.env.QUANTSCOPE_PYTHON ?? 'python3';
const bin = execFileSync(python, [join(root, 'scripts/fixtures/build_llama.py'), '--target', 'llama-bench'], { cwd: root }).toString().trim().split('\n').pop();
execFileSync('cargo', ['build', '--release', '-q', '-p', 'quantscope-cli'], { cwd: root, stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'bench-lm-cpu-'));
const cpu = (file, reps) => {
  const out = join(dir, 'time');
  execFileSync('/usr/bin/time', ['-o', out, '-f', '%U %S', join(bin, 'llama-bench'), '-m', file, '-t', '1', '-p', '0', '-n', String(TOKENS), '-r', String(reps), '-o', 'json'], { stdio: 'ignore' });
  return readFileSync(out, 'utf8').trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0);
};
const native = {};
for (const t of TYPES) {
  let file = model;
  if (t !== 'F32') {
    file = join(dir, `${t}.gguf`);
    execFileSync(join(root, 'target/release/quantscope'), ['export', model, '--type', t, '--out', file], { stdio: 'ignore' });
  }
  for (let k = 0; k < 3; k++) native[t] = Math.max(native[t] ?? 0, (30 * TOKENS) / (cpu(file, 32) - cpu(file, 2)));
}
rmSync(dir, { recursive: true });
console.log(`tokens/s by CPU time generating ${TOKENS} tokens, one thread; quantscope (wasm SIMD128, Node): ${PKGS.join(', ')}`);
for (const t of TYPES) {
  const cells = ours.map((o) => `${o[t].toFixed(0).padStart(6)} ${(o[t] / native[t]).toFixed(2)}×`).join('   ');
  console.log(`${t.padEnd(7)} llama-bench ${native[t].toFixed(0).padStart(6)}   quantscope ${cells}`);
}
