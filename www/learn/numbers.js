// Panels 1–3 of the Learn view: how numbers are stored (#learn-formats), scale and zero point
// (#learn-mapping), clipping and calibration (#learn-clipping). Every number comes from the Rust
// core through the worker (www/learn/ops-numbers.js → src/teach/*.rs); this module lays the
// panels out, draws their SVG charts and keeps them in step with the selected tensor.
import { app } from '../app.js';

const SVG = 'http://www.w3.org/2000/svg';

// ------------------------------------------------------------------------------ small helpers

function h(tag, attrs = {}, ...children) {
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

function s(tag, attrs = {}, text) {
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

const pct = (f) => `${num(100 * f, 3)} %`;

function statList(entries) {
  return h('dl', { class: 'stats' }, ...entries.map(([label, value, key, raw]) =>
    h('div', {}, h('dt', { text: label }), h('dd', { text: value, 'data-stat': key, 'data-value': raw }))));
}

const visible = () => document.body.dataset.view === 'learn';

// A request whose answer is dropped when a newer one of the same kind was sent meanwhile.
function latest() {
  let n = 0;
  return async (op, args, options) => {
    const mine = ++n;
    const value = await app.client.request(op, args, options);
    if (mine !== n) throw Object.assign(new Error('stale'), { stale: true });
    return value;
  };
}

function showError(box, err) {
  if (err?.stale || err?.cancelled || /superseded/.test(err?.message ?? '')) return;
  box.textContent = err ? err.message : '';
  box.hidden = !err;
}

function defaultTensor() {
  if (app.tensors.some((t) => t.index === app.selected)) return app.selected;
  return app.tensors[0]?.index ?? null;
}

function fillTensorSelect(select, index) {
  select.replaceChildren(...app.tensors.map((t) =>
    new Option(`${t.name} [${t.shape.join('×')}]`, String(t.index), false, t.index === index)));
}

// Adds a built-in sample unless one is loaded; resolves to its tensor index. The tensor joins
// app.tensors (the list the Inspect view shows) and 'tensors-changed' tells every view.
const samplesAdding = new Map();
function ensureSample(kind) {
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
function svgWidth(svg) {
  return Math.round(Math.max(300, Math.min(760, svg.clientWidth || 720)));
}

// Calls `draw` again when the SVG's width changes noticeably (a rotated phone, a resized window).
function redrawOnResize(svg, draw) {
  let last = 0;
  new ResizeObserver(() => {
    const w = svgWidth(svg);
    if (Math.abs(w - last) > 16 && svg.childElementCount) { last = w; draw(); }
    else last = w;
  }).observe(svg);
}

// Rust's formula text with its powers as superscripts: 2^(11 − 15) → 2<sup>11 − 15</sup>.
function formulaHtml(text) {
  const escaped = text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c]));
  return escaped.replace(/\^\(([^)]*)\)/g, '<sup>$1</sup>').replace(/\^(\d+)/g, '<sup>$1</sup>');
}

// Linear map from [d0, d1] to [r0, r1].
const scale = (d0, d1, r0, r1) => (x) => r0 + ((x - d0) / (d1 - d0 || 1)) * (r1 - r0);

// ----------------------------------------------------------- panel 1: how numbers are stored

