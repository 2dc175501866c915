// Small DOM helpers shared by the Run view's panels ($ is the page-wide one, re-exported).
import { $, showError } from '../shared/dom.js';

export { $ };

// el('td', {class: 'x', title: 'y'}, 'text', child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children);
  return node;
}

export function formatBytes(n) {
  if (n === undefined || n === null) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// A duration in µs as people read it: '164 µs', '66.6 ms', '1.23 s'.
export function formatMicros(us) {
  if (!Number.isFinite(us)) return '—';
  if (us < 1000) return `${us < 10 ? us.toFixed(1) : us.toFixed(0)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

// [['Gemm', 3], ['Relu', 2]] (the engine's op counts) → 'Gemm ×3, Relu ×2'
export function opsText(ops) {
  return ops.map(([op, n]) => (n > 1 ? `${op} ×${n}` : op)).join(', ');
}

export const formatPct = (x, digits = 1) => `${(100 * x).toFixed(digits)}%`;

// Shows `message` in the error box `selector`; clearError empties and hides it.
export const fail = (selector, message) => showError($(selector), message);
export const clearError = (selector) => showError($(selector), null);

// Runs a long worker request with a progress bar and a Cancel button in `row` (which holds a
// <progress>, a text span and a button). Resolves to the value, or null if cancelled.
export async function withProgress(row, start, label) {
  const bar = $('progress', row), text = $('.run-progress-text', row), cancel = $('button', row);
  bar.value = 0;
  text.textContent = `${label}…`;
  row.hidden = false;
  const job = start((done, total) => {
    bar.max = total;
    bar.value = done;
    text.textContent = `${label}: ${done} / ${total}`;
  });
  cancel.onclick = () => job.cancel();
  try {
    return await job.promise;
  } catch (err) {
    if (err.cancelled) return null;
    throw err;
  } finally {
    row.hidden = true;
  }
}

export const progressRow = (id) => `<div class="run-progress-row" id="${id}" hidden>
  <progress max="1" value="0"></progress><span class="run-progress-text" aria-live="polite"></span>
  <button type="button">Cancel</button></div>`;

// A drop zone over a hidden file input: click, Enter or Space opens the picker, a drop or a pick
// gives `onFiles` the files (an array); the input is cleared so the same file can come again.
export function wireDropZone(drop, input, onFiles) {
  drop.onclick = () => input.click();
  drop.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } };
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('dragging'); };
  drop.ondragleave = () => drop.classList.remove('dragging');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    onFiles([...e.dataTransfer.files]);
  };
  input.onchange = () => { onFiles([...input.files]); input.value = ''; };
}
