// Learn panel 2, scale and zero point (#learn-mapping): the tensor mapped to integer codes
// symmetrically and asymmetrically, both grids on one number line, and a few values' round trips.
// The numbers come from the worker (learn/ops.js → src/learn/src/mapping.rs).
import { app } from '../app.js';
import { showError } from '../shared/dom.js';
import { defaultTensor, ensureSample, fillTensorSelect, h, latestRequest, markBusy, num, sqnrText, redrawOnResize, s, scale, statList, svgWidth } from './common.js';

export function mountMapping(section) {
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

  const state = { index: null, dirty: true, report: null, shownFor: null };
  const request = latestRequest();
  const results = [line, verdict, cols];

  async function refresh() {
    state.dirty = false;
    if (state.index === null || !app.tensors.some((t) => t.index === state.index)) state.index = defaultTensor();
    fillTensorSelect(tensor, state.index);
    if (state.index === null) return;
    const index = state.index, b = Number(bits.value);
    const own = value.value.trim() === '' ? null : Number(value.value.replace('−', '-'));
    if (own !== null && !Number.isFinite(own)) {
      // An answer still on its way is for the value before this one.
      request.supersede();
      value.setAttribute('aria-invalid', 'true');
      showError(error, new Error(`'${value.value}' is not a number`));
      if (state.report) {
        markBusy(results, `Below: the mapping before '${value.value}', which is not a number.`);
        for (const el of results) el.setAttribute('aria-busy', 'false');
      }
      return;
    }
    value.removeAttribute('aria-invalid');
    // Another tensor: its predecessor's numbers go; another bit width or value: they dim.
    if (state.shownFor !== index) {
      state.report = null;
      line.replaceChildren();
      verdict.textContent = '';
      cols.replaceChildren();
    }
    const t = app.tensors.find((x) => x.index === index);
    markBusy(results, `mapping ${t?.name ?? 'the tensor'} to INT${b}…`);
    try {
      const r = await request('learn_mapping', [index, b, own]);
      state.report = r;
      state.shownFor = index;
      showError(error, null);
      render(r);
      markBusy(results, null);
    } catch (err) {
      if (!err.superseded) markBusy(results, null);
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
        ['SQNR', `${sqnrText(m.sqnr_db, m.mse, (v) => num(v, 4))} dB`, 'sqnr', m.sqnr_db],
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
