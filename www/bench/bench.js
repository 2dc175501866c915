// The bench page: runs every scheme in a worker for the SIMD128 build, then the scalar build,
// and leaves the figures in `window.benchResults` for scripts/bench.mjs; then the GEMM cases
// (`bench_gemm`, src/gemm/src/bench.rs) into `window.benchGemm`.
// Packing alone (`bench_pack`) goes into `window.benchPack`, drawn beside llama.cpp's own
// `ggml_quantize_chunk` timed natively when ?native= names the JSON scripts/bench.mjs wrote
// (the native bench's hashes and figures and scripts/bench-llama.py's).
// ?only=gemm, ?only=schemes (schemes and packing), ?only=times (the schemes' times alone) or ?only=pack runs one part; ?gemm_ms= (least ms per timed batch, default 20)
// and ?gemm_reps= (batches, the fastest counts; default 10) tune the GEMM timing.
const params = new URL(location.href).searchParams;
const elements = Number(params.get('n') ?? 1 << 24);
const reps = Number(params.get('reps') ?? 3);
const only = params.get('only') ?? '';
const gemmMs = Number(params.get('gemm_ms') ?? 20);
const gemmReps = Number(params.get('gemm_reps') ?? 10);
// ?schemes=q8_0,q4_0 times only those base schemes (default: every one).
const schemes = params.get('schemes')?.split(',') ?? null;
// ?base=pkg-bench-main: another bench build under www/ (e.g. main's, built into its own folder)
// timed in this same run, its rows carrying build `base`: with ?only=times and ?schemes=, scheme
// by scheme in turn with this build; otherwise before it.
const base = params.get('base');
const status = document.querySelector('#status');
const body = document.querySelector('#results tbody');
window.benchResults = [];
window.benchGemm = [];
window.benchErrors = [];
window.benchPack = [];
window.benchPackInput = {};
window.benchMemory = {};
const nativeUrl = params.get('native');
const native = nativeUrl ? await fetch(nativeUrl).then((r) => r.json()).catch((e) => ({ error: String(e) })) : null;

// The GEMM table, added under the scheme table.
const gemmBody = (() => {
  const section = document.createElement('section');
  section.innerHTML = '<h2>GEMM</h2><p>Microseconds per call and GOP/s (2·m·n·k ops), fastest batch.</p>'
    + '<div class="table-wrap"><table id="gemm"><thead><tr><th>case</th><th>build</th><th>µs</th><th>GOP/s</th></tr></thead><tbody></tbody></table></div>';
  document.querySelector('main').append(section);
  return section.querySelector('tbody');
})();

// The packing table: each build's time beside quantscope native and llama.cpp native, and
// whether every side packed the same input to the same bytes.
function drawPack() {
  if (!window.benchPack.length) return;
  const section = document.createElement('section');
  section.innerHTML = '<h2>Packing beside llama.cpp</h2><p id="pack-note"></p>'
    + '<div class="table-wrap"><table id="pack"><thead><tr><th>type</th><th>imatrix</th><th>SIMD128 ms</th><th>scalar ms</th>'
    + '<th>quantscope native ms</th><th>llama.cpp native ms</th><th>SIMD128 / llama.cpp</th><th>same bytes</th></tr></thead><tbody></tbody></table></div>';
  document.querySelector('main').append(section);
  const by = (build) => Object.fromEntries(window.benchPack.filter((r) => r.build === build).map((r) => [r.scheme, r]));
  const simd = by('simd128'), scalar = by('scalar');
  const ours = Object.fromEntries((native?.results ?? []).map((r) => [r.scheme, r]));
  const llama = Object.fromEntries((native?.llama ?? []).map((r) => [r.scheme, r]));
  const ms = (r) => (r ? (r.seconds * 1e3).toFixed(1) : '-');
  const tbody = section.querySelector('tbody');
  for (const [id, s] of Object.entries(simd)) {
    const l = llama[id];
    const crcs = [s, scalar[id], ours[id], l].filter(Boolean).map((r) => r.crc32);
    const cells = [id, s.importance ? 'yes' : '', ms(s), ms(scalar[id]), ms(ours[id]), ms(l),
      l ? `${(s.seconds / l.seconds).toFixed(2)}×` : '-', crcs.length > 1 && crcs.every((c) => c === crcs[0]) ? 'yes' : 'no'];
    const tr = tbody.insertRow();
    for (const v of cells) tr.insertCell().textContent = v;
  }
  const inputs = [window.benchPackInput.simd128, window.benchPackInput.scalar, native].filter(Boolean);
  const same = inputs.every((h) => h.values_fnv1a64 === inputs[0].values_fnv1a64 && h.importance_fnv1a64 === inputs[0].importance_fnv1a64);
  section.querySelector('#pack-note').textContent = `${elements.toLocaleString('en-US')} normal values in rows of 4096, fastest of ${reps}; `
    + `packing only (ggml_quantize_chunk's work). Input ${same ? 'identical on every side' : 'DIFFERS between sides'} `
    + `(FNV-1a ${inputs[0]?.values_fnv1a64}). ${native?.llama_missing ?? native?.error ?? (native ? '' : 'No native figures: run npm run bench.')}`;
  window.benchPackSameInput = same;
}