function mountFormats(section) {
  const input = h('input', { id: 'learn-number', type: 'text', inputmode: 'decimal', value: '0.1', autocomplete: 'off', spellcheck: 'false' });
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const pickSvg = s('svg', { class: 'pick-hist', role: 'group', 'aria-label': 'Histogram of the tensor: each bar picks a value' });
  const pickCaption = h('figcaption', { class: 'hint' });
  const rows = h('div', { class: 'fmt-rows', id: 'learn-format-rows' });
  const floatTable = h('div', { class: 'table-wrap' });
  const intTable = h('div', { class: 'table-wrap' });
  section.replaceChildren(
    h('h2', { id: 'learn-formats-title', text: 'How numbers are stored' }),
    h('p', { class: 'learn-lede', text: 'A float is three fields: a sign, an exponent that picks a power of two, and a mantissa that ' +
      'picks a point between that power and the next. Fewer exponent bits shrink the range; fewer mantissa bits widen the gap ' +
      'between neighbouring values, so more is lost in rounding. Type a number, or pick one from the tensor below, to see how ' +
      'each format stores it; press a bit to flip it.' }),
    h('p', { class: 'learn-formula', html: 'value = (−1)<sup>s</sup> × 2<sup>e − bias</sup> × (1 + m / 2<sup>M</sup>); ' +
      'subnormal (e = 0): (−1)<sup>s</sup> × 2<sup>1 − bias</sup> × m / 2<sup>M</sup> — s, e, m are the fields read as ' +
      'unsigned integers, M the number of mantissa bits.' }),
    h('div', { class: 'learn-controls' }, h('label', { for: 'learn-number', text: 'Number' }), input, error),
    h('figure', { class: 'learn-pick' }, pickSvg, pickCaption),
    rows,
    h('h3', { text: 'Range of each format' }),
    h('p', { class: 'hint', text: 'The largest finite value, the smallest normal (full precision) and smallest subnormal ' +
      '(the last step before 0), as decoded by the same code as the fp16/bf16/fp8/fp4 schemes.' }),
    floatTable,
    h('h3', { text: 'Integers' }),
    h('p', { class: 'hint', html: 'An n-bit integer has 2<sup>n</sup> codes: unsigned 0 … 2<sup>n</sup> − 1, signed (two’s ' +
      'complement) −2<sup>n−1</sup> … 2<sup>n−1</sup> − 1. quantscope’s symmetric schemes use the <em>restricted</em> range ' +
      '±(2<sup>n−1</sup> − 1), one code fewer, so that +max and −max map to codes of equal size and 0 sits exactly in the ' +
      'middle (ONNX Runtime does the same for INT8); its asymmetric schemes use the unsigned codes and a zero point.' }),
    intTable,
  );

  const state = { report: null, edited: new Map(), index: null, histogram: null, dirty: true };
  const request = latest();
  const pickRequest = latest();

  async function explain() {
    try {
      const report = await request('learn_number', [input.value]);
      state.report = report;
      state.edited.clear();
      showError(error, null);
      input.removeAttribute('aria-invalid');
      renderRows();
    } catch (err) {
      if (!err.stale) input.setAttribute('aria-invalid', 'true');
      showError(error, err);
    }
  }

  function renderRows() {
    rows.replaceChildren(...state.report.formats.map((base) => formatRow(state.edited.get(base.format) ?? base, base)));
    section.dataset.ready = 'true';
  }

  async function toggle(stored, bit) {
    try {
      const typed = state.report.typed;
      const next = await app.client.request('learn_decode_bits', [stored.format, (stored.code ^ (2 ** bit)) >>> 0, typed]);
      state.edited.set(stored.format, next);
      const focusedBit = bit;
      renderRows();
      rows.querySelector(`[data-format="${stored.format}"] [data-bit="${focusedBit}"]`)?.focus();
    } catch (err) {
      showError(error, err);
    }
  }

  function formatRow(st, base) {
    const edited = st.code !== base.code;
    const fields = [['sign', st.sign], ['exponent', st.exponent], ['mantissa', st.mantissa]];
    const total = st.sign.length + st.exponent.length + st.mantissa.length;
    let bit = total;
    const bits = h('div', { class: 'bits', role: 'group', 'aria-label': `${st.name} bits: press one to flip it` },
      ...fields.map(([field, text]) => h('span', { class: `field ${field}` }, ...[...text].map((b) => {
        bit -= 1;
        const which = bit;
        return h('button', {
          type: 'button', class: `bit ${field}`, 'data-bit': which, 'aria-pressed': String(b === '1'),
          'aria-label': `${st.name} bit ${which} (${field}) is ${b}`, title: `bit ${which}, ${field}`,
          onclick: () => toggle(st, which),
        }, b);
      }))));
    const errLabel = edited ? 'differs from the typed number by' : 'rounding error';
    const error = st.abs_error === null ? '—'
      : `${num(st.abs_error, 4)}${st.rel_error === null ? '' : ` (${num(100 * st.rel_error, 3)} %)`}`;
    const near = st.gap === null ? '—' : `${num(st.below, 9)} … ${num(st.above, 9)}`;
    const layout = `${st.exponent.length} exponent + ${st.mantissa.length} mantissa bits`;
    return h('article', { class: `fmt-row${edited ? ' edited' : ''}${st.format === 'fp32' ? ' wide' : ''}`, 'data-format': st.format, 'data-bits': `${st.sign} ${st.exponent} ${st.mantissa}` },
      h('div', { class: 'fmt-head' },
        h('h3', { text: st.name }),
        h('span', { class: 'hint', text: `1 sign + ${layout}` }),
        edited ? h('button', { type: 'button', class: 'fmt-reset', onclick: () => { state.edited.delete(st.format); renderRows(); rows.querySelector(`[data-format="${st.format}"] .bit`)?.focus(); } }, 'back to the typed number') : null),
      bits,
      h('dl', { class: 'fmt-values' },
        h('div', { class: 'wide' }, h('dt', { text: edited ? 'value of these bits' : 'stored value (exact)' }), h('dd', { class: 'exact', 'data-stat': 'exact', text: st.exact })),
        h('div', { class: 'wide' }, h('dt', { text: 'from the fields' }), h('dd', { class: 'formula',
          html: formulaHtml(st.kind === 'normal' || st.kind === 'subnormal' ? `${st.formula} = ${st.exact}` : st.formula) })),
        h('div', {}, h('dt', { text: errLabel }), h('dd', { 'data-stat': 'error', text: error })),
        h('div', {}, h('dt', { text: 'neighbours' }), h('dd', { 'data-stat': 'neighbours', text: near })),
        h('div', {}, h('dt', { text: 'gap (ulp) here' }), h('dd', { 'data-stat': 'gap', text: num(st.gap, 4) }))),
      st.note ? h('p', { class: 'fmt-note', text: st.note }) : null);
  }

  function renderFacts(facts) {
    floatTable.replaceChildren(h('table', { class: 'learn-table' },
      h('thead', {}, h('tr', {}, ...['format', 'bits s·e·m', 'bias', 'max', 'smallest normal', 'smallest subnormal', '≈ decimal digits', 'special codes; beyond max']
        .map((c, i) => h('th', { scope: 'col', text: c, class: i === 7 ? 'text' : null })))),
      h('tbody', {}, ...facts.floats.map((f) => h('tr', { 'data-format': f.format },
        ...[f.name, `1·${f.exponent_bits}·${f.mantissa_bits}`, f.bias, num(f.max, 5), num(f.min_normal, 5), num(f.min_subnormal, 5),
          num(f.decimal_digits, 2), `${f.specials}; beyond max: ${f.overflow}`].map((c, i) => h('td', { text: String(c), class: i === 7 ? 'text' : null })))))));
    intTable.replaceChildren(h('table', { class: 'learn-table' },
      h('thead', {}, h('tr', {}, ...['type', 'unsigned', 'signed', 'distinct values', 'quantscope symmetric', 'quantscope asymmetric']
        .map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, ...facts.ints.map((f) => h('tr', { 'data-bits': f.bits },
        ...[`INT${f.bits}`, `${f.unsigned[0]} … ${f.unsigned[1]}`, `${num(f.signed[0])} … ${f.signed[1]}`, String(f.distinct),
          `${num(f.symmetric[0])} … ${f.symmetric[1]} (${f.symmetric_distinct} values)`, `${f.asymmetric[0]} … ${f.asymmetric[1]} + zero point`]
          .map((c) => h('td', { text: c })))))));
  }

  // The tensor's histogram, one focusable bar per bin; a bar puts one of its values in the box.
  async function drawPicks() {
    const index = defaultTensor();
    state.index = index;
    if (index === null) { pickSvg.replaceChildren(); pickCaption.textContent = ''; return; }
    try {
      state.histogram = await pickRequest('learn_pick_histogram', [index, 48]);
      drawPickBars();
      const t = app.tensors.find((x) => x.index === index);
      pickCaption.textContent = `Values of ${t?.name ?? 'the tensor'} (bar height on a log scale): press a bar to take a value from it.`;
    } catch (err) {
      showError(error, err);
    }
  }

  function drawPickBars() {
    const hist = state.histogram;
    const W = svgWidth(pickSvg), H = 92, top = 6, base = 70;
    pickSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const x = scale(0, hist.counts.length, 8, W - 8);
    const most = Math.max(1, ...hist.counts);
    const height = (c) => (c ? 3 + (Math.log1p(c) / Math.log1p(most)) * (base - top - 3) : 0);
    const bars = hist.counts.map((c, i) => {
      const pick = hist.picks[i];
      const bar = s('rect', { class: pick === null ? 'bar empty' : 'bar', x: x(i) + 0.5, width: Math.max(1, x(i + 1) - x(i) - 1),
        y: base - height(c), height: height(c) || 1 });
      if (pick !== null) {
        bar.setAttribute('tabindex', '0');
        bar.setAttribute('role', 'button');
        bar.setAttribute('aria-label', `${c} values near ${num(pick, 4)}: use ${num(pick)}`);
        const use = () => { input.value = String(pick); explain(); };
        bar.addEventListener('click', use);
        bar.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); use(); } });
        bar.append(s('title', {}, `${c} values; click for ${num(pick)}`));
      }
      return bar;
    });
    pickSvg.replaceChildren(...bars,
      s('line', { class: 'axis', x1: 8, x2: W - 8, y1: base + 0.5, y2: base + 0.5 }),
      s('text', { class: 'tick', x: 8, y: H - 6 }, num(hist.lo, 3)),
      s('text', { class: 'tick', x: W - 8, y: H - 6, 'text-anchor': 'end' }, num(hist.hi, 3)));
  }
  redrawOnResize(pickSvg, () => state.histogram && drawPickBars());

  let timer = null;
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(explain, 150); });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { clearTimeout(timer); explain(); } });

  return {
    async refresh() {
      if (!state.dirty) return;
      state.dirty = false;
      await Promise.all([
        app.client.request('learn_format_facts', []).then(renderFacts),
        explain(),
        drawPicks(),
      ]).catch((err) => showError(error, err));
    },
    invalidate() { state.dirty = true; },
    tensorChanged() { if (visible()) drawPicks(); else state.dirty = true; },
  };
}

