// Language-model speed beside candle (issue 14's yardstick: "ahead of candle's wasm Q8_0/Q4_K
// figures"), in the same run: `node scripts/bench-candle.mjs [prompt] [tokens] [--cpu]` after
// scripts/build-wasm.sh. HuggingFace candle's quantized llama (candle-transformers'
// `quantized_llama::ModelWeights::from_gguf`, candle-core's quantized matmul and its wasm SIMD128
// kernels; benches/candle, exact pins in its Cargo.lock) is built for wasm32 with SIMD128 when
// benches/candle/pkg is missing (cargo, wasm-bindgen, then wasm-opt -O3 as build-wasm.sh does to
// the page's modules; CANDLE_REBUILD=1 forces it). Both run in one headless Chromium page (with
// --cpu: in this Node process, each call timed by the process's CPU time, as bench-lm-cpu.mjs
// does, without llama-bench), one thread: quantscope's www/pkg-lm (the Language model worker's LmSession) and candle, on the
// same GGUF files — the tiny model in F32 and llama-quantize's Q8_0, Q4_K_M and Q2_K (the files
// quantscope's export writes byte for byte) and `--pure` Q4_K and Q2_K — timing the same steps: a `prompt`-token prompt
// (default 64: the first ids of heldout.txt) evaluated in one call, then `tokens` greedy tokens
// (default 128), each one forward pass of the token before with the KV cache. Rounds alternate
// which side goes first; each figure is the best of ROUNDS after a warm-up round. llama-bench `-t 1 -p
// PROMPT` and `-n TOKENS -d PROMPT` on the same files gives llama.cpp's CPU figures (built by
// scripts/fixtures/build_llama.py: cmake, so QUANTSCOPE_PYTHON=/path/to/venv/bin/python of
// requirements-llama.txt).
// First it checks that candle does the same work: its logits for the first 64 held-out ids, token
// by token, against llama.cpp's on the same files (tests/fixtures/tiny_lm/logits-*.npy, which
// quantscope's tests hold its own to), and its batched prompt's last logits against the token by
// token ones; both sides' greedy continuations must agree (or part only at a near tie). It exits
// with status 1 when a check fails.
// The page's module makes quantized copies of an all-F32 file and evaluates a prompt in all of
// them, so F32's prompt is timed (on every side) on that file with token_embd stored as F16
// (`llama-quantize --token-embedding-type f16 … F32`), which it runs alone: the same F32
// matrices (candle turns token_embd into f32 at load either way).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { launch } from '../tests/e2e/browser.mjs';

const cpu = process.argv.includes('--cpu');
const [promptArg, tokensArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const promptLen = Number(promptArg ?? 64);
const tokens = Number(tokensArg ?? 128);
// The prompt is the first ids of heldout.txt (3,445 of them); RoPE's table in candle covers 4,096.
if (!(Number.isInteger(promptLen) && promptLen >= 1 && promptLen <= 3445)) throw new Error(`prompt: a whole number of tokens from 1 to 3445, not ${promptArg}`);
if (!(Number.isInteger(tokens) && tokens >= 1 && promptLen + tokens <= 4096)) throw new Error(`tokens: a whole number from 1 to ${4096 - promptLen}, not ${tokensArg}`);
const ROUNDS = 10;
// llama-quantize's Q2_K mix keeps attn_output and ffn_down in Q3_K, which candle multiplies with
// its scalar code on wasm (its simd128.rs has Q4_0, Q8_0, Q2_K, Q4_K, Q6_K and Q8_K): the
// `--pure` files (every matrix in the one type) time its SIMD128 kernels alone. Their blocks are
// those whose products the mixes' logits check above, so they are checked by their greedy
// continuations only (llama.cpp's logits are fixtures of the mixes).
const TYPES = ['F32', 'Q8_0', 'Q4_K_M', 'Q2_K', 'Q4_K pure', 'Q2_K pure'];
const CHECKED = ['F32', 'Q8_0', 'Q4_K_M', 'Q2_K'];
// Logits against llama.cpp's, |diff| over the row's largest |logit|: F32 as quantscope's own
// test (src/llm/tests/logits.rs; the sums' order differs). The quantized types agree as closely
// (~5e-7) until an activation lies within an ulp of an 8-bit rounding boundary and gets the
// neighbouring Q8_0/Q8_K code in one program and not the other; the positions attending to it
// then move by up to ~2e-2 (quantscope's own Q5_K_M: 1.1e-2, README), where a wrong operation
// moves them by over 1e-1. The script prints where that first happens.
const TOLERANCE = { F32: 1e-4, Q8_0: 2e-2, Q4_K_M: 2e-2, Q2_K: 2e-2 };
// A row within this is taken as the same arithmetic (no code flipped yet).
const EXACT = 1e-5;
const root = new URL('..', import.meta.url).pathname;
const candleDir = join(root, 'benches/candle');
const model = join(root, 'tests/fixtures/tiny_lm/tiny-lm-f32.gguf');

if (!existsSync(join(root, 'www/pkg-lm/quantscope.js'))) throw new Error('www/pkg-lm is missing: run scripts/build-wasm.sh first');
if (process.env.CANDLE_REBUILD || !existsSync(join(candleDir, 'pkg/candle.js'))) {
  console.log('building candle for wasm32 (SIMD128) in benches/candle ...');
  execFileSync('cargo', ['build', '--release', '--locked', '--target', 'wasm32-unknown-unknown'], { cwd: candleDir, stdio: 'inherit' });
  const wasm = join(candleDir, 'target/wasm32-unknown-unknown/release/quantscope_candle_bench.wasm');
  execFileSync('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-name', 'candle', '--out-dir', join(candleDir, 'pkg'), wasm], { stdio: 'inherit' });
  const out = join(candleDir, 'pkg/candle_bg.wasm');
  execFileSync(join(root, 'node_modules/.bin/wasm-opt'), ['-O3', '--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
    '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue', '--strip-producers',
    '--strip-target-features', out, '-o', out], { stdio: 'inherit' });
}

