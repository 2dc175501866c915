// Language-model speed, the page against llama.cpp on the same machine in the same run
// (`node scripts/bench-lm.mjs [tokens]` after scripts/build-wasm.sh), with the tiny model in every
// weight type the page's Language model view offers (one mix per type: Q5_K_M for Q5_K, Q3_K_M
// for Q3_K), in headless Chromium on one thread (www/pkg-lm, SIMD128: the Language model worker's
// own LmSession) and in llama.cpp's CPU build (`llama-bench -t 1`, from the pinned sdist,
// scripts/fixtures/build_llama.py) on the same files, which quantscope's CLI writes byte for byte
// as llama-quantize does:
// - generation: tokens per second generating `tokens` tokens (default 128, greedy, from a
//   one-token prompt) against `llama-bench -p 0 -n TOKENS`;
// - prompt processing: tokens per second evaluating a 64-token prompt (the first ids of
//   heldout.txt) in one call (`start_generation`, a session of that type's file alone) against
//   `llama-bench -p 64 -n 0` (one batch of 64; llama.cpp keeps only the last token's logits, as
//   quantscope's prompt does). The float types' prompt files have token_embd in Q8_0 (as
//   scripts/bench-lm-cpu.mjs explains), so the session holds that file's float matrices alone.
// Prints both and their ratio. Each side's figure is the best of ROUNDS runs (after a warm-up, so
// wasm has tiered up): on a shared machine the runs scatter by 2× or more, and the
// least-disturbed run is the one comparable across the two sides.
// QUANTSCOPE_LM_PKG=www/pkg-other measures another build of the module (e.g. an older commit's);
// QUANTSCOPE_LM_PKG=www/pkg-lm,www/pkg-lm-relaxed measures both in the same run, their rounds
// interleaved, each against the same llama-bench figures (a before/after, or plain against
// relaxed SIMD, under the same load). QUANTSCOPE_CLI=path: an already built CLI.
// QUANTSCOPE_LM_ROUNDS=N: the best of N runs instead of 5 (a loaded machine needs more for one
// undisturbed run); QUANTSCOPE_LM_TYPES=F32,Q8_0,...: only those types (fewer types, more rounds
// in the same time).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../tests/e2e/browser.mjs';

const tokens = Number(process.argv[2] ?? 128);
const ROUNDS = Number(process.env.QUANTSCOPE_LM_ROUNDS ?? 5);
const PROMPT = 64;
const ALL_TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_1', 'Q4_0', 'IQ4_XS', 'IQ4_NL',
  'Q3_K_M', 'Q2_K'];
const TYPES = process.env.QUANTSCOPE_LM_TYPES ? process.env.QUANTSCOPE_LM_TYPES.split(',') : ALL_TYPES;
for (const t of TYPES) if (!ALL_TYPES.includes(t)) throw new Error(`QUANTSCOPE_LM_TYPES: ${t} is not one of ${ALL_TYPES.join(', ')}`);
const PKGS = (process.env.QUANTSCOPE_LM_PKG ?? 'www/pkg-lm').split(',');
const root = new URL('..', import.meta.url).pathname;
const model = join(root, 'tests/fixtures/tiny_lm/tiny-lm-f32.gguf');

// The files: quantscope's export of each type (F32's, F16's and BF16's prompt files with token_embd
// in Q8_0).
const cli = process.env.QUANTSCOPE_CLI ?? join(root, 'target/release/quantscope');
if (!process.env.QUANTSCOPE_CLI) execFileSync('cargo', ['build', '--release', '-q', '-p', 'quantscope-cli'], { cwd: root, stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'bench-lm-'));
const files = {};
for (const t of TYPES) {
  files[t] = { tg: model, pp: join(dir, `${t}.gguf`) };
  const args = ['F32', 'F16', 'BF16'].includes(t) ? ['--type', t, '--token-embedding-type', 'q8_0'] : ['--type', t];
  execFileSync(cli, ['export', model, ...args, '--out', files[t].pp], { stdio: 'ignore' });
  if (t !== 'F32') files[t].tg = files[t].pp;
}
const heldout = readFileSync(join(root, 'tests/fixtures/tiny_lm/heldout.ids.npy'));
const headerLen = heldout.readUInt16LE(8);
const ids = heldout.subarray(10 + headerLen);
const width = Number(heldout.toString('latin1', 10, 10 + headerLen).match(/'descr': '([^']+)'/)[1].slice(2));
const prompt = Array.from({ length: PROMPT }, (_, i) => Number(width === 8 ? ids.readBigInt64LE(8 * i) : ids.readInt32LE(4 * i)));