// ----------------------------------------------------------------- panel 2: scale and zero point

function mountMapping(section) {
  const tensor = h('select', { 'aria-label': 'Tensor', 'data-role': 'tensor' });
  const bits = h('select', { 'aria-label': 'Bits', 'data-role': 'bits' }, new Option('INT8', '8'), new Option('INT4', '4'), new Option('INT2', '2'));
  const value = h('input', { type: 'text', inputmode: 'decimal', placeholder: 'e.g. 0.05', 'aria-label': 'Your value to trace', 'data-role': 'value', autocomplete: 'off' });
  const relu = h('button', { type: 'button', 'data-role': 'relu' }, 'Try a skewed tensor (relu)');
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const line = s('svg', { class: 'numberline', role: 'img' });
  const cols = h('div', { class: 'map-cols' });
  const verdict = h('p', { class: 'verdict', 'data-role': 'verdict' });
  section.replaceChildren(
    h('h2', { id: 'learn-mapping-title', text: 'Scale and zero point' }),
    h('p', { class: 'learn-lede', text: 'An integer scheme stores each value as a small integer code q plus one shared scale: the ' +
      'float step between neighbouring codes. Symmetric keeps 0.0 at code 0 and covers ±max|x|; asymmetric adds a zero point ' +
      '(the code that means 0.0) so its codes cover exactly [min, max]. Below, both map the tensor with ONNX Runtime’s rules — ' +
      'the same numbers as the Inspect view — and a few values make the round trip.' }),
    h('p', { class: 'learn-formula', html: 'symmetric: scale = 2·max|x| / (q<sub>max</sub> − q<sub>min</sub>), zero point 0 · ' +
      'asymmetric: scale = (max − min) / (2<sup>b</sup> − 1), zero point = round(−min / scale) · both: ' +
      'q = clamp(round(x / scale) + zero point, q<sub>min</sub>, q<sub>max</sub>), x̂ = (q − zero point) × scale ' +
      '(min and max widened to include 0; round half to even)' }),
    h('div', { class: 'learn-controls' },
      h('label', {}, 'Tensor ', tensor), h('label', {}, 'Bits ', bits), h('label', {}, 'Your value ', value), relu),
    error, line, verdict, cols);

  const state = { index: null, dirty: true, report: null };
  const request = latest();

  async function refresh() {
    state.dirty = false;
    if (state.index === null || !app.tensors.some((t) => t.index === state.index)) state.index = defaultTensor();
    fillTensorSelect(tensor, state.index);
    if (state.index === null) return;
    const own = value.value.trim() === '' ? null : Number(value.value.replace('−', '-'));
    if (own !== null && !Number.isFinite(own)) {
      value.setAttribute('aria-invalid', 'true');
      showError(error, new Error(`'${value.value}' is not a number`));
      return;
    }
    value.removeAttribute('aria-invalid');
    try {
      const r = await request('learn_mapping', [state.index, Number(bits.value), own]);
      state.report = r;
      showError(error, null);
      render(r);
    } catch (err) {
      showError(error, err);
    }
  }

  function render(r) {
    drawNumberLine(line, r);
    line.setAttribute('aria-label', `Number line: the tensor's values from ${num(r.min, 3)} to ${num(r.max, 3)}, ` +
      `with the symmetric grid over ${num(r.symmetric.range[0], 3)} … ${num(r.symmetric.range[1], 3)} and the asymmetric grid over ` +
      `${num(r.asymmetric.range[0], 3)} … ${num(r.asymmetric.range[1], 3)}`);
    verdict.textContent = r.verdict;
    cols.replaceChildren(mappingColumn(r.symmetric, 'sym', 'Symmetric'), mappingColumn(r.asymmetric, 'asym', 'Asymmetric'));
    section.dataset.ready = 'true';
  }

  function mappingColumn(m, key, title) {
    const zpText = m.symmetric ? '0 (none stored)' : String(m.zero_point);
    return h('article', { class: `map-col ${key}`, 'data-mapping': key },
      h('h3', {}, `${title} · `, h('code', { text: m.scheme })),
      statList([
        ['scale', num(m.scale), 'scale', m.scale],
        ['zero point', zpText, 'zero_point', m.zero_point],
        ['codes', `${num(m.qmin)} … ${m.qmax}`, 'codes'],
        ['float range covered', `${num(m.range[0], 4)} … ${num(m.range[1], 4)}`, 'range'],
        ['codes used', `${m.levels_used} of ${m.levels_total}`, 'levels', m.levels_used],
        ['MSE', num(m.mse, 4), 'mse', m.mse],
        ['SQNR', m.sqnr_db === null ? '∞' : `${num(m.sqnr_db, 4)} dB`, 'sqnr', m.sqnr_db],
      ]),
      h('h4', { text: 'Round trips' }),
      h('ol', { class: 'traces' }, ...m.traces.map((t) => traceItem(t, m))));
  }

  function traceItem(t, m) {
    const zp = m.zero_point;
    const label = { min: 'min', max: 'max', zero: '0.0', typical: 'typical (median non-zero |x|)', yours: 'yours' }[t.label];
    const steps = [
      `${num(t.x)} / ${num(m.scale, 4)} = ${num(t.divided, 5)}`,
      `round → ${num(t.rounded)}`,
      m.symmetric ? null : `+ ${zp} → ${num(t.shifted)}`,
      t.clamped ? `clamp to [${num(m.qmin)}, ${m.qmax}] → ${num(t.code)}` : null,
      `q = ${num(t.code)}`,
      `x̂ = (${num(t.code)} − ${zp}) × ${num(m.scale, 4)} = ${num(t.dequantized)}`,
      `error ${num(t.error, 3)}`,
    ].filter(Boolean);
    return h('li', { 'data-trace': t.label, class: t.clamped ? 'clamped' : null },
      h('span', { class: 'trace-label', text: label }), h('span', { class: 'trace-steps', text: steps.join('  ·  ') }));
  }

  redrawOnResize(line, () => state.report && drawNumberLine(line, state.report));
  tensor.addEventListener('change', () => { state.index = Number(tensor.value); refresh(); });
  bits.addEventListener('change', refresh);
  let timer = null;
  value.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  relu.addEventListener('click', async () => {
    try {
      relu.disabled = true;
      state.index = await ensureSample('relu');
      await refresh();
    } catch (err) {
      showError(error, err);
    } finally {
      relu.disabled = false;
    }
  });

  return {
    refresh: () => (state.dirty ? refresh() : Promise.resolve()),
    invalidate() { state.dirty = true; },
    select(index) { state.index = index; state.dirty = true; },
    tensorsChanged() { fillTensorSelect(tensor, state.index ?? defaultTensor()); },
  };
}