// The files: llama-quantize's (git-ignored, under benches/candle/target, served with the repo).
const python = process.env.QUANTSCOPE_PYTHON ?? 'python3';
const bin = execFileSync(python, [join(root, 'scripts/fixtures/build_llama.py'), '--target', 'llama-quantize', '--target', 'llama-bench'], { cwd: root })
  .toString().trim().split('\n').pop();
const ggufDir = join(candleDir, 'target/gguf');
mkdirSync(ggufDir, { recursive: true });
const quantize = (args) => execFileSync(join(bin, 'llama-quantize'), args, { stdio: 'ignore', env: { ...process.env, LD_LIBRARY_PATH: bin } });
const files = { F32: { pp: 'f32-embd-f16.gguf', tg: 'f32.gguf' } };
execFileSync('cp', [model, join(ggufDir, 'f32.gguf')]);
quantize(['--token-embedding-type', 'f16', model, join(ggufDir, 'f32-embd-f16.gguf'), 'F32']);
for (const t of TYPES.slice(1)) {
  const [ty, pure] = t.split(' ');
  const name = `${ty.toLowerCase()}${pure ? '-pure' : ''}.gguf`;
  quantize([...(pure ? ['--pure'] : []), model, join(ggufDir, name), ty]);
  files[t] = { pp: name, tg: name };
}