// `memory` ('kept' or 'fused'): only the compare's memory high-water mark, in this fresh worker.
function runBuild(pkg, memory, label, ids = schemes) {
  return new Promise((resolve) => {
    const worker = new Worker(new URL(`./bench-worker.js?pkg=${pkg}`, import.meta.url), { type: 'module' });
    worker.onerror = (e) => { window.benchErrors.push(`${pkg}: ${e.message}`); resolve(); };
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') worker.postMessage({ elements, reps, only, gemmMs, gemmReps, schemes: ids, memory });
      else if (data.type === 'memory') window.benchMemory[data.path] = data.result;
      else if (data.type === 'error') window.benchErrors.push(`${data.build} ${data.scheme}: ${data.message}`);
      else if (data.type === 'result') {
        const r = { ...data.result, build: label ?? data.build };
        window.benchResults.push(r);
        const tr = body.insertRow();
        for (const v of [r.scheme, r.build, r.quantize_mb_s, r.dequantize_mb_s, r.metrics_mb_s, r.compare_kept_mb_s ?? '-', r.compare_fused_mb_s ?? '-']) {
          tr.insertCell().textContent = typeof v === 'number' ? v.toFixed(0) : v;
        }
        status.textContent = `${pkg}: ${r.scheme} done`;
      } else if (data.type === 'pack-input') {
        window.benchPackInput[label ?? data.build] = data.hashes;
      } else if (data.type === 'pack') {
        window.benchPack.push({ ...data.result, build: label ?? data.build });
        status.textContent = `${pkg}: packing ${data.result.scheme} done`;
      } else if (data.type === 'gemm') {
        for (const r of data.results) {
          window.benchGemm.push({ ...r, build: label ?? data.build });
          const tr = gemmBody.insertRow();
          for (const v of [r.case, data.build, r.micros.toFixed(1), r.gop_s.toFixed(2)]) tr.insertCell().textContent = v;
        }
        status.textContent = `${pkg}: GEMM done`;
      } else if (data.type === 'done') { worker.terminate(); resolve(); }
    };
  });
}

status.textContent = `${elements.toLocaleString('en-US')} elements, fastest of ${reps}`;
if (base && schemes && only === 'times') {
  // Scheme by scheme, the base build then this one, each in a fresh worker: both see the
  // machine within seconds of each other, not a whole pass apart.
  for (const id of schemes) {
    await runBuild(base, undefined, 'base', [id]);
    await runBuild('pkg-bench', undefined, undefined, [id]);
  }
} else {
  if (base) await runBuild(base, undefined, 'base');
  await runBuild('pkg-bench');
}
await runBuild('pkg-nosimd');
drawPack();
// The compare's peak wasm memory over the timed schemes, each path in a fresh instance.
if (!only || only === 'schemes') {
  for (const path of ['kept', 'fused']) await runBuild('pkg-bench', path);
  const m = window.benchMemory, mb = (b) => (b / 1e6).toFixed(0);
  const p = document.createElement('p');
  p.id = 'compare-memory';
  p.textContent = m.kept && m.fused ? `Compare, peak wasm memory (SIMD128 build, the sample is ${mb(m.kept.sample)} MB of it): `
    + `kept copy ${mb(m.kept.after)} MB, fused ${mb(m.fused.after)} MB.` : 'Compare memory: not measured (see the errors).';
  document.querySelector('#results').closest('section, main').append(p);
}
status.textContent = 'done';
document.body.dataset.done = 'true';