// Both integer grids on one number line over the symmetric range, with the values' histogram.
function drawNumberLine(svg, r) {
  const W = svgWidth(svg), H = 232, L = 12, R = 12;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const [lo, hi] = r.axis;
  const x = scale(lo, hi, L, W - R);
  const hist = r.histogram;
  const most = Math.max(1, ...hist.counts);
  const bw = (hist.hi - hist.lo) / hist.counts.length;
  const parts = [s('text', { class: 'row-label', x: L, y: 12 }, 'values (bar height: √count)')];
  hist.counts.forEach((c, i) => {
    if (!c) return;
    const ht = 4 + Math.sqrt(c / most) * 44;
    parts.push(s('rect', { class: 'bar', x: x(hist.lo + i * bw), y: 66 - ht, width: Math.max(1, x(hist.lo + (i + 1) * bw) - x(hist.lo + i * bw) - 0.5), height: ht }));
  });
  parts.push(s('line', { class: 'axis', x1: L, x2: W - R, y1: 66.5, y2: 66.5 }));
  const rows = [[r.symmetric, 'symmetric', 112], [r.asymmetric, 'asymmetric', 176]];
  for (const [m, name, y] of rows) {
    parts.push(s('text', { class: 'row-label', x: L, y: y - 14 }, `${name}: ${m.grid.length} codes, step ${num(m.scale, 3)}`));
    parts.push(s('line', { class: `grid-base ${name}`, x1: x(m.grid[0]), x2: x(m.grid[m.grid.length - 1]), y1: y, y2: y }));
    const dense = m.grid.length > 40;
    for (const g of m.grid) parts.push(s('line', { class: `grid-tick ${name}${dense ? ' dense' : ''}`, x1: x(g), x2: x(g), y1: y - 7, y2: y + 7 }));
    const zpAt = m.grid[m.zero_point - m.qmin];
    parts.push(s('text', { class: 'code', x: x(m.grid[0]), y: y + 22, 'text-anchor': 'start' }, `q=${num(m.qmin)}`));
    parts.push(s('text', { class: 'code', x: x(m.grid[m.grid.length - 1]), y: y + 22, 'text-anchor': 'end' }, `q=${m.qmax}`));
    if (m.zero_point !== m.qmin && m.zero_point !== m.qmax) {
      parts.push(s('text', { class: 'code zero', x: x(zpAt), y: y + 22, 'text-anchor': 'middle' }, `q=${m.zero_point}`));
    }
    const yours = m.traces.find((t) => t.label === 'yours');
    if (yours) {
      parts.push(s('circle', { class: 'yours', cx: x(Math.min(hi, Math.max(lo, yours.x))), cy: y, r: 4 }));
      parts.push(s('circle', { class: 'yours-q', cx: x(yours.dequantized), cy: y, r: 2.5 }));
    }
  }
  parts.push(s('line', { class: 'zero-line', x1: x(0), x2: x(0), y1: 18, y2: 192 }));
  parts.push(s('text', { class: 'tick', x: L, y: H - 8 }, num(lo, 3)));
  parts.push(s('text', { class: 'tick', x: x(0), y: H - 8, 'text-anchor': 'middle' }, '0.0'));
  parts.push(s('text', { class: 'tick', x: W - R, y: H - 8, 'text-anchor': 'end' }, num(hi, 3)));
  svg.replaceChildren(...parts);
}