// Everything timed, in Chromium's page or in Node: `qs` and `candle` the two modules, `bytes(path)`
// a repository file's bytes (a fresh ArrayBuffer), `clock()` seconds (wall or CPU).
async function measure({ qs, candle, bytes, clock }, [types, checked, files, promptLen, tokens, rounds, EXACT]) {
  const npy = async (path) => {
    const buf = (await bytes(path)).buffer;
    const view = new DataView(buf);
    const headerLen = view.getUint16(8, true);
    const header = new TextDecoder().decode(new Uint8Array(buf, 10, headerLen));
    const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
    const data = header.includes("'<f4'") ? new Float32Array(buf, 10 + headerLen) : new Int32Array(buf, 10 + headerLen);
    return { shape, data };
  };
  const bytesOf = (name) => bytes(`benches/candle/target/gguf/${name}`);
  const heldout = (await npy('tests/fixtures/tiny_lm/heldout.ids.npy')).data;
  const prompt = Uint32Array.from(heldout.slice(0, promptLen));

  // The same work: candle's logits against llama.cpp's on the same files.
  const checks = {};
  for (const t of checked) {
    const ref = await npy(`tests/fixtures/tiny_lm/logits-${t.toLowerCase()}.npy`);
    const [rows, vocab] = ref.shape;
    const c = new candle.CandleLm(await bytesOf(files[t].tg));
    const ours = c.logits_token_by_token(Uint32Array.from(heldout.slice(0, rows)));
    let worst = 0, worstRow = 0, sameTop = 0, exactUntil = rows, exactWorst = 0;
    const argmax = (a) => a.reduce((b, v, i) => (v > a[b] ? i : b), 0);
    for (let r = 0; r < rows; r++) {
      const a = ours.subarray(r * vocab, (r + 1) * vocab), b = ref.data.subarray(r * vocab, (r + 1) * vocab);
      const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const diff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / scale;
      if (diff > worst) [worst, worstRow] = [diff, r];
      if (diff > EXACT && exactUntil === rows) exactUntil = r;
      if (r < exactUntil) exactWorst = Math.max(exactWorst, diff);
      if (argmax(a) === argmax(b)) sameTop++;
    }
    // One call for the prompt against token by token (the last position).
    const n = Math.min(promptLen, rows);
    const batched = c.start(Uint32Array.from(heldout.slice(0, n)));
    const single = ours.subarray((n - 1) * vocab, n * vocab);
    const scale = single.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const batchDiff = batched.reduce((m, v, i) => Math.max(m, Math.abs(v - single[i])), 0) / scale;
    checks[t] = { worst, worstRow, sameTop, rows, batchDiff, exactUntil, exactWorst };
    c.free();
  }

  // Speed: for each type, a quantscope session and a candle model of each file.
  const sides = {};
  for (const t of types) {
    const pp = await bytesOf(files[t].pp), tg = files[t].pp === files[t].tg ? pp : await bytesOf(files[t].tg);
    const qsPP = new qs.LmSession(files[t].pp, pp);
    const qsTG = files[t].pp === files[t].tg ? qsPP : new qs.LmSession(files[t].tg, tg);
    const cPP = new candle.CandleLm(pp);
    const cTG = files[t].pp === files[t].tg ? cPP : new candle.CandleLm(tg);
    sides[t] = { qsPP, qsTG, cPP, cTG, types: qsTG.summary().variants[0].matrix_types };
  }
  const time = (f) => { const start = clock(); const out = f(); return [out, clock() - start]; };
  const quantscope = (t) => {
    const { qsPP, qsTG } = sides[t];
    const [, ppTime] = time(() => qsPP.start_generation(prompt, tokens, undefined, 1, 0));
    if (qsTG !== qsPP) qsTG.start_generation(prompt, tokens, undefined, 1, 0);
    const [step, tgTime] = time(() => qsTG.generate(0, tokens));
    return { pp: promptLen / ppTime, tg: step.generated / tgTime, ids: step.tokens };
  };
  const candleSide = (t) => {
    const { cPP, cTG } = sides[t];
    const [, ppTime] = time(() => cPP.start(prompt));
    if (cTG !== cPP) cTG.start(prompt);
    const [ids, tgTime] = time(() => cTG.generate(tokens));
    return { pp: promptLen / ppTime, tg: ids.length / tgTime, ids: Array.from(ids) };
  };
  const best = { quantscope: {}, candle: {} };
  const agree = {};
  for (let r = -1; r < rounds; r++) { // round -1: the warm-up (memory grown, wasm tiered up)
    for (const t of types) {
      const order = r % 2 === 0 ? [['quantscope', quantscope], ['candle', candleSide]] : [['candle', candleSide], ['quantscope', quantscope]];
      const got = {};
      for (const [name, run] of order) got[name] = run(t);
      let same = 0;
      while (same < tokens && got.quantscope.ids[same] === got.candle.ids[same]) same++;
      agree[t] = { same, q: got.quantscope.ids, c: got.candle.ids };
      if (r < 0) continue;
      for (const name of ['quantscope', 'candle']) {
        const b = (best[name][t] ??= { pp: 0, tg: 0 });
        b.pp = Math.max(b.pp, got[name].pp);
        b.tg = Math.max(b.tg, got[name].tg);
      }
    }
  }
  const matrixTypes = Object.fromEntries(types.map((t) => [t, sides[t].types.join(' ')]));
  // Where the continuations part, how close candle's own logits had the two tokens: a near tie
  // that one rounding tips either way, or a real difference.
  for (const t of types) {
    const { same, q, c } = agree[t];
    agree[t] = { same };
    if (same === tokens) continue;
    const logits = sides[t].cTG.logits_token_by_token(Uint32Array.from([...prompt, ...q.slice(0, same)]));
    const row = logits.subarray(logits.length - logits.length / (prompt.length + same));
    const scale = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    agree[t].gap = (row[c[same]] - row[q[same]]) / scale;
  }
  return { checks, best, agree, matrixTypes };
}

// Both modules run TurboFan's code from the first call (no Liftoff baseline to tier up from):
// on this loaded machine V8's background tier-up of candle's 2 MB module took until the sixth
// round, so a round's figure depended on how far it had got.
const JS_FLAGS = '--no-liftoff';
const args = [TYPES, CHECKED, files, promptLen, tokens, ROUNDS, EXACT];
let result;
if (cpu) {
  setFlagsFromString(JS_FLAGS);
  const load = async (pkg, js, wasm) => {
    const m = await import(join(root, pkg, js));
    await m.default({ module_or_path: readFileSync(join(root, pkg, wasm)) });
    return m;
  };
  const qs = await load('www/pkg-lm', 'quantscope.js', 'quantscope_bg.wasm');
  const candle = await load('benches/candle/pkg', 'candle.js', 'candle_bg.wasm');
  const bytes = async (path) => new Uint8Array(readFileSync(join(root, path)));
  const clock = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  result = await measure({ qs, candle, bytes, clock }, args);
} else {
  const browser = await launch({ jsFlags: JS_FLAGS });
  const page = await browser.page();
  await page.goto(`${browser.url}benches/candle/bench.html`);
  result = await page.evaluate(async ([source, args]) => {
    const measure = (0, eval)(`(${source})`);
    const qs = await import('/www/pkg-lm/quantscope.js');
    await qs.default();
    const candle = await import('/benches/candle/pkg/candle.js');
    await candle.default();
    const bytes = async (path) => new Uint8Array(await (await fetch(`/${path}`)).arrayBuffer());
    return measure({ qs, candle, bytes, clock: () => performance.now() / 1000 }, args);
  }, [measure.toString(), args]);
  await browser.close();
}

