// Language-model speed, the page against llama.cpp on the same machine in the same run
// (`node scripts/bench-lm.mjs [tokens]` after scripts/build-wasm.sh): tokens per second generating
// `tokens` tokens (default 128, greedy, from a one-token prompt) with the tiny model in every
// weight type the page's Language model view offers (one mix per type: Q5_K_M for Q5_K, Q3_K_M for
// Q3_K) — in headless Chromium on one thread (www/pkg-lm, SIMD128: the Language
// model worker's own LmSession) and in `llama-bench -t 1 -p 0 -n TOKENS` (llama.cpp's CPU build from
// the pinned sdist, scripts/fixtures/build_llama.py) on the same files, which quantscope's CLI
// writes byte for byte as llama-quantize does. Prints both and their ratio. Each side's figure is
// the best of ROUNDS runs (after a warm-up, so wasm has tiered up): on a shared machine the runs
// scatter by 2× or more, and the least-disturbed run is the one comparable across the two sides.
// QUANTSCOPE_LM_PKG=www/pkg-other measures another build of the module (e.g. an older commit's);
// QUANTSCOPE_LM_PKG=www/pkg-old,www/pkg-lm measures both in the same run, their rounds interleaved,
// each against the same llama-bench figures (a before/after under the same load).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../tests/e2e/browser.mjs';

const tokens = Number(process.argv[2] ?? 128);
const ROUNDS = 5;
const TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_1', 'Q4_0', 'IQ4_XS', 'IQ4_NL',
  'Q3_K_M', 'Q2_K'];
const PKGS = (process.env.QUANTSCOPE_LM_PKG ?? 'www/pkg-lm').split(',');
const root = new URL('..', import.meta.url).pathname;
const model = join(root, 'tests/fixtures/tiny_lm/tiny-lm-f32.gguf');

const browser = await launch();
const page = await browser.page();
await page.goto(`${browser.url}#run`);
await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 60000 });
const ours = await page.evaluate(async ([tokens, types, rounds, pkgs]) => {
  const bytes = new Uint8Array(await (await fetch('/tests/fixtures/tiny_lm/tiny-lm-f32.gguf')).arrayBuffer());
  const session = async (pkg) => {
    const { default: init, LmSession } = await import(`/${pkg}/quantscope.js`);
    await init();
    const s = new LmSession('tiny-lm-f32.gguf', bytes);
    let names = s.summary().variants.map((v) => v.name);
    for (const t of types) {
      if (!names.includes(t)) s.add_type(t);
    }
    names = s.summary().variants.map((v) => v.name);
    return { s, names };
  };
  const rate = ({ s, names }) => {
    s.start_generation(Uint32Array.from([1]), tokens, undefined, 1, 0);
    const out = {};
    for (const t of types) {
      const i = names.indexOf(t);
      const start = performance.now();
      const step = s.generate(i, tokens);
      out[t] = step.generated / ((performance.now() - start) / 1000);
    }
    return out;
  };
  const sessions = [];
  for (const pkg of pkgs) sessions.push(await session(pkg));
  sessions.forEach(rate); // warm-up: memory grown, wasm tiered up
  const best = sessions.map(() => ({}));
  for (let r = 0; r < rounds; r++) {
    sessions.forEach((s, i) => {
      for (const [t, v] of Object.entries(rate(s))) best[i][t] = Math.max(best[i][t] ?? 0, v);
    });
  }
  return best;
}, [tokens, TYPES, ROUNDS, PKGS]);
await browser.close();

// build_llama.py needs cmake: a venv of scripts/fixtures/requirements-llama.txt has it
// (QUANTSCOPE_PYTHON=/path/to/venv/bin/python), or a system cmake with python3.
const python = process.env.QUANTSCOPE_PYTHON ?? 'python3';
const bin = execFileSync(python, [join(root, 'scripts/fixtures/build_llama.py'), '--target', 'llama-bench'], { cwd: root }).toString().trim().split('\n').pop();
const dir = mkdtempSync(join(tmpdir(), 'bench-lm-'));
const cli = join(root, 'target/release/quantscope');
execFileSync('cargo', ['build', '--release', '-q', '-p', 'quantscope-cli'], { cwd: root, stdio: 'inherit' });
const native = {};
for (const t of TYPES) {
  let file = model;
  if (t !== 'F32') {
    file = join(dir, `${t}.gguf`);
    execFileSync(cli, ['export', model, '--type', t, '--out', file]);
  }
  const json = JSON.parse(execFileSync(join(bin, 'llama-bench'), ['-m', file, '-t', '1', '-p', '0', '-n', String(tokens), '-r', String(ROUNDS), '-o', 'json']).toString());
  native[t] = Math.max(...json[0].samples_ts);
}
rmSync(dir, { recursive: true });
console.log(`tokens/s generating ${tokens} tokens, one thread, best of ${ROUNDS} runs each; quantscope (wasm SIMD128): ${PKGS.join(', ')}`);
for (const t of TYPES) {
  const cells = ours.map((o) => `${o[t].toFixed(0).padStart(6)} ${(o[t] / native[t]).toFixed(2)}×`).join('   ');
  console.log(`${t.padEnd(7)} llama-bench ${native[t].toFixed(0).padStart(6)}   quantscope ${cells}`);
}