// --------------------------------------------------------------- panel 3: clipping and calibration

const STEPS = 1000;   // slider positions: c = max|x| · k / 1000
const POINTS = 120;   // points on the MSE curve
const SHORT = { 'min-max': 'min-max', 'percentile 99.9': 'p99.9', 'percentile 99.99': 'p99.99', 'MSE search': 'MSE', 'entropy (KL)': 'entropy' };

function mountClipping(section) {
  const tensor = h('select', { 'aria-label': 'Tensor', 'data-role': 'tensor' });
  const bits = h('select', { 'aria-label': 'Bits', 'data-role': 'bits' }, new Option('INT8', '8'), new Option('INT4', '4'));
  const outliers = h('input', { type: 'checkbox', 'data-role': 'outliers' });
  const slider = h('input', { id: 'learn-clip', type: 'range', min: '1', max: String(STEPS), step: '1', value: String(STEPS) });
  const output = h('output', { for: 'learn-clip', 'data-stat': 'clip' });
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const stats = h('div', { class: 'clip-stats' });
  const histSvg = s('svg', { class: 'clip-hist', role: 'img' });
  const curveSvg = s('svg', { class: 'clip-curve', role: 'img' });
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': 'Computing the MSE curve' });
  const markers = h('div', { class: 'table-wrap' });
  const markersNote = h('p', { class: 'hint' });
  const verdict = h('p', { class: 'verdict', 'data-role': 'verdict' });
  section.replaceChildren(
    h('h2', { id: 'learn-clipping-title', text: 'Clipping and calibration' }),
    h('p', { class: 'learn-lede', text: 'Quantizing over [−c, c] instead of the full ±max|x| makes the step c / q_max finer, so ' +
      'every value inside is rounded more precisely — but every value beyond ±c is clamped to ±c. The best c balances the two ' +
      'errors. Calibration methods choose c from the data: min-max takes max|x|, percentile the 99.9th or 99.99th percentile ' +
      'of |x|, MSE search the c with the lowest error, entropy the c whose histogram best keeps the original’s shape.' }),
    h('p', { class: 'learn-formula', html: 'scale = c / q<sub>max</sub> (q<sub>max</sub> = 127 for INT8, 7 for INT4) · ' +
      'x̂ = clamp(round(x / scale), −q<sub>max</sub>, q<sub>max</sub>) × scale · MSE(c) = mean over the tensor of (x − x̂)<sup>2</sup>' }),
    h('div', { class: 'learn-controls' },
      h('label', {}, 'Tensor ', tensor), h('label', {}, 'Bits ', bits),
      h('label', { class: 'switch' }, outliers, ' with outliers (sample normal_outliers instead of normal)')),
    h('div', { class: 'clip-slider' }, h('label', { for: 'learn-clip', text: 'clip c' }), slider, output),
    error, stats, histSvg, curveSvg, progress, verdict, markersNote, markers);

  const state = { index: null, dirty: true, setup: null, curve: null, clip: null, point: null };
  const setupRequest = latest();
  let inFlight = false, pendingClip = null;

  async function refresh() {
    state.dirty = false;
    if (state.index === null || !app.tensors.some((t) => t.index === state.index)) state.index = defaultTensor();
    fillTensorSelect(tensor, state.index);
    syncToggle();
    if (state.index === null) return;
    const index = state.index, b = Number(bits.value);
    try {
      section.dataset.ready = 'false';
      const setup = await setupRequest('learn_clip_setup', [index, b, POINTS]);
      state.setup = { ...setup, index };
      state.curve = null;
      slider.value = String(STEPS);
      state.clip = setup.absmax;
      showError(error, null);
      renderMarkers();
      verdict.textContent = setup.verdict;
      drawHistogram();
      drawCurve();
      await clipAt(setup.absmax);
      computeCurve(index, b, setup);
    } catch (err) {
      showError(error, err);
    }
  }

  async function computeCurve(index, b, setup) {
    progress.hidden = false;
    progress.max = setup.clips.length;
    progress.value = 0;
    try {
      const curve = await app.client.request('learn_clip_curve', [index, b, setup.clips], {
        onProgress: (done) => { progress.value = done; },
      });
      if (state.setup?.clips !== setup.clips) return;
      state.curve = curve;
      drawCurve();
      section.dataset.ready = 'true';
    } catch (err) {
      if (state.setup?.clips === setup.clips) showError(error, err);
    } finally {
      if (state.setup?.clips === setup.clips) progress.hidden = true;
    }
  }

  // One request at a time; a slider that moves meanwhile sends only its last position.
  async function clipAt(clip) {
    state.clip = clip;
    if (inFlight) { pendingClip = clip; return; }
    inFlight = true;
    const setup = state.setup;
    try {
      const point = await app.client.request('learn_clip_at', [setup.index, setup.bits, clip]);
      if (state.setup === setup) {
        state.point = point;
        renderPoint();
      }
    } catch (err) {
      showError(error, err);
    } finally {
      inFlight = false;
      if (pendingClip !== null) { const c = pendingClip; pendingClip = null; clipAt(c); }
    }
  }

  function renderPoint() {
    const p = state.point, setup = state.setup;
    output.textContent = `${num(p.clip, 4)} (${num((100 * p.clip) / setup.absmax, 3)} % of max|x|)`;
    output.dataset.value = p.clip;
    slider.setAttribute('aria-valuetext', `c = ${num(p.clip, 4)}, MSE ${num(p.mse, 4)}`);
    stats.replaceChildren(statList([
      ['max|x|', num(setup.absmax), 'absmax', setup.absmax],
      ['scale = c / q_max', num(p.scale), 'scale', p.scale],
      ['MSE at c', num(p.mse, 4), 'mse', p.mse],
      ['SQNR', p.sqnr_db === null ? '∞' : `${num(p.sqnr_db, 4)} dB`, 'sqnr', p.sqnr_db],
      ['clamped', pct(p.clipped_fraction), 'clipped', p.clipped_fraction],
    ]));
    drawHistogram();
    drawCurve();
  }

  function renderMarkers() {
    const setup = state.setup;
    markersNote.textContent = `What each calibration picks for int${setup.bits}_sym on this tensor; press a method to move the slider to its clip.`;
    markers.replaceChildren(h('table', { class: 'learn-table markers' },
      h('thead', {}, h('tr', {}, ...['method', 'scheme', 'clip c', 'of max|x|', 'MSE', 'clamped'].map((c, i) => h('th', { scope: 'col', text: c, class: i < 2 ? 'text' : null })))),
      h('tbody', {}, ...setup.markers.map((m) => h('tr', { 'data-method': SHORT[m.method] },
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => {
          slider.value = String(Math.max(1, Math.round((m.clip / setup.absmax) * STEPS)));
          clipAt(m.clip);
        } }, m.method)),
        h('td', {}, h('code', { text: m.scheme })),
        h('td', { text: num(m.clip, 4) }),
        h('td', { text: `${num((100 * m.clip) / setup.absmax, 3)} %` }),
        h('td', { 'data-stat': 'mse', 'data-value': m.mse, text: num(m.mse, 4) }),
        h('td', { text: pct(m.clipped_fraction) }))))));
  }

  function drawHistogram() {
    const setup = state.setup;
    if (!setup) return;
    const W = svgWidth(histSvg), H = 150, L = 48, R = 14, base = 118;
    histSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const hist = setup.histogram;
    const x = scale(hist.lo, hist.hi, L, W - R);
    const most = Math.max(1, ...hist.counts);
    const bw = (hist.hi - hist.lo) / hist.counts.length;
    const c = state.clip ?? setup.absmax;
    const parts = [
      s('rect', { class: 'clamped-zone', x: L, y: 8, width: Math.max(0, x(-c) - L), height: base - 8 }),
      s('rect', { class: 'clamped-zone', x: x(c), y: 8, width: Math.max(0, W - R - x(c)), height: base - 8 }),
    ];
    hist.counts.forEach((n, i) => {
      if (!n) return;
      const ht = 3 + (Math.log1p(n) / Math.log1p(most)) * (base - 14);
      const x0 = hist.lo + i * bw;
      parts.push(s('rect', { class: Math.abs(x0 + bw / 2) > c ? 'bar out' : 'bar', x: x(x0), y: base - ht, width: Math.max(1, x(x0 + bw) - x(x0) - 0.5), height: ht }));
    });
    parts.push(
      s('line', { class: 'axis', x1: L, x2: W - R, y1: base + 0.5, y2: base + 0.5 }),
      s('line', { class: 'clip-line', x1: x(-c), x2: x(-c), y1: 6, y2: base }),
      s('line', { class: 'clip-line', x1: x(c), x2: x(c), y1: 6, y2: base }),
      s('text', { class: 'tick', x: L, y: H - 14 }, num(hist.lo, 3)),
      s('text', { class: 'tick', x: x(0), y: H - 14, 'text-anchor': 'middle' }, '0'),
      s('text', { class: 'tick', x: W - R, y: H - 14, 'text-anchor': 'end' }, num(hist.hi, 3)),
      s('text', { class: 'tick', x: 4, y: 16 }, 'count'),
      s('text', { class: 'tick', x: 4, y: 28 }, '(log)'),
      s('text', { class: 'tick clip-label', x: x(c), y: H - 2, 'text-anchor': 'middle' }, '+c'),
      s('text', { class: 'tick clip-label', x: x(-c), y: H - 2, 'text-anchor': 'middle' }, '−c'));
    histSvg.setAttribute('aria-label', `Histogram of the tensor over ±${num(setup.absmax, 3)}; values beyond ±${num(c, 3)} are clamped`);
    histSvg.replaceChildren(...parts);
  }

  function drawCurve() {
    const setup = state.setup;
    if (!setup) return;
    const W = svgWidth(curveSvg), H = 250, L = 52, R = 16, T = 14, B = 210;
    curveSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const values = [...setup.markers.map((m) => m.mse), ...(state.curve ?? []).map((p) => p.mse), state.point?.mse]
      .filter((v) => v > 0 && Number.isFinite(v));
    if (!values.length) { curveSvg.replaceChildren(); return; }
    const lo = Math.floor(Math.log10(Math.min(...values)) * 4) / 4, hi = Math.ceil(Math.log10(Math.max(...values)) * 4) / 4 || lo + 1;
    const x = scale(0, setup.absmax, L, W - R);
    const y = (mse) => scale(lo, hi === lo ? lo + 1 : hi, B, T)(Math.log10(Math.max(mse, 10 ** lo)));
    const parts = [s('line', { class: 'axis', x1: L, x2: W - R, y1: B + 0.5, y2: B + 0.5 }), s('line', { class: 'axis', x1: L - 0.5, x2: L - 0.5, y1: T, y2: B })];
    // Decades, and 2× and 5× between them when the curve spans less than two decades.
    const ticks = [];
    for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) {
      for (const m of hi - lo < 2 ? [1, 2, 5] : [1]) {
        const v = m * 10 ** d;
        if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) ticks.push(v);
      }
    }
    for (const v of ticks) {
      parts.push(s('line', { class: 'gridline', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      parts.push(s('text', { class: 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v, 2)));
    }
    parts.push(s('text', { class: 'tick', x: L, y: H - 18 }, '0'),
      s('text', { class: 'tick', x: W - R, y: H - 18, 'text-anchor': 'end' }, `max|x| = ${num(setup.absmax, 3)}`),
      s('text', { class: 'tick', x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, 'clip c'),
      s('text', { class: 'tick', x: 4, y: T + 4 }, 'MSE'));
    if (state.curve) {
      parts.push(s('polyline', { class: 'curve', points: state.curve.map((p) => `${x(p.clip).toFixed(1)},${y(p.mse).toFixed(1)}`).join(' ') }));
    } else {
      parts.push(s('text', { class: 'tick', x: (L + W - R) / 2, y: (T + B) / 2, 'text-anchor': 'middle' }, 'computing the curve…'));
    }
    // Markers; labels staggered so methods with nearly equal clips stay readable.
    const placed = [];
    for (const m of setup.markers) {
      const mx = x(m.clip), my = y(m.mse);
      let ly = my - 10;
      while (placed.some((p) => Math.abs(p.x - mx) < 60 && Math.abs(p.y - ly) < 13)) ly -= 13;
      if (ly < T + 4) ly = my + 20;
      placed.push({ x: mx, y: ly });
      if (Math.abs(ly - my) > 14) parts.push(s('line', { class: 'leader', x1: mx, x2: mx, y1: ly + 3, y2: my + (ly < my ? -5 : 5) }));
      parts.push(s('circle', { class: 'marker', cx: mx, cy: my, r: 4, 'data-method': SHORT[m.method] }, undefined),
        s('text', { class: 'marker-label', x: mx, y: ly, 'text-anchor': mx > W - 80 ? 'end' : 'middle' }, SHORT[m.method]));
    }
    if (state.point) {
      const px = x(state.point.clip);
      parts.push(s('line', { class: 'clip-line', x1: px, x2: px, y1: T, y2: B }),
        s('circle', { class: 'current', cx: px, cy: y(state.point.mse), r: 5 }));
    }
    curveSvg.setAttribute('aria-label', `MSE against the clip c for int${setup.bits}_sym, log scale, with the calibration methods marked`);
    curveSvg.replaceChildren(...parts);
  }

  redrawOnResize(histSvg, drawHistogram);
  redrawOnResize(curveSvg, drawCurve);

  function syncToggle() {
    const t = app.tensors.find((x) => x.index === state.index);
    outliers.checked = t?.name === 'sample:normal_outliers';
  }

  slider.addEventListener('input', () => {
    if (!state.setup) return;
    clipAt((state.setup.absmax * Number(slider.value)) / STEPS);
  });
  tensor.addEventListener('change', () => { state.index = Number(tensor.value); refresh(); });
  bits.addEventListener('change', refresh);
  outliers.addEventListener('change', async () => {
    try {
      outliers.disabled = true;
      state.index = await ensureSample(outliers.checked ? 'normal_outliers' : 'normal');
      await refresh();
    } catch (err) {
      showError(error, err);
    } finally {
      outliers.disabled = false;
    }
  });

  return {
    refresh: () => (state.dirty ? refresh() : Promise.resolve()),
    invalidate() { state.dirty = true; },
    select(index) { state.index = index; state.dirty = true; },
    tensorsChanged() { fillTensorSelect(tensor, state.index ?? defaultTensor()); syncToggle(); },
  };
}

// ----------------------------------------------------------------------------------- wiring

export function mountNumbers() {
  const formats = mountFormats(document.getElementById('learn-formats'));
  const mapping = mountMapping(document.getElementById('learn-mapping'));
  const clipping = mountClipping(document.getElementById('learn-clipping'));
  const panels = [formats, mapping, clipping];
  const refresh = () => { if (visible()) for (const p of panels) p.refresh(); };

  window.addEventListener('view-shown', refresh);
  app.on('tensor-selected', ({ index }) => {
    mapping.select(index);
    clipping.select(index);
    formats.tensorChanged();
    refresh();
  });
  app.on('tensors-changed', () => {
    mapping.tensorsChanged();
    clipping.tensorsChanged();
    if (!app.tensors.length) panels.forEach((p) => p.invalidate());
    refresh();
  });
  app.on('client-restarted', () => panels.forEach((p) => p.invalidate()));
  refresh();
}
