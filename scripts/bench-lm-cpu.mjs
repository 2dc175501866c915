// Language-model speed by CPU time, for a shared machine where wall-clock figures scatter by 2×
// (`node scripts/bench-lm-cpu.mjs [rounds]` after scripts/build-wasm.sh), counted in the process's
// own CPU time on both sides, with the tiny model in every type below:
// - generation: tokens per second generating 128 tokens from a one-token prompt — www/pkg-lm's
//   LmSession in this Node process (wasm SIMD128, one thread, `process.cpuUsage`) against
//   `llama-bench -t 1 -p 0 -n 128`;
// - prompt: tokens per second evaluating a 64-token prompt (the first ids of heldout.txt) in one
//   call (`start_generation`, a session of that type's file alone) against `llama-bench -t 1 -p 64
//   -n 0` (its prompt batch of 64 tokens; llama.cpp decodes it with only the last token's logits,
//   as quantscope's prompt does).
// QUANTSCOPE_LM_PKG=www/pkg-old,www/pkg-lm compares builds, their rounds interleaved, the best of
// `rounds` each (www/pkg-lm-relaxed among them: Node 20 validates relaxed SIMD only with
// `node --experimental-wasm-relaxed-simd`). llama-bench's figure is user + system time of `-r 32` minus `-r 2` by
// /usr/bin/time (30 runs without the model's load; the best of three), on the same files, which
// quantscope's CLI writes byte for byte as llama-quantize does (F32's prompt file has token_embd in
// Q8_0, so that the module loads it alone instead of with its quantized copies: the same F32
// matrices, token_embd only looked up). Load still costs some through shared caches, but no longer the
// time the process waits for a core.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rounds = Number(process.argv[2] ?? 20);
const TOKENS = 128;
const PROMPT = 64;
const TYPES = ['F32', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_0', 'Q4_K_M', 'Q4_0', 'IQ4_XS', 'IQ4_NL', 'Q3_K_M', 'Q2_K'];
const PKGS = (process.env.QUANTSCOPE_LM_PKG ?? 'www/pkg-lm').split(',');
const root = new URL('..', import.meta.url).pathname;
const model = join(root, 'tests/fixtures/tiny_lm/tiny-lm-f32.gguf');
const bytes = new Uint8Array(readFileSync(model));

// The files: quantscope's export of each type (and F32 with token_embd in Q8_0 for the prompt).
// QUANTSCOPE_CLI=target/debug/quantscope: an already built CLI (the files are the same).
const cli = process.env.QUANTSCOPE_CLI ?? join(root, 'target/release/quantscope');
if (!process.env.QUANTSCOPE_CLI) execFileSync('cargo', ['build', '--release', '-q', '-p', 'quantscope-cli'], { cwd: root, stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'bench-lm-cpu-'));
const files = {};
for (const t of TYPES) {
  files[t] = { tg: model, pp: join(dir, `${t}.gguf`) };
  const args = t === 'F32' ? ['--type', 'F32', '--token-embedding-type', 'q8_0'] : ['--type', t];
  execFileSync(cli, ['export', model, ...args, '--out', files[t].pp], { stdio: 'ignore' });
  if (t !== 'F32') files[t].tg = files[t].pp;
}
const heldout = readFileSync(join(root, 'tests/fixtures/tiny_lm/heldout.ids.npy'));
const headerLen = heldout.readUInt16LE(8);
const ids = heldout.subarray(10 + headerLen);
const dtype = heldout.toString('latin1', 10, 10 + headerLen).match(/'descr': '([^']+)'/)[1];
const width = Number(dtype.slice(2));
const prompt = Uint32Array.from({ length: PROMPT }, (_, i) => Number(width === 8 ? ids.readBigInt64LE(8 * i) : ids.readInt32LE(4 * i)));