let failed = false;
// Greedy continuations: equal, or parted at a near tie (candle's logits of the two tokens within
// the quantized types' tolerance of each other).
const continuation = (t) => {
  const { same, gap } = result.agree[t];
  if (same === tokens) return { ok: true, text: `greedy continuation ${tokens}/${tokens} tokens equal to quantscope's` };
  return {
    ok: gap <= TOLERANCE.Q8_0,
    text: `greedy continuation equal to quantscope's for ${same}/${tokens} tokens, then a near tie (candle's logits of the two tokens ${gap.toExponential(1)} of the largest apart)`,
  };
};
console.log(`candle's logits against llama.cpp's, first ${result.checks.F32.rows} held-out ids, token by token (|diff| / row's max |logit|):`);
for (const t of CHECKED) {
  const c = result.checks[t];
  const ok = c.worst <= TOLERANCE[t] && c.sameTop === c.rows;
  failed ||= !ok;
  const exact = c.exactUntil === c.rows ? 'at every position' : `until position ${c.exactUntil}, then up to ${c.worst.toExponential(1)} (position ${c.worstRow})`;
  console.log(`  ${t.padEnd(7)} within ${c.exactWorst.toExponential(1)} ${exact}; tolerance ${TOLERANCE[t]}; same top token ${c.sameTop}/${c.rows}: ${ok ? 'ok' : 'FAILED'}`);
  console.log(`          prompt in one call against token by token: ${c.batchDiff.toExponential(1)}; ${continuation(t).text}`);
}
for (const t of TYPES.filter((t) => !CHECKED.includes(t))) {
  const { ok, text } = continuation(t);
  failed ||= !ok;
  console.log(`  ${t.padEnd(9)} ${text}: ${ok ? 'ok' : 'FAILED'}`);
}

const native = {};
for (const t of cpu ? [] : TYPES) {
  // -d: the tokens generated after a prompt's worth of KV cache, as on the wasm sides.
  const bench = (file, p, n, d) => JSON.parse(execFileSync(join(bin, 'llama-bench'), ['-m', join(ggufDir, file), '-t', '1', '-p', String(p), '-n', String(n),
    '-d', String(d), '-r', String(ROUNDS), '-o', 'json'], { env: { ...process.env, LD_LIBRARY_PATH: bin } }).toString());
  const ts = (runs, key) => Math.max(...runs.find((x) => x[key] > 0).samples_ts);
  native[t] = { pp: ts(bench(files[t].pp, promptLen, 0, 0), 'n_prompt'), tg: ts(bench(files[t].tg, 0, tokens, promptLen), 'n_gen') };
}

const how = cpu ? 'by CPU time (Node, process.cpuUsage)' : 'wall clock (headless Chromium)';
console.log(`\ntokens/s, one thread, ${how}, best of ${ROUNDS}: prompt of ${promptLen} tokens in one call; ${tokens} tokens generated greedily after it`);
const head = ['type', 'matrix types', '', ...(cpu ? [] : ['llama.cpp (llama-bench)']), 'quantscope (wasm)', 'candle 0.11.1 (wasm)', 'quantscope ÷ candle',
  ...(cpu ? [] : ['quantscope ÷ llama.cpp'])];
console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---|').join('')}`);
for (const t of TYPES) {
  for (const [k, label] of [['pp', `prompt ${promptLen}`], ['tg', `generate ${tokens}`]]) {
    const q = result.best.quantscope[t][k], c = result.best.candle[t][k], n = native[t]?.[k];
    const cells = [t, result.matrixTypes[t], label, ...(cpu ? [] : [n.toFixed(0)]), q.toFixed(0), c.toFixed(0), `${(q / c).toFixed(2)}×`,
      ...(cpu ? [] : [`${(q / n).toFixed(2)}×`])];
    console.log(`| ${cells.join(' | ')} |`);
  }
}
if (failed) {
  console.error('candle does not do the same work as llama.cpp on some type (above): its figures are not comparable');
  process.exit(1);
}
