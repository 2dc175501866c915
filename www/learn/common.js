// What the six Learn panels share: building DOM and SVG, the tensor they show (app.js's
// selection, or a built-in sample added on request), requests to the workbench worker whose
// stale answers are dropped, and the drawing width of their SVG charts.
import { app } from '../app.js';
import { getParam } from '../urlstate.js';
import { latest } from '../shared/latest.js';
import { fmt as formatNumber } from '../shared/format.js';

export { errorText } from '../shared/format.js';

const SVG = 'http://www.w3.org/2000/svg';

// h('p', {class: 'hint', text: '…', onclick: fn}, ...children): an HTML element.
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'html') e.innerHTML = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

// s('rect', {x, y, …}, text): an SVG element.
export function s(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Numbers for reading: 6 significant digits (or `p`), a true minus sign, null as a dash.
export function num(v, p = 6) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (v === 0) return Object.is(v, -0) ? '−0' : '0';
  const a = Math.abs(v);
  const text = a < 1e-4 || a >= 1e7
    ? v.toExponential(p - 1).replace(/\.?0+e/, 'e')
    : String(Number(v.toPrecision(p)));
  return text.replace(/-/g, '−');
}

// shared/format.js's fmt, with NaN shown like a missing value (the Inspect view writes NaN).
export const fmt = (v, options = {}) => formatNumber(v, { nanText: options.nullText ?? '—', ...options });

// An SQNR for reading. The worker sends a non-finite SQNR as null: +∞ for an exact round trip
// (MSE 0), but −∞ when the error itself is infinite (a round trip that overflows, MSE null).
// `show` formats a finite value (fmt by default).
export function sqnrText(db, mse, show = fmt) {
  if (db === null || db === undefined) return mse === 0 ? '∞' : '−∞';
  return show(db);
}

export const pct = (f) => `${num(100 * f, 3)} %`;

export function statList(entries) {
  return h('dl', { class: 'stats' }, ...entries.map(([label, value, key, raw]) =>
    h('div', {}, h('dt', { text: label }), h('dd', { text: value, 'data-stat': key, 'data-value': raw }))));
}

// Panels compute only while the Learn view is shown.
export const learnVisible = () => !document.getElementById('view-learn').hidden;

// A worker request through a latest() guard (shared/latest.js): `request(op, args)` rejects
// with a Superseded error when a newer request of the same guard was sent meanwhile;
// `request.supersede()` drops the answers still on their way (their input changed).
export function latestRequest() {
  const guard = latest();
  const request = (op, args) => guard(app.client.request(op, args));
  request.supersede = guard.supersede;
  return request;
}

// Marks what shows a result as waiting for its own answer (shared style.css: .busy dims it,
// .busy-note is the "computing…" line): from the moment an input changes until the answer for
// it arrives, the old numbers are dimmed and aria-busy, so none of them passes for the new
// input's. `text` null clears the mark. The note sits before the first element.
export function markBusy(elements, text) {
  const els = (Array.isArray(elements) ? elements : [elements]).filter(Boolean);
  const busy = text !== null && text !== undefined;
  for (const el of els) {
    el.classList.toggle('busy', busy);
    el.setAttribute('aria-busy', String(busy));
  }
  const first = els[0];
  if (!first) return;
  let note = first.previousElementSibling?.classList.contains('busy-note') ? first.previousElementSibling : null;
  if (!note && busy) {
    note = h('p', { class: 'busy-note learn-busy', role: 'status' });
    first.before(note);
  }
  if (note) {
    note.hidden = !busy;
    note.textContent = busy ? text : '';
  }
}

// The tensor selected in the Inspect view, or null.
export const selectedTensor = () => app.tensors.find((t) => t.index === app.selected) ?? null;

// The selected tensor's index, else the first loaded tensor's, else null.
export function defaultTensor() {
  if (app.tensors.some((t) => t.index === app.selected)) return app.selected;
  return app.tensors[0]?.index ?? null;
}

// The scheme selected in the Inspect view (or the link's), else int8_sym.
export function currentScheme() {
  return app.scheme ?? getParam('scheme') ?? 'int8_sym';
}

export function fillTensorSelect(select, index) {
  select.replaceChildren(...app.tensors.map((t) =>
    new Option(`${t.name} [${t.shape.join('×')}]`, String(t.index), false, t.index === index)));
}

// Adds a built-in sample unless one is loaded; resolves to its tensor index. The tensor joins
// app.tensors (the list the Inspect view shows) and 'tensors-changed' tells every view.
const samplesAdding = new Map();
export function ensureSample(kind) {
  const found = app.tensors.find((t) => t.name === `sample:${kind}`);
  if (found) return Promise.resolve(found.index);
  if (!samplesAdding.has(kind)) {
    samplesAdding.set(kind, app.client.request('add_sample', [kind, 256, 256, 42]).then((list) => {
      app.tensors.push(...list);
      app.emit('tensors-changed');
      return list[0].index;
    }).finally(() => samplesAdding.delete(kind)));
  }
  return samplesAdding.get(kind);
}

// The drawing width of an SVG: its CSS width, so 11 px text stays 11 px on a phone.
export function svgWidth(svg) {
  return Math.round(Math.max(300, Math.min(760, svg.clientWidth || 720)));
}

// Calls `draw` again when the SVG's width changes noticeably (a rotated phone, a resized window).
export function redrawOnResize(svg, draw) {
  let last = 0;
  new ResizeObserver(() => {
    const w = svgWidth(svg);
    if (Math.abs(w - last) > 16 && svg.childElementCount) { last = w; draw(); }
    else last = w;
  }).observe(svg);
}

// Linear map from [d0, d1] to [r0, r1].
export const scale = (d0, d1, r0, r1) => (x) => r0 + ((x - d0) / (d1 - d0 || 1)) * (r1 - r0);