const sessions = [];
for (const pkg of PKGS) {
  const m = await import(join(root, pkg, 'quantscope.js'));
  await m.default({ module_or_path: readFileSync(join(root, pkg, 'quantscope_bg.wasm')) });
  const s = new m.LmSession('tiny-lm-f32.gguf', bytes);
  for (const t of TYPES) if (!s.summary().variants.some((v) => v.name === t)) s.add_type(t);
  const pp = Object.fromEntries(TYPES.map((t) => [t, new m.LmSession(`${t}.gguf`, new Uint8Array(readFileSync(files[t].pp)))]));
  for (const t of TYPES) if (pp[t].summary().variants.length !== 1) throw new Error(`${t}: the prompt's session has more than one variant`);
  sessions.push({ s, names: s.summary().variants.map((v) => v.name), pp });
}
const cpuSeconds = (f) => {
  const before = process.cpuUsage();
  const out = f();
  const used = process.cpuUsage(before);
  return [out, (used.user + used.system) / 1e6];
};
const rate = ({ s, names }, t) => {
  s.start_generation(Uint32Array.from([1]), TOKENS, undefined, 1, 0);
  const [step, secs] = cpuSeconds(() => s.generate(names.indexOf(t), TOKENS));
  return step.generated / secs;
};
const promptRate = ({ pp }, t) => PROMPT / cpuSeconds(() => pp[t].start_generation(prompt, 1, undefined, 1, 0))[1];
for (const ses of sessions) for (const t of TYPES) [rate(ses, t), promptRate(ses, t)]; // warm-up: memory grown, wasm tiered up
const ours = sessions.map(() => ({ tg: {}, pp: {} }));
for (let r = 0; r < rounds; r++) {
  for (const t of TYPES) {
    sessions.forEach((ses, i) => {
      ours[i].tg[t] = Math.max(ours[i].tg[t] ?? 0, rate(ses, t));
      ours[i].pp[t] = Math.max(ours[i].pp[t] ?? 0, promptRate(ses, t));
    });
  }
}

const python = process.env.QUANTSCOPE_PYTHON ?? 'python3';
const bin = execFileSync(python, [join(root, 'scripts/fixtures/build_llama.py'), '--target', 'llama-bench'], { cwd: root }).toString().trim().split('\n').pop();
const cpu = (file, reps, [p, n]) => {
  const out = join(dir, 'time');
  execFileSync('/usr/bin/time', ['-o', out, '-f', '%U %S', join(bin, 'llama-bench'), '-m', file, '-t', '1', '-p', String(p), '-n', String(n), '-r', String(reps), '-o', 'json'], { stdio: 'ignore' });
  return readFileSync(out, 'utf8').trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0);
};
const native = { tg: {}, pp: {} };
for (const t of TYPES) {
  for (let k = 0; k < 3; k++) {
    native.tg[t] = Math.max(native.tg[t] ?? 0, (30 * TOKENS) / (cpu(files[t].tg, 32, [0, TOKENS]) - cpu(files[t].tg, 2, [0, TOKENS])));
    native.pp[t] = Math.max(native.pp[t] ?? 0, (30 * PROMPT) / (cpu(files[t].pp, 32, [PROMPT, 0]) - cpu(files[t].pp, 2, [PROMPT, 0])));
  }
}
rmSync(dir, { recursive: true });
for (const [k, what] of [['tg', `generating ${TOKENS} tokens`], ['pp', `a prompt of ${PROMPT} tokens in one call`]]) {
  console.log(`tokens/s by CPU time, ${what}, one thread; quantscope (wasm SIMD128, Node): ${PKGS.join(', ')}`);
  for (const t of TYPES) {
    const cells = ours.map((o) => `${o[k][t].toFixed(0).padStart(6)} ${(o[k][t] / native[k][t]).toFixed(2)}×`).join('   ');
    console.log(`${t.padEnd(7)} llama-bench ${native[k][t].toFixed(0).padStart(6)}   quantscope ${cells}`);
  }
}
