// The ORT comparison page: runs www/bench/bench-ort-worker.js and leaves its figures in
// `window.ortBenchResults` (and errors in `window.ortBenchErrors`) for scripts/bench.mjs.
const status = document.querySelector('#status');
const body = document.querySelector('#results tbody');
const gemmBody = document.querySelector('#gemm tbody');
window.ortBenchResults = [];
window.ortBenchErrors = [];
window.ortBenchGemm = [];

const worker = new Worker(new URL('./bench-ort-worker.js', import.meta.url), { type: 'module' });
await new Promise((resolve) => {
  worker.onerror = (e) => { window.ortBenchErrors.push(`worker: ${e.message}`); resolve(); };
  worker.onmessage = ({ data }) => {
    if (data.type === 'status') status.textContent = data.text;
    else if (data.type === 'error') { window.ortBenchErrors.push(data.message); resolve(); }
    else if (data.type === 'result') {
      const r = data.result;
      window.ortBenchResults.push(r);
      const tr = body.insertRow();
      for (const v of [r.model, r.engine, `${(100 * r.accuracy).toFixed(2)}%`, r.latency_us.toFixed(1), r.throughput.toFixed(0)]) {
        tr.insertCell().textContent = v;
      }
    } else if (data.type === 'gemm') {
      const r = data.result;
      window.ortBenchGemm.push(r);
      const tr = gemmBody.insertRow();
      for (const v of [`${r.op} [${r.shape.join(', ')}]`, r.engine, r.micros.toFixed(0), r.gop_s.toFixed(1)]) {
        tr.insertCell().textContent = v;
      }
    } else if (data.type === 'done') resolve();
  };
});
worker.terminate();
status.textContent = window.ortBenchErrors.length ? `failed: ${window.ortBenchErrors.join('; ')}` : 'done';
document.body.dataset.done = 'true';
