// The bench page: runs every scheme in a worker for the SIMD128 build, then the scalar build,
// and leaves the figures in `window.benchResults` for scripts/bench.mjs.
const params = new URL(location.href).searchParams;
const elements = Number(params.get('n') ?? 1 << 24);
const reps = Number(params.get('reps') ?? 3);
const status = document.querySelector('#status');
const body = document.querySelector('#results tbody');
window.benchResults = [];
window.benchErrors = [];

function runBuild(pkg) {
  return new Promise((resolve) => {
    const worker = new Worker(`bench-worker.js?pkg=${pkg}`, { type: 'module' });
    worker.onerror = (e) => { window.benchErrors.push(`${pkg}: ${e.message}`); resolve(); };
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') worker.postMessage({ elements, reps });
      else if (data.type === 'error') window.benchErrors.push(`${data.build} ${data.scheme}: ${data.message}`);
      else if (data.type === 'result') {
        const r = { ...data.result, build: data.build };
        window.benchResults.push(r);
        const tr = body.insertRow();
        for (const v of [r.scheme, r.build, r.quantize_mb_s, r.dequantize_mb_s, r.metrics_mb_s]) {
          tr.insertCell().textContent = typeof v === 'number' ? v.toFixed(0) : v;
        }
        status.textContent = `${pkg}: ${r.scheme} done`;
      } else if (data.type === 'done') { worker.terminate(); resolve(); }
    };
  });
}

status.textContent = `${elements.toLocaleString('en-US')} elements, fastest of ${reps}`;
await runBuild('pkg');
await runBuild('pkg-nosimd');
status.textContent = 'done';
document.body.dataset.done = 'true';
