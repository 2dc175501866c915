// The real-model bench page: starts the worker (bench-real-worker.js) and draws its results;
// scripts/bench-real-models.mjs reads window.realBenchResults when body[data-done] is set.
// `?only=a,b` (the page's query, passed on) benches only those models; `?base=DIR` times another
// build of the models module beside this one (bench-real-worker.js).
const worker = new Worker(new URL(`bench-real-worker.js${location.search}`, import.meta.url), { type: 'module' });
window.realBenchResults = [];
window.realBenchErrors = [];
worker.onmessage = ({ data }) => {
  if (data.type === 'status') document.querySelector('#status').textContent = data.text;
  if (data.type === 'result') {
    const r = data.result;
    window.realBenchResults.push(r);
    const tr = document.querySelector('#results tbody').insertRow();
    const base = r.base_ms === undefined ? '' : `${r.base_ms.toFixed(2)}${r.base_same_bits ? '' : ' (outputs differ)'}`;
    for (const text of [r.model, r.variant, r.quantscope_ms.toFixed(2), r.ort_ms.toFixed(2), `${(r.ort_ms / r.quantscope_ms).toFixed(2)}×`, base]) tr.insertCell().textContent = text;
  }
  if (data.type === 'error') {
    window.realBenchErrors.push(data.message);
    document.querySelector('#errors').textContent += `${data.message}\n`;
  }
  if (data.type === 'done') {
    document.querySelector('#status').textContent = 'done';
    document.body.dataset.done = 'true';
  }
};
worker.onerror = (e) => {
  window.realBenchErrors.push(String(e.message));
  document.body.dataset.done = 'true';
};
