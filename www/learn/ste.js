// Learn panel 8, fake quantization and the straight-through estimator (#learn-ste): a real QAT
// run of the built-in 784-100-100-10 MLP in the Train view's worker (train/worker.js, its own
// instance, so a run in the Train view is left alone), followed for every weight of one neuron
// at every step (quantscope_train::trace: the float weight the forward read, the fake-quantized
// weight it used, the STE mask, the gradient the optimizer got, the neuron's scale and zero
// point). This thread picks which weights to draw and draws; every value drawn is the trainer's.
import { WorkerClient } from '../client.js';
import { showError } from '../shared/dom.js';
import { h, num, redrawOnResize, s, scale, svgWidth } from './common.js';

const STEPS_PER_REQUEST = 10;
const LAYERS = [['1', '784 → 100', 100], ['2', '100 → 100', 100], ['3', '100 → 10', 10]];
const COLORS = ['#e11d48', '#2563eb', '#16a34a'];
const NAMES = ['A', 'B', 'C'];

// The trainer's flat trace (quantscope_train::trace::Trace::to_f32): a header [layer, row, width,
// records, quant_min, quant_max, from], then per record its step, scale and zero point and, per
// weight of the row, float, fake, inside (0/1), grad.
export function decodeTrace(flat) {
  const [layer, row, width, , quantMin, quantMax, from] = flat;
  const stride = 3 + 4 * width;
  const records = [];
  for (let at = 7; at + stride <= flat.length; at += stride) {
    records.push({ step: flat[at], scale: flat[at + 1], zeroPoint: flat[at + 2], v: flat.slice(at + 3, at + stride) });
  }
  return { layer, row, width, quantMin, quantMax, from, records };
}

// Weight j at record r: {float, fake, inside, grad} and the integer code the fake value stands for
// (fake = (code − z) · s exactly, so the division gives the code to well within ½).
function at(rec, j) {
  const [float, fake, inside, grad] = rec.v.subarray(4 * j, 4 * j + 4);
  return { float, fake, inside: inside === 1, grad, code: Math.round(fake / rec.scale) + rec.zeroPoint };
}

// Which weights to draw: the one outside the clamp range at the most steps (if any was), then
// the two whose code changed most often; only weights that got a gradient at some step (a pixel
// that is 0 in every batch gives its weights none).
export function pickWeights(trace) {
  const { records, width } = trace;
  const stats = [];
  for (let j = 0; j < width; j++) {
    let outside = 0, crossings = 0, live = 0;
    records.forEach((rec, r) => {
      const w = at(rec, j);
      if (!w.inside) outside++;
      if (w.grad !== 0) live++;
      if (r > 0 && at(records[r - 1], j).code !== w.code) crossings++;
    });
    stats.push({ j, outside, crossings, live });
  }
  const live = stats.filter((x) => x.live > 0);
  const chosen = [];
  const out = [...live].sort((a, b) => b.outside - a.outside || b.live - a.live)[0];
  if (out?.outside > 0) chosen.push({ ...out, role: 'outside' });
  for (const x of [...live].sort((a, b) => a.outside - b.outside || b.crossings - a.crossings)) {
    if (chosen.length >= 3) break;
    if (!chosen.some((c) => c.j === x.j)) chosen.push({ ...x, role: 'crossing' });
  }
  return chosen;
}