const browser = await launch();
const page = await browser.page();
// The exported files, served to the page from the temporary folder.
await page.route('**/bench-lm/*.gguf', (route) => route.fulfill({ body: readFileSync(join(dir, route.request().url().split('/').pop())) }));
await page.goto(`${browser.url}#run`);
await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
const ours = await page.evaluate(async ([tokens, types, rounds, pkgs, prompt]) => {
  const get = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const bytes = await get('/tests/fixtures/tiny_lm/tiny-lm-f32.gguf');
  const ppBytes = {};
  for (const t of types) ppBytes[t] = await get(`/bench-lm/${t}.gguf`);
  const session = async (pkg) => {
    const { default: init, LmSession } = await import(`/${pkg}/quantscope.js`);
    await init();
    const s = new LmSession('tiny-lm-f32.gguf', bytes);
    let names = s.summary().variants.map((v) => v.name);
    for (const t of types) {
      if (!names.includes(t)) s.add_type(t);
    }
    names = s.summary().variants.map((v) => v.name);
    const pp = Object.fromEntries(types.map((t) => [t, new LmSession(`${t}.gguf`, ppBytes[t])]));
    for (const t of types) if (pp[t].summary().variants.length !== 1) throw new Error(`${t}: the prompt's session has more than one variant`);
    return { s, names, pp };
  };
  const ids = Uint32Array.from(prompt);
  const rate = ({ s, names, pp }) => {
    s.start_generation(Uint32Array.from([1]), tokens, undefined, 1, 0);
    const out = { tg: {}, pp: {} };
    for (const t of types) {
      const i = names.indexOf(t);
      let start = performance.now();
      const step = s.generate(i, tokens);
      out.tg[t] = step.generated / ((performance.now() - start) / 1000);
      // A prompt takes a few ms, which the page's clock (100 µs steps) would round: timed 8 times over.
      start = performance.now();
      for (let k = 0; k < 8; k++) pp[t].start_generation(ids, 1, undefined, 1, 0);
      out.pp[t] = (8 * ids.length) / ((performance.now() - start) / 1000);
    }
    return out;
  };
  const sessions = [];
  for (const pkg of pkgs) sessions.push(await session(pkg));
  sessions.forEach(rate); // warm-up: memory grown, wasm tiered up
  const best = sessions.map(() => ({ tg: {}, pp: {} }));
  for (let r = 0; r < rounds; r++) {
    sessions.forEach((s, i) => {
      const o = rate(s);
      for (const k of ['tg', 'pp']) for (const [t, v] of Object.entries(o[k])) best[i][k][t] = Math.max(best[i][k][t] ?? 0, v);
    });
  }
  return best;
}, [tokens, TYPES, ROUNDS, PKGS, prompt]);
await browser.close();

// build_llama.py needs cmake: a venv of scripts/fixtures/requirements-llama.txt has it
// (QUANTSCOPE_PYTHON=/path/to/venv/bin/python), or a system cmake with python3.
const python = process.env.QUANTSCOPE_PYTHON ?? 'python3';
const bin = execFileSync(python, [join(root, 'scripts/fixtures/build_llama.py'), '--target', 'llama-bench'], { cwd: root }).toString().trim().split('\n').pop();
const bench = (file, p, n) =>
  Math.max(...JSON.parse(execFileSync(join(bin, 'llama-bench'), ['-m', file, '-t', '1', '-p', String(p), '-n', String(n), '-r', String(ROUNDS), '-o', 'json']).toString())[0].samples_ts);
const native = { tg: {}, pp: {} };
for (const t of TYPES) {
  native.tg[t] = bench(files[t].tg, 0, tokens);
  native.pp[t] = bench(files[t].pp, PROMPT, 0);
}
rmSync(dir, { recursive: true });
for (const [k, what] of [['tg', `generating ${tokens} tokens`], ['pp', `a prompt of ${PROMPT} tokens in one call`]]) {
  console.log(`tokens/s ${what}, one thread, best of ${ROUNDS} runs each; quantscope (wasm, Chromium): ${PKGS.join(', ')}`);
  for (const t of TYPES) {
    const cells = ours.map((o) => `${o[k][t].toFixed(0).padStart(6)} ${(o[k][t] / native[k][t]).toFixed(2)}×`).join('   ');
    console.log(`${t.padEnd(7)} llama-bench ${native[k][t].toFixed(0).padStart(6)}   quantscope ${cells}`);
  }
}
