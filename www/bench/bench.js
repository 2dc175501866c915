// The bench page: runs every scheme in a worker for the SIMD128 build, then the scalar build,
// and leaves the figures in `window.benchResults` for scripts/bench.mjs; then the GEMM cases
// (`bench_gemm`, src/gemm/src/bench.rs) into `window.benchGemm`.
// ?only=gemm or ?only=schemes runs one part; ?gemm_ms= (least ms per timed batch, default 20)
// and ?gemm_reps= (batches, the fastest counts; default 10) tune the GEMM timing.
const params = new URL(location.href).searchParams;
const elements = Number(params.get('n') ?? 1 << 24);
const reps = Number(params.get('reps') ?? 3);
const only = params.get('only') ?? '';
const gemmMs = Number(params.get('gemm_ms') ?? 20);
const gemmReps = Number(params.get('gemm_reps') ?? 10);
const status = document.querySelector('#status');
const body = document.querySelector('#results tbody');
window.benchResults = [];
window.benchGemm = [];
window.benchErrors = [];

// The GEMM table, added under the scheme table.
const gemmBody = (() => {
  const section = document.createElement('section');
  section.innerHTML = '<h2>GEMM</h2><p>Microseconds per call and GOP/s (2·m·n·k ops), fastest batch.</p>'
    + '<div class="table-wrap"><table id="gemm"><thead><tr><th>case</th><th>build</th><th>µs</th><th>GOP/s</th></tr></thead><tbody></tbody></table></div>';
  document.querySelector('main').append(section);
  return section.querySelector('tbody');
})();

function runBuild(pkg) {
  return new Promise((resolve) => {
    const worker = new Worker(new URL(`./bench-worker.js?pkg=${pkg}`, import.meta.url), { type: 'module' });
    worker.onerror = (e) => { window.benchErrors.push(`${pkg}: ${e.message}`); resolve(); };
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') worker.postMessage({ elements, reps, only, gemmMs, gemmReps });
      else if (data.type === 'error') window.benchErrors.push(`${data.build} ${data.scheme}: ${data.message}`);
      else if (data.type === 'result') {
        const r = { ...data.result, build: data.build };
        window.benchResults.push(r);
        const tr = body.insertRow();
        for (const v of [r.scheme, r.build, r.quantize_mb_s, r.dequantize_mb_s, r.metrics_mb_s]) {
          tr.insertCell().textContent = typeof v === 'number' ? v.toFixed(0) : v;
        }
        status.textContent = `${pkg}: ${r.scheme} done`;
      } else if (data.type === 'gemm') {
        for (const r of data.results) {
          window.benchGemm.push({ ...r, build: data.build });
          const tr = gemmBody.insertRow();
          for (const v of [r.case, data.build, r.micros.toFixed(1), r.gop_s.toFixed(2)]) tr.insertCell().textContent = v;
        }
        status.textContent = `${pkg}: GEMM done`;
      } else if (data.type === 'done') { worker.terminate(); resolve(); }
    };
  });
}

status.textContent = `${elements.toLocaleString('en-US')} elements, fastest of ${reps}`;
await runBuild('pkg-bench');
await runBuild('pkg-nosimd');
status.textContent = 'done';
document.body.dataset.done = 'true';