export function mountSte(section) {
  const bits = h('select', { 'aria-label': 'Bits', 'data-role': 'bits' }, new Option('INT2', '2'), new Option('INT4', '4', true, true), new Option('INT8', '8'));
  const layer = h('select', { 'aria-label': 'Layer', 'data-role': 'layer' }, ...LAYERS.map(([v, t]) => new Option(`${v}: ${t}`, v)));
  layer.value = '2';
  const neuron = h('input', { type: 'number', min: '0', max: '99', value: '0', size: '4', 'aria-label': 'Neuron', 'data-role': 'neuron' });
  const epochs = h('select', { 'aria-label': 'Epochs', 'data-role': 'epochs' }, new Option('1 (125 steps)', '1'), new Option('3 (375 steps)', '3'));
  const run = h('button', { type: 'button', 'data-role': 'run', text: 'Run' });
  const cancel = h('button', { type: 'button', 'data-role': 'cancel', text: 'Cancel', disabled: true });
  const progress = h('progress', { max: '1', value: '0', 'aria-label': 'Training steps done' });
  const status = h('span', { role: 'status', 'data-role': 'status', text: 'press Run to train and record' });
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const stepSlider = h('input', { type: 'range', min: '0', max: '0', value: '0', 'aria-label': 'Step shown on the staircase', 'data-role': 'step' });
  const stepOut = h('output', { 'data-role': 'step-out' });
  const stair = s('svg', { class: 'ste-stair', role: 'img', 'aria-label': 'fake_quantize(x) against x, and the straight-through gradient' });
  const table = h('div', { class: 'table-wrap', 'data-role': 'values' });
  const weights = h('div', { class: 'ste-weights', 'data-role': 'weights' });
  const verdict = h('p', { class: 'verdict', 'data-role': 'verdict', hidden: true });
  section.replaceChildren(
    h('h2', { id: 'learn-ste-title', text: 'Fake quantization and the straight-through estimator' }),
    h('p', { class: 'learn-lede', text: 'Quantization-aware training keeps a float ("shadow") copy of every weight. Each forward ' +
      'pass uses fake_quantize(x) instead — the float value of the integer the weight will become — so the loss is that of the ' +
      'quantized network. Rounding has derivative 0 almost everywhere, so the true gradient through it would be 0; the ' +
      'straight-through estimator (STE) treats fake_quantize as the identity where the code was inside [q_min, q_max] and passes ' +
      'the gradient unchanged there, and passes 0 where the code was clamped (torch\'s backward is dY · mask). The float weight ' +
      'drifts between two codes until it crosses a rounding boundary, and its quantized value jumps one step.' }),
    h('p', { class: 'learn-formula', html: 'fake_quantize(x) = (clamp(round(x / s) + z, q<sub>min</sub>, q<sub>max</sub>) − z) · s ' +
      '(round: half to even) · ∂/∂x ≈ 1 if q<sub>min</sub> ≤ round(x / s) + z ≤ q<sub>max</sub>, else 0' }),
    h('p', { class: 'hint', text: 'Run trains the built-in 784-100-100-10 MLP on the 8,000 shipped digits with QAT as the Train view ' +
      'does (torch.ao\'s defaults: weights signed symmetric, one scale per output neuron, moving-average min-max observers; Adam ' +
      '0.001, batch 64, seed 1), in the Train view\'s worker, and records every weight of the neuron you pick at every step. ' +
      'Every number drawn is the trainer\'s own: the float the forward read, the fake-quantized weight it used, its mask and the ' +
      'gradient the optimizer got.' }),
    h('div', { class: 'learn-controls' }, h('label', {}, 'Bits ', bits), h('label', {}, 'Layer ', layer),
      h('label', {}, 'Neuron ', neuron), h('label', {}, 'Epochs ', epochs), run, cancel, progress, status),
    error,
    h('h3', { text: 'The staircase, and the gradient the STE passes' }),
    h('div', { class: 'clip-slider' }, h('label', { text: 'step' }), stepSlider, stepOut),
    stair, table,
    h('h3', { text: 'Three of the neuron\'s weights, step by step' }),
    verdict, weights);

  const state = { client: null, token: 0, trace: null, chosen: [] };
  section.steState = state; // the e2e test reads the trace the panel drew

  function selected() {
    const l = Number(layer.value) - 1;
    const outs = LAYERS[l][2];
    const n = Number(neuron.value);
    if (!Number.isInteger(n) || n < 0 || n >= outs) throw new Error(`layer ${l + 1} has neurons 0 to ${outs - 1}`);
    return { layer: l, row: n };
  }

  async function start() {
    error.hidden = true;
    let pick;
    try {
      pick = selected();
    } catch (err) {
      showError(error, err);
      return;
    }
    const token = ++state.token;
    state.client ??= new WorkerClient(new URL('../train/worker.js', import.meta.url));
    const client = state.client;
    run.disabled = true;
    cancel.disabled = false;
    status.textContent = 'loading the digits and the trainer…';
    progress.value = 0;
    const settings = { hidden: [100, 100], optimizer: 'adam', learning_rate: 0.001, epochs: Number(epochs.value), batch_size: 64,
      seed: 1, qat_bits: Number(bits.value), per_channel: true };
    try {
      await client.request('train_start', [settings]);
      state.trace = decodeTrace(await client.request('train_trace', [pick.layer, pick.row, 0]));
      let last = null;
      let drawn = 0;
      // Cancel changes the token: the loop stops after the request in flight, and Run stays
      // disabled until it has, so two loops never drive the one worker.
      while (token === state.token) {
        last = await client.request('train_advance', [STEPS_PER_REQUEST]);
        const more = decodeTrace(await client.request('train_trace', [pick.layer, pick.row, state.trace.records.length]));
        state.trace.records.push(...more.records);
        progress.value = last.step / last.total_steps;
        status.textContent = `step ${last.step} of ${last.total_steps}, loss ${num(last.loss, 3)}`;
        if (last.finished || last.diverged) break;
        // Redraw every 50 steps while it runs.
        if (last.step - drawn >= 50) { drawn = last.step; draw(true); }
      }
      if (last?.diverged) showError(error, new Error(last.diverged));
      status.textContent = token === state.token
        ? `done: ${state.trace.records.length} steps recorded`
        : `cancelled at step ${state.trace.records.length}; the steps recorded so far are drawn`;
      draw(true);
    } catch (err) {
      showError(error, err);
      status.textContent = '';
    } finally {
      run.disabled = false;
      cancel.disabled = true;
    }
  }

  function draw(newData) {
    const t = state.trace;
    if (!t || !t.records.length) return;
    if (newData) {
      state.chosen = pickWeights(t);
      stepSlider.max = String(t.records.length - 1);
      stepSlider.value = String(t.records.length - 1);
    }
    section.dataset.records = String(t.records.length);
    drawStair();
    drawWeights();
  }

  function drawStair() {
    const t = state.trace, rec = t.records[Number(stepSlider.value)];
    const { scale: sc, zeroPoint: z } = rec;
    const lo = t.quantMin - z, hi = t.quantMax - z; // codes relative to the zero point
    const chosen = state.chosen.map((c) => ({ ...c, w: at(rec, c.j) }));
    stepOut.textContent = `step ${rec.step}: s = ${num(sc, 7)}, z = ${z}`;
    let x0 = (lo - 1.5) * sc, x1 = (hi + 1.5) * sc;
    for (const c of chosen) { x0 = Math.min(x0, c.w.float - sc); x1 = Math.max(x1, c.w.float + sc); }
    const W = svgWidth(stair), H = 350, L = 56, R = 16, T = 10, B = 220, G0 = 268, G1 = 318;
    const x = scale(x0, x1, L, W - R), y = scale(lo * sc - sc, hi * sc + sc, B, T), g = scale(0, 1, G1, G0);
    const parts = [
      s('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }),
      s('line', { class: 'axis', x1: x(0), x2: x(0), y1: T, y2: B }),
      s('line', { class: 'identity', x1: x(Math.max(x0, (lo - 1) * sc)), y1: y(Math.max(x0, (lo - 1) * sc)), x2: x(Math.min(x1, (hi + 1) * sc)), y2: y(Math.min(x1, (hi + 1) * sc)) }),
    ];
    // The staircase: code k covers x in [(k − ½)s, (k + ½)s); the end codes extend to the edges (the clamp).
    let d = `M${x(x0).toFixed(1)},${y(lo * sc).toFixed(1)}`;
    for (let k = lo; k <= hi; k++) {
      const right = k === hi ? x1 : (k + 0.5) * sc;
      d += ` H${x(right).toFixed(1)}`;
      if (k < hi) d += ` V${y((k + 1) * sc).toFixed(1)}`;
    }
    parts.push(s('path', { class: 'stair', d }));
    // The STE's gradient: 1 where round(x/s) + z is within [q_min, q_max], 0 where it is clamped.
    const e0 = (lo - 0.5) * sc, e1 = (hi + 0.5) * sc;
    parts.push(
      s('rect', { class: 'clamped-zone', x: L, y: T, width: Math.max(0, x(e0) - L), height: G1 - T }),
      s('rect', { class: 'clamped-zone', x: x(e1), y: T, width: Math.max(0, W - R - x(e1)), height: G1 - T }),
      s('line', { class: 'axis', x1: L, x2: W - R, y1: g(0), y2: g(0) }),
      s('path', { class: 'ste-grad', d: `M${L},${g(0)} H${x(e0).toFixed(1)} V${g(1)} H${x(e1).toFixed(1)} V${g(0)} H${W - R}` }),
      s('text', { class: 'tick', x: L - 6, y: g(1) + 4, 'text-anchor': 'end' }, '1'),
      s('text', { class: 'tick', x: L - 6, y: g(0) + 4, 'text-anchor': 'end' }, '0'),
      s('text', { class: 'tick', x: (L + W - R) / 2, y: G0 - 8, 'text-anchor': 'middle' }, 'the STE\'s gradient ∂fake/∂x: 1 inside, 0 where clamped'),
      s('text', { class: 'tick', x: (L + W - R) / 2, y: T + 10, 'text-anchor': 'middle' }, 'fake_quantize(x) (dashed: x itself)'),
      s('text', { class: 'tick', x: W - R, y: H - 6, 'text-anchor': 'end' }, 'x (the float weight)'),
      s('text', { class: 'tick', x: x(e1) + 4, y: T + 24 }, 'clamped'),
      s('text', { class: 'tick', x: x(e0) - 4, y: T + 24, 'text-anchor': 'end' }, 'clamped'));
    for (const k of [lo, 0, hi]) {
      parts.push(s('text', { class: 'tick', x: L - 6, y: y(k * sc) + 4, 'text-anchor': 'end' }, num(k * sc, 3)));
      parts.push(s('text', { class: 'tick', x: x(k * sc), y: B + 16, 'text-anchor': 'middle' }, num(k * sc, 3)));
    }
    chosen.forEach((c, i) => {
      const attrs = { 'data-weight': c.j, 'data-step': rec.step, 'data-float': c.w.float, 'data-fake': c.w.fake,
        'data-scale': sc, 'data-zero-point': z, 'data-inside': c.w.inside, 'data-grad': c.w.grad };
      parts.push(
        s('circle', { class: 'ste-point', cx: x(c.w.float), cy: y(c.w.fake), r: 5, fill: COLORS[i], ...attrs }),
        s('text', { class: 'ste-label', x: x(c.w.float) + 7, y: y(c.w.fake) - 6, style: `fill:${COLORS[i]}` }, NAMES[i]),
        s('circle', { class: 'ste-point', cx: x(c.w.float), cy: g(c.w.inside ? 1 : 0), r: 4, fill: COLORS[i] }));
    });
    stair.setAttribute('viewBox', `0 0 ${W} ${H}`);
    stair.replaceChildren(...parts);
    table.replaceChildren(h('table', { class: 'learn-table' },
      h('thead', {}, h('tr', {}, ...['weight', 'float x', 'x / s', 'code', 'fake_quantize(x)', 'inside', 'gradient passed'].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, ...chosen.map((c, i) => h('tr', { 'data-weight': c.j },
        h('th', { scope: 'row', style: `color:${COLORS[i]}`, text: `${NAMES[i]}: w[${state.trace.row}, ${c.j}]` }),
        h('td', { class: 'num', text: num(c.w.float, 7) }), h('td', { class: 'num', text: num(c.w.float / sc, 4) }),
        h('td', { class: 'num', text: String(c.w.code) }), h('td', { class: 'num', text: num(c.w.fake, 7) }),
        h('td', { text: c.w.inside ? 'yes' : 'no (clamped)' }), h('td', { class: 'num', text: num(c.w.grad, 4) }))))));
  }

  function drawWeights() {
    const t = state.trace, recs = t.records;
    const out = state.chosen.find((c) => c.role === 'outside');
    verdict.hidden = false;
    verdict.textContent = out
      ? `Weight A was outside the clamp range at ${out.outside} of ${recs.length} steps: there the STE passed it no gradient ` +
        '(the shaded steps), and only the optimizer\'s momentum moved it. B and C stayed inside and crossed ' +
        `${state.chosen.filter((c) => c.role === 'crossing').map((c) => c.crossings).join(' and ')} rounding boundaries.`
      : `No weight of this neuron left the clamp range in these ${recs.length} steps (try INT2, another neuron or more epochs); ` +
        'the weights drawn crossed the most rounding boundaries.';
    const W = Math.max(300, Math.min(760, weights.clientWidth || 720)), H = 230, L = 64, R = 12, T = 10, B = 130, G0 = 150, G1 = 210;
    const x = scale(recs[0].step, Math.max(recs[0].step + 1, recs[recs.length - 1].step), L, W - R);
    weights.replaceChildren(...state.chosen.map((c, i) => {
      const series = recs.map((rec) => ({ step: rec.step, ...at(rec, c.j), edgeHi: (t.quantMax - rec.zeroPoint) * rec.scale, edgeLo: (t.quantMin - rec.zeroPoint) * rec.scale }));
      let y0 = Infinity, y1 = -Infinity;
      for (const p of series) { y0 = Math.min(y0, p.float, p.fake); y1 = Math.max(y1, p.float, p.fake); }
      const pad = (y1 - y0) * 0.1 || Math.abs(y1) * 0.1 || 1e-3;
      const y = scale(y0 - pad, y1 + pad, B, T);
      let g0 = 0, g1 = 0;
      for (const p of series) { g0 = Math.min(g0, p.grad); g1 = Math.max(g1, p.grad); }
      const gy = scale(g0, g1 || (g0 ? 0 : 1), G1, G0);
      const line = (f) => series.map((p) => `${x(p.step).toFixed(1)},${f(p).toFixed(1)}`).join(' ');
      const stepped = series.map((p, k) => `${k ? 'H' : 'M'}${x(p.step).toFixed(1)}${k ? ' V' : ','}${y(p.fake).toFixed(1)}`).join(' ');
      const parts = [];
      // Shade the steps where the weight was outside the clamp range (its gradient is 0 there).
      series.forEach((p, k) => {
        if (p.inside) return;
        const a = x(p.step - 0.5), b = x(p.step + 0.5);
        parts.push(s('rect', { class: 'clamped-zone', x: a, y: T, width: Math.max(1, b - a), height: G1 - T, 'data-outside-step': p.step }));
      });
      for (const key of ['edgeHi', 'edgeLo']) {
        if (series.some((p) => p[key] >= y0 - pad && p[key] <= y1 + pad)) {
          parts.push(s('polyline', { class: 'ste-edge', points: line((p) => y(Math.min(y1 + pad, Math.max(y0 - pad, p[key])))) }));
        }
      }
      parts.push(
        s('line', { class: 'axis', x1: L, x2: W - R, y1: B, y2: B }),
        s('line', { class: 'axis', x1: L, x2: W - R, y1: gy(0), y2: gy(0) }),
        s('path', { class: 'ste-fake', d: stepped, stroke: COLORS[i] }),
        s('polyline', { class: 'ste-float', points: line((p) => y(p.float)), stroke: COLORS[i] }),
        s('polyline', { class: 'ste-gradline', points: line((p) => gy(p.grad)), stroke: COLORS[i] }),
        s('text', { class: 'tick', x: L - 6, y: T + 8, 'text-anchor': 'end' }, num(y1 + pad, 3)),
        s('text', { class: 'tick', x: L - 6, y: B, 'text-anchor': 'end' }, num(y0 - pad, 3)),
        s('text', { class: 'tick', x: L - 6, y: G0 + 8, 'text-anchor': 'end' }, num(g1, 2)),
        s('text', { class: 'tick', x: L - 6, y: G1, 'text-anchor': 'end' }, num(g0, 2)),
        s('text', { class: 'tick', x: 4, y: (G0 + G1) / 2 + 4 }, 'gradient'),
        s('text', { class: 'tick', x: L, y: H - 4 }, `step ${recs[0].step}`),
        s('text', { class: 'tick', x: W - R, y: H - 4, 'text-anchor': 'end' }, `step ${recs[recs.length - 1].step}`));
      const svg = s('svg', { class: 'ste-weight', role: 'img', viewBox: `0 0 ${W} ${H}`, 'data-weight': c.j, 'data-role-weight': c.role,
        'data-outside': c.outside, 'data-crossings': c.crossings, 'aria-label': `weight ${NAMES[i]} over the steps` }, undefined);
      svg.append(...parts);
      const what = c.role === 'outside' ? `outside the clamp range at ${c.outside} steps` : `${c.crossings} rounding boundaries crossed`;
      return h('figure', { class: 'ste-figure' }, svg, h('figcaption', { class: 'hint' },
        h('b', { style: `color:${COLORS[i]}`, text: `${NAMES[i]}: w[${t.row}, ${c.j}]` }),
        ` (${what}) — solid: the float weight; dashed steps: its fake-quantized value; dotted grey: the clamp edge (q_max − z)·s ` +
        'or (q_min − z)·s as the observer moves it; below: the gradient the STE passed; shaded: steps outside the clamp range (gradient 0).'));
    }));
  }

  run.addEventListener('click', () => start());
  cancel.addEventListener('click', () => {
    state.token++;
    cancel.disabled = true;
    status.textContent = 'cancelling…';
  });
  stepSlider.addEventListener('input', () => { if (state.trace) drawStair(); });
  redrawOnResize(stair, () => draw(false));
  layer.addEventListener('change', () => { neuron.max = String(LAYERS[Number(layer.value) - 1][2] - 1); });
  return { refresh() {}, invalidate() {} };
}
